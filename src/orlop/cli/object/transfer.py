"""Object commands: ``put``, ``get``, ``cp``, ``mv``, ``link``, ``versions``, ``restore`` and ``rekey``.

Client-side encryption (``--encrypt-key-file`` / ``--passphrase-env``, see
:mod:`orlop.objects.encryption`) happens in this process: the server and the
network only ever see ciphertext.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import sys
import time
from typing import IO, Any

import click

from orlop.cli.object.common import (
    ask,
    client,
    encryption_key,
    encryption_options,
    guarded,
    json_option,
    parse_duration,
    parse_headers,
    parse_pairs,
    parse_size,
)
from orlop.cli.object.tree import get_tree, put_tree
from orlop.cli.object.views import digest_hex, show_object
from orlop.cli.output import Refused, human_size, human_time, print_json, print_table
from orlop.cli.progress import Bar
from orlop.errors import ObjectAlreadyExists, RevisionMismatch

__all__ = ["COMMANDS"]

_progress_flag = click.option(
    "--progress/--no-progress", default=True, show_default=True, help="progress bar on a terminal"
)


def _done(obj: Any, as_json: bool) -> None:
    if as_json:
        print_json(obj.to_dict())
    else:
        show_object(obj)


@click.command()
@click.argument("bucket")
@click.argument("file", required=False, type=click.Path(allow_dash=True))
@click.option("--name", default=None, help="object name (required for stdin; a prefix with --recursive)")
@click.option("--description", default=None)
@click.option("-H", "--header", "headers", multiple=True, help="K:V, repeatable")
@click.option("--metadata", multiple=True, help="K=V, repeatable")
@click.option("--chunk-size", default=None, help="chunk size: 128KiB (default), 1MiB")
@click.option("--compression", type=click.Choice(["s2", "none"]), default=None, help="compress this object")
@click.option("--ttl", default=None, help="how long the object lives: 90, 1h, 7d")
@click.option("--if-revision", type=int, default=None, help="replace only this revision")
@click.option("-r", "--recursive", is_flag=True, help="FILE is a folder: store every file below it")
@click.option(
    "--skip-same", is_flag=True, help="with --recursive: leave out files whose bytes are stored already"
)
@click.option("-f", "--force", is_flag=True, help="replace existing objects without asking")
@encryption_options
@_progress_flag
@json_option
@click.pass_context
@guarded
def put(
    ctx: click.Context,
    bucket: str,
    file: str | None,
    name: str | None,
    headers: tuple[str, ...],
    metadata: tuple[str, ...],
    chunk_size: str | None,
    compression: str | None,
    ttl: str | None,
    if_revision: int | None,
    recursive: bool,
    skip_same: bool,
    force: bool,
    progress: bool,
    as_json: bool,
    description: str | None,
    key_file: str | None,
    passphrase_env: str | None,
    key_id: str | None,
) -> None:
    """Store FILE (or stdin, with --name; or a folder, with --recursive) in BUCKET."""
    from_stdin = file in (None, "-")
    if from_stdin and not name:
        raise click.UsageError("--name is required when the object comes from stdin")
    options: dict[str, Any] = {
        "description": description,
        "headers": parse_headers(headers) or None,
        "metadata": parse_pairs(metadata, "=") or None,
        "compression": compression if compression != "none" else None,
        "ttl": parse_duration(ttl),
        "chunk_size": parse_size(chunk_size),
        "encryption": encryption_key(key_file, passphrase_env, key_id),
    }
    if skip_same and not recursive:
        raise click.UsageError("--skip-same applies to folders: add --recursive")
    if not from_stdin and os.path.isdir(str(file)):
        if not recursive:
            raise click.UsageError(f"{file} is a folder: add --recursive to store every file below it")
        if if_revision is not None:
            raise click.UsageError("--if-revision applies to one object, not a folder")
        with client(ctx) as c:
            result = put_tree(
                c.bucket(bucket),
                str(file),
                name or "",
                force=force,
                skip_same=skip_same,
                progress=progress,
                **options,
            )
        if as_json:
            print_json(result.to_dict())
        else:
            click.echo(result.summary("Stored", f"in {bucket}"), err=True)
        return
    if not from_stdin and not os.path.isfile(str(file)):
        raise Refused(f"no such file: {file}")
    obj_name = posixpath.normpath(name or os.path.basename(str(file)))
    options["if_revision"] = if_revision
    ask_first = not force and if_revision is None  # replacing an object needs -f or a yes
    with client(ctx) as c:
        b = c.bucket(bucket)
        try:
            # create_only is checked by the server before a byte is sent: no race, no extra lookup.
            obj = _put_one(b, obj_name, file, progress, create_only=ask_first, **options)
        except ObjectAlreadyExists as exc:
            if not ask_first or isinstance(exc, RevisionMismatch):
                raise
            if from_stdin or not sys.stdin.isatty():
                raise ObjectAlreadyExists(
                    f"object {obj_name!r} exists in bucket {bucket!r} (use --force)"
                ) from exc
            show_object(b.info(obj_name))  # natscli shows what would be replaced, then asks
            click.echo()
            click.confirm(f"Replace existing file {bucket} > {obj_name}", abort=True)
            obj = _put_one(b, obj_name, file, progress, **options)
    _done(obj, as_json)


def _put_one(b: Any, name: str, file: str | None, progress: bool, **options: Any) -> Any:
    """Put FILE (stdin for None or -) under ``name``, with a bar for a file worth one."""
    if file in (None, "-"):
        return b.put(name, sys.stdin.buffer, **options)  # natscli draws no bar for stdin either
    with (
        open(str(file), "rb") as source,
        Bar(f"{b.name} > {name}", os.fstat(source.fileno()).st_size, enabled=progress) as bar,
    ):
        return b.put(name, source, progress=bar.update, **options)


def _parse_range(text: str) -> tuple[int, int | None]:
    """``START:END`` (END exclusive, either may be left out) as ``(start, end or None)``."""
    start_text, sep, end_text = text.partition(":")
    try:
        start = int(start_text) if start_text else 0
        end = int(end_text) if end_text else None
    except ValueError:
        start, end, sep = -1, None, ""
    if not sep or start < 0 or (end is not None and end < start):
        raise click.BadParameter(f"{text!r} is not START:END (bytes, END exclusive: 0:1024, 1048576:, :100)")
    return start, end


@click.command()
@click.argument("bucket")
@click.argument("name", required=False)
@click.option(
    "-O",
    "--output",
    default=None,
    help="file (- for stdout) or, with --filter, folder [default: NAME's basename, .]",
)
@click.option("--revision", type=int, default=None, help="an older revision (history buckets)")
@click.option("--range", "byte_range", default=None, help="only bytes START:END (END exclusive)")
@click.option(
    "--filter", "pattern", default=None, help="every object matching a glob (photos/*), into a folder"
)
@click.option(
    "--skip-same", is_flag=True, help="with --filter: leave out files that already hold the object's bytes"
)
@click.option("-f", "--force", is_flag=True, help="overwrite existing files without asking")
@encryption_options
@_progress_flag
@json_option
@click.pass_context
@guarded
def get(
    ctx: click.Context,
    bucket: str,
    name: str | None,
    output: str | None,
    revision: int | None,
    byte_range: str | None,
    pattern: str | None,
    skip_same: bool,
    force: bool,
    progress: bool,
    as_json: bool,
    key_file: str | None,
    passphrase_env: str | None,
    key_id: str | None,
) -> None:
    """Write the object NAME of BUCKET to a file (digest verified; decrypted given a key), or many."""
    key = encryption_key(key_file, passphrase_env, key_id)
    if (name is None) == (pattern is None):
        raise click.UsageError("give an object NAME, or --filter GLOB for many objects")
    if skip_same and pattern is None:
        raise click.UsageError("--skip-same applies to --filter (many objects into a folder)")
    if pattern is not None:
        if byte_range or revision is not None or key is not None:
            raise click.UsageError(
                "--range, --revision and encryption keys apply to one object, not --filter"
            )
        with client(ctx) as c:
            result = get_tree(
                c.bucket(bucket), pattern, output or ".", force=force, skip_same=skip_same, progress=progress
            )
        if as_json:
            print_json(result.to_dict())
        else:
            click.echo(result.summary("Wrote", f"to {output or '.'}"), err=True)
        return
    assert name is not None
    dest = output or os.path.basename(name)
    if dest != "-" and (os.path.isdir(dest) or dest.endswith(os.sep)):
        dest = os.path.join(dest, os.path.basename(name))  # into a folder, as cp does
    span = _parse_range(byte_range) if byte_range else None
    if dest != "-" and os.path.exists(dest) and not force:
        ask(f"Replace existing target file {os.path.abspath(dest)}", f"{dest} exists (use -f to overwrite)")
    started = time.monotonic()
    with client(ctx) as c:
        b = c.bucket(bucket)
        if span is not None or dest == "-":
            written, obj = _stream(b, name, revision, span, dest, progress, key)
        else:
            obj = b.info(name, revision=revision)
            with Bar(f"{bucket} > {name}", obj.original_size, enabled=progress) as bar:
                obj = b.download(name, dest, revision=revision, progress=bar.update, encryption=key)
            written = obj.original_size
    took = time.monotonic() - started
    if as_json:
        print_json({**obj.to_dict(), "written": written, "path": dest, "seconds": round(took, 3)})
        return
    if dest != "-":
        rate = f" ({human_size(written / took)}/s)" if took > 2 else ""
        click.echo(f"Wrote: {human_size(written)} to {dest} in {took:.2f}s{rate}", err=True)


def _stream(
    b: Any,
    name: str,
    revision: int | None,
    span: tuple[int, int | None] | None,
    dest: str,
    progress: bool,
    key: Any = None,
) -> tuple[int, Any]:
    """Copy the object (or bytes START:END of it) to stdout or a file, a chunk at a time."""
    written = 0
    with b.get(name, revision=revision, encryption=key) as reader:
        start, end = span or (0, None)
        end = reader.size if end is None else min(end, reader.size)
        want = max(0, end - start)
        if start:
            reader.seek(start)
        tmp = f"{dest}.orlop-part"
        out: IO[bytes] = sys.stdout.buffer if dest == "-" else open(tmp, "wb")  # noqa: SIM115
        try:
            with Bar(f"{b.name} > {name}", want, enabled=progress and dest != "-") as bar:
                while written < want:
                    piece = reader.read(min(1 << 20, want - written))
                    if not piece:
                        break
                    out.write(piece)
                    written += len(piece)
                    bar.update(written)
            out.flush()
            if dest != "-":
                out.close()
                os.replace(tmp, dest)
        except BaseException:
            if dest != "-":
                out.close()
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            raise
        return written, reader.info


@click.command()
@click.argument("bucket")
@click.argument("name")
@click.argument("new_name", required=False)
@click.option("--to-bucket", default=None, help="copy into this bucket (NEW_NAME defaults to NAME)")
@click.option("--revision", type=int, default=None, help="copy an older revision")
@click.option("-f", "--force", is_flag=True, help="replace an existing object")
@encryption_options
@json_option
@click.pass_context
@guarded
def cp(
    ctx: click.Context,
    bucket: str,
    name: str,
    new_name: str | None,
    to_bucket: str | None,
    revision: int | None,
    force: bool,
    as_json: bool,
    key_file: str | None,
    passphrase_env: str | None,
    key_id: str | None,
) -> None:
    """Copy the object NAME to NEW_NAME and/or into another bucket (streamed through this client).

    An encrypted object needs its key; the copy is encrypted under the same key (a data
    key of its own)."""
    if new_name is None and to_bucket is None:
        raise click.UsageError("give NEW_NAME, --to-bucket, or both")
    key = encryption_key(key_file, passphrase_env, key_id)
    with client(ctx) as c:
        src = c.bucket(bucket)
        dest = c.bucket(to_bucket) if to_bucket else None
        obj = src.copy(
            name, new_name, to_bucket=dest, revision=revision, create_only=not force, encryption=key
        )
    _moved(obj, f"Copied {bucket} > {name} to {obj.bucket} > {obj.name}", as_json)


@click.command()
@click.argument("bucket")
@click.argument("name")
@click.argument("new_name", required=False)
@click.option("--to-bucket", default=None, help="move into this bucket (NEW_NAME defaults to NAME)")
@click.option("-f", "--force", is_flag=True, help="replace an existing object")
@encryption_options
@json_option
@click.pass_context
@guarded
def mv(
    ctx: click.Context,
    bucket: str,
    name: str,
    new_name: str | None,
    to_bucket: str | None,
    force: bool,
    as_json: bool,
    key_file: str | None,
    passphrase_env: str | None,
    key_id: str | None,
) -> None:
    """Rename the object NAME, or move it into another bucket (copied, then deleted here).

    Moving an encrypted object into another bucket copies its data, so it needs the key (the
    copy is encrypted under it again); a rename touches only the meta and needs none."""
    if new_name is None and to_bucket is None:
        raise click.UsageError("give NEW_NAME, --to-bucket, or both")
    key = encryption_key(key_file, passphrase_env, key_id)
    with client(ctx) as c:
        src = c.bucket(bucket)
        if to_bucket is None or to_bucket == bucket:
            # A rename: the data stays where it is; with -f an object of the new name is
            # replaced in the same conditional write (nothing is deleted first).
            obj = src.update_meta(name, name=new_name or name, replace=force)
        else:
            obj = src.copy(
                name, new_name, to_bucket=c.bucket(to_bucket), create_only=not force, encryption=key
            )
            src.delete(name)
    _moved(obj, f"Moved {bucket} > {name} to {obj.bucket} > {obj.name}", as_json)


def _moved(obj: Any, line: str, as_json: bool) -> None:
    if as_json:
        print_json(obj.to_dict())
    else:
        click.echo(line, err=True)


@click.command()
@click.argument("bucket")
@click.argument("name")
@click.option("--to", "target", default=None, help="the object the link points to")
@click.option(
    "--bucket", "target_bucket", default=None, help="with --to: the bucket holding it [default: BUCKET]"
)
@click.option("--to-bucket", default=None, help="link to a whole bucket instead")
@json_option
@click.pass_context
@guarded
def link(
    ctx: click.Context,
    bucket: str,
    name: str,
    target: str | None,
    target_bucket: str | None,
    to_bucket: str | None,
    as_json: bool,
) -> None:
    """Make NAME a link to another object (--to) or to a whole bucket (--to-bucket)."""
    if (target is None) == (to_bucket is None):
        raise click.UsageError("give --to OBJECT [--bucket OTHER] or --to-bucket OTHER")
    with client(ctx) as c:
        b = c.bucket(bucket)
        if to_bucket is not None:
            c.bucket(to_bucket)  # the bucket must exist
            obj = b.add_bucket_link(name, to_bucket)
        else:
            assert target is not None
            owner = c.bucket(target_bucket) if target_bucket else b
            obj = b.add_link(name, owner.info(target))
    _done(obj, as_json)


@click.command()
@click.argument("bucket")
@click.argument("name")
@json_option
@click.pass_context
@guarded
def versions(ctx: click.Context, bucket: str, name: str, as_json: bool) -> None:
    """Every retained revision of NAME, oldest first (buckets with --history)."""
    with client(ctx) as c:
        revs = c.bucket(bucket).versions(name)
    if as_json:
        print_json([r.to_dict() for r in revs])
        return
    rows = [
        (
            r.revision,
            human_size(r.original_size),
            digest_hex(r.digest)[:20],
            human_time(r.modified_ns / 1e9),
            "deleted" if r.deleted else "",
        )
        for r in revs
    ]
    print_table(f"Revisions of {bucket} > {name}", ("Revision", "Size", "Digest", "Time", ""), rows)


@click.command()
@click.argument("bucket")
@click.argument("name")
@click.argument("revision", type=int)
@json_option
@click.pass_context
@guarded
def restore(ctx: click.Context, bucket: str, name: str, revision: int, as_json: bool) -> None:
    """Make REVISION of NAME current again (a new revision sharing its chunks)."""
    with client(ctx) as c:
        obj = c.bucket(bucket).restore(name, revision)
    if as_json:
        print_json(obj.to_dict())
    else:
        click.echo(f"Restored {bucket} > {name} from revision {revision} as revision {obj.revision}")


@click.command()
@click.argument("bucket")
@click.argument("name")
@encryption_options
@click.option("--new-key-file", default=None, type=click.Path(dir_okay=False), help="the new key's file")
@click.option("--new-passphrase-env", default=None, metavar="VAR", help="the new passphrase's variable")
@click.option("--new-key-id", default=None, help="the new key's id (must differ from the old one's)")
@json_option
@click.pass_context
@guarded
def rekey(
    ctx: click.Context,
    bucket: str,
    name: str,
    key_file: str | None,
    passphrase_env: str | None,
    key_id: str | None,
    new_key_file: str | None,
    new_passphrase_env: str | None,
    new_key_id: str | None,
    as_json: bool,
) -> None:
    """Wrap NAME's data key under a new key: one meta write, the stored chunks stay as they are."""
    old = encryption_key(key_file, passphrase_env, key_id)
    new = encryption_key(new_key_file, new_passphrase_env, new_key_id)
    if old is None or new is None:
        raise click.UsageError(
            "give the old key (--encrypt-key-file/--passphrase-env) and the new one (--new-...)"
        )
    with client(ctx) as c:
        obj = c.bucket(bucket).rekey(name, old=old, new=new)
    if as_json:
        print_json(obj.to_dict())
    else:
        click.echo(f"Rekeyed {bucket} > {name}: key id {obj.key_id}, revision {obj.revision}")


COMMANDS = {
    "put": put,
    "get": get,
    "cp": cp,
    "mv": mv,
    "link": link,
    "versions": versions,
    "restore": restore,
    "rekey": rekey,
}
