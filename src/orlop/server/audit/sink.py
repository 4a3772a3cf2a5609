"""The audit file: append-only JSON lines, size-based rotation, prompt unbuffered writes.

Why raw ``os.write`` on an ``O_APPEND`` descriptor and no Python buffer: a record
handed to :meth:`AuditFile.write` is in the kernel's page cache when the call returns,
so a SIGKILL of the server loses nothing written; only a machine crash can lose what
was not yet fsynced, and :meth:`AuditFile.sync` (called at most once a second by the
trail, on a helper thread so a slow disk never stalls the event loop) bounds that.

Rotation, logrotate-style: the active file is ``<file>``; when the next line would take
it past ``max_size`` it becomes ``<file>.1``, ``<file>.1`` becomes ``<file>.2`` and so
on; at most ``max_files`` files exist (the active one included), so the oldest,
``<file>.<max_files-1>``, is dropped. A line is never split across files; a single
line longer than ``max_size`` is written whole. ``max_size`` 0 never rotates.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

__all__ = ["AuditFile", "fsync_and_close"]

log = logging.getLogger("orlop.server.audit")


class AuditFile:
    """An open audit file. Raises OSError from the constructor when it cannot be opened."""

    def __init__(self, path: str, max_size: int, max_files: int) -> None:
        self.path = Path(path)
        self.max_size = max_size
        self.max_files = max(1, max_files)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fd = self._open()
        self.size = os.fstat(self.fd).st_size
        self.dirty = False  # written since the last sync
        self.rotations = 0

    def _open(self) -> int:
        return os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def write(self, lines: list[bytes]) -> None:
        """Append whole lines, rotating between lines when ``max_size`` would be passed.

        Raises OSError when the disk refuses (the caller logs it and keeps going).
        """
        batch: list[bytes] = []
        batch_size = 0
        limit = self.max_size
        for line in lines:
            n = len(line)
            if limit > 0 and self.size + batch_size + n > limit and self.size + batch_size > 0:
                self._write_all(b"".join(batch))
                batch, batch_size = [], 0
                self.rotate()
            batch.append(line)
            batch_size += n
        if batch:
            self._write_all(b"".join(batch))

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
            self.size += n
        if data:
            self.dirty = True

    def rotate(self) -> None:
        """Shift ``<file>.N`` up by one (dropping the oldest), move the active file to ``.1``."""
        old = self.fd
        try:
            os.fsync(old)  # a rotated file is complete on disk before it is renamed
        except OSError:
            log.exception("audit file %s: fsync before rotation failed", self.path)
        os.close(old)
        keep = self.max_files - 1
        if keep <= 0:
            self.path.unlink(missing_ok=True)
        else:
            Path(f"{self.path}.{keep}").unlink(missing_ok=True)
            for i in range(keep - 1, 0, -1):
                src = Path(f"{self.path}.{i}")
                if src.exists():
                    src.rename(f"{self.path}.{i + 1}")
            self.path.rename(f"{self.path}.1")
        self.fd = self._open()
        self.size = 0
        self.dirty = False
        self.rotations += 1

    def sync_fd(self) -> int | None:
        """A duplicate of the descriptor to fsync off the loop (the caller closes it), None when
        nothing was written since the last call."""
        if not self.dirty:
            return None
        self.dirty = False
        return os.dup(self.fd)

    def close(self) -> None:
        """fsync and close (idempotent)."""
        if self.fd < 0:
            return
        try:
            os.fsync(self.fd)
        except OSError:
            log.exception("audit file %s: fsync failed", self.path)
        os.close(self.fd)
        self.fd = -1


def fsync_and_close(fd: int) -> None:
    """fsync a duplicated descriptor and close it (run on a helper thread)."""
    try:
        os.fsync(fd)
    except OSError:
        log.exception("audit file: fsync failed")
    finally:
        os.close(fd)
