"""nats-server configuration files -> ServerOptions.

Two steps: :mod:`.syntax` reads the syntax into dicts (every value typed the way
nats-server types it); :mod:`.top` maps the keys Orlop understands onto
:class:`ServerOptions`, one module per block (:mod:`.authorization`,
:mod:`.jetstream`, :mod:`.accounts`, :mod:`.tls`), with nats-server's key names and aliases,
matched case-insensitively as nats-server does. A key that nats-server knows but
Orlop does not implement (``cluster``, ``websocket``...) or a key nobody knows is
logged as a warning and ignored, so a real nats-server file still starts Orlop. Security
settings Orlop lacks (``accounts``, ``tls``, ``authorization.users``...) are errors
instead: ignoring them would start a server more open than the file asks for. A key we
do implement with a value of the wrong type is a ConfigError naming the file and line.

Intervals accept an integer (seconds) or a Go duration string (``"2m"``, ``"1h30m"``,
``"500ms"``); note that an *unquoted* ``2m`` is the integer 2,000,000 in nats-server's
syntax, so durations should be quoted. Sizes accept an integer (``1GB`` is already an
integer after parsing) or a size string (``"1GB"``).
"""

from __future__ import annotations

from orlop.server.config.syntax import ConfMap, parse_text
from orlop.server.config.top import options_from_config
from orlop.server.config.values import load_config, parse_config, parse_duration, parse_size
from orlop.server.options import go_duration_text

__all__ = [
    "ConfMap",
    "go_duration_text",
    "load_config",
    "options_from_config",
    "parse_config",
    "parse_duration",
    "parse_size",
    "parse_text",
]
