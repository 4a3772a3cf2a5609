"""A put's chunks through JetStream fast ingest (ADR-50, nats-server 2.14 / JetStream API level 4).

Instead of one PubAck per chunk, the server paces the publisher: every chunk is published
with a reply subject that carries the batch's control fields
(``<inbox>.<batch>.<flow>.fail.<n>.<op>.$FI``), the server answers with a flow ``ack``
every ``msgs`` chunks, and the batch ends with an EOB (op 3, nothing stored) whose final
PubAck says how many chunks are stored. Gap mode ``fail``: a lost or refused chunk ends the
batch with an error, so a put never has holes. The meta is then published as in any put
(conditional, retried, with rollups) by :mod:`.core`, so what a reader sees is the same.

Used when the server reports API level 4 or more and the bucket's stream has
``allow_batched`` (nats.js's ``@nats-io/obj`` offers the same path to buckets created with
it). Only public nats-py API is used: ``subscribe`` and ``publish`` with a reply subject.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from nats.aio.msg import Msg
from nats.nuid import NUID

from orlop.errors import JetStreamError, ObjectStoreUnavailable
from orlop.objects.wire import Wire

__all__ = ["MIN_API_LEVEL", "FastChunks", "flow_for"]

MIN_API_LEVEL = 4
OUTSTANDING_ACKS = 2  # chunks in flight: up to this many flow windows (nats.js's default)
_WINDOW_BYTES = 64 * 1024 * 1024
_nuid = NUID()


def flow_for(chunk: int) -> int:
    """The initial flow to ask for: about 32 MiB of chunks per ack (the server caps it at 500)."""
    return max(1, min(500, _WINDOW_BYTES // OUTSTANDING_ACKS // max(1, chunk)))


class FastChunks:
    """One put's chunks as one fast-ingest batch on ``subject``."""

    def __init__(self, wire: Wire, subject: str, chunk: int) -> None:
        self.wire = wire
        self.subject = subject
        self.flow = flow_for(chunk)
        self.batch = _nuid.next().decode()
        self.prefix = ""
        self.sent = 0
        self.acked = 0
        self.msgs = self.flow
        self.error: BaseException | None = None
        self.final: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._moved = asyncio.Event()
        self._ended = asyncio.Event()  # the server answered the EOB: it has seen every chunk
        self._sub: Any = None

    async def start(self) -> None:
        self.prefix = self.wire.nc.new_inbox()
        self._sub = await self.wire.nc.subscribe(f"{self.prefix}.{self.batch}.>", cb=self._on_reply)

    def _reply(self, seq: int, op: int) -> str:
        return f"{self.prefix}.{self.batch}.{self.flow}.fail.{seq}.{op}.$FI"

    async def _on_reply(self, msg: Msg) -> None:
        if msg.subject.endswith(".3.$FI"):
            self._ended.set()
        try:
            body = json.loads(msg.data)
        except ValueError:
            self._fail(ObjectStoreUnavailable("invalid fast-ingest reply"))
            return
        kind = body.get("type") if isinstance(body, dict) else None
        if kind == "ack":
            self.acked = max(self.acked, int(body.get("seq", 0)))
            self.msgs = max(1, int(body.get("msgs", self.msgs)))
        elif kind == "err" or (isinstance(body, dict) and "error" in body):
            e = body["error"]
            self._fail(JetStreamError(e.get("code", 500), e.get("err_code", 0), e.get("description", "")))
        elif kind == "gap":
            self._fail(ObjectStoreUnavailable(f"fast ingest lost chunks: {body}"))
        elif isinstance(body, dict) and "batch" in body and not self.final.done():
            self.final.set_result(body)
        self._moved.set()

    def _fail(self, exc: BaseException) -> None:
        if self.error is None:
            self.error = exc
        if not self.final.done():
            self.final.set_exception(exc)
            self.final.exception()  # retrieved here; raised to the put through send/finish

    async def send(self, payload: bytes, headers: dict[str, str] | None) -> None:
        """Publish the next chunk, first waiting while too many are unacknowledged."""
        if self.error is not None:
            raise self.error
        while self.sent - self.acked >= self.msgs * OUTSTANDING_ACKS:
            self._moved.clear()
            try:
                await asyncio.wait_for(self._moved.wait(), self.wire.timeout)
            except TimeoutError as e:
                raise ObjectStoreUnavailable("no fast-ingest flow ack from the server in time") from e
            if self.error is not None:
                raise self.error
        seq = self.sent + 1
        await self.wire.nc.publish(
            self.subject, payload, reply=self._reply(seq, 0 if seq == 1 else 1), headers=headers
        )
        self.sent = seq

    async def finish(self) -> int:
        """End the batch (EOB) and wait for its final PubAck; returns the number of chunks stored."""
        try:
            if self.sent == 0:
                return 0
            if self.error is not None:
                raise self.error
            await self.wire.nc.publish(self.subject, b"", reply=self._reply(self.sent + 1, 3))
            try:
                ack = await asyncio.wait_for(asyncio.shield(self.final), self.wire.timeout)
            except TimeoutError as e:
                raise ObjectStoreUnavailable("no final fast-ingest PubAck from the server in time") from e
            count = int(ack.get("count", -1))
            if count != self.sent:
                raise ObjectStoreUnavailable(f"fast ingest stored {count} of {self.sent} chunks")
            return count
        finally:
            await self.close()

    async def abandon(self) -> None:
        """After a failure: end the batch and wait (briefly) until the server has seen every chunk,
        so a purge of the chunk subject that follows catches them all."""
        try:
            if self.sent:
                await self.wire.nc.publish(self.subject, b"", reply=self._reply(self.sent + 1, 3))
                # No answer in time: the purge that follows is the best that can be done.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ended.wait(), self.wire.timeout)
        finally:
            await self.close()

    async def close(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            with contextlib.suppress(Exception):  # a closed connection: nothing left to unsubscribe
                await sub.unsubscribe()
