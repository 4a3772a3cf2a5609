"""The asyncio NATS/JetStream server.

Entry points: :func:`run` (``orlop serve``: run until SIGTERM/SIGINT, return the
exit code), :class:`Server` (``await start()`` / ``await shutdown()``) and
:func:`orlop.server.embed.run_server` (an in-process server for tests and apps).

Why lazy: ``orlop.server.options`` (and the config parser) must import without
pulling in the server machinery, so :class:`Server` is resolved on first use.

Why :func:`run` tunes glibc's allocator (and :class:`Server`/``run_server`` do not):
a 128 KiB message makes the server allocate buffers of that size per message (socket
reads, the payload joined from them, the outbound frame). glibc serves those with
``mmap``, or trims the heap top under them as soon as 128-256 KiB is free, so each costs
fresh pages. Raising ``M_MMAP_THRESHOLD`` to 16 MiB and ``M_TRIM_THRESHOLD`` to 64 MiB
keeps them on the heap: core pub/sub of 128 KiB messages costs the server about half
the CPU, at ~10 MB more RSS (figures: docs/performance.md, lab notes). It is
process-wide, so only the ``orlop serve`` process does it, never an embedding
application; it is skipped off glibc/Linux and when the user set
``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_`` (their values stand).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from orlop.errors import StartupError
from orlop.server.options import ServerOptions

if TYPE_CHECKING:
    from orlop.server.server import Server

__all__ = ["Server", "ServerOptions", "run", "tune_allocator"]

log = logging.getLogger("orlop.server")


def __getattr__(name: str) -> Any:
    if name == "Server":
        from orlop.server.server import Server

        return Server
    raise AttributeError(f"module 'orlop.server' has no attribute {name!r}")


def run(
    options: ServerOptions,
    on_ready: Callable[[Server], None] | None = None,
    reload: Callable[[], ServerOptions] | None = None,
    on_stopping: Callable[[], Awaitable[None]] | None = None,
) -> int:
    """Run a server until SIGTERM or SIGINT, then shut it down gracefully.

    SIGUSR2 enters lame duck mode (:meth:`Server.lame_duck`): the server exits
    once its clients are drained. SIGHUP reloads the configuration: ``reload()``
    builds the options again (flags and file) and what may change without a
    restart is applied (see :func:`reload_problem`); anything else is refused
    with nats-server's "config reload not supported for …" and nothing changes.
    ``on_ready(server)`` runs once the server listens and JetStream is up;
    ``await on_stopping()`` before it shuts down (what ``on_ready`` started stops first). Uses
    uvloop when importable and tunes glibc's allocator (:func:`tune_allocator`).
    Returns 0 after a clean shutdown, 1 when the server could not start (the reason
    is logged). SIGKILL is, by nature, immediate.
    """
    tune_allocator()
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_serve(options, on_ready, reload, on_stopping))


MMAP_THRESHOLD = 16 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024


def tune_allocator() -> bool:
    """Keep message-sized buffers on glibc's heap (see the module docstring).

    Returns True when both ``mallopt`` calls succeeded; False, changing nothing, off
    glibc/Linux or when ``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` is set.
    """
    from orlop.allocator import set_malloc_thresholds

    applied = set_malloc_thresholds(MMAP_THRESHOLD, TRIM_THRESHOLD, respect_env=True)
    if applied:
        log.debug("glibc malloc: mmap threshold %d, trim threshold %d", MMAP_THRESHOLD, TRIM_THRESHOLD)
    return applied


# What a reload may change today: the authorization (users, passwords, tokens, permissions).
_RELOADABLE = frozenset({"auth"})


def reload_problem(old: ServerOptions, new: ServerOptions) -> str:
    """The first option a reload would change but cannot ('' when the reload can be applied)."""
    for f in dataclasses.fields(old):
        if f.name not in _RELOADABLE and getattr(old, f.name) != getattr(new, f.name):
            return f.name
    if old.auth.no_auth_user != new.auth.no_auth_user:  # nats-server refuses this one too
        return f"no_auth_user: old={old.auth.no_auth_user}, new={new.auth.no_auth_user}"
    return ""


async def _serve(
    options: ServerOptions,
    on_ready: Callable[[Server], None] | None,
    reload: Callable[[], ServerOptions] | None = None,
    on_stopping: Callable[[], Awaitable[None]] | None = None,
) -> int:
    from orlop.server.server import Server

    started_with = copy.deepcopy(options)
    server = Server(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    lame_duck: list[asyncio.Task[None]] = []
    ready = asyncio.Event()  # started: SIGUSR2 before this is ignored

    def enter_lame_duck() -> None:
        # SIGUSR2, as nats-server: drain the clients slowly, then exit (Server.lame_duck).
        # Ignored until the server is up (the listener exists) and once it is stopping.
        if not ready.is_set() or server.closing or stop.is_set() or lame_duck:
            return
        log.info('Trapped "user defined signal 2" signal')
        task = loop.create_task(server.lame_duck())
        task.add_done_callback(lambda _: stop.set())
        lame_duck.append(task)

    def hang_up() -> None:
        # SIGHUP, as nats-server: reload the configuration file, or say why not.
        if not ready.is_set() or server.closing or stop.is_set():
            return
        log.info('Trapped "hangup" signal')
        if reload is None or not options.config_file:
            log.error(
                "Failed to reload server configuration: can only reload config when a file"
                " is provided using -c or --config"
            )
            return
        try:
            fresh = reload()
        except Exception as exc:  # a bad file must never stop a running server
            log.error("Failed to reload server configuration: %s", exc)
            return
        problem = reload_problem(started_with, fresh)
        if problem:
            log.error("Failed to reload server configuration: config reload not supported for %s", problem)
            return
        server.reload_auth(fresh.auth)
        started_with.auth = fresh.auth
        log.info("Reloaded server configuration")

    # Handlers first: a signal during a long start (JetStream recovery) waits for start to finish.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGUSR2, enter_lame_duck)
    loop.add_signal_handler(signal.SIGHUP, hang_up)
    try:
        try:
            await server.start()
        except StartupError:
            return 1  # the server logged what failed
        except Exception:
            log.exception("server failed to start")
            return 1
        ready.set()
        if on_ready is not None:
            on_ready(server)
        try:
            await stop.wait()
            if not server.closing:
                log.info("Trapped signal; shutting down")
        finally:
            if on_stopping is not None:
                try:
                    await on_stopping()
                except Exception:  # what stops beside the server must not keep it from stopping
                    log.exception("stopping what ran beside the server failed")
            await server.shutdown()
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR2, signal.SIGHUP):
            loop.remove_signal_handler(sig)
