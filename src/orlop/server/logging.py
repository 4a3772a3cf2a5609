"""The server's log lines in nats-server's format, and its TRACE level.

``[pid] 2026/11/21 23:58:05.921335 [INF] message``: the same shape as
nats-server's, so the tools and habits people have for nats-server logs work on
Orlop's. :func:`configure_logging` points the root logger at stderr or the
configured log file with the level the options ask for.
"""

from __future__ import annotations

import datetime
import logging
import sys

from orlop.errors import ConfigError
from orlop.server.options import ServerOptions

__all__ = ["TRACE", "NatsFormatter", "configure_logging"]

TRACE = 5  # logging level of protocol traces (-V); below DEBUG so -V also shows debug lines
logging.addLevelName(TRACE, "TRACE")

_LEVEL_TAGS = {
    TRACE: "TRC",
    logging.DEBUG: "DBG",
    logging.INFO: "INF",
    logging.WARNING: "WRN",
    logging.ERROR: "ERR",
    logging.CRITICAL: "FTL",
}


class NatsFormatter(logging.Formatter):
    """nats-server's line format: ``[pid] 2026/11/21 23:58:05.921335 [INF] message``."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.datetime.fromtimestamp(record.created).strftime("%Y/%m/%d %H:%M:%S.%f")
        tag = _LEVEL_TAGS.get(record.levelno) or _nearest_tag(record.levelno)
        line = f"[{record.process}] {stamp} [{tag}] {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _nearest_tag(level: int) -> str:
    best = max((lv for lv in _LEVEL_TAGS if lv <= level), default=TRACE)
    return _LEVEL_TAGS[best]


def configure_logging(options: ServerOptions) -> None:
    """Send the root logger to stderr (or ``options.log_file``) in nats-server's format.

    Level: INFO; DEBUG with ``debug``; TRACE (5, which includes debug) with ``trace``.
    Raises ConfigError when the log file cannot be opened.
    """
    handler: logging.Handler
    if options.log_file:
        try:
            handler = logging.FileHandler(options.log_file, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot open log file {options.log_file!r}: {exc.strerror}") from exc
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(NatsFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(TRACE if options.trace else logging.DEBUG if options.debug else logging.INFO)
