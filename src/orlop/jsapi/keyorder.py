"""Key order of JetStream config JSON, as nats-server marshals its Go structs.

Both stream and consumer configs are echoed in struct-field order with Go's
``omitempty`` keys dropped when empty. An order is a tuple of key names; a
trailing ``?`` marks an omitempty key. Clients do not depend on the order, but
byte-comparable responses make side-by-side tests against nats-server exact.
"""

from __future__ import annotations

from typing import Any

__all__ = ["KeyOrder"]

_EMPTY: tuple[Any, ...] = (None, "", 0, False, [], {})


class KeyOrder:
    """One struct's field order. ``keep_unknown`` appends keys not in the order, else drops them."""

    __slots__ = ("_keep_unknown", "_specs", "keys")

    def __init__(self, specs: tuple[str, ...], *, keep_unknown: bool) -> None:
        self._specs = tuple((s.rstrip("?"), s.endswith("?")) for s in specs)
        self.keys = frozenset(key for key, _ in self._specs)
        self._keep_unknown = keep_unknown

    def apply(self, cfg: dict[str, Any]) -> dict[str, Any]:
        """``cfg`` reordered, with empty omitempty keys dropped."""
        out: dict[str, Any] = {}
        for key, omitempty in self._specs:
            if key not in cfg:
                continue
            value = cfg[key]
            if omitempty and value in _EMPTY:
                continue
            out[key] = value
        if self._keep_unknown:
            for key, value in cfg.items():
                if key not in self.keys:
                    out[key] = value
        return out
