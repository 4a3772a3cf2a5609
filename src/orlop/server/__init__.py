"""The asyncio NATS/JetStream server.

Entry points: :func:`run` (``orlop serve``: run until SIGTERM/SIGINT, return the
exit code), :class:`Server` (``await start()`` / ``await shutdown()``) and
:func:`orlop.server.embed.run_server` (an in-process server for tests and apps).

Why lazy: ``orlop.server.options`` (and the config parser) must import without
pulling in the server machinery, so :class:`Server` is resolved on first use.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import TYPE_CHECKING, Any

from orlop.server.options import ServerOptions

if TYPE_CHECKING:
    from orlop.server.server import Server

__all__ = ["Server", "ServerOptions", "run"]

log = logging.getLogger("orlop.server")


def __getattr__(name: str) -> Any:
    if name == "Server":
        from orlop.server.server import Server

        return Server
    raise AttributeError(f"module 'orlop.server' has no attribute {name!r}")


def run(options: ServerOptions) -> int:
    """Run a server until SIGTERM or SIGINT, then shut it down gracefully.

    Uses uvloop when importable. Returns 0 after a clean shutdown, 1 when the
    server could not start (the reason is logged). SIGKILL is, by nature, immediate.
    """
    try:
        import uvloop

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(_serve(options))


async def _serve(options: ServerOptions) -> int:
    from orlop.server.server import Server

    server = Server(options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Handlers first: a signal during a long start (JetStream recovery) waits for start to finish.
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        try:
            await server.start()
        except OSError as e:
            log.error("Error listening on port: %s:%s, %s", options.host, options.port, e)
            return 1
        except Exception:
            log.exception("server failed to start")
            return 1
        try:
            await stop.wait()
            log.info("Trapped signal; shutting down")
        finally:
            await server.shutdown()
        return 0
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
