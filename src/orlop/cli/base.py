"""What every ``orlop`` subcommand shares: its entry in the table, its parser, its usage errors."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["MULTI_CALL_NAMES", "Parser", "Subcommand", "UsageError"]

# Names under which the ``orlop`` script behaves as ``orlop serve`` with nats-server's defaults.
MULTI_CALL_NAMES = ("nats-server",)


class UsageError(Exception):
    """A bad command line; the message is printed on stderr and the exit code is 1."""


class Parser(argparse.ArgumentParser):
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
