"""Progress bars for transfers: bytes, rate and time left, drawn by rich on stderr.

Shown only when stderr is a terminal, the user did not pass ``--no-progress`` and the
transfer is worth a bar (natscli's threshold: more than 20,480 bytes). Otherwise every
method is a no-op, so a pipe or a log file never receives control codes.

The object library calls the update function from its event loop thread; rich's
``Progress`` takes a lock around every update and redraws from its own thread, so
that is safe.
"""

from __future__ import annotations

import sys
from types import TracebackType
from typing import Any

__all__ = ["MIN_BYTES", "Bar"]

MIN_BYTES = 20_480


class Bar:
    """One progress bar for ``total`` bytes (a single file or a whole directory transfer)."""

    def __init__(self, description: str, total: int | None, *, enabled: bool = True) -> None:
        self.enabled = bool(enabled and sys.stderr.isatty() and (total is None or total > MIN_BYTES))
        self.description = description
        self.total = total
        self.base = 0  # bytes of the files already finished, in a directory transfer
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> Bar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                refresh_per_second=4,  # natscli redraws every 250 ms
            )
            self._progress.start()
            self._task = self._progress.add_task(self.description, total=self.total)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, done: int) -> None:
        """``done`` bytes of the current file are through (plus those of finished files)."""
        if self._progress is not None:
            self._progress.update(self._task, completed=self.base + done)

    def file_done(self, size: int) -> None:
        """A file of ``size`` bytes finished (or was skipped): later updates count from here."""
        self.base += size
        self.update(0)
