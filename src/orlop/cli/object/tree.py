"""Directory transfers: ``put BUCKET DIR --recursive`` and ``get BUCKET --filter GLOB -O DIR``.

A file's name in the bucket is its path below DIR with ``/`` separators (and the
``--name`` prefix, when given); getting writes each object back under DIR, creating
folders. ``--skip-same`` leaves out files whose bytes already match (same size and
SHA-256 digest), so a repeated sync moves only what changed. Objects stored
compressed have the digest of their compressed chunks, so they cannot be compared
without reading them and are always transferred.

Anything that would overwrite without ``--force`` or ``--skip-same``, or write outside
DIR (an object named ``../x`` or ``/etc/x``), is refused before the first byte moves.
"""

from __future__ import annotations

import base64
import hashlib
import os
import posixpath
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from orlop.cli.output import Refused, human_size
from orlop.cli.progress import Bar
from orlop.errors import ObjectAlreadyExists

__all__ = ["TreeResult", "get_tree", "put_tree", "same_bytes"]


@dataclass
class TreeResult:
    """What a directory transfer did, for the summary line and ``--json``."""

    moved: list[Any] = field(default_factory=list)  # ObjectInfo of each object stored or written
    skipped: list[str] = field(default_factory=list)
    bytes_moved: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "transferred": [i.to_dict() for i in self.moved],
            "skipped": self.skipped,
            "bytes": self.bytes_moved,
            "seconds": round(self.seconds, 3),
        }

    def summary(self, verb: str, where: str) -> str:
        rate = f" ({human_size(self.bytes_moved / self.seconds)}/s)" if self.seconds > 2 else ""
        skipped = f", skipped {len(self.skipped)} unchanged" if self.skipped else ""
        return (
            f"{verb}: {len(self.moved)} files ({human_size(self.bytes_moved)}) {where}"
            f" in {self.seconds:.2f}s{rate}{skipped}"
        )


def file_digest(path: str) -> str:
    """The object store digest (``SHA-256=<base64url>``) the file's bytes would have."""
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            sha.update(block)
    return "SHA-256=" + base64.urlsafe_b64encode(sha.digest()).decode()


def same_bytes(path: str, obj: Any) -> bool:
    """Whether the local file holds exactly the object's bytes (False when that cannot be told cheaply)."""
    if obj is None or obj.deleted or obj.is_link or obj.compression or obj.encryption or not obj.digest:
        return False
    try:
        if os.path.getsize(path) != obj.size:
            return False
    except OSError:
        return False
    return bool(file_digest(path) == obj.digest)


def _walk(root: str) -> Iterator[tuple[str, str]]:
    """``(path, relative name)`` of every regular file under root, in name order."""
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(folder, f)
            if os.path.isfile(path):
                yield path, os.path.relpath(path, root).replace(os.sep, "/")


def put_tree(
    b: Any, root: str, prefix: str, *, force: bool, skip_same: bool, progress: bool, **options: Any
) -> TreeResult:
    """Store every file under ``root`` in bucket ``b``."""
    files = [(path, posixpath.join(prefix, rel) if prefix else rel) for path, rel in _walk(root)]
    current = {i.name: i for i in b.list()}
    plan: list[tuple[str, str]] = []
    result = TreeResult()
    clashes = []
    for path, name in files:
        existing = current.get(name)
        if existing is None:
            plan.append((path, name))
        elif skip_same and same_bytes(path, existing):
            result.skipped.append(name)
        elif force or skip_same:
            plan.append((path, name))
        else:
            clashes.append(name)
    if clashes:
        shown = ", ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        raise ObjectAlreadyExists(
            f"{len(clashes)} objects exist in bucket {b.name!r} ({shown}): use --force or --skip-same"
        )
    total = sum(os.path.getsize(p) for p, _ in plan)
    started = time.monotonic()
    with Bar(f"{b.name}: {len(plan)} files", total, enabled=progress) as bar:
        for path, name in plan:
            with open(path, "rb") as source:
                info = b.put(name, source, progress=bar.update, **options)
            bar.file_done(info.original_size)
            result.moved.append(info)
            result.bytes_moved += info.original_size
    result.seconds = time.monotonic() - started
    return result


def _target(root: str, name: str) -> str:
    """Where object ``name`` goes under root; a usage error for names that would leave it."""
    parts = name.split("/")
    if name.startswith("/") or any(p in ("..", "") for p in parts[:-1]) or parts[-1] in ("", "..", "."):
        raise Refused(f"object name {name!r} cannot be written below {root} (it would leave the folder)")
    return os.path.join(root, *parts)


def get_tree(b: Any, pattern: str, root: str, *, force: bool, skip_same: bool, progress: bool) -> TreeResult:
    """Write every object of ``b`` matching ``pattern`` below ``root``."""
    objects = [i for i in b.list(pattern) if not (i.is_link and i.link.name is None)]
    plan: list[tuple[Any, str]] = []
    result = TreeResult()
    clashes = []
    for obj in objects:
        path = _target(root, obj.name)
        if not os.path.exists(path):
            plan.append((obj, path))
        elif skip_same and same_bytes(path, obj):
            result.skipped.append(obj.name)
        elif force:
            plan.append((obj, path))
        else:
            clashes.append(path)
    if clashes:
        # Local files are not versioned: one that differs is overwritten only with -f.
        shown = ", ".join(clashes[:5]) + (f" and {len(clashes) - 5} more" if len(clashes) > 5 else "")
        how = "use -f to overwrite them" if skip_same else "use -f, or --skip-same to leave identical ones"
        raise Refused(f"{len(clashes)} files exist with other contents ({shown}): {how}")
    total = sum(o.original_size for o, _ in plan)
    started = time.monotonic()
    with Bar(f"{b.name}: {len(plan)} files", total, enabled=progress) as bar:
        for obj, path in plan:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            info = b.download(obj.name, path, progress=bar.update)
            bar.file_done(info.original_size)
            result.moved.append(info)
            result.bytes_moved += info.original_size
    result.seconds = time.monotonic() - started
    return result
