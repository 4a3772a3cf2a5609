"""What the object commands print: tables on a terminal, ``--json`` documents, one-line errors.

Expected failures never show a traceback: :func:`fail` prints ``orlop: <what went wrong>``
on stderr (with the cause chain under ``--verbose``) and exits with the code of
:data:`EXIT_CODES`, documented in the README:

====  ======================================================
0     ok
1     usage or configuration error
2     not found (bucket, object)
3     already exists, revision mismatch
4     too large, storage limit
5     server unavailable or timed out
6     permission denied
7     digest mismatch (data corrupt)
8     decryption failed (no key, wrong key, or encrypted data tampered with)
====  ======================================================
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn

import click

from orlop.errors import (
    AuthError,
    BucketExists,
    BucketNotFound,
    DecryptionFailed,
    DigestMismatch,
    ObjectAlreadyExists,
    ObjectNotFound,
    ObjectStoreUnavailable,
    ObjectTooLarge,
    OrlopError,
    StorageLimitExceeded,
)

__all__ = [
    "EXIT_CODES",
    "Refused",
    "exit_code",
    "fail",
    "human_age",
    "human_duration",
    "human_size",
    "human_time",
    "print_json",
    "print_table",
    "print_view",
]

EXIT_CODES: tuple[tuple[type[BaseException], int], ...] = (
    (BucketNotFound, 2),
    (ObjectNotFound, 2),
    (BucketExists, 3),
    (ObjectAlreadyExists, 3),  # RevisionMismatch is one
    (ObjectTooLarge, 4),
    (StorageLimitExceeded, 4),
    (ObjectStoreUnavailable, 5),
    (TimeoutError, 5),
    (ConnectionError, 5),
    (AuthError, 6),  # PermissionDenied is one
    (DigestMismatch, 7),
    (DecryptionFailed, 8),
)


class Refused(click.ClickException):
    """A command that will not do what was asked as asked (exit code 1): ``orlop: <why>``, one line."""

    def show(self, file: Any = None) -> None:
        click.echo(f"orlop: {self.format_message()}", err=True)


def exit_code(exc: BaseException) -> int:
    """The documented exit code of an error (1 for anything else)."""
    for cls, code in EXIT_CODES:
        if isinstance(exc, cls):
            return code
    return 1


def fail(message: str, exc: BaseException | None = None, *, verbose: bool = False) -> NoReturn:
    """Print ``orlop: message`` (and the cause chain when verbose) and exit with the error's code."""
    click.echo(f"orlop: {message}", err=True)
    cause = exc
    while verbose and cause is not None:
        click.echo(f"  caused by {type(cause).__name__}: {cause}", err=True)
        cause = cause.__cause__ or cause.__context__
    sys.exit(exit_code(exc) if exc is not None else 1)


def describe(exc: OrlopError) -> str:
    """The one line an expected failure prints."""
    detail = getattr(exc, "detail", "") or str(exc)
    return detail


def print_json(doc: Any) -> None:
    click.echo(json.dumps(doc, indent=2, sort_keys=False, default=str))


def human_size(n: float) -> str:
    """Bytes as people read them: ``512 B``, ``1.5 KiB``, ``64 MiB``."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def human_time(when: datetime | float | None) -> str:
    """A moment as ``2026-12-03 04:10:00`` in local time ('' when unknown)."""
    if when is None or when == 0:
        return ""
    moment = when if isinstance(when, datetime) else datetime.fromtimestamp(when, UTC)
    if moment.timestamp() <= 0:
        return ""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def human_age(seconds: float) -> str:
    """How long ago, as natscli shows it: ``45s``, ``12m3s``, ``5h2m``, ``3d4h``."""
    s = max(0, int(seconds))
    days, rest = divmod(s, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n}{unit}" for n, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")) if n]
    return "".join(parts[:2]) or "0s"


def human_duration(seconds: float) -> str:
    """A TTL as people read it: ``unlimited``, ``90s``, ``1h30m``, ``7d``."""
    if not seconds:
        return "unlimited"
    return human_age(seconds) if seconds >= 1 else f"{seconds:g}s"


def print_view(heading: str, sections: Sequence[tuple[str, Sequence[tuple[str, Any]]]]) -> None:
    """natscli's info layout: a heading, then titled sections of right-aligned ``Key: value`` rows.

    Plain text (no colour codes) on a terminal and in a pipe alike, so it greps the same.
    A list value is shown one item per line under its key.
    """
    rows = [(k, v) for _, section in sections for k, v in section]
    width = max((len(k) for k, _ in rows), default=0)
    click.echo(heading)
    for title, section in sections:
        if not section:
            continue
        click.echo()
        if title:
            click.echo(f"{'':>{max(0, width - len(title) // 2)}}{title}")
            click.echo()
        for key, value in section:
            items = value if isinstance(value, list | tuple) else [value]
            for i, item in enumerate(items or [""]):
                click.echo(f"{key if i == 0 else '':>{width}}{':' if i == 0 else ' '} {item}")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table on a terminal; tab-separated lines when piped (easy to cut and grep)."""
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*(str(c) for c in row))
        Console().print(table)
        return
    for row in rows:
        click.echo("\t".join(str(c) for c in row))
