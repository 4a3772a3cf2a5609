"""JSON text as Go's ``encoding/json`` writes strings that came from raw bytes.

Subjects, replies and names reach Orlop as bytes; those that are not UTF-8 are
kept as lone surrogates (``surrogateescape``), one per stray byte, so they go
back out on the wire unchanged. In JSON, though, nats-server (Go) writes each
such byte as U+FFFD, where Python's ``json.dumps`` would write the surrogate
(``"\\udcff"``), which other decoders reject or keep as garbage. :func:`dumps`
writes what Go writes. The check is one substring search of the encoded text;
only text that holds such a byte is encoded a second time.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["dumps"]

_STRAY_BYTE = re.compile("[\udc80-\udcff]")


def dumps(obj: Any, *, indent: int | None = None) -> str:
    """``json.dumps`` (compact unless ``indent``) with stray bytes as U+FFFD, one per byte as Go."""
    separators = (",", ":") if indent is None else None
    text = json.dumps(obj, separators=separators, indent=indent)
    if "\\udc" not in text:
        return text
    return json.dumps(_scrub(obj), separators=separators, indent=indent)


def _scrub(obj: Any) -> Any:
    if isinstance(obj, str):
        return _STRAY_BYTE.sub("\ufffd", obj)
    if isinstance(obj, dict):
        return {_scrub(k): _scrub(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_scrub(v) for v in obj]
    return obj
