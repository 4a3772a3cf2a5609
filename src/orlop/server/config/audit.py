"""The ``audit { file, max_size, max_files }`` block: Orlop's object-store audit trail.

nats-server has no such block, so there is no compatibility to keep: every key is
checked and an unknown one refused (an audit setting silently ignored would leave
operations unrecorded that the file asks to record). ``max_size`` takes nats-server's
size values (``10MB``, ``512MiB`` or bytes); see docs/audit.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.values import as_int, as_str, bad, parse_size, where
from orlop.server.options import AuditOptions, ServerOptions

__all__ = ["DEFAULT_MAX_FILES", "DEFAULT_MAX_SIZE", "set_audit"]

DEFAULT_MAX_SIZE = parse_size("10MB")
DEFAULT_MAX_FILES = 5


def set_audit(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    """Read the block into ``o.audit``. Raises ConfigError (file:line) for a missing ``file``,
    a negative size, ``max_files`` below 1 or an unknown field."""
    block = conf[key]
    if not isinstance(block, Mapping):
        raise bad(conf, key, "a map such as { file: audit.log }")
    audit = AuditOptions(file="", max_size=DEFAULT_MAX_SIZE, max_files=DEFAULT_MAX_FILES)
    for field in block:
        low = field.lower()
        if low == "file":
            audit.file = as_str(block, field)
        elif low == "max_size":
            audit.max_size = as_int(block, field)
            if audit.max_size < 0:
                raise ConfigError(f"{where(block, field)}: audit.max_size must not be negative")
        elif low == "max_files":
            audit.max_files = as_int(block, field)
            if audit.max_files < 1:
                raise ConfigError(f"{where(block, field)}: audit.max_files must be at least 1")
        else:
            raise ConfigError(f'{where(block, field)}: unknown field "{field}" parsing audit')
    if not audit.file:
        raise ConfigError(f'{where(conf, key)}: audit needs a "file"')
    o.audit = audit
