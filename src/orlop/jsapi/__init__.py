"""The JetStream wire contract as pure data: errors, configs, timestamps.

Nothing here does IO or knows about connections; the server's JetStream
service and tests import these to speak exactly what nats-server speaks.
"""

from __future__ import annotations

from orlop.jsapi.errors import BY_ERR_CODE, Err, ErrorSpec, js_error
from orlop.jsapi.timefmt import ZERO_TIME, format_ts, parse_ts

__all__ = ["BY_ERR_CODE", "ZERO_TIME", "Err", "ErrorSpec", "format_ts", "js_error", "parse_ts"]
