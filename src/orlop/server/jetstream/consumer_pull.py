"""Pull consumers: waiting requests on ``$JS.API.CONSUMER.MSG.NEXT.<stream>.<consumer>``.

Each pull consumer subscribes its own MSG.NEXT subject (as nats-server does), so a
request for a consumer that does not exist gets the core's "no responders". A
request (``{"batch", "expires", "no_wait", "max_bytes", "idle_heartbeat"}``, a bare
integer, or empty for one message) waits in a FIFO queue; the shared pump hands
messages to the head request. Requests end with nats-server's statuses, byte for
byte: ``404 No Messages`` (no_wait, nothing more there), ``408 Request Timeout``
with ``Nats-Pending-Messages``/``Nats-Pending-Bytes`` (expired),
``409 Message Size Exceeds MaxBytes``,
``409 Exceeded MaxWaiting``, ``409 Exceeded MaxRequestBatch of N``,
``409 Consumer Deleted``, ``400 Bad Request - ...``, ``412 Required Api Level``
(ADR-44 header); idle requests with a heartbeat get ``100 Idle Heartbeat``.

A consumer with a ``priority_policy`` (ADR-42) hands its queue to
:class:`.consumer_priority.PriorityGroups`, which decides which request a message
goes to; without one, delivery is the plain FIFO above and pays an ``is None``
test per step. JSON requests carry the priority fields (``group``,
``min_pending``, ``min_ack_pending``, ``id``, ``priority``); as in nats-server,
non-JSON requests skip every priority check.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import TYPE_CHECKING, Any

from orlop.jsapi.timefmt import format_go_duration
from orlop.protocol import headers
from orlop.server.jetstream.consumer import Consumer
from orlop.server.jetstream.consumer_priority import (
    PriorityGroups,
    check_fields,
    pending_status,
    request_error,
)
from orlop.server.jetstream.consumer_request import PullRequest
from orlop.server.jetstream.encoding import GoNumber, required_level_too_high
from orlop.store.base import StoredMsg

if TYPE_CHECKING:
    from orlop.server.jetstream.stream import Stream

__all__ = ["PullConsumer", "PullRequest", "parse_request"]


def parse_request(body: bytes) -> dict[str, Any]:
    """Decode a MSG.NEXT body: empty = batch 1, a bare integer = batch, else JSON.

    Raises ValueError with the text nats-server puts after ``Bad Request - ``
    (Go's ``json: cannot unmarshal ...`` for a wrongly typed field).
    """
    text = body.strip()
    if not text:
        return {"batch": 1}
    if text[:1] != b"{":
        try:
            return {"batch": int(text)}
        except ValueError as exc:
            raise ValueError("invalid request") from exc
    try:
        value = json.loads(text, parse_float=GoNumber)  # keeps a literal like 1e3 for the error text
    except ValueError as exc:
        raise ValueError(str(exc)) from exc
    if not isinstance(value, dict):
        raise ValueError("invalid request")
    check_fields(value)
    return value


def _status(code: int, text: str, pairs: list[tuple[str, str]] | None = None) -> bytes:
    return headers.build(pairs or [], status=code, description=text)


class PullConsumer(Consumer):
    """A consumer without a deliver subject; messages go to waiting requests' inboxes."""

    kind = "pull"

    def __init__(self, stream: Stream, name: str, config: dict[str, Any], created: int) -> None:
        super().__init__(stream, name, config, created)
        self.waiting: deque[PullRequest] = deque()
        self.max_waiting = int(config.get("max_waiting") or 0)
        self._next_sub: Any = None
        self._reap_timer: asyncio.TimerHandle | None = None
        self.prio: PriorityGroups | None = None
        if (config.get("priority_policy") or "none") != "none":
            self.prio = PriorityGroups(self, config)

    def _start_io(self) -> None:
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{self.stream.name}.{self.name}"
        self._next_sub = self.account.subscribe_internal(subject, self._on_next)
        self._arm_reap()

    def num_waiting(self) -> int:
        return len(self.waiting)

    # --- requests ------------------------------------------------------------------------

    def _on_next(self, subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        if hdr and reply and required_level_too_high(hdr, self.js.service.api_level):
            self._send(reply, _status(412, "Required Api Level"))
            return
        self.request(reply, payload)

    def next_after_ack(self, reply: str, body: bytes) -> None:
        self.request(reply, body)

    def _send(self, reply: str, hdr: bytes) -> None:
        self.account.publish(reply, "", hdr, b"")

    def request(self, reply: str, body: bytes) -> None:
        """Queue a pull request answering on ``reply`` (or refuse it with a status)."""
        if self.closed or not reply:
            return
        self._arm_reap()
        try:
            req = parse_request(body)
            batch = int(req.get("batch") or 0) or 1
            expires = int(req.get("expires") or 0)
            max_bytes = int(req.get("max_bytes") or 0)
            hb = int(req.get("idle_heartbeat") or 0)
            no_wait = bool(req.get("no_wait"))
        except (ValueError, TypeError) as exc:
            self._send(reply, _status(400, f"Bad Request - {exc}"))
            return
        wr = PullRequest(reply, batch, max_bytes, expires, no_wait, hb)
        if body.lstrip()[:1] == b"{":
            wr.set_priority_fields(req)
        err = self._check_limits(wr)
        if err:
            self._send(reply, err)
            return
        if no_wait and not expires and self.available() == 0:
            self._send(reply, _status(404, "No Messages"))
            return
        wr.last = self.loop.time()
        if expires > 0:
            wr.timer = self.loop.call_later(expires / 1e9, self._expire, wr)
        if hb > 0:
            wr.hb_timer = self.loop.call_later(hb / 1e9, self._heartbeat, wr)
        if self.prio is None:
            self.waiting.append(wr)
        else:
            self.prio.enqueue(wr)
        self.kick()

    def _check_limits(self, wr: PullRequest) -> bytes:
        """The status refusing ``wr``, in nats-server's order, or b"" (it may wait)."""
        batch, expires, max_bytes, hb = wr.n, wr.expires, wr.max_bytes, wr.hb
        if hb > 0 and (expires == 0 or hb * 2 > expires):  # nats-server: while parsing
            return _status(400, "Bad Request - heartbeat value too large")
        cfg = self.config
        max_batch = int(cfg.get("max_batch") or 0)
        if max_batch and batch > max_batch:
            return _status(409, f"Exceeded MaxRequestBatch of {max_batch}")
        max_exp = int(cfg.get("max_expires") or 0)
        if max_exp and expires > max_exp:
            return _status(409, f"Exceeded MaxRequestExpires of {format_go_duration(max_exp)}")
        cfg_bytes = int(cfg.get("max_bytes") or 0)
        if cfg_bytes and max_bytes > cfg_bytes:
            return _status(409, f"Exceeded MaxRequestMaxBytes of {cfg_bytes}")
        if wr.group is not None:
            err = self._check_priority(wr)
            if err:
                return err
        if self.max_waiting and len(self.waiting) >= self.max_waiting:
            for old in [w for w in self.waiting if not self.account.has_interest(w.reply)]:
                self._finish(old)  # as nats-server: forget abandoned requests before refusing
            if len(self.waiting) >= self.max_waiting:
                return _status(409, "Exceeded MaxWaiting")
        return b""

    def _check_priority(self, wr: PullRequest) -> bytes:
        policy = self.config.get("priority_policy") or "none"
        text = request_error(policy, wr)
        if text:
            return _status(400, text)
        return self.prio.admit(wr) if self.prio is not None else b""

    def available(self) -> int:
        """Messages that could be delivered now (new ones plus queued redeliveries)."""
        return max(self.num_pending, 0) + len(self.rdq)

    def end_request(self, wr: PullRequest, status: bytes = b"") -> None:
        """Drop ``wr`` from the queue, answering it with ``status`` when given."""
        self._finish(wr, status)

    def _finish(self, wr: PullRequest, status: bytes = b"") -> None:
        wr.cancel()
        try:
            self.waiting.remove(wr)
        except ValueError:
            return
        if status:
            self._send(wr.reply, status)
        if not self.waiting:
            self._arm_reap()

    def _timeout_status(self, wr: PullRequest) -> bytes:
        return pending_status(408, "Request Timeout", wr)

    def _expire(self, wr: PullRequest) -> None:
        wr.timer = None
        if wr in self.waiting:
            self._finish(wr, self._timeout_status(wr))

    def _heartbeat(self, wr: PullRequest) -> None:
        wr.hb_timer = None
        if self.closed or wr not in self.waiting:
            return
        now, interval = self.loop.time(), wr.hb / 1e9
        if now - wr.last >= interval * 0.99:
            pairs = [("Nats-Last-Consumer", str(self.dseq - 1))]
            pairs.append(("Nats-Last-Stream", str(self.delivered_sseq)))
            self._send(wr.reply, _status(100, "Idle Heartbeat", pairs))
            wr.last = now
        wr.hb_timer = self.loop.call_later(max(0.001, wr.last + interval - now), self._heartbeat, wr)

    # --- delivery ------------------------------------------------------------------------

    def _ready(self) -> bool:
        while self.waiting and not self.account.has_interest(self.waiting[0].reply):
            self._finish(self.waiting[0])
        if self.prio is not None and self.prio.stalled:
            self.prio.stalled = False  # no request took the last message: wait for news
            return False
        return bool(self.waiting)

    def _idle(self) -> None:
        """Nothing more to hand out: end no_wait requests with ``404 No Messages``.

        As nats-server does, a no_wait request that also has ``expires`` and got nothing
        yet keeps waiting (nats.py relies on it); once it got something it ends here.
        """
        for wr in [w for w in self.waiting if w.no_wait]:
            if wr.d > 0 or not wr.expires:
                self._finish(wr, _status(404, "No Messages"))

    def _deliver(self, msg: StoredMsg, dc: int) -> int:
        if self.prio is not None:
            return self._deliver_priority(self.prio, msg, dc)
        wr = self.waiting[0]
        size = len(msg.subject) + len(msg.hdr) + len(msg.data)
        if wr.max_bytes and size > wr.b:
            self._unread(msg, dc)
            self._finish(wr, pending_status(409, "Message Size Exceeds MaxBytes", wr))
            return 0
        return super()._deliver(msg, dc)

    def _deliver_priority(self, prio: PriorityGroups, msg: StoredMsg, dc: int) -> int:
        """Deliver to the request the policy picks (brought to the head), then requeue it."""
        wr = prio.pick(len(msg.subject) + len(msg.hdr) + len(msg.data), dc)
        if wr is None:  # as nats-server: the message waits, no_wait requests end here
            self._unread(msg, dc)
            self._idle()
            prio.stalled = bool(self.waiting)
            return 0
        size = super()._deliver(msg, dc)
        prio.requeue(wr)
        return size

    def _transmit(self, msg: StoredMsg, reply: str) -> int:
        wr = self.waiting[0]
        hdr, data = self.payload(msg)
        if self.prio is not None:
            hdr = self.prio.stamp(hdr)
        self.account.publish_as(wr.reply, msg.subject, reply, hdr, data)
        size = len(msg.subject) + len(msg.hdr) + len(msg.data)
        wr.n -= 1
        wr.d += 1
        wr.last = self.loop.time()
        if wr.max_bytes:
            wr.b -= size
        if wr.n <= 0 or (wr.max_bytes and wr.b <= 0):
            self._finish(wr)
        return size

    # --- lifecycle -----------------------------------------------------------------------

    def _arm_reap(self) -> None:
        threshold = int(self.config.get("inactive_threshold") or 0)
        if threshold <= 0 or self.closed:
            return
        if self._reap_timer is not None:
            self._reap_timer.cancel()
        self._reap_timer = self.loop.call_later(threshold / 1e9, self._reap)

    def _reap(self) -> None:
        self._reap_timer = None
        if self.closed:
            return
        if self.waiting:
            self._arm_reap()
            return
        self.delete()

    def unpin(self, group: str) -> None:
        """CONSUMER.UNPIN of ``group`` (a configured group; a consumer without policy ignores it)."""
        if self.prio is not None:
            self.prio.unpin(group)

    def info(self) -> dict[str, Any]:
        """ConsumerInfo; ``priority_groups`` (when configured) comes last, after ``ts``."""
        out = super().info()
        if self.prio is not None and self.prio.groups:
            out["priority_groups"] = self.prio.state()
        return out

    def _reconfigure(self) -> None:
        policy = self.config.get("priority_policy") or "none"
        if self.prio is not None and policy == "none":
            self.prio.close()
            self.prio = None
        elif self.prio is not None:
            self.prio.configure(self.config)
        elif policy != "none":
            self.prio = PriorityGroups(self, self.config)

    def _stop_io(self, deleted: bool) -> None:
        if self.prio is not None:
            self.prio.close()
        if self._next_sub is not None:
            self.account.unsubscribe_internal(self._next_sub)
            self._next_sub = None
        if self._reap_timer is not None:
            self._reap_timer.cancel()
            self._reap_timer = None
        while self.waiting:
            wr = self.waiting.popleft()
            wr.cancel()
            if deleted:
                self._send(wr.reply, _status(409, "Consumer Deleted"))
