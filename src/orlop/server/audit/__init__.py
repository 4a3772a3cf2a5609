"""The server-side audit trail of object-store operations (docs/audit.md).

:mod:`.records` derives records from wire traffic (pure, the record format is
documented there), :mod:`.sink` writes and rotates the JSON-lines file, and
:mod:`.trail` is what the server wires into its hot paths. Nothing here runs
unless the configuration has an ``audit { file: ... }`` block.
"""

from __future__ import annotations

from orlop.server.audit.records import OPS, Record, encode
from orlop.server.audit.trail import LIVE_PREFIX, AuditTrail, may_subscribe

__all__ = ["LIVE_PREFIX", "OPS", "AuditTrail", "Record", "encode", "may_subscribe"]
