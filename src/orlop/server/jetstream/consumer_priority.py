"""Priority groups on pull consumers (ADR-42): overflow, pinned_client and prioritized.

nats-server keeps one waiting queue per pull consumer and, for these policies, picks
the request a message goes to by walking that queue (``nextWaiting``): requests that
may not take it now are cycled to the back, requests holding a stale pin are answered
``423 Nats-Wrong-Pin-Id`` and dropped. This module is that walk and the state it needs
(the pin, its timer, the sorted insert of ``prioritized``), kept out of
:mod:`.consumer_pull` so a consumer without a policy pays an ``is None`` test in
each delivery step (ready, deliver, transmit) and nothing else.

The queue is the pull consumer's ``deque``; the request a message goes to is always
left at its head, because :class:`.consumer_pull.PullConsumer` transmits to the head.
After a delivery a request that wants more goes to the back (overflow, pinned_client)
or behind the others of its priority (prioritized), as nats-server's ``pop`` and
``popAndRequeue`` do. The pin timer follows the service clock (Unix ns): the loop
timer only wakes :meth:`PriorityGroups.check_pin_timeout`, which tests with a fake
clock call directly. The pin is not persisted (nats-server keeps it in memory too).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sized
from typing import Any, Protocol

from orlop.errors import JetStreamError
from orlop.jsapi.consumer_config import DEFAULT_PRIORITY_TIMEOUT
from orlop.jsapi.schema import Schema, check
from orlop.jsapi.timefmt import format_ts
from orlop.protocol import headers
from orlop.server.jetstream.advisories import consumer_group_pinned, consumer_group_unpinned, new_id
from orlop.server.jetstream.consumer_request import PullRequest
from orlop.server.jetstream.types import AccountView
from orlop.store.base import Clock

__all__ = ["PIN_HEADER", "PriorityGroups", "PullView", "check_fields", "pending_status", "request_error"]

PIN_HEADER = "Nats-Pin-Id"
_SERVE, _SKIP, _DROP = "serve", "skip", "drop"  # what the queue walk does with a request


class _Interest(Protocol):
    def has_interest(self, subject: str) -> bool: ...


class _StreamView(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def js(self) -> AccountView: ...


class PullView(Protocol):
    """What the policies use of their pull consumer (:class:`.consumer_pull.PullConsumer`)."""

    @property
    def waiting(self) -> deque[PullRequest]: ...

    @property
    def account(self) -> _Interest: ...

    @property
    def stream(self) -> _StreamView: ...

    @property
    def name(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def num_pending(self) -> int: ...

    @property
    def pending(self) -> Sized: ...

    def kick(self) -> None: ...

    def end_request(self, wr: PullRequest, status: bytes = b"") -> None: ...


# JSApiConsumerGetNextRequest with its embedded PriorityGroup; Go names the struct "" here.
_NEXT_REQUEST = Schema(
    "",
    {
        "expires": "time.Duration",
        "batch": "int",
        "max_bytes": "int",
        "no_wait": "bool",
        "idle_heartbeat": "time.Duration",
        "group": "string",
        "min_pending": "int64",
        "min_ack_pending": "int64",
        "id": "string",
        "priority": "int",
    },
    lenient=True,
)


def check_fields(req: dict[str, Any]) -> None:
    """Go's type errors for a JSON pull request, every field, the first in body order.

    Raises ValueError with Go's text (``json: cannot unmarshal ...``).
    """
    try:
        check(req, _NEXT_REQUEST)
    except JetStreamError as exc:
        raise ValueError(exc.description.removeprefix("invalid JSON: ")) from None


def request_error(policy: str, wr: PullRequest) -> str:
    """The checks every JSON request passes, whatever the policy ("" when it passes)."""
    if (wr.min_pending or wr.min_ack_pending) and policy != "overflow":
        return "Bad Request - Not a Overflow Priority consumer"
    if wr.pin_id and policy != "pinned_client":
        return "Bad Request - Not a Pinned Client Priority consumer"
    if not 0 <= wr.priority <= 9:
        return "Bad Request - Priority must be between 0 and 9"
    return ""


def pending_status(code: int, text: str, wr: PullRequest) -> bytes:
    """A status that ends a pull request with what it had left (``Nats-Pending-*``), as nats-server's."""
    pairs = [("Nats-Pending-Messages", str(wr.n)), ("Nats-Pending-Bytes", str(wr.b))]
    return headers.build(pairs, status=code, description=text)


class PriorityGroups:
    """The policy state of one pull consumer whose ``priority_policy`` is not none."""

    def __init__(self, consumer: PullView, config: dict[str, Any]) -> None:
        self.consumer = consumer
        self.loop = asyncio.get_running_loop()
        self.policy = ""
        self.groups: list[str] = []
        self.ttl = 0
        self.pin = ""  # the current pin id ("" = nothing pinned)
        self.pin_group = ""
        self.pinned_ns = 0
        self.deadline = 0  # Unix ns (service clock) at which the pin expires
        self.stalled = False  # the last pick found no request for the message
        self._timer: asyncio.TimerHandle | None = None
        self.configure(config)

    def configure(self, config: dict[str, Any]) -> None:
        """Take the (possibly updated) config's policy, groups and timeout."""
        self.policy = config.get("priority_policy") or "none"
        self.groups = list(config.get("priority_groups") or [])
        self.ttl = int(config.get("priority_timeout") or 0) or DEFAULT_PRIORITY_TIMEOUT
        if self.policy != "pinned_client" and self.pin:
            self._drop_pin()

    # --- requests ----------------------------------------------------------------------------

    def admit(self, wr: PullRequest) -> bytes:
        """The policy's checks of a new JSON request: a status to refuse it with, or b"".

        A request carrying the current pin restarts the pin timer.
        """
        if not wr.group:
            return headers.build([], status=400, description="Bad Request - Priority Group missing")
        if wr.group not in self.groups:
            return headers.build([], status=400, description="Bad Request - Invalid Priority Group")
        if self.pin:
            if wr.pin_id == self.pin:
                self._set_deadline()
            elif wr.pin_id:
                return headers.build([], status=423, description="Nats-Pin-Id mismatch")
        return b""

    def enqueue(self, wr: PullRequest) -> None:
        """Queue a new request: prioritized sorts it in after its equals, the others append."""
        if self.policy == "prioritized":
            self._insert(wr)
        else:
            self.consumer.waiting.append(wr)

    def _insert(self, wr: PullRequest) -> None:
        waiting = self.consumer.waiting
        for i, other in enumerate(waiting):
            if other.priority > wr.priority:
                waiting.insert(i, wr)
                return
        waiting.append(wr)

    # --- delivery ----------------------------------------------------------------------------

    def pick(self, size: int, dc: int) -> PullRequest | None:
        """Bring the request the message (``size`` bytes, delivery ``dc``) goes to to the head.

        Returns it, or None when no waiting request may take the message now (the caller
        puts the message back). Answers stale pins with 423 and too small ``max_bytes``
        with 409 on the way, as nats-server's ``nextWaiting``.
        """
        c = self.consumer
        waiting = c.waiting
        cycled = 0
        while waiting:
            wr = waiting[0]
            if not c.account.has_interest(wr.reply):
                c.end_request(wr)
                continue
            verdict, assigned = self._verdict(wr, dc)
            if verdict == _DROP:
                c.end_request(wr, pending_status(423, "Nats-Wrong-Pin-Id", wr))
                continue
            if verdict == _SKIP:
                waiting.rotate(-1)  # to the back; it keeps waiting
                cycled += 1
                if cycled >= len(waiting):
                    return None
                continue
            if wr.max_bytes and size > wr.b:
                c.end_request(wr, pending_status(409, "Message Size Exceeds MaxBytes", wr))
                if assigned:
                    self._drop_pin()
                continue
            return wr
        return None

    def _verdict(self, wr: PullRequest, dc: int) -> tuple[str, bool]:
        """Serve, skip or drop ``wr``, and whether it was just pinned."""
        if self.policy == "pinned_client":
            if not self.pin:
                if wr.pin_id:  # an old pin
                    return _DROP, False
                return _SERVE, self._assign(wr)
            if wr.pin_id == self.pin:
                return _SERVE, False
            return (_DROP if wr.pin_id else _SKIP), False  # no id: a standby
        if self.policy == "overflow" and not self._overflow_ok(wr, dc):
            return _SKIP, False
        return _SERVE, False

    def _overflow_ok(self, wr: PullRequest, dc: int) -> bool:
        """Served when either limit is reached (``num_pending`` counts the message at hand).

        A request without a positive limit is served like any other.
        """
        if wr.group is None or (wr.min_pending <= 0 and wr.min_ack_pending <= 0):
            return True
        c = self.consumer
        pending = c.num_pending if dc == 1 else c.num_pending + 1
        if 0 < wr.min_pending <= pending:
            return True
        return 0 < wr.min_ack_pending <= len(c.pending)

    def requeue(self, wr: PullRequest) -> None:
        """After a delivery to the head ``wr``: to the back, or behind its priority's equals."""
        waiting = self.consumer.waiting
        if len(waiting) < 2 or waiting[0] is not wr:
            return  # done (already removed) or alone
        if self.policy == "prioritized":
            waiting.popleft()
            self._insert(wr)
        else:
            waiting.rotate(-1)

    def stamp(self, hdr: bytes) -> bytes:
        """The header block of a delivered message: pinned_client adds ``Nats-Pin-Id``."""
        if self.policy != "pinned_client":
            return hdr
        return headers.append(hdr, [(PIN_HEADER, self.pin)])

    # --- the pin ----------------------------------------------------------------------------

    def _assign(self, wr: PullRequest) -> bool:
        """Pin ``wr``'s client (a fresh id, written into the request so it keeps being served)."""
        if not wr.group:
            return True  # a non-JSON request is served without a pin, as nats-server does
        c = self.consumer
        self.pin = new_id()
        self.pin_group = wr.group
        self.pinned_ns = c.clock()
        wr.pin_id = self.pin
        self._set_deadline()
        consumer_group_pinned(c.stream.js, c.stream.name, c.name, wr.group, self.pin)
        return True

    def _set_deadline(self) -> None:
        self.deadline = self.consumer.clock() + self.ttl
        if self._timer is None:
            self._arm()

    def _arm(self) -> None:
        delay = max(0.0, (self.deadline - self.consumer.clock()) / 1e9)
        self._timer = self.loop.call_later(delay, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        if self.pin and not self.check_pin_timeout():
            self._arm()  # the deadline moved (a pull with the pin id) or the clock is not there yet

    def check_pin_timeout(self, now: int | None = None) -> bool:
        """Unpin (advisory ``timeout``) when no pull with the pin id came within the timeout.

        Returns whether it unpinned. Tests with a fake clock call this directly.
        """
        if not self.pin:
            return False
        c = self.consumer
        if (c.clock() if now is None else now) < self.deadline:
            return False
        group = self.pin_group
        self._drop_pin()
        consumer_group_unpinned(c.stream.js, c.stream.name, c.name, group, "timeout")
        c.kick()
        return True

    def unpin(self, group: str) -> None:
        """CONSUMER.UNPIN: forget the pin (even when there is none) and send the ``admin`` advisory."""
        c = self.consumer
        self._drop_pin()
        consumer_group_unpinned(c.stream.js, c.stream.name, c.name, group, "admin")
        c.kick()

    def _drop_pin(self) -> None:
        self.pin = self.pin_group = ""
        self.pinned_ns = self.deadline = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def close(self) -> None:
        """The consumer stopped: no more timers."""
        self._drop_pin()

    def state(self) -> list[dict[str, Any]]:
        """ConsumerInfo's ``priority_groups``: the first group, its pin and pin time (Go zero time)."""
        if not self.groups:
            return []
        entry: dict[str, Any] = {"group": self.groups[0]}
        if self.pin:
            entry["pinned_client_id"] = self.pin
        entry["pinned_ts"] = format_ts(self.pinned_ns)
        return [entry]
