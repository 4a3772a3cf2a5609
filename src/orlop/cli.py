"""The ``orlop`` command: a table of subcommands, each with its own parser.

Why this shape: ``orlop serve`` must accept nats-server's flags exactly (single-dash
multi-letter flags such as ``-js``/``-sd``/``-DV`` included), so the test harness and
people's scripts can start Orlop where they started nats-server. Each subcommand
therefore owns a complete ``argparse`` parser fed with the rest of the command line,
and the top level only picks the subcommand. Subcommands import their heavy modules
(server, object store, gateway) inside their ``run`` function, so ``orlop --version``
and ``orlop serve --help`` stay fast and one broken layer never breaks the others.

Multi-call: invoked under the name ``nats-server`` (a link or a copy of the script),
:func:`main` behaves as ``orlop serve`` with nats-server's defaults.

JetStream and monitoring defaults, precisely:

* ``orlop serve`` with no argument at all is the "just works" mode: JetStream on,
  data in ``./orlop-data``, clients on 127.0.0.1:4222, monitoring on 127.0.0.1:8222.
* with any argument (or under the name ``nats-server``) the defaults are nats-server's:
  JetStream is on only with ``-js``/``--jetstream`` or a ``jetstream`` block in the
  config file, monitoring only with ``-m`` or an ``http``/``http_port`` config key.
  ``-sd`` alone does not enable JetStream (as in nats-server).
* flags override the config file.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orlop import __version__
from orlop.errors import ConfigError
from orlop.server.options import ServerOptions

if TYPE_CHECKING:
    from orlop.server.server import Server

__all__ = ["SUBCOMMANDS", "TRACE", "Subcommand", "build_options", "configure_logging", "main"]

TRACE = 5  # logging level of protocol traces (-V); below DEBUG so -V also shows debug lines
logging.addLevelName(TRACE, "TRACE")

_LEVEL_TAGS = {
    TRACE: "TRC",
    logging.DEBUG: "DBG",
    logging.INFO: "INF",
    logging.WARNING: "WRN",
    logging.ERROR: "ERR",
    logging.CRITICAL: "FTL",
}

MULTI_CALL_NAMES = ("nats-server",)


class UsageError(Exception):
    """A bad command line; the message is printed on stderr and the exit code is 1."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises instead of exiting with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


@dataclass(frozen=True, slots=True)
class Subcommand:
    """One ``orlop <name>`` command: ``run(argv, prog)`` returns the exit code.

    ``run`` is a function, or a ``"package.module:function"`` string imported only when
    the command is invoked (how commands with heavy dependencies join the table).
    """

    name: str
    help: str
    run: Callable[[list[str], str], int] | str

    def resolve(self) -> Callable[[list[str], str], int]:
        if not isinstance(self.run, str):
            return self.run
        module_name, _, attr = self.run.partition(":")
        fn: Callable[[list[str], str], int] = getattr(importlib.import_module(module_name), attr)
        return fn


# ---------------------------------------------------------------------------------------------
# logging


class NatsFormatter(logging.Formatter):
    """nats-server's line format: ``[pid] 2026/11/21 23:58:05.921335 [INF] message``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created).strftime("%Y/%m/%d %H:%M:%S.%f")
        tag = _LEVEL_TAGS.get(record.levelno) or _nearest_tag(record.levelno)
        line = f"[{record.process}] {stamp} [{tag}] {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _nearest_tag(level: int) -> str:
    best = max((lv for lv in _LEVEL_TAGS if lv <= level), default=TRACE)
    return _LEVEL_TAGS[best]


def configure_logging(options: ServerOptions) -> None:
    """Send the root logger to stderr (or ``options.log_file``) in nats-server's format.

    Level: INFO; DEBUG with ``debug``; TRACE (5, which includes debug) with ``trace``.
    Raises ConfigError when the log file cannot be opened.
    """
    handler: logging.Handler
    if options.log_file:
        try:
            handler = logging.FileHandler(options.log_file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot open log file {options.log_file!r}: {exc.strerror}") from exc
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(NatsFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(TRACE if options.trace else logging.DEBUG if options.debug else logging.INFO)


# ---------------------------------------------------------------------------------------------
# serve


def _serve_parser(prog: str) -> _Parser:
    p = _Parser(
        prog=prog,
        description="Run a NATS server with JetStream (nats-server's flags).",
        epilog="With no argument at all: 127.0.0.1:4222, JetStream in ./orlop-data, "
        "monitoring on 127.0.0.1:8222. With arguments, JetStream and monitoring "
        "are on only when asked for (-js, -m or the config file), as in nats-server.",
    )
    add = p.add_argument
    add("-a", "--addr", "--net", "-addr", "-net", dest="host", metavar="HOST", help="bind to host address")
    add("-p", "--port", "-port", dest="port", type=int, metavar="PORT", help="client port (-1: random)")
    add(
        "-n",
        "--name",
        "--server_name",
        "-name",
        "-server_name",
        dest="server_name",
        metavar="NAME",
        help="server name",
    )
    add(
        "-m",
        "--http_port",
        "-http_port",
        dest="http_port",
        type=int,
        metavar="PORT",
        help="HTTP monitoring port (-1: random)",
    )
    add("-c", "--config", "-config", dest="config", metavar="FILE", help="configuration file")
    add("-t", dest="test_config", action="store_true", help="test the configuration and exit")
    add("-P", "--pid", "-pid", dest="pid_file", metavar="FILE", help="file to store the PID")
    add(
        "--ports_file_dir",
        "-ports_file_dir",
        dest="ports_file_dir",
        metavar="DIR",
        help="write <executable_name>_<pid>.ports in DIR",
    )
    add("-l", "--log", "-log", dest="log_file", metavar="FILE", help="log to FILE instead of stderr")
    add("-D", "--debug", "-debug", dest="debug", action="store_true", default=None, help="debug output")
    add(
        "-V",
        "--trace",
        "-trace",
        "-VV",
        dest="trace",
        action="store_true",
        default=None,
        help="trace the protocol",
    )
    add("-DV", "-DVV", dest="debug_trace", action="store_true", help="debug and trace")
    add(
        "-js",
        "--jetstream",
        "-jetstream",
        dest="jetstream",
        action="store_true",
        default=None,
        help="enable JetStream",
    )
    add(
        "-sd",
        "--store_dir",
        "-store_dir",
        dest="store_dir",
        metavar="DIR",
        help="JetStream storage directory",
    )
    add(
        "--sync-always",
        "--sync_always",
        dest="sync_always",
        action="store_true",
        default=None,
        help="fsync every JetStream write before acknowledging it",
    )
    add("--user", "-user", dest="user", metavar="USER", help="user required for connections")
    add("--pass", "-pass", dest="password", metavar="PASSWORD", help="password required for connections")
    add("--auth", "-auth", dest="token", metavar="TOKEN", help="token required for connections")
    add("-v", "--version", "-version", action="version", version=f"{prog}: v{__version__}")
    return p


def build_options(
    argv: Sequence[str], *, exe_name: str = "orlop"
) -> tuple[ServerOptions, argparse.Namespace]:
    """Turn serve flags (and the config file they name) into ServerOptions.

    Raises UsageError for bad flags, ConfigError for a bad configuration file.
    """
    args = _serve_parser(exe_name if exe_name in MULTI_CALL_NAMES else f"{exe_name} serve").parse_args(argv)
    options = ServerOptions(exe_name=exe_name)
    if argv or exe_name in MULTI_CALL_NAMES:
        # nats-server's defaults: JetStream and monitoring only when asked for.
        options.jetstream = False
        options.http_port = 0
    if args.config:
        from orlop.server.config import load_config, options_from_config

        conf = load_config(args.config)
        options = options_from_config(conf, options)
        options.config_file = os.path.abspath(args.config)
    http_follows_host = options.http_host == options.host
    _apply_flags(options, args)
    if http_follows_host:
        options.http_host = options.host  # nats-server: monitoring binds the client host by default
    _check(options)
    return options, args


def _apply_flags(options: ServerOptions, args: argparse.Namespace) -> None:
    simple = (
        "host",
        "port",
        "server_name",
        "http_port",
        "ports_file_dir",
        "log_file",
        "store_dir",
        "debug",
        "trace",
        "jetstream",
        "sync_always",
    )
    for name in simple:
        value = getattr(args, name)
        if value is not None:
            setattr(options, name, value)
    if args.debug_trace:
        options.debug = options.trace = True
    if args.user is not None:
        options.auth.user = args.user
    if args.password is not None:
        options.auth.password = args.password
    if args.token is not None:
        options.auth.token = args.token


def _check(options: ServerOptions) -> None:
    if options.port == 0:
        options.port = 4222  # nats-server: port 0 means the default port; -1 means a free one
    for label, port in (("port", options.port), ("http_port", options.http_port)):
        if port < -1 or port > 65535:
            raise ConfigError(f"invalid {label} {port}: must be -1 (random), 0..65535")
    if options.auth.token and options.auth.user:
        raise ConfigError("cannot have a user/password and a token at the same time")
    if options.auth.password and not options.auth.user:
        raise ConfigError("a password needs a user")
    if options.lame_duck_duration > 0 and options.lame_duck_grace_period >= options.lame_duck_duration:
        from orlop.server.config import go_duration_text

        raise ConfigError(
            f"lame duck grace period ({go_duration_text(options.lame_duck_grace_period)}) should be strictly"
            f" lower than lame duck duration ({go_duration_text(options.lame_duck_duration)})"
        )


def _banner(options: ServerOptions, port: int) -> str:
    host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
    url = f"nats://{host}:{port}"
    js = (
        f", JetStream in {os.path.abspath(options.store_dir)}"
        if options.jetstream
        else ", JetStream is off (use -js)"
    )
    lines = [f"Orlop {__version__}: NATS server on {url}{js}"]
    if options.http_port > 0:
        lines.append(f"Monitoring: http://{options.http_host}:{options.http_port}/varz")
    lines += [
        "Connect with nats-py:",
        "    import asyncio, nats",
        "    async def main():",
        f"        nc = await nats.connect({url!r})",
        "        await nc.publish('hello', b'world')",
        "        await nc.drain()",
        "    asyncio.run(main())",
        f"or the nats CLI: nats --server {url} pub hello world",
        "",
    ]
    return "\n".join(lines)


def serve(argv: list[str], prog: str = "orlop") -> int:
    """``orlop serve [nats-server flags]``: run until SIGTERM/SIGINT; return the exit code."""
    configure_logging(ServerOptions())  # so configuration warnings are formatted like the rest
    options, args = build_options(argv, exe_name=prog)
    if args.test_config:
        print(f"{prog}: configuration file {args.config or '(none)'} is valid")
        return 0
    configure_logging(options)
    if args.pid_file:
        try:
            with open(args.pid_file, "w", encoding="ascii") as f:
                f.write(str(os.getpid()))
        except OSError as exc:
            raise ConfigError(f"cannot write pid file {args.pid_file!r}: {exc.strerror}") from exc
    from orlop.server import run  # lazy: the server is heavy and `orlop --help` must not need it

    def on_ready(server: Server) -> None:
        # Only once the port is bound: a port in use gives the error alone, no banner.
        if prog not in MULTI_CALL_NAMES and options.port > 0:
            sys.stdout.write(_banner(options, server.port))
            sys.stdout.flush()

    try:
        return int(run(options, on_ready))
    finally:
        if args.pid_file:
            with contextlib.suppress(OSError):
                os.unlink(args.pid_file)


# ---------------------------------------------------------------------------------------------
# the table and the entry point

SUBCOMMANDS: dict[str, Subcommand] = {
    "serve": Subcommand("serve", "run the NATS/JetStream server (nats-server's flags)", serve),
}


def _top_usage() -> str:
    width = max(len(n) for n in SUBCOMMANDS)
    cmds = "\n".join(f"  {c.name:<{width}}  {c.help}" for c in SUBCOMMANDS.values())
    return (
        f"usage: orlop [--version] <command> [args]\n\n"
        f"Orlop {__version__}: the NATS JetStream Object Store, in Python.\n\ncommands:\n{cmds}\n\n"
        f"'orlop <command> --help' shows a command's options.\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Console entry point; returns the process exit code (0 ok, 1 usage/config error)."""
    invoked = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "orlop"
    invoked = invoked.removesuffix(".exe")
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if invoked in MULTI_CALL_NAMES:
            return serve(args, invoked)
        if not args or args[0] in ("-h", "--help", "help"):
            sys.stdout.write(_top_usage())
            return 0 if args else 1
        if args[0] in ("-v", "--version", "version"):
            print(f"orlop {__version__}")
            return 0
        command = SUBCOMMANDS.get(args[0])
        if command is None:
            raise UsageError(f"unknown command {args[0]!r} (see 'orlop --help')")
        return command.resolve()(args[1:], "orlop")
    except UsageError as exc:
        print(f"orlop: error: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"orlop: configuration error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
