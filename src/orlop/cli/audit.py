"""``orlop audit``: read, filter and follow the server's audit trail (see docs/audit.md).

The trail is a file the server writes (``audit { file }``), so this command reads files
and never connects: it works on a copy taken off a machine, and on the live file while
the server writes it. Rotated files (``audit.log.N`` … ``audit.log.1``) are read first,
oldest first, then the file itself; ``--follow`` then keeps reading it as ``tail -F``
does, across rotations, until SIGINT or SIGTERM (exit 0).

Output is one aligned line per record (UTC time, account/user, op, bucket/object, size,
revision, result), written as it is read so a trail of gigabytes streams through; or,
with ``--json``, each matching line exactly as the file holds it. A malformed line is
reported on stderr as ``file:line`` and skipped; the exit code is then 7 ("data corrupt",
as in :mod:`orlop.cli.output`) once everything else has been printed.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import click

from orlop.auditlog import OPS, AuditFilter, Follower, Line, audit_files, parse_since, read_lines, record_time
from orlop.cli.output import Refused, human_size

__all__ = ["MALFORMED_EXIT", "command", "format_record", "run"]

MALFORMED_EXIT = 7  # the CLI's "data corrupt" code: some lines could not be read
POLL = 0.2  # seconds between looks at a followed file


def _config_file(path: str) -> str:
    """The ``audit { file }`` of a server configuration, read with the server's own parser
    (so a file the server would refuse is refused here too, with the same message).

    A relative path is used as given: the server also opens it from its working directory.
    """
    from orlop.server.config import load_config, options_from_config
    from orlop.server.options import ServerOptions

    options = options_from_config(load_config(path), ServerOptions())
    if options.audit is None or not options.audit.file:
        raise Refused(f"{path} has no audit {{ file: … }} block")
    return options.audit.file


def _ops(values: Iterable[str]) -> frozenset[str]:
    ops = {op.strip() for value in values for op in value.split(",") if op.strip()}
    unknown = sorted(ops - set(OPS))
    if unknown:
        raise click.BadParameter(
            f"unknown op {', '.join(unknown)} (known: {', '.join(OPS)})", param_hint="--op"
        )
    return frozenset(ops)


def format_record(record: dict[str, Any], *, colour: bool = False) -> str:
    """One record as an aligned line: time, account/user, op, target, size, revision, result."""
    text = record.get("time")
    if isinstance(text, str) and len(text) > 23 and text.endswith("Z") and text[19] == ".":
        when = f"{text[:10]} {text[11:23]}Z"  # as the server writes it: no parsing needed
    else:
        moment = record_time(text).astimezone(UTC)
        when = moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    who = f"{record.get('account') or '-'}/{record.get('user') or '-'}"
    target = str(record.get("bucket") or "-")
    if record.get("object") is not None:
        target += f"/{record['object']}"
    size = record.get("bytes")
    revision = record.get("revision")
    result = str(record.get("result") or "?")
    if record.get("err_code") is not None:
        result += f" {record['err_code']}"
    if record.get("error"):
        result += f" {record['error']}"
    if colour and not result.startswith("ok"):
        result = click.style(result, fg="red" if result.startswith("error") else "yellow")
    return (
        f"{when}  {who:<20} {record.get('op', '?'):<13} {target:<32} "
        f"{human_size(size) if isinstance(size, int) else '-':>10} "
        f"{'rev ' + str(revision) if revision is not None else '':<10} {result}"
    )


class _Printer:
    """Writes matching records (human or raw) and counts the malformed lines it was shown.

    ``stopping`` is set by the signal handlers of ``--follow``: a backlog being printed
    stops at the next line.
    """

    def __init__(self, wanted: AuditFilter, raw: bool, out: TextIO) -> None:
        self.wanted, self.raw, self.out = wanted, raw, out
        self.colour = out.isatty()
        self.malformed = 0
        self.stopping: list[int] = []

    def show(self, lines: Iterable[Line]) -> None:
        for line in lines:
            if self.stopping:
                return
            if line.record is None:
                self.malformed += 1
                self.out.flush()
                where = f"{line.path}:{line.number}"
                click.echo(f"orlop audit: {where}: malformed record ({line.problem})", err=True)
                continue
            if not self.wanted(line.record):
                continue
            if self.raw:  # the text layer is never written to in this mode: nothing to flush first
                self.out.buffer.write(line.raw + b"\n")
            else:
                self.out.write(format_record(line.record, colour=self.colour) + "\n")


def _backlog(files: list[Path], since: datetime | None) -> list[Path]:
    """The files worth reading: a file last modified before ``since`` holds only older records."""
    if since is None:
        return files
    keep = []
    for path in files:
        try:
            if datetime.fromtimestamp(path.stat().st_mtime, UTC) < since:
                continue
        except FileNotFoundError:
            continue
        keep.append(path)
    return keep


def _follow(printer: _Printer, files: list[Path], since: datetime | None) -> None:
    """Print the rotated files, then what is appended to the last of ``files`` (and to the
    files that replace it) until SIGINT or SIGTERM."""

    def stop(signum: int, frame: FrameType | None) -> None:
        printer.stopping.append(signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        printer.show(read_lines(_backlog(files[:-1], since)))
        follower = Follower(files[-1])
        if not files[-1].exists():
            click.echo(f"orlop audit: {files[-1]} does not exist yet; waiting for it", err=True)
        try:
            while not printer.stopping:
                printer.show(follower.poll())
                printer.out.flush()
                time.sleep(POLL)
        finally:
            follower.close()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@click.command(name="audit", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("file", required=False)
@click.option(
    "-c", "--config", "config_file", default=None, help="server configuration: read its audit { file }"
)
@click.option("--bucket", "buckets", multiple=True, metavar="B", help="only this bucket (repeatable)")
@click.option(
    "--object", "objects", multiple=True, metavar="NAME", help="only this object name or glob (repeatable)"
)
@click.option("--user", "users", multiple=True, metavar="U", help="only this user (repeatable)")
@click.option("--account", "accounts", multiple=True, metavar="A", help="only this account (repeatable)")
@click.option(
    "--op", "ops", multiple=True, metavar="OP", help="only these operations (repeatable, or a comma list)"
)
@click.option(
    "--since",
    default=None,
    metavar="T",
    help="only records from T on: RFC 3339, or a duration ago (10m, 2h, 1d)",
)
@click.option("-f", "--follow", is_flag=True, help="keep printing records as they are written (tail -F)")
@click.option("--json", "as_json", is_flag=True, help="print the matching lines as the file holds them")
def command(
    file: str | None,
    config_file: str | None,
    buckets: tuple[str, ...],
    objects: tuple[str, ...],
    users: tuple[str, ...],
    accounts: tuple[str, ...],
    ops: tuple[str, ...],
    since: str | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Read and filter the server's audit trail: FILE, its rotated files, then (--follow) new records."""
    if file is None:
        if config_file is None:
            raise click.UsageError("give the audit FILE, or -c server.conf to read it from the configuration")
        file = _config_file(config_file)
    try:
        moment = parse_since(since, datetime.now(UTC)) if since else None
    except ValueError as exc:
        raise click.BadParameter(
            str(exc).removeprefix(f"--since {since!r}: "), param_hint="--since"
        ) from None
    wanted = AuditFilter(
        buckets=frozenset(buckets),
        users=frozenset(users),
        accounts=frozenset(accounts),
        ops=_ops(ops),
        objects=objects,
        since=moment,
    )
    files = audit_files(file)
    if not follow and not any(p.exists() for p in files):
        raise Refused(f"audit file {file} does not exist")
    printer = _Printer(wanted, as_json, sys.stdout)
    try:
        if follow:
            _follow(printer, files, moment)
        else:
            printer.show(read_lines(_backlog(files, moment)))
        printer.out.flush()
    except BrokenPipeError:  # `orlop audit … | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return
    if printer.malformed:
        click.echo(f"orlop audit: {printer.malformed} malformed line(s) skipped", err=True)
        raise click.exceptions.Exit(MALFORMED_EXIT)


def run(argv: list[str], prog: str) -> int:
    """``orlop audit ...``: 0 when every line was read (or when stopped by SIGINT/SIGTERM
    while following), 7 when malformed lines were skipped, 1 for a usage error."""
    from orlop.errors import ConfigError

    try:
        # Without standalone mode, click returns an Exit's code instead of raising it.
        code = command.main(args=argv, prog_name=f"{prog} audit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return 1
    except ConfigError as exc:
        sys.stderr.write(f"orlop audit: {exc}\n")
        return 1
    return code if isinstance(code, int) else 0
