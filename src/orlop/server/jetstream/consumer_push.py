"""Push consumers: interest gating, flow control, idle heartbeats, inactivity reaping.

A push consumer sends to its ``deliver_subject`` only while someone subscribes
to it (nats.py and nats.js create the consumer before they SUB); the account's
interest listener re-checks on every client SUB/UNSUB. Flow control follows
nats-server's window (``consumer.go needFlowControl``/``processFlowControl``):
the window starts at 2 MiB, a ``100 FlowControl Request`` goes out once more
than half of it is unanswered, delivery stalls while more than the window is
outstanding, and each answer doubles the window up to 32 MiB. So a client
reading a 1 GiB object is never more than 32 MiB behind, and a fast client is
never made to wait per message. Independently of flow control, delivery pauses
while a receiving connection's transport is above its high-water mark.

With ``ack_policy: flow_control`` (nats-server 2.14) the answers also acknowledge:
an answer carrying ``Nats-Last-Consumer``/``Nats-Last-Stream`` acks everything up
to that stream sequence, as an ack-all would (an empty answer only reopens the
window). A flow-control request also goes out as soon as max_ack_pending is
reached, and with every idle heartbeat while deliveries are unacknowledged and
no request is outstanding. Nothing is ever redelivered.
"""

from __future__ import annotations

import asyncio
import secrets
import string
from typing import TYPE_CHECKING, Any

from orlop.protocol import headers
from orlop.server.jetstream.consumer import Consumer
from orlop.store.base import StoredMsg
from orlop.subjects import matches

if TYPE_CHECKING:
    from orlop.server.jetstream.stream import Stream

__all__ = ["FC_MAX_WINDOW", "FC_START_WINDOW", "PushConsumer"]

FC_MAX_WINDOW = 32 * 1024 * 1024
FC_START_WINDOW = FC_MAX_WINDOW // 16
_ALNUM = string.ascii_letters + string.digits
_CONGESTED_RETRY = 0.002


class PushConsumer(Consumer):
    """A consumer with a ``deliver_subject``."""

    kind = "push"

    def __init__(self, stream: Stream, name: str, config: dict[str, Any], created: int) -> None:
        super().__init__(stream, name, config, created)
        self.deliver = config["deliver_subject"]
        self.active = False
        self.fc = bool(config.get("flow_control"))
        self.hb = int(config.get("idle_heartbeat") or 0) / 1e9
        self.pbytes = 0
        self.maxpb = FC_START_WINDOW if self.fc else 0
        self.fc_reply = ""
        self.fc_size = 0
        self.last_out = 0.0  # loop time of the last message or heartbeat sent
        self._fc_sub: Any = None
        # nats-server's in-memory ack floor for flow-control acks; it can run ahead of the
        # reported (stored) floor when an answer names a sequence that is not pending.
        self._fc_gate = (0, 0)
        self._hb_timer: asyncio.TimerHandle | None = None
        self._reap_timer: asyncio.TimerHandle | None = None
        self._retry: asyncio.TimerHandle | None = None

    # --- interest ------------------------------------------------------------------------

    def _start_io(self) -> None:
        self.account.add_interest_listener(self._on_interest)
        if self.fc:
            prefix = f"$JS.FC.{self.stream.name}.{self.name}.*"
            self._fc_sub = self.account.subscribe_internal(prefix, self._on_fc)
        self._set_active(self.account.has_interest(self.deliver), initial=True)

    def _on_interest(self, sub_subject: str) -> None:
        if self.closed or not matches(self.deliver, sub_subject):
            return
        self._set_active(self.account.has_interest(self.deliver))

    def _set_active(self, active: bool, initial: bool = False) -> None:
        if active == self.active and not initial:
            return
        self.active = active
        if active:
            self._cancel("_reap_timer")
            self.last_out = self.loop.time()
            self._arm_hb()
            self.kick()
        else:
            self._cancel("_hb_timer")
            threshold = int(self.config.get("inactive_threshold") or 0)
            if threshold > 0 and self._reap_timer is None:
                self._reap_timer = self.loop.call_later(threshold / 1e9, self._reap)

    def _reap(self) -> None:
        self._reap_timer = None
        if not self.closed and not self.account.has_interest(self.deliver):
            self.delete()

    def push_bound(self) -> bool:
        return self.active

    # --- delivery ------------------------------------------------------------------------

    def _ready(self) -> bool:
        if not self.active:
            return False
        if self.maxpb and self.pbytes > self.maxpb:
            return False
        if self._congested():
            if self._retry is None:
                self._retry = self.loop.call_later(_CONGESTED_RETRY, self._retry_kick)
            return False
        return True

    def _retry_kick(self) -> None:
        self._retry = None
        self.kick()

    def _congested(self) -> bool:
        m = self.account.sublist.match(self.deliver)
        for sub in m.plain:
            conn = sub.conn
            if conn is not None and conn.write_paused:
                return True
        return False

    def _transmit(self, msg: StoredMsg, reply: str) -> int:
        hdr, data = self.payload(msg)
        self.account.publish_as(self.deliver, msg.subject, reply, hdr, data)
        self.last_out = self.loop.time()
        size = len(hdr) + len(data)
        if self.maxpb:
            self.pbytes += size
            if not self.fc_reply and (self.pbytes > self.maxpb // 2 or self._fc_acks_due()):
                self._send_fc()
            elif self.fc_reply and self.pbytes - self.fc_size >= self.maxpb:
                self.fc_size += size
        return size

    # --- flow control --------------------------------------------------------------------

    def _send_fc(self) -> None:
        rand = "".join(secrets.choice(_ALNUM) for _ in range(4))
        self.fc_reply = f"$JS.FC.{self.stream.name}.{self.name}.{rand}"
        self.fc_size = self.pbytes
        hdr = headers.build([], status=100, description="FlowControl Request")
        self.account.publish(self.deliver, self.fc_reply, hdr, b"")

    def _on_fc(self, subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        if self.closed or subject != self.fc_reply:
            return
        self.pbytes = max(0, self.pbytes - self.fc_size)
        self.fc_reply = ""
        self.fc_size = 0
        self.maxpb = min(self.maxpb * 2, FC_MAX_WINDOW)
        if self.ack_fc:
            sseq = _seq_header(hdr, "Nats-Last-Stream")
            if sseq > 0:  # the consumer sequence may be absent (an answer before any delivery)
                self.flow_ack(max(_seq_header(hdr, "Nats-Last-Consumer"), 0), sseq)
        self.kick()

    def flow_ack(self, dseq: int, sseq: int, *, removed: bool = False) -> None:
        """A flow-control answer for ``ack_policy: flow_control``: ack everything up to ``sseq``.

        As nats-server: ignored unless both sequences are above the ack floor; the reported
        ack floor becomes (``dseq``, ``sseq``) only when ``sseq`` itself was pending.
        ``removed``: ``sseq`` has just left the stream (retention then runs a loop turn later).
        """
        gate_d, gate_s = max(self._fc_gate[0], self.adflr), max(self._fc_gate[1], self.asflr)
        if dseq <= gate_d or sseq <= gate_s:
            return
        self._fc_gate = (dseq, sseq)
        self.last_ack_ns = self.clock()
        floor = (dseq, sseq) if sseq in self.pending else (self.adflr, self.asflr)
        done = [s for s in self.pending if s <= sseq]
        for s in done:
            self._drop_pending(s)
        self.adflr, self.asflr = floor
        if self.stream.config.get("retention", "limits") != "limits":
            if removed:
                self.loop.call_soon(self._retire_all, [s for s in done if s != sseq])
            else:
                self._retire_all(done)
        self.dirty()

    def _retire_all(self, seqs: list[int]) -> None:
        if not self.closed:
            for s in seqs:
                self._retire(s)

    def on_removed(self, seq: int, subject: str) -> None:
        """As nats-server, a pending message leaving the stream is acked like an ack-all
        (for flow-control acks: the floor moves up to it and what is below is acked too)."""
        p = self.pending.get(seq) if self.ack_fc and not self.closed else None
        if p is not None:
            self.flow_ack(p.cseq, seq, removed=True)
            self.kick()
        super().on_removed(seq, subject)

    def _fc_acks_due(self) -> bool:
        """Flow-control acks: ask for them as soon as max_ack_pending is reached."""
        return self.ack_fc and self.ack_pending_full()

    def reset_to(self, seq: int) -> int:
        start = super().reset_to(seq)
        self._fc_gate = (self.adflr, self.asflr)
        return start

    # --- heartbeats ----------------------------------------------------------------------

    def _arm_hb(self) -> None:
        if self.hb > 0 and self._hb_timer is None and not self.closed:
            self._hb_timer = self.loop.call_later(self.hb, self._on_hb)

    def _on_hb(self) -> None:
        self._hb_timer = None
        if self.closed or not self.active:
            return
        now = self.loop.time()
        due = self.last_out + self.hb
        if now + 0.001 < due:
            self._hb_timer = self.loop.call_later(due - now, self._on_hb)
            return
        self.send_heartbeat()
        if self.ack_fc:  # as nats-server: ask for acks of what is still pending
            if self.pending and not self.fc_reply:
                self._send_fc()
        elif self.fc_reply:  # re-ask an answer that never came (nats-server 2.15.1 does not)
            self._send_fc()
        self._arm_hb()

    def send_heartbeat(self) -> None:
        """``100 Idle Heartbeat`` with the last consumer/stream sequences (+ stalled FC subject)."""
        pairs = [("Nats-Last-Consumer", str(self.dseq - 1)), ("Nats-Last-Stream", str(self.delivered_sseq))]
        if self.fc_reply:
            pairs.append(("Nats-Consumer-Stalled", self.fc_reply))
        hdr = headers.build(pairs, status=100, description="Idle Heartbeat")
        self.account.publish(self.deliver, "", hdr, b"")
        self.last_out = self.loop.time()

    # --- lifecycle -----------------------------------------------------------------------

    def _cancel(self, attr: str) -> None:
        timer = getattr(self, attr)
        if timer is not None:
            timer.cancel()
            setattr(self, attr, None)

    def _stop_io(self, deleted: bool) -> None:
        self.account.remove_interest_listener(self._on_interest)
        if self._fc_sub is not None:
            self.account.unsubscribe_internal(self._fc_sub)
            self._fc_sub = None
        for attr in ("_hb_timer", "_reap_timer", "_retry"):
            self._cancel(attr)


def _seq_header(hdr: bytes, key: str) -> int:
    """A sequence header's value, -1 when absent or not all digits (as nats-server's parseInt64)."""
    value = headers.get(hdr, key)
    if not value or not value.isascii() or not value.isdigit():
        return -1
    return int(value)
