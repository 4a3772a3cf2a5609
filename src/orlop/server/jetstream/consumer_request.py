"""One waiting pull request, as the pull consumer and the priority-group policies see it.

Kept apart from :mod:`.consumer_pull` so :mod:`.consumer_priority` can name it
without importing the consumer that imports it.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["NO_GROUP", "PullRequest"]

NO_GROUP = 2**31 - 1  # the sort priority of a request without a priority group (non-JSON)


class PullRequest:
    """One waiting pull request. ``n``/``b``: messages and bytes still wanted (b=0: no byte limit)."""

    __slots__ = (
        "b",
        "d",
        "expires",
        "group",
        "hb",
        "hb_timer",
        "last",
        "max_bytes",
        "min_ack_pending",
        "min_pending",
        "n",
        "no_wait",
        "pin_id",
        "priority",
        "reply",
        "timer",
    )

    def __init__(self, reply: str, n: int, max_bytes: int, expires: int, no_wait: bool, hb: int) -> None:
        self.reply = reply
        self.n = n
        self.max_bytes = max_bytes
        self.b = max_bytes
        self.expires = expires
        self.no_wait = no_wait
        self.hb = hb
        self.d = 0
        self.last = 0.0
        self.timer: asyncio.TimerHandle | None = None
        self.hb_timer: asyncio.TimerHandle | None = None
        # ADR-42 priority fields; group None: no priority group (a non-JSON request)
        self.group: str | None = None
        self.min_pending = 0
        self.min_ack_pending = 0
        self.pin_id = ""
        self.priority = NO_GROUP

    def set_priority_fields(self, req: dict[str, Any]) -> None:
        """Take the priority fields of a JSON request (type-checked by ``check_fields``)."""
        self.group = req.get("group") or ""
        self.min_pending = int(req.get("min_pending") or 0)
        self.min_ack_pending = int(req.get("min_ack_pending") or 0)
        self.pin_id = req.get("id") or ""
        self.priority = int(req.get("priority") or 0)

    def cancel(self) -> None:
        for t in (self.timer, self.hb_timer):
            if t is not None:
                t.cancel()
        self.timer = self.hb_timer = None
