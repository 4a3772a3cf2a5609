"""A JetStream consumer: position, pending acks, redelivery, and the delivery pump.

This module holds what push and pull consumers share; :mod:`.consumer_push`
and :mod:`.consumer_pull` add how a message leaves the server. The shape
follows nats-server's ``consumer.go`` without its locks and goroutines: the
stream calls :meth:`Consumer.on_stored` / :meth:`Consumer.on_removed`
synchronously, and delivery runs in :meth:`Consumer._pump`, scheduled with
``loop.call_soon`` and bounded per loop iteration (``BATCH_MSGS`` messages or
``BATCH_BYTES`` bytes), so a consumer reading a large stream never holds the
loop for long and never loads more than one message at a time
(``store.load_next``).

The ``pending`` token of every ack reply must be exact (clients stop an object
get when it reads 0), so the number of matching messages not yet delivered is
kept as a counter: computed from the store at creation (before anything is
delivered) and then moved by each store, removal and delivery.

Redelivery uses one loop timer per consumer armed at the earliest ack
deadline; deadlines are Unix ns from the service's injectable clock, and
:meth:`Consumer.check_ack_timeouts` can be driven directly with a fake clock.
A consumer with ``ack_policy: flow_control`` has no ack deadline and no ack
subject: its flow-control answers acknowledge (:mod:`.consumer_push`).
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections import deque
from typing import TYPE_CHECKING, Any, Protocol

from orlop.jsapi.consumer_config import (
    ack_req_level,
    filters,
    nak_delay,
    ordered,
    priority_req_level,
    sample_freq,
)
from orlop.jsapi.timefmt import format_ts, parse_ts
from orlop.protocol import headers
from orlop.server.jetstream import advisories
from orlop.server.jetstream.consumer_position import reset_start, start_of
from orlop.store.base import StoredMsg
from orlop.subjects import matches

if TYPE_CHECKING:
    from orlop.server.jetstream.stream import Stream

__all__ = ["BATCH_BYTES", "BATCH_MSGS", "Consumer", "Pending", "StateKeeper"]

BATCH_MSGS = 256
BATCH_BYTES = 1024 * 1024
_NEVER = 1 << 62


class StateKeeper(Protocol):
    """Keeps a durable consumer's state on disk (:mod:`.consumer_state` provides it)."""

    def mark(self) -> None:
        """The delivery state changed: write it soon."""

    def stopped(self, delete_state: bool) -> None:
        """The consumer stopped: write its final state, or forget it for good."""


class Pending:
    """An unacknowledged delivery: consumer seq, delivery time and ack deadline (Unix ns)."""

    __slots__ = ("cseq", "deadline", "ts")

    def __init__(self, cseq: int, ts: int, deadline: int) -> None:
        self.cseq = cseq
        self.ts = ts
        self.deadline = deadline


class Consumer:
    """State and delivery logic shared by push and pull consumers.

    ``config`` is the normalised config dict (as CONSUMER.INFO echoes it). Subclasses
    implement :meth:`_ready` (may a message go out now?), :meth:`_transmit` and the
    lifecycle hooks :meth:`_start_io` / :meth:`_stop_io`.
    """

    kind = "base"

    def __init__(self, stream: Stream, name: str, config: dict[str, Any], created: int) -> None:
        self.stream = stream
        self.name = name
        self.config = config
        self.created = created
        self.js = stream.js
        self.account = stream.account
        self.loop = asyncio.get_running_loop()
        self.clock = stream.js.clock
        self.filters: list[str] = []
        self.pause_until = 0  # Unix ns; 0: not paused (set from the config by _apply)
        self._apply(config)
        self.ack_none = config["ack_policy"] == "none"
        self.ack_all = config["ack_policy"] == "all"
        self.ack_fc = config["ack_policy"] == "flow_control"  # acked by flow-control answers only
        self.durable = bool(config.get("durable_name"))
        self.replay_original = config.get("replay_policy") == "original"
        self._replay_last: tuple[int, float] | None = None
        self._replay_timer: asyncio.TimerHandle | None = None
        self._unpause_timer: asyncio.TimerHandle | None = None
        self.ack_prefix = f"$JS.ACK.{stream.name}.{name}."
        # position
        self.dseq = 1  # next consumer sequence
        self.sseq = 1  # next stream sequence to scan
        self.delivered_sseq = 0  # highest stream sequence delivered (first time)
        self.adflr = 0
        self.asflr = 0
        self.num_pending = 0
        self.lps: deque[int] = deque()
        self.lps_set: set[int] = set()
        # acks
        self.pending: dict[int, Pending] = {}
        self.rdc: dict[int, int] = {}
        self.rdq: list[int] = []
        self.rdq_set: set[int] = set()
        self.last_delivered_ns = 0
        self.last_ack_ns = 0
        self.closed = False
        self._scheduled = False
        self.last_src = ""  # where _next_msg found its message: "rdq", "lps" or "scan"
        self._ack_timer: asyncio.TimerHandle | None = None
        self._ack_timer_at = 0
        self._ack_sub: Any = None
        self.keeper: StateKeeper | None = None  # persists durable consumers (consumer_state)

    # --- start position ------------------------------------------------------------------

    def init_position(self) -> None:
        """Place the consumer by its deliver policy and count ``num_pending`` (before any delivery)."""
        start = start_of(self.stream.store, self.config, self.filters)
        self.delivered_sseq = self.asflr = start.floor
        self.sseq = start.sseq
        if start.lps:
            self.lps = deque(start.lps)
            self.lps_set = set(start.lps)
            self.num_pending = len(start.lps)
        else:
            self.num_pending = self.count_from(start.sseq)

    def reset_to(self, seq: int) -> int:
        """CONSUMER.RESET (ADR-60): forget pending acks and redeliveries, restart consumer sequences.

        Returns the stream sequence delivery restarts at; JetStreamError 10204 (see
        :func:`.consumer_position.reset_start`).
        """
        start = reset_start(self.config, self.asflr, seq)
        self.pending.clear()
        self.rdc.clear()
        self.rdq.clear()
        self.rdq_set.clear()
        self.lps.clear()
        self.lps_set.clear()
        self.dseq, self.adflr = 1, 0
        self.sseq = start
        self.delivered_sseq = self.asflr = start - 1
        self.last_delivered_ns = self.last_ack_ns = 0  # as nats-server: no activity yet
        self.num_pending = self.count_from(start)
        self.dirty()
        self.kick()
        return start

    def count_from(self, start: int) -> int:
        """Messages from ``start`` on that pass the filters (what ``num_pending`` counts)."""
        store = self.stream.store
        if not self.filters:
            return store.num_pending(start, "")
        return sum(store.num_pending(start, f) for f in self.filters)

    def matches(self, subject: str) -> bool:
        """Does ``subject`` pass the consumer's filters?"""
        if not self.filters:
            return True
        return any(matches(subject, f) for f in self.filters)

    # --- stream events -------------------------------------------------------------------

    def on_stored(self, msg: StoredMsg) -> None:
        """A message was stored: count it and wake the pump."""
        if self.closed or msg.seq < self.sseq or not self.matches(msg.subject):
            return
        self.num_pending += 1
        self.kick()

    def on_removed(self, seq: int, subject: str) -> None:
        """A message was removed from the stream: adjust the count of what is left to deliver."""
        if self.closed:
            return
        if seq in self.pending:  # as nats-server: a removed pending message counts as acked
            self._drop_pending(seq)
        if seq in self.lps_set:
            self.lps_set.discard(seq)
            self.num_pending -= 1
        elif seq >= self.sseq and self.matches(subject):
            self.num_pending -= 1

    # --- the delivery pump -----------------------------------------------------------------

    def kick(self) -> None:
        """Schedule the pump for the next loop iteration (once)."""
        if not self._scheduled and not self.closed:
            self._scheduled = True
            self.loop.call_soon(self._pump)

    def _pump(self) -> None:
        """Deliver up to one batch, then reschedule while work and permission remain."""
        self._scheduled = False
        if self.closed:
            return
        if self.pause_until and self._paused():
            return
        msgs = nbytes = 0
        while msgs < BATCH_MSGS and nbytes < BATCH_BYTES:
            if not self._ready():
                return
            item = self._next_msg()
            if item is None:
                if not self.ack_pending_full():  # end of stream, not just max_ack_pending
                    self._idle()
                return
            msg, dc = item
            if self.replay_original and dc == 1 and self._replay_wait(msg) > 0:
                return
            nbytes += self._deliver(msg, dc)
            msgs += 1
        self.kick()

    def _paused(self) -> bool:
        """Paused (CONSUMER.PAUSE / ``pause_until``)? Arms a wake-up at the end of the pause."""
        left = self.pause_until - self.clock()
        if left <= 0:
            return False
        if self._replay_timer is None:
            self._replay_timer = self.loop.call_later(left / 1e9, self._replay_due)
        return True

    def set_pause(self, until_ns: int) -> None:
        """Pause until ``until_ns`` (Unix ns; 0 resumes) and record it in the config. A time
        already past resumes too, and stays in the config, as nats-server keeps it."""
        cfg = {k: v for k, v in self.config.items() if k != "pause_until"}
        was = self.pause_until
        self.pause_until = max(until_ns, 0)
        if self.pause_until:
            cfg["pause_until"] = format_ts(self.pause_until)
        meta = dict(cfg.get("metadata") or {})
        if "_nats.req.level" in meta:  # recomputed from the stored config, as nats-server does
            level = max(1 if self.pause_until else 0, priority_req_level(cfg), ack_req_level(cfg))
            meta["_nats.req.level"] = str(level)
            cfg["metadata"] = meta
        self.config = ordered(cfg)
        if self._replay_timer is not None:
            self._replay_timer.cancel()
            self._replay_timer = None
        if self.pause_until != was:  # set, moved or lifted: advised, and again when it ends
            advisories.consumer_pause(self.js, self.stream.name, self.name, self.pause_until)
            self._arm_unpause()
        self.kick()

    def advise_if_paused(self) -> None:
        """After a create or update answered (nats-server): the pause advisory while paused."""
        if self.pause_until > self.clock():
            advisories.consumer_pause(self.js, self.stream.name, self.name, self.pause_until)

    def _arm_unpause(self) -> None:
        if self._unpause_timer is not None:
            self._unpause_timer.cancel()
            self._unpause_timer = None
        left = self.pause_until - self.clock()
        if left > 0 and not self.closed:
            self._unpause_timer = self.loop.call_later(left / 1e9, self._unpaused)

    def _unpaused(self) -> None:
        self._unpause_timer = None
        if not self.closed:
            advisories.consumer_pause(self.js, self.stream.name, self.name, self.pause_until)
            self.kick()

    def _replay_wait(self, msg: StoredMsg) -> float:
        """``replay_policy: original``: seconds to hold ``msg`` back (then put back and retried)."""
        now = self.loop.time()
        last = self._replay_last
        wait = 0.0 if last is None else (msg.ts - last[0]) / 1e9 - (now - last[1])
        if wait > 0:
            self._unread(msg, 1)
            if self._replay_timer is None:
                self._replay_timer = self.loop.call_later(wait, self._replay_due)
            return wait
        self._replay_last = (msg.ts, now)
        return 0.0

    def _replay_due(self) -> None:
        self._replay_timer = None
        self.kick()

    def _unread(self, msg: StoredMsg, dc: int) -> None:
        """Put back a message taken by :meth:`_next_msg` but not delivered."""
        if self.last_src == "rdq":
            self.rdq_set.add(msg.seq)
            heapq.heappush(self.rdq, msg.seq)
        elif self.last_src == "lps":
            self.lps.appendleft(msg.seq)
            self.lps_set.add(msg.seq)
        else:
            self.sseq = msg.seq

    def _ready(self) -> bool:
        """May a message be delivered right now? (interest, flow control, waiting requests)."""
        return False

    def _idle(self) -> None:
        """Nothing left to deliver for now (pull consumers answer no_wait requests here)."""

    def payload(self, msg: StoredMsg) -> tuple[bytes, bytes]:
        """Header block and body to send: with ``headers_only``, ``Nats-Msg-Size`` and no body."""
        if not self.headers_only:
            return msg.hdr, msg.data
        return headers.append(msg.hdr, [("Nats-Msg-Size", str(len(msg.data)))]), b""

    def _transmit(self, msg: StoredMsg, reply: str) -> int:
        """Send one message; returns the bytes accounted for it."""
        raise RuntimeError("Consumer subclasses transmit")

    def ack_pending_full(self) -> bool:
        return not self.ack_none and 0 < self.max_ack_pending <= len(self.pending)

    def _next_msg(self) -> tuple[StoredMsg, int] | None:
        """The next message to deliver and its delivery count, or None."""
        store = self.stream.store
        while self.rdq:
            seq = heapq.heappop(self.rdq)
            self.rdq_set.discard(seq)
            if seq not in self.pending:
                continue
            dc = self.rdc.get(seq, 1)
            if 0 < self.max_deliver <= dc:  # e.g. naked at its last delivery: given up
                self._give_up(seq, dc)
                continue
            msg = store.load(seq)
            if msg is None:
                self._drop_pending(seq)
                continue
            self.last_src = "rdq"
            return msg, dc + 1
        if self.ack_pending_full():
            return None
        while self.lps:
            seq = self.lps.popleft()
            if seq not in self.lps_set:
                continue
            self.lps_set.discard(seq)
            msg = store.load(seq)
            if msg is not None:
                self.last_src = "lps"
                return msg, 1
            self.num_pending -= 1
        msg = self._load_next(self.sseq)
        if msg is None:
            return None
        self.sseq = msg.seq + 1
        self.last_src = "scan"
        return msg, 1

    def _load_next(self, seq: int) -> StoredMsg | None:
        store = self.stream.store
        if len(self.filters) <= 1:
            return store.load_next(self.filters[0] if self.filters else "", seq)
        best: StoredMsg | None = None
        for f in self.filters:
            m = store.load_next(f, seq)
            if m is not None and (best is None or m.seq < best.seq):
                best = m
        return best

    def _deliver(self, msg: StoredMsg, dc: int) -> int:
        dseq = self.dseq
        self.dseq += 1
        now = self.clock()
        self.last_delivered_ns = now
        if dc == 1:
            self.num_pending -= 1
            if msg.seq > self.delivered_sseq:
                self.delivered_sseq = msg.seq
        if self.ack_none:
            self.adflr, self.asflr = dseq, max(self.asflr, msg.seq)
        else:
            if dc > 1:
                self.rdc[msg.seq] = dc
            self.pending[msg.seq] = Pending(dseq, now, self.ack_deadline(now, dc))
            self._arm_ack_timer()
        pending = max(self.num_pending, 0)
        reply = f"{self.ack_prefix}{dc}.{msg.seq}.{dseq}.{msg.ts}.{pending}"
        self.dirty()
        return self._transmit(msg, reply)

    def ack_deadline(self, now: int, dc: int = 1) -> int:
        """When a delivery made at ``now`` (the ``dc``-th) is redelivered unless acked; flow-control
        acks never time out, as nats-server never redelivers for them."""
        if self.ack_fc:
            return _NEVER
        return now + self._wait_for(dc)

    def _wait_for(self, dc: int) -> int:
        if self.backoff:
            return self.backoff[min(dc - 1, len(self.backoff) - 1)]
        return self.ack_wait

    # --- acks ------------------------------------------------------------------------------

    def on_ack(self, subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        """``$JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<dseq>.<ts>.<pending>`` with the ack kind as body."""
        if self.closed:
            return
        toks = subject.split(".")
        if len(toks) < 9:
            return
        try:
            dc, sseq, dseq = int(toks[4]), int(toks[5]), int(toks[6])
        except ValueError:
            return
        body = payload.strip()
        kind, _, rest = body.partition(b" ")
        if kind in (b"", b"+ACK"):
            self._sample(sseq, dseq, dc)
            self.ack(sseq)
        elif kind == b"-NAK":
            if sseq in self.pending:
                advisories.consumer_naked(self.js, self.stream.name, self.name, dseq, sseq, dc)
            self.nak(sseq, nak_delay(rest))
        elif kind == b"+WPI":
            self.in_progress(sseq)
        elif kind == b"+TERM":
            self.ack(sseq, term=True)
            reason = rest.strip().decode("utf-8", "replace")
            advisories.consumer_terminated(self.js, self.stream.name, self.name, dseq, sseq, dc, reason)
        elif kind == b"+NXT":
            self._sample(sseq, dseq, dc)
            self.ack(sseq)
            self.next_after_ack(reply, rest)
            return
        else:
            return
        if reply:
            self.account.publish(reply, "", b"", b"")

    def _sample(self, sseq: int, dseq: int, dc: int) -> None:
        """``sample_freq``: the ack metric for this share of explicit acks (nats-server's
        shouldSample: ``rand(100) <= freq``, so "1%" samples about 2 in 100)."""
        freq = self.sample_freq
        if freq <= 0 or self.ack_none or self.ack_all or self.ack_fc:
            return
        p = self.pending.get(sseq)
        if p is None or (freq < 100 and random.randrange(100) > freq):
            return
        ack_time = self.clock() - p.ts
        advisories.consumer_acked(self.js, self.stream.name, self.name, dseq, sseq, ack_time, dc)

    def next_after_ack(self, reply: str, body: bytes) -> None:
        """``+NXT``: only pull consumers take a request piggy-backed on an ack."""

    def ack(self, sseq: int, *, term: bool = False) -> None:
        """Acknowledge ``sseq`` (ack all: everything up to it). Unknown sequences are ignored."""
        if self.ack_none:
            return
        self.last_ack_ns = self.clock()
        if self.ack_all and not term:
            done = [s for s in self.pending if s <= sseq]
            if not done:
                return
        elif sseq in self.pending:
            done = [sseq]
        else:
            return
        for s in done:
            self._drop_pending(s)
        if self.stream.config.get("retention", "limits") != "limits":
            for s in done:
                self._retire(s)
        self.kick()

    def needs(self, seq: int, subject: str) -> bool:
        """Is stream message ``seq`` still to be delivered or acknowledged by this consumer?"""
        if seq in self.pending or seq in self.lps_set:
            return True
        return seq >= self.sseq and self.matches(subject)

    def _retire(self, seq: int) -> None:
        """Retention: a workqueue stream drops what was acked; an interest stream what nobody needs."""
        store = self.stream.store
        if self.stream.config.get("retention") == "interest":
            others = [c for c in self.stream.consumers.values() if c is not self]
            if others:
                msg = store.load(seq)
                if msg is None or any(c.needs(seq, msg.subject) for c in others):
                    return
        store.remove(seq)

    def nak(self, sseq: int, delay_ns: int) -> None:
        """Redeliver ``sseq`` now, or after ``delay_ns``."""
        p = self.pending.get(sseq)
        if p is None:
            return
        if delay_ns > 0:
            p.deadline = self.clock() + delay_ns
            self._rearm()
            return
        self._queue_redelivery(sseq)
        self.kick()

    def in_progress(self, sseq: int) -> None:
        """``+WPI``: restart the ack timer of ``sseq``."""
        p = self.pending.get(sseq)
        if p is not None:
            p.deadline = self.ack_deadline(self.clock(), self.rdc.get(sseq, 1))

    def _drop_pending(self, sseq: int) -> None:
        self.pending.pop(sseq, None)
        self.rdc.pop(sseq, None)
        if sseq in self.rdq_set:
            self.rdq_set.discard(sseq)
            self.rdq.remove(sseq)
            heapq.heapify(self.rdq)
        self._update_floor()
        self.dirty()

    def _update_floor(self) -> None:
        if not self.pending:
            self.adflr, self.asflr = self.dseq - 1, self.delivered_sseq
            return
        first = next(iter(self.pending))
        self.asflr = first - 1
        self.adflr = max(self.adflr, self.pending[first].cseq - 1)

    def _queue_redelivery(self, sseq: int) -> None:
        if sseq not in self.rdq_set:
            self.rdq_set.add(sseq)
            heapq.heappush(self.rdq, sseq)
            self.pending[sseq].deadline = _NEVER

    def _give_up(self, sseq: int, dc: int) -> None:
        """``sseq`` was delivered max_deliver (``dc``) times: no more, and say so (advisory).

        Its delivery count stays (num_redelivered counts it), as in nats-server."""
        self._drop_pending(sseq)
        if dc > 1:
            self.rdc[sseq] = dc
        advisories.consumer_max_deliveries(self.js, self.stream.name, self.name, sseq, dc)

    # --- redelivery timer -----------------------------------------------------------------

    def _arm_ack_timer(self) -> None:
        if self._ack_timer is None:
            self._rearm()

    def _rearm(self) -> None:
        """Point the timer at the earliest ack deadline (O(pending), done per expiry, not per ack)."""
        if self.closed:
            return
        nxt = min((p.deadline for p in self.pending.values()), default=_NEVER)
        if nxt >= _NEVER:
            return
        if self._ack_timer is not None:
            if self._ack_timer_at and self._ack_timer_at <= nxt:
                return
            self._ack_timer.cancel()
        self._ack_timer_at = nxt
        delay = max(0.0, (nxt - self.clock()) / 1e9)
        self._ack_timer = self.loop.call_later(delay, self._on_ack_timer)

    def _on_ack_timer(self) -> None:
        self._ack_timer = None
        self._ack_timer_at = 0
        self.check_ack_timeouts()

    def check_ack_timeouts(self, now: int | None = None) -> int:
        """Queue for redelivery (or give up on, at max_deliver) what passed its deadline; re-arm.

        Returns how many messages timed out. Tests with a fake clock call this directly.
        """
        if self.closed:
            return 0
        now = self.clock() if now is None else now
        late = [s for s, p in self.pending.items() if p.deadline <= now]
        for sseq in late:
            dc = self.rdc.get(sseq, 1)
            if 0 < self.max_deliver <= dc:
                self._give_up(sseq, dc)
            else:
                self._queue_redelivery(sseq)
        self._rearm()
        if late:
            self.kick()
        return len(late)

    # --- info and lifecycle -----------------------------------------------------------------

    def num_waiting(self) -> int:
        return 0

    def push_bound(self) -> bool:
        return False

    def info(self) -> dict[str, Any]:
        """ConsumerInfo as nats-server writes it."""
        delivered: dict[str, Any] = {"consumer_seq": self.dseq - 1, "stream_seq": self.delivered_sseq}
        if self.last_delivered_ns:
            delivered["last_active"] = format_ts(self.last_delivered_ns)
        floor: dict[str, Any] = {"consumer_seq": self.adflr, "stream_seq": self.asflr}
        last_ack = self.last_delivered_ns if self.ack_none else self.last_ack_ns
        if last_ack and (self.adflr or self.asflr or self.ack_fc):
            floor["last_active"] = format_ts(last_ack)
        out: dict[str, Any] = {
            "stream_name": self.stream.name,
            "name": self.name,
            "created": format_ts(self.created),
            "config": self.config,
            "delivered": delivered,
            "ack_floor": floor,
            "num_ack_pending": len(self.pending),
            "num_redelivered": len(self.rdc),
            "num_waiting": self.num_waiting(),
            "num_pending": max(self.num_pending, 0),
        }
        if self.push_bound():
            out["push_bound"] = True
        remaining = self.pause_until - self.clock()
        if remaining > 0:
            out["paused"] = True
            out["pause_remaining"] = remaining
        out["ts"] = format_ts(self.clock())
        return out

    def update_config(self, config: dict[str, Any]) -> None:
        """Apply an accepted update (the fields nats-server lets change) and resume delivery."""
        old_filters = self.filters
        self._apply(config)
        if old_filters != self.filters:
            self.num_pending = len(self.lps_set) + self.count_from(self.sseq)
        self._reconfigure()
        self.kick()

    def _apply(self, config: dict[str, Any]) -> None:
        """The settings an update may change (ack policy, deliver policy and replay may not)."""
        self.config = config
        self.filters = filters(config)
        self.ack_wait = int(config.get("ack_wait") or 0)
        self.backoff: list[int] = list(config.get("backoff") or [])
        self.max_deliver = int(config.get("max_deliver") or -1)
        self.sample_freq = sample_freq(config)
        self.max_ack_pending = int(config.get("max_ack_pending") or 0)
        self.headers_only = bool(config.get("headers_only"))
        self.pause_until = parse_ts(config["pause_until"]) if config.get("pause_until") else 0

    def _reconfigure(self) -> None:
        """Subclass settings derived from the config."""

    def start(self) -> None:
        """Subscribe to acks (none for flow-control acks, as nats-server) and start delivering."""
        if not self.ack_fc:
            self._ack_sub = self.account.subscribe_internal(self.ack_prefix + ">", self.on_ack)
        self._start_io()
        self._rearm()
        self._arm_unpause()  # created paused: advised when the pause ends
        self.kick()

    def _start_io(self) -> None:
        """Subclass subscriptions and timers."""

    def _stop_io(self, deleted: bool) -> None:
        """Undo :meth:`_start_io`."""

    def dirty(self) -> None:
        """Delivery state changed (durable consumers persist it soon)."""
        if self.keeper is not None:
            self.keeper.mark()

    def stop(self, delete_state: bool) -> None:
        """Stop delivering, drop subscriptions and timers; ``delete_state`` forgets it for good
        (and advises it: API delete, inactivity, its stream deleted)."""
        if self.closed:
            return
        self.closed = True
        if delete_state:
            advisories.consumer_action(self.js, "delete", self.stream.name, self.name)
        if self._ack_sub is not None:
            self.account.unsubscribe_internal(self._ack_sub)
            self._ack_sub = None
        for timer in (self._ack_timer, self._replay_timer, self._unpause_timer):
            if timer is not None:
                timer.cancel()
        self._ack_timer = self._replay_timer = self._unpause_timer = None
        self._stop_io(delete_state)
        if self.keeper is not None:
            self.keeper.stopped(delete_state)

    def delete(self) -> None:
        """Remove from the stream and stop with state deletion (API delete, inactivity)."""
        if self.stream.consumers.get(self.name) is self:
            del self.stream.consumers[self.name]
        self.stop(True)
