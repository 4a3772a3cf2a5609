"""An ordered, ephemeral push consumer read as a queue: the one read path for chunks and watches.

Why push and not pull: every JetStream server the official clients work
with (Orlop's included) serves ordered push consumers; that is the common
ground. Why our own and not nats-py's ``ordered_consumer``: nats-py answers
flow control from a 250 ms poller, which stalls every window (~60 MB/s).
Here the subscription callback only parses and queues; a flow-control
request is queued *behind* the data that preceded it and is answered the
moment the reader dequeues it, i.e. right after processing that data. So
the server's window, not the object size, bounds memory, and a fast reader
is never throttled.

Ordering is checked on every delivery (consumer sequence from the v1 or v2
ack subject); a gap, a heartbeat naming another last sequence, or silence
for three heartbeat intervals recreates the consumer from the last stream
sequence seen (as Go's ordered consumer does). The consumer is created
before the subscription so :meth:`create` can inspect ``num_pending``
(range reads use it to locate chunk *i* without moving any data); the
server holds delivery until :meth:`attach` subscribes.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from typing import Any

from nats.aio.msg import Msg

from orlop.errors import ObjectStoreUnavailable
from orlop.objects.wire import Wire

__all__ = ["Delivery", "PushStream"]

_FC = "fc"
_RESET = "reset"
_MAX_RESETS = 8
_SUB_PENDING_BYTES = 512 * 1024 * 1024


@dataclass(slots=True)
class Delivery:
    """One stored message: subject, payload, headers, stream sequence, pending count, time."""

    subject: str
    data: bytes
    headers: dict[str, str] | None
    stream_seq: int
    pending: int
    timestamp_ns: int


def _ack_tokens(reply: str) -> tuple[int, int, int, int] | None:
    """``(stream_seq, consumer_seq, timestamp_ns, pending)`` from a v1 or v2 ack subject."""
    t = reply.split(".")
    try:
        if len(t) == 9:
            return int(t[5]), int(t[6]), int(t[7]), int(t[8])
        if len(t) >= 11:
            return int(t[7]), int(t[8]), int(t[9]), int(t[10])
    except ValueError:
        return None
    return None


class PushStream:
    """Deliveries of one filter subject, in stream order, with flow control answered on dequeue.

    ``deliver_policy``: ``all``, ``last_per_subject``, ``new`` or ``by_start_sequence``
    (with ``start_seq``). When ``stop_at_end`` is true, :meth:`next` returns None
    after the delivery whose pending count is 0 (or at once if nothing matched).
    """

    def __init__(
        self,
        wire: Wire,
        stream: str,
        filter_subject: str,
        *,
        deliver_policy: str = "all",
        start_seq: int = 0,
        heartbeat: float = 2.0,
        stop_at_end: bool = True,
    ) -> None:
        self.wire = wire
        self.stream = stream
        self.filter_subject = filter_subject
        self.policy = deliver_policy
        self.start_seq = start_seq
        self.heartbeat = heartbeat
        self.stop_at_end = stop_at_end
        self.num_pending = 0
        self._gen = 0
        self._broken = -1
        self._items: collections.deque[Any] = collections.deque()
        self._wake = asyncio.Event()
        self._sub: Any = None
        self._consumer = ""
        self._inbox = ""
        self._last_cseq = 0
        self._last_sseq = 0
        self._last_pending = 0
        self._done = False
        self._closed = False
        self._resets = 0

    # -- lifecycle ------------------------------------------------------------
    async def create(self) -> int:
        """Create the consumer (no subscription yet); returns its ``num_pending``."""
        self._inbox = self.wire.nc.new_inbox()
        cfg: dict[str, Any] = {
            "deliver_policy": self.policy,
            "ack_policy": "none",
            "max_deliver": 1,
            "filter_subject": self.filter_subject,
            "replay_policy": "instant",
            "flow_control": True,
            "idle_heartbeat": int(self.heartbeat * 1e9),
            "deliver_subject": self._inbox,
            "num_replicas": 1,
            "mem_storage": True,
        }
        if self.policy == "by_start_sequence":
            cfg["opt_start_seq"] = max(1, self.start_seq)
        resp = await self.wire.request(
            f"CONSUMER.CREATE.{self.stream}", {"stream_name": self.stream, "config": cfg}
        )
        self._consumer = str(resp.get("name", ""))
        self.num_pending = int(resp.get("num_pending", 0))
        if self.stop_at_end and self.num_pending == 0:
            self._done = True
        return self.num_pending

    async def attach(self) -> None:
        """Subscribe the deliver subject: delivery starts."""
        self._sub = await self.wire.nc.subscribe(
            self._inbox, cb=self._callback(self._gen), pending_bytes_limit=_SUB_PENDING_BYTES
        )

    async def open(self) -> int:
        """Create the consumer (patiently: see :meth:`create_patiently`) and attach; its ``num_pending``."""
        n = await self.create_patiently()
        await self.attach()
        return n

    async def discard(self) -> None:
        """Delete a consumer that was created but never attached (a range-read probe)."""
        self._delete_consumer()

    async def close(self) -> None:
        """Unsubscribe and delete the consumer (in the background)."""
        if self._closed:
            return
        self._closed = True
        self._gen += 1
        await self._unsubscribe()
        self._delete_consumer()

    def _delete_consumer(self) -> None:
        if self._consumer:
            name, self._consumer = self._consumer, ""
            self.wire.spawn(self.wire.request(f"CONSUMER.DELETE.{self.stream}.{name}", None))

    async def _unsubscribe(self) -> None:
        sub, self._sub = self._sub, None
        if sub is not None:
            try:
                await sub.unsubscribe()
            except Exception:  # connection closing: nothing left to unsubscribe from
                return

    # -- receiving ------------------------------------------------------------
    def _push(self, item: Any) -> None:
        self._items.append(item)
        self._wake.set()

    def _callback(self, gen: int) -> Any:
        async def on_msg(msg: Msg) -> None:
            if gen != self._gen or gen == self._broken:
                return
            hdrs = msg.headers
            status = hdrs.get("Status") if hdrs else None
            if status is not None:
                await self._on_status(gen, status, msg, hdrs or {})
                return
            parsed = _ack_tokens(msg.reply)
            if parsed is None:
                return
            sseq, cseq, ts, pending = parsed
            if cseq != self._last_cseq + 1:
                self._broken = gen
                self._push(_RESET)
                return
            self._last_cseq, self._last_sseq, self._last_pending = cseq, sseq, pending
            self._push(Delivery(msg.subject, msg.data, hdrs, sseq, pending, ts))

        return on_msg

    async def _on_status(self, gen: int, status: str, msg: Msg, hdrs: dict[str, str]) -> None:
        if status != "100":
            # 409 consumer deleted / leadership change: start again where we were.
            self._broken = gen
            self._push(_RESET)
            return
        if msg.reply:
            self._push((_FC, msg.reply))
            return
        stalled = hdrs.get("Nats-Consumer-Stalled")
        if stalled:
            # Answered like a flow-control request: once the reader got here (memory stays bounded).
            self._push((_FC, stalled))
        last = hdrs.get("Nats-Last-Consumer")
        mismatch = last is not None and last.isdigit() and int(last) != self._last_cseq
        # Idle while the last delivery said more was pending and the reader has caught up:
        # the messages are gone (purged under us); a fresh consumer reports what is left.
        vanished = self.stop_at_end and self._last_pending > 0 and not self._items
        if mismatch or vanished:
            self._broken = gen
            self._push(_RESET)

    async def next(self) -> Delivery | None:
        """The next delivery, or None at the end (``stop_at_end``).

        Raises ObjectStoreUnavailable when the consumer had to be recreated too often.
        """
        while True:
            if self._done and not self._items:
                return None
            if self._items:
                item = self._items.popleft()
                if type(item) is Delivery:
                    if self.stop_at_end and item.pending == 0:
                        self._done = True
                        self._items.clear()
                    return item
                if item == _RESET:
                    await self._reset()
                else:
                    await self.wire.nc.publish(item[1], b"")
                continue
            self._wake.clear()
            try:
                async with asyncio.timeout(self.heartbeat * 3):
                    await self._wake.wait()
            except TimeoutError:
                await self._reset()

    async def _reset(self) -> None:
        """Recreate the consumer after the last stream sequence seen (ordered-consumer reset)."""
        self._resets += 1
        if self._resets > _MAX_RESETS:
            raise ObjectStoreUnavailable(f"consumer on {self.filter_subject} keeps failing")
        self._gen += 1
        self._items = collections.deque(i for i in self._items if type(i) is Delivery)
        await self._unsubscribe()
        self._delete_consumer()
        if self._last_sseq:
            self.policy, self.start_seq = "by_start_sequence", self._last_sseq + 1
        self._last_cseq = 0
        self._broken = -1
        await self.create_patiently()
        if not self._done:
            await self.attach()

    async def create_patiently(self) -> int:
        """:meth:`create`, retried through a leader election (:meth:`Wire.patiently`).

        A consumer is reset when its server went away; on a nats-server cluster the
        stream then elects a new leader, which takes seconds, and CONSUMER.CREATE
        times out or is refused as temporarily unavailable meanwhile.
        """
        return await self.wire.patiently(self.create)
