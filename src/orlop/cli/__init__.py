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

:mod:`.serve` is ``orlop serve``; :mod:`.base` what every subcommand shares.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from orlop import __version__
from orlop.cli.base import MULTI_CALL_NAMES, Subcommand, UsageError
from orlop.cli.lazyimport import defer_import
from orlop.errors import ConfigError

__all__ = ["SUBCOMMANDS", "TRACE", "Subcommand", "build_options", "configure_logging", "main", "serve"]

# Names this package offers without importing the server for every command (``orlop object``
# starts faster without it): resolved on first use.
_LAZY = {
    "serve": "orlop.cli.serve",
    "build_options": "orlop.cli.serve",
    "TRACE": "orlop.server.logging",
    "configure_logging": "orlop.server.logging",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


SUBCOMMANDS: dict[str, Subcommand] = {
    "serve": Subcommand(
        "serve", "run the NATS/JetStream server (nats-server's flags)", "orlop.cli.serve:serve"
    ),
    "object": Subcommand(
        "object", "buckets and objects of an Object Store (alias: obj)", "orlop.cli.object:run"
    ),
    "obj": Subcommand("obj", "short for 'object'", "orlop.cli.object:run"),
    "gateway": Subcommand(
        "gateway", "serve the Object Store over HTTP (JSON API, web page, metrics)", "orlop.cli.gateway:run"
    ),
    "audit": Subcommand("audit", "read, filter and follow the server's audit trail", "orlop.cli.audit:run"),
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
    defer_import("aiohttp")  # nats-py's websocket transport: 0.3-0.8 s of every command's start
    try:
        if invoked in MULTI_CALL_NAMES:
            return SUBCOMMANDS["serve"].resolve()(args, invoked)
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
