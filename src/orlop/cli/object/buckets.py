"""Bucket commands: ``add``, ``edit``, ``ls``, ``info``, ``seal``, ``rm``/``del`` and ``watch``."""

from __future__ import annotations

import fnmatch
import json
import signal
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from orlop.cli.object.common import (
    ask,
    client,
    guarded,
    json_option,
    parse_duration,
    parse_headers,
    parse_pairs,
    parse_size,
)
from orlop.cli.object.views import bucket_row, show_bucket, show_buckets, show_object, show_objects
from orlop.cli.output import human_size, human_time, print_json

__all__ = ["COMMANDS"]

F = TypeVar("F", bound=Callable[..., Any])


def _bucket_flags(*, for_add: bool) -> Callable[[F], F]:
    """The flags of ``add`` and ``edit`` (edit has no --storage, and changes only what is given)."""
    flags = [
        click.option("--description", default=None, help="what the bucket is for"),
        click.option("--ttl", default=None, help="how long objects live: 90, 90s, 1h30m, 7d (0: forever)"),
        click.option("--replicas", type=int, default=None, help="copies kept in a cluster [add: 1]"),
        click.option("--max-bucket-size", default=None, help="bytes the bucket may hold: 1GB, 512MiB"),
        click.option("--max-object-size", default=None, help="largest object: 64MiB"),
        click.option("--history", type=int, default=None, help="revisions kept per object, 1-64"),
        click.option("--tags", multiple=True, help="place on servers with these tags (repeatable)"),
        click.option("--cluster", default=None, help="place in this cluster"),
        click.option("--metadata", multiple=True, help="K=V bucket metadata (repeatable)"),
        click.option("--compress", is_flag=True, default=None, help="compress stored data (s2)"),
        click.option("--compression", type=click.Choice(["s2", "none"]), default=None, help="s2 or none"),
    ]
    if for_add:
        flags.append(
            click.option(
                "--storage",
                type=click.Choice(["file", "memory", "f", "m"]),
                default="file",
                show_default=True,
            )
        )

    def decorate(fn: F) -> F:
        for flag in reversed(flags):
            fn = flag(fn)
        return fn

    return decorate


def _bucket_options(flags: dict[str, Any]) -> dict[str, Any]:
    """Bucket options for orlop.objects from the flags the user gave (None: not given)."""
    options: dict[str, Any] = {}
    if flags["description"] is not None:
        options["description"] = flags["description"]
    if flags["ttl"] is not None:
        options["ttl"] = parse_duration(flags["ttl"])
    if flags["replicas"] is not None:
        options["num_replicas"] = flags["replicas"]
    if flags["max_bucket_size"] is not None:
        options["max_bytes"] = parse_size(flags["max_bucket_size"])
    if flags["max_object_size"] is not None:
        options["max_object_size"] = max(0, parse_size(flags["max_object_size"]) or 0)
    if flags["history"] is not None:
        options["history"] = flags["history"]
    if flags["tags"] or flags["cluster"]:
        options["placement"] = {"cluster": flags["cluster"], "tags": list(flags["tags"])}
    if flags["metadata"]:
        options["metadata"] = parse_pairs(flags["metadata"], "=")
    if flags["compress"] is not None or flags["compression"] is not None:
        options["compression"] = "s2" if flags["compress"] or flags["compression"] == "s2" else None
    return options


def _show(status: Any, as_json: bool) -> None:
    if as_json:
        print_json(status.to_dict())
    else:
        show_bucket(status)


@click.command()
@click.argument("bucket")
@_bucket_flags(for_add=True)
@json_option
@click.pass_context
@guarded
def add(ctx: click.Context, /, bucket: str, as_json: bool, storage: str, **flags: Any) -> None:
    """Create a bucket; prints its information."""
    options = _bucket_options(flags)
    options["storage"] = {"f": "file", "m": "memory"}.get(storage, storage)
    with client(ctx) as c:
        status = c.create_bucket(bucket, **options).status()
    _show(status, as_json)


@click.command()
@click.argument("bucket")
@click.argument("name", required=False)
@click.option("--rename", default=None, help="object: a new name (data untouched)")
@click.option(
    "-H", "--header", "headers", multiple=True, help="object: K:V headers, replacing the old (repeatable)"
)
@_bucket_flags(for_add=False)
@json_option
@click.pass_context
@guarded
def edit(
    ctx: click.Context,
    /,
    bucket: str,
    name: str | None,
    rename: str | None,
    headers: tuple[str, ...],
    as_json: bool,
    **flags: Any,
) -> None:
    """Change BUCKET's settings, or the metadata of the object NAME; only the flags given change."""
    with client(ctx) as c:
        if name is None:
            if rename or headers:
                raise click.UsageError("--rename and --header change an object: give its NAME")
            options = _bucket_options(flags)
            if not options:
                raise click.UsageError("nothing to change: give at least one flag")
            if "placement" in options:  # --cluster alone keeps the tags, and the other way round
                current = c.bucket(bucket).stream_info.get("config", {}).get("placement") or {}
                given = {k: v for k, v in options["placement"].items() if v}
                options["placement"] = {**current, **given}
            _show(c.update_bucket(bucket, **options).status(), as_json)
            return
        bucket_only = [
            f
            for f in (
                "ttl",
                "replicas",
                "max_bucket_size",
                "max_object_size",
                "history",
                "cluster",
                "compress",
                "compression",
            )
            if flags.get(f) is not None
        ]
        if bucket_only or flags.get("tags"):
            raise click.UsageError(
                f"--{(bucket_only or ['tags'])[0].replace('_', '-')} is a bucket setting: leave out NAME"
            )
        changes: dict[str, Any] = {}
        if rename is not None:
            changes["name"] = rename
        if flags["description"] is not None:
            changes["description"] = flags["description"]
        if headers:
            changes["headers"] = parse_headers(headers)
        if flags["metadata"]:
            changes["metadata"] = parse_pairs(flags["metadata"], "=")
        if not changes:
            raise click.UsageError("nothing to change: give --description, --header, --metadata or --rename")
        obj = c.bucket(bucket).update_meta(name, **changes)
    if as_json:
        print_json(obj.to_dict())
    else:
        show_object(obj)


@click.command(name="ls")
@click.argument("bucket", required=False)
@click.option("-n", "--names", is_flag=True, help="names only")
@click.option("--filter", "pattern", default=None, help="names matching a glob (photos/*.jpg)")
@click.option("--deleted", is_flag=True, help="include deleted objects")
@click.option(
    "--sort",
    type=click.Choice(["name", "size", "time"]),
    default=None,
    help="order [objects: name, buckets: size]",
)
@click.option("-l", "--long", "wide", is_flag=True, help="objects: add chunks, digest and state columns")
@json_option
@click.pass_context
@guarded
def ls(
    ctx: click.Context,
    bucket: str | None,
    names: bool,
    pattern: str | None,
    deleted: bool,
    sort: str | None,
    wide: bool,
    as_json: bool,
) -> None:
    """List the buckets, or the objects of BUCKET."""
    with client(ctx) as c:
        if bucket is None:
            found = [n for n in c.buckets() if pattern is None or fnmatch.fnmatchcase(n, pattern)]
            if names and as_json:
                print_json(found)
                return
            if names:
                for n in found:
                    click.echo(n)
                return
            rows = [bucket_row(c.bucket(n)) for n in found]
            key = {"name": "bucket", "size": "size", "time": "last_update"}[sort or "size"]
            rows.sort(key=lambda r: (r[key], r["bucket"]))
            if as_json:
                print_json(rows)
            else:
                show_buckets(rows)
            return
        infos = c.bucket(bucket).list(pattern, include_deleted=deleted)
    if sort == "size":
        infos.sort(key=lambda i: (i.original_size, i.name))
    elif sort == "time":
        infos.sort(key=lambda i: (i.modified_ns, i.name))
    if as_json:
        print_json([i.to_dict() for i in infos])
    elif names:
        for info in infos:
            click.echo(info.name)
    else:
        show_objects(bucket, infos, wide=wide)


@click.command()
@click.argument("bucket")
@click.argument("name", required=False)
@click.option("--revision", type=int, default=None, help="an older revision (history buckets)")
@json_option
@click.pass_context
@guarded
def info(ctx: click.Context, bucket: str, name: str | None, revision: int | None, as_json: bool) -> None:
    """Show BUCKET, or the object NAME in it."""
    with client(ctx) as c:
        b = c.bucket(bucket)
        if name is None:
            _show(b.status(), as_json)
            return
        obj = b.info(name, revision=revision, show_deleted=True)
    if as_json:
        print_json(obj.to_dict())
    else:
        show_object(obj)


@click.command(name="rm")
@click.argument("bucket")
@click.argument("name", required=False)
@click.option("--purge", is_flag=True, help="remove every revision, leave no tombstone")
@click.option("-f", "--force", is_flag=True, help="do not ask")
@json_option
@click.pass_context
@guarded
def rm(ctx: click.Context, bucket: str, name: str | None, purge: bool, force: bool, as_json: bool) -> None:
    """Delete the object NAME, or the whole BUCKET."""
    with client(ctx) as c:
        if name is None:
            if purge:
                raise click.UsageError("--purge applies to an object: give its NAME")
            if not force:
                c.bucket(bucket)  # a missing bucket is an error before any question
                ask(
                    f"Delete bucket {bucket} and all its files?",
                    f"refusing to delete bucket {bucket} without -f (no terminal to ask on)",
                )
            c.delete_bucket(bucket)
            _removed({"bucket": bucket, "removed": True}, f"Removed bucket {bucket}", as_json)
            return
        b = c.bucket(bucket)
        if not force:
            size = b.info(name).original_size
            ask(
                f"Delete {human_size(size)} byte file {bucket} > {name}?",
                f"refusing to delete {bucket} > {name} without -f (no terminal to ask on)",
            )
        tomb = b.delete(name, purge=purge)
    doc = tomb.to_dict() if tomb is not None else {"bucket": bucket, "name": name, "purged": True}
    _removed(doc, f"Removed {bucket} > {name}", as_json)


def _removed(doc: dict[str, Any], line: str, as_json: bool) -> None:
    if as_json:
        print_json(doc)
    else:
        click.echo(line, err=True)


@click.command()
@click.argument("bucket")
@click.option("-f", "--force", is_flag=True, help="do not ask")
@json_option
@click.pass_context
@guarded
def seal(ctx: click.Context, bucket: str, force: bool, as_json: bool) -> None:
    """Make BUCKET read-only for good."""
    if not force:
        ask(
            f"Really seal Bucket {bucket}, sealed buckets can not be unsealed or modified",
            f"refusing to seal {bucket} without -f (no terminal to ask on)",
        )
    with client(ctx) as c:
        b = c.bucket(bucket)
        b.seal()
        status = b.status()
    click.echo(f"{bucket} has been sealed", err=True)
    _show(status, as_json)


@click.command()
@click.argument("bucket")
@click.option("--no-history", is_flag=True, help="start from the current objects, not every stored revision")
@click.option("--updates-only", is_flag=True, help="only changes from now on")
@click.option("--ignore-deletes", is_flag=True, help="leave out deletions")
@click.option("--count", type=int, default=None, help="stop after this many changes")
@json_option
@click.pass_context
@guarded
def watch(
    ctx: click.Context,
    bucket: str,
    no_history: bool,
    updates_only: bool,
    ignore_deletes: bool,
    count: int | None,
    as_json: bool,
) -> None:
    """Print every change of BUCKET as it happens (Ctrl-C stops); --json prints JSON lines."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # a terminated watch ends quietly too
    seen = 0
    with client(ctx) as c:
        watcher = c.bucket(bucket).watch(
            include_history=not no_history and not updates_only,
            updates_only=updates_only,
            ignore_deletes=ignore_deletes,
        )
        try:
            with watcher:
                for change in watcher:
                    _print_change(change, as_json)
                    seen += 1
                    if count is not None and seen >= count:
                        return
        except KeyboardInterrupt:
            return


def _print_change(obj: Any, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj.to_dict(), default=str) + "\n")
    elif obj.deleted:
        sys.stdout.write(f"[{human_time(obj.modified_ns / 1e9)}] DEL {obj.bucket} > {obj.name}\n")
    else:
        sys.stdout.write(
            f"[{human_time(obj.modified_ns / 1e9)}] PUT {obj.bucket} > {obj.name}:"
            f" {obj.original_size} bytes in {obj.chunks} chunks\n"
        )
    sys.stdout.flush()


def _sweep_age(text: str) -> float:
    from orlop.objects.orphans import SAFE_AGE  # here: the CLI imports the library lazily

    seconds = parse_duration(text) or 0.0
    if seconds < SAFE_AGE:
        raise click.BadParameter(f"at least {SAFE_AGE:g}s: younger chunks may be a running put's")
    return seconds


@click.command()
@click.argument("bucket")
@click.option(
    "--older-than",
    default="1m",
    show_default=True,
    callback=lambda _ctx, _param, value: _sweep_age(value),  # a bad one names this option
    help="only chunks whose newest is older (a put still running writes one every few ms)",
)
@click.option("--dry-run", is_flag=True, help="list what would be removed, remove nothing")
@json_option
@click.pass_context
@guarded
def gc(ctx: click.Context, bucket: str, older_than: float, dry_run: bool, as_json: bool) -> None:
    """Remove the chunks no object names: what puts cut off (a killed client, a lost
    connection or server) left in BUCKET. Their space comes back."""
    with client(ctx) as c:
        b = c.bucket(bucket)
        found = b.orphans(older_than) if dry_run else b.sweep_orphans(older_than)
    chunks = sum(o.chunks for o in found)
    if as_json:
        orphans = [{"nuid": o.nuid, "chunks": o.chunks, "age": round(o.age, 3)} for o in found]
        print_json({"bucket": bucket, "dry_run": dry_run, "orphans": orphans, "chunks": chunks})
        return
    for o in found:
        click.echo(f"{o.nuid}\t{o.chunks} chunks\t{human_time(time.time() - o.age)}")
    verb = "Would remove" if dry_run else "Removed"
    click.echo(f"{verb} {chunks} orphaned chunks of {len(found)} cut-off puts from {bucket}", err=True)


COMMANDS = {
    "add": add,
    "edit": edit,
    "gc": gc,
    "ls": ls,
    "info": info,
    "rm": rm,
    "seal": seal,
    "watch": watch,
}
