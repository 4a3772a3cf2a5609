"""What every ``orlop object`` command shares: the client, error handling, flag parsing."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from orlop.cli.connect import Connection, resolve_connection
from orlop.cli.output import Refused, describe, fail
from orlop.errors import AuthError, OrlopError

__all__ = [
    "Refused",
    "ask",
    "client",
    "encryption_key",
    "encryption_options",
    "guarded",
    "json_option",
    "parse_duration",
    "parse_headers",
    "parse_pairs",
    "parse_size",
]

F = TypeVar("F", bound=Callable[..., Any])


def encryption_options(fn: F) -> F:
    """``--encrypt-key-file F`` | ``--passphrase-env VAR`` and ``--key-id`` (client-side encryption)."""
    for option in reversed(
        [
            click.option(
                "--encrypt-key-file",
                "key_file",
                default=None,
                type=click.Path(dir_okay=False),
                help="client-side encryption key: 32 raw bytes, or 64 hex digits / base64 of 32 bytes",
            ),
            click.option(
                "--passphrase-env",
                default=None,
                metavar="VAR",
                help="client-side encryption with the passphrase in environment variable VAR (scrypt)",
            ),
            click.option("--key-id", default=None, help="the key's id [default: 'default', or 'passphrase']"),
        ]
    ):
        fn = option(fn)
    return fn


def encryption_key(key_file: str | None, passphrase_env: str | None, key_id: str | None) -> Any:
    """The :class:`orlop.objects.Key` the encryption flags name, or None when none is given."""
    from orlop.objects import Key

    if key_file and passphrase_env:
        raise click.UsageError("give --encrypt-key-file or --passphrase-env, not both")
    if passphrase_env:
        passphrase = os.environ.get(passphrase_env)
        if not passphrase:
            raise Refused(f"environment variable {passphrase_env} is not set or empty")
        return Key.from_passphrase(passphrase, id=key_id or "passphrase")
    if key_file:
        return Key.from_file(key_file, id=key_id or "default")
    if key_id:
        raise click.UsageError("--key-id needs --encrypt-key-file or --passphrase-env")
    return None


def client(ctx: click.Context) -> Any:
    """A connected :class:`orlop.objects.sync.ObjectStoreClient` (use it in a ``with``)."""
    from orlop.objects import tune_allocator

    # The CLI is a process that moves big objects: chunk buffers stay on glibc's heap
    # instead of being mapped and unmapped per chunk (see orlop.objects.tuning).
    tune_allocator()
    return connection(ctx).open()


def connection(ctx: click.Context) -> Connection:
    """The command's connection settings, resolved on first use (so ``--help`` never needs them)."""
    obj = ctx.obj
    if "connection" not in obj:
        obj["connection"] = resolve_connection(obj["flags"])
    conn: Connection = obj["connection"]
    return conn


def guarded(fn: F) -> F:
    """Expected failures become one line and an exit code (see :mod:`orlop.cli.output`)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        obj = click.get_current_context().obj
        verbose = bool(obj.get("verbose"))
        try:
            return fn(*args, **kwargs)
        except BrokenPipeError:
            raise  # the reader of stdout left: handled quietly by run()
        except (OrlopError, ConnectionError, TimeoutError, OSError) as exc:
            conn: Connection | None = obj.get("connection")
            if conn is not None and conn.denied and not isinstance(exc, AuthError):
                # The server refused a subject and said so; the request then timed out.
                denied = AuthError(f"permission denied: {conn.denied[0]}")
                fail(str(denied), _chained(denied, exc), verbose=verbose)
            if isinstance(exc, OrlopError):
                fail(describe(exc), exc, verbose=verbose)
            if isinstance(exc, OSError) and not isinstance(exc, ConnectionError | TimeoutError):
                fail(
                    f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc),
                    exc,
                    verbose=verbose,
                )
            fail(str(exc) or type(exc).__name__, exc, verbose=verbose)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper  # type: ignore[return-value]


def _chained(new: BaseException, cause: BaseException) -> BaseException:
    new.__cause__ = cause
    return new


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="print JSON")(fn)


def ask(question: str, refusal: str) -> None:
    """Ask a yes/no question on the terminal; refuse (usage error) when there is none to ask on."""
    if not sys.stdin.isatty():
        raise Refused(refusal)
    click.confirm(question, abort=True)


def parse_pairs(items: Iterable[str], sep: str) -> dict[str, str]:
    """``K=V`` (or ``K:V``) items as a dict; a usage error names the bad one."""
    out: dict[str, str] = {}
    for text in items:
        key, found, value = text.partition(sep)
        if not found or not key.strip():
            raise click.UsageError(f"{text!r} is not K{sep}V")
        out[key.strip()] = value.strip()
    return out


def parse_headers(items: Iterable[str]) -> dict[str, list[str]]:
    """``-H K:V`` flags (repeatable, a key may repeat) as object headers."""
    headers: dict[str, list[str]] = {}
    for text in items:
        key, found, value = text.partition(":")
        if not found or not key.strip():
            raise click.UsageError(f"header {text!r} is not K:V")
        headers.setdefault(key.strip(), []).append(value.strip())
    return headers


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4, "p": 5}


def parse_size(text: str | None) -> int | None:
    """``1GB``, ``512MiB``, ``64k``, ``1000`` as bytes (units are powers of 1024, as natscli reads them)."""
    if text is None:
        return None
    if text.strip() in ("-1", "unlimited"):
        return -1
    m = _SIZE.match(text)
    if not m:
        raise click.BadParameter(f"{text!r} is not a size (examples: 1000, 64KiB, 512MB, 1GB)")
    return int(float(m.group(1)) * 1024 ** _POWERS[m.group(2).lower()])


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


def parse_duration(text: str | None) -> float | None:
    """``90`` (seconds), or a Go-style duration as natscli takes it: ``1h30m``, ``10s``, ``7d``."""
    if text is None:
        return None
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds < 0:
            raise click.BadParameter(f"{text!r} is negative")
        return seconds
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise click.BadParameter(f"{text!r} is not a duration (examples: 90, 90s, 1h30m, 7d)")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
