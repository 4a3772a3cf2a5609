"""``orlop object`` (alias ``orlop obj``): the Object Store from the command line.

Built on click (parsing, help) and rich (tables), over :mod:`orlop.objects.sync`, so every
command works the same against ``orlop serve`` and a nats-server cluster; no command
imports the server. Names, arguments and flags follow natscli's ``nats object``.

Commands so far: ``add``, ``ls``, ``info``, ``put``, ``get``, ``rm`` (alias ``del``),
``seal``, ``versions``, ``restore``, each with ``--json`` where it prints something.
Errors are one line with a documented exit code (:mod:`orlop.cli.output`).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import click

from orlop.cli.connect import Connection, connection_options
from orlop.cli.output import describe, fail, human_size, print_json, print_table
from orlop.errors import ObjectAlreadyExists, OrlopError, RevisionMismatch

__all__ = ["group", "run"]

F = TypeVar("F", bound=Callable[..., Any])


def _client(ctx: click.Context) -> Any:
    conn: Connection = ctx.obj["connection"]
    return conn.open()


def _guarded(fn: F) -> F:
    """Expected failures become one line and an exit code (see :mod:`orlop.cli.output`)."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        verbose = bool(click.get_current_context().obj.get("verbose"))
        try:
            return fn(*args, **kwargs)
        except (OrlopError, ConnectionError, TimeoutError) as exc:
            fail(describe(exc) if isinstance(exc, OrlopError) else str(exc), exc, verbose=verbose)

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper  # type: ignore[return-value]


@click.group(name="object", context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
@click.option("-v", "--verbose", is_flag=True, help="show the cause chain of an error")
@click.pass_context
def group(
    ctx: click.Context,
    servers: str,
    user: str | None,
    password: str | None,
    token: str | None,
    timeout: float,
    verbose: bool,
) -> None:
    """Buckets and objects of a NATS Object Store (orlop serve or any nats-server)."""
    ctx.obj = {"connection": Connection(servers, user, password, token, timeout), "verbose": verbose}


@group.command()
@click.argument("bucket")
@click.option("--description", default="", help="what the bucket is for")
@click.option("--ttl", type=float, default=None, help="seconds an object lives (0: forever)")
@click.option("--max-bucket-size", type=int, default=None, help="bytes the bucket may hold")
@click.option("--storage", type=click.Choice(["file", "memory"]), default="file", show_default=True)
@click.option("--history", type=int, default=None, help="revisions kept per object (orlop.objects)")
@click.option("--max-object-size", type=int, default=None, help="largest object in bytes")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
@_guarded
def add(
    ctx: click.Context,
    bucket: str,
    description: str,
    ttl: float | None,
    max_bucket_size: int | None,
    storage: str,
    history: int | None,
    max_object_size: int | None,
    as_json: bool,
) -> None:
    """Create a bucket."""
    options: dict[str, Any] = {"description": description, "storage": storage}
    for key, value in (
        ("ttl", ttl),
        ("max_bytes", max_bucket_size),
        ("history", history),
        ("max_object_size", max_object_size),
    ):
        if value is not None:
            options[key] = value
    with _client(ctx) as client:
        status = client.create_bucket(bucket, **options).status()
    _show_status(status.to_dict(), as_json)


def _show_status(doc: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(doc)
        return
    rows = [(k, human_size(v) if k in ("size", "total_bytes", "stored_bytes") else v) for k, v in doc.items()]
    print_table(f"Object Store {doc['bucket']}", ("field", "value"), rows)


@group.command(name="ls")
@click.argument("bucket", required=False)
@click.option("-n", "--names", is_flag=True, help="object names only")
@click.option("--filter", "pattern", default=None, help="names matching a glob (photos/*.jpg)")
@click.option("--deleted", is_flag=True, help="include deleted objects")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
@_guarded
def ls(
    ctx: click.Context, bucket: str | None, names: bool, pattern: str | None, deleted: bool, as_json: bool
) -> None:
    """List the buckets, or the objects of BUCKET."""
    with _client(ctx) as client:
        if bucket is None:
            found = sorted(client.buckets())
            if as_json:
                print_json(found)
            else:
                print_table("Object Stores", ("bucket",), [(b,) for b in found])
            return
        infos = client.bucket(bucket).list(pattern, include_deleted=deleted)
    if as_json:
        print_json([i.to_dict() for i in infos])
    elif names:
        for info in infos:
            click.echo(info.name)
    else:
        rows = [
            (i.name, human_size(i.size), i.chunks, i.mtime, "deleted" if i.deleted else "") for i in infos
        ]
        print_table(f"Objects in {bucket}", ("name", "size", "chunks", "modified", ""), rows)


@group.command()
@click.argument("bucket")
@click.argument("name", required=False)
@click.option("--revision", type=int, default=None, help="an older revision (history buckets)")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
@_guarded
def info(ctx: click.Context, bucket: str, name: str | None, revision: int | None, as_json: bool) -> None:
    """Show BUCKET, or the object NAME in it."""
    with _client(ctx) as client:
        b = client.bucket(bucket)
        if name is None:
            _show_status(b.status().to_dict(), as_json)
            return
        obj = b.info(name, revision=revision, show_deleted=True)
    doc = obj.to_dict()
    if as_json:
        print_json(doc)
    else:
        shown = {**doc, "size": f"{doc['size']} ({human_size(doc['size'])})"}
        print_table(f"Object {bucket} > {name}", ("field", "value"), sorted(shown.items()))


@group.command()
@click.argument("bucket")
@click.argument("file", required=False, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("--name", default=None, help="object name (required when reading stdin)")
@click.option("--description", default=None)
@click.option("-H", "--header", "headers", multiple=True, help="K:V, repeatable")
@click.option("--metadata", multiple=True, help="K=V, repeatable")
@click.option("--compression", type=click.Choice(["s2", "none"]), default=None)
@click.option("--ttl", type=float, default=None, help="seconds the object lives")
@click.option("--if-revision", type=int, default=None, help="replace only this revision")
@click.option("-f", "--force", is_flag=True, help="replace an existing object without asking")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
@_guarded
def put(
    ctx: click.Context,
    bucket: str,
    file: str | None,
    name: str | None,
    description: str | None,
    headers: tuple[str, ...],
    metadata: tuple[str, ...],
    compression: str | None,
    ttl: float | None,
    if_revision: int | None,
    force: bool,
    as_json: bool,
) -> None:
    """Store FILE (or stdin, with --name) in BUCKET."""
    if file in (None, "-") and not name:
        raise click.UsageError("--name is required when the object comes from stdin")
    obj_name = name or os.path.basename(str(file))
    hdrs: dict[str, list[str]] = {}
    for h in headers:
        key, sep, value = h.partition(":")
        if not sep:
            raise click.UsageError(f"header {h!r} is not K:V")
        hdrs.setdefault(key.strip(), []).append(value.strip())
    meta = dict(_pair(m, "=") for m in metadata)
    options: dict[str, Any] = {
        "description": description,
        "headers": hdrs or None,
        "metadata": meta or None,
        "compression": compression,
        "ttl": ttl,
        "if_revision": if_revision,
    }
    ask = not force and if_revision is None  # replacing an object needs -f or a yes
    with _client(ctx) as client:
        b = client.bucket(bucket)
        try:
            # create_only is checked by the server before a byte is sent: no race, no extra lookup.
            obj = _put_file(b, obj_name, file, create_only=ask, **options)
        except ObjectAlreadyExists as exc:
            if not ask or isinstance(exc, RevisionMismatch):
                raise
            if not sys.stdin.isatty() or file in (None, "-"):
                raise ObjectAlreadyExists(
                    f"object {obj_name!r} exists in bucket {bucket!r} (use --force)"
                ) from exc
            click.confirm(f"Replace existing file {bucket} > {obj_name}", abort=True)
            obj = _put_file(b, obj_name, file, **options)
    if as_json:
        print_json(obj.to_dict())
    else:
        click.echo(f"Stored {bucket} > {obj.name}: {human_size(obj.size)} in {obj.chunks} chunks")


def _pair(text: str, sep: str) -> tuple[str, str]:
    key, found, value = text.partition(sep)
    if not found:
        raise click.UsageError(f"{text!r} is not K{sep}V")
    return key.strip(), value.strip()


def _put_file(b: Any, name: str, file: str | None, **options: Any) -> Any:
    """Put FILE (stdin for None or -) under ``name``; the file is closed afterwards."""
    if file in (None, "-"):
        return b.put(name, sys.stdin.buffer, **options)
    with open(str(file), "rb") as source:
        return b.put(name, source, **options)


@group.command()
@click.argument("bucket")
@click.argument("name")
@click.option("-O", "--output", default=None, help="file to write, - for stdout (default: NAME's basename)")
@click.option("--revision", type=int, default=None)
@click.option("-f", "--force", is_flag=True, help="overwrite an existing file")
@click.pass_context
@_guarded
def get(
    ctx: click.Context, bucket: str, name: str, output: str | None, revision: int | None, force: bool
) -> None:
    """Write the object NAME of BUCKET to a file (digest verified)."""
    dest = output or os.path.basename(name)
    started = time.monotonic()
    with _client(ctx) as client:
        b = client.bucket(bucket)
        if dest == "-":
            with b.get(name, revision=revision) as reader:
                for piece in reader:
                    sys.stdout.buffer.write(piece)
            sys.stdout.buffer.flush()
            return
        if os.path.exists(dest) and not force:
            raise click.UsageError(f"{dest} exists (use -f to overwrite)")
        obj = b.download(name, dest, revision=revision)
    took = time.monotonic() - started
    rate = f" ({human_size(obj.size / took)}/s)" if took > 2 else ""
    click.echo(f"Wrote: {human_size(obj.size)} to {dest} in {took:.2f}s{rate}", err=True)


@group.command(name="rm")
@click.argument("bucket")
@click.argument("name", required=False)
@click.option("--purge", is_flag=True, help="remove every revision, leave no tombstone")
@click.option("-f", "--force", is_flag=True, help="do not ask")
@click.pass_context
@_guarded
def rm(ctx: click.Context, bucket: str, name: str | None, purge: bool, force: bool) -> None:
    """Delete the object NAME, or the whole BUCKET."""
    what = f"{bucket} > {name}" if name else f"bucket {bucket} and every object in it"
    if not force:
        if not sys.stdin.isatty():
            raise click.UsageError(f"refusing to delete {what} without -f (no terminal to ask on)")
        click.confirm(f"Delete {what}?", abort=True)
    with _client(ctx) as client:
        if name is None:
            client.delete_bucket(bucket)
        else:
            client.bucket(bucket).delete(name, purge=purge)
    click.echo(f"Deleted {what}", err=True)


@group.command()
@click.argument("bucket")
@click.option("-f", "--force", is_flag=True, help="do not ask")
@click.pass_context
@_guarded
def seal(ctx: click.Context, bucket: str, force: bool) -> None:
    """Make BUCKET read-only for good."""
    if not force:
        if not sys.stdin.isatty():
            raise click.UsageError(f"refusing to seal {bucket} without -f (no terminal to ask on)")
        click.confirm(
            f"Really seal Bucket {bucket}, sealed buckets can not be unsealed or modified", abort=True
        )
    with _client(ctx) as client:
        client.bucket(bucket).seal()
    click.echo(f"{bucket} has been sealed", err=True)


@group.command()
@click.argument("bucket")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
@_guarded
def versions(ctx: click.Context, bucket: str, name: str, as_json: bool) -> None:
    """Every retained revision of NAME, oldest first (buckets with --history)."""
    with _client(ctx) as client:
        revs = client.bucket(bucket).versions(name)
    if as_json:
        print_json([r.to_dict() for r in revs])
        return
    rows = [(r.revision, human_size(r.size), r.digest, r.mtime, "deleted" if r.deleted else "") for r in revs]
    print_table(f"Revisions of {bucket} > {name}", ("revision", "size", "digest", "modified", ""), rows)


@group.command()
@click.argument("bucket")
@click.argument("name")
@click.argument("revision", type=int)
@click.option("--json", "as_json", is_flag=True, help="print JSON")
@click.pass_context
@_guarded
def restore(ctx: click.Context, bucket: str, name: str, revision: int, as_json: bool) -> None:
    """Make REVISION of NAME current again (a new revision sharing its chunks)."""
    with _client(ctx) as client:
        obj = client.bucket(bucket).restore(name, revision)
    if as_json:
        print_json(obj.to_dict())
    else:
        click.echo(f"Restored {bucket} > {name} from revision {revision} as revision {obj.revision}")


group.add_command(rm, name="del")


def run(argv: list[str], prog: str) -> int:
    """``orlop object ...``: the exit code (see :mod:`orlop.cli.output`)."""
    try:
        group.main(args=argv, prog_name=f"{prog} object", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.ClickException as exc:
        exc.show()
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
