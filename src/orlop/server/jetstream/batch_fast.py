"""Fast ingest (ADR-50, nats-server 2.14): a publisher streams messages and the server paces it.

Every message is stored as it arrives, exactly as a plain publish would be (no staging, no
atomicity), but instead of a PubAck per message the server sends a flow-control ``ack``
every ``msgs`` messages and one final PubAck when the batch ends. The control state travels
in the reply subject, parsed from the right::

    <prefix>.<batch id>.<initial flow>.<gap mode>.<batch seq>.<op>.$FI

ops: 0 start, 1 append, 2 commit (store this message, then end), 3 end without storing
this message (EOB), 4 ping (the publisher asks where the server is). Every server message
goes to the reply subject of the message that caused it::

    {"type":"ack","seq":N,"msgs":M}       every message up to N is stored; next ack after M more
    {"type":"gap","last_seq":E,"seq":R}    expected E, got R
    {"type":"err","seq":S,"error":{…}}     message S was refused
    {"stream":…,"seq":…,"batch":…,"count":…}   the final PubAck

``gap`` mode ``fail`` (what object stores use) ends the batch at the first gap; ``ok``
carries on. The pacing is nats-server 2.14/2.15's: 500 messages shared by the stream's fast
batches, a second batch starts at 1 and doubles per ack, never above the client's initial
flow. Batches live in memory only: after a restart a batch id is unknown (10208).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from orlop import gojson
from orlop.errors import JetStreamError
from orlop.jsapi.errors import Err, js_error
from orlop.protocol import headers
from orlop.server.jetstream.encoding import REQUIRED_API_LEVEL, encode, required_level_too_high
from orlop.server.jetstream.publish_checks import check_message
from orlop.server.jetstream.publish_store import admit, finish, record, store
from orlop.server.jetstream.stream import Stream, StreamFeature
from orlop.store.base import StoredMsg

__all__ = ["FEATURE", "FastBatch", "FastReply", "parse_reply", "process"]

SUFFIX = ".$FI"
MAX_ID_LEN = 64
FLOW_SHARE = 500  # messages between acks, shared by the stream's fast batches
DEFAULT_FLOW = 10
MAX_FLOW = 65535
START, APPEND, COMMIT, EOB, PING = range(5)
_U64_MAX = 2**64 - 1


@dataclass(frozen=True, slots=True)
class FastReply:
    """The control fields of a fast-ingest reply subject."""

    batch_id: str
    flow: int
    gap_ok: bool
    seq: int
    op: int


def parse_reply(reply: str) -> FastReply | None:
    """The reply's control fields, or None when the pattern is invalid (10206).

    ``reply`` ends in ``.$FI``. A missing ``<prefix>`` is invalid; the flow is never invalid
    (not a positive number: 10; capped at 65535).
    """
    parts = reply.rsplit(".", 6)
    if len(parts) != 7 or not parts[0] or not parts[1]:
        return None
    _, batch_id, flow_t, gap_t, seq_t, op_t, _ = parts
    if not (op_t.isascii() and op_t.isdigit()) or int(op_t) > PING:
        return None
    op = int(op_t)
    if not (seq_t.isascii() and seq_t.isdigit()):
        return None
    seq = int(seq_t)
    if seq < 1 or seq >= _U64_MAX:
        return None
    if (op == START and seq != 1) or (op == APPEND and seq <= 1) or (op == EOB and seq == 1):
        return None
    if gap_t not in ("ok", "fail"):
        return None
    try:
        flow = int(flow_t) if flow_t.lstrip("+-").isdigit() and flow_t.isascii() else 0
    except ValueError:
        flow = 0
    if flow <= 0:
        flow = DEFAULT_FLOW
    return FastReply(batch_id, min(flow, MAX_FLOW), gap_t == "ok", seq, op)


@dataclass(slots=True)
class FastBatch:
    """One publisher's batch: ``lseq`` highest accepted, ``fseq`` last acked, ``am`` messages per
    ack, ``max`` the client's flow, ``sseq`` the stream seq of the last stored message."""

    id: str
    gap_ok: bool
    max: int
    am: int
    lseq: int = 0
    fseq: int = 0
    sseq: int = 0
    timer: asyncio.TimerHandle | None = None
    last: float = 0.0  # time.monotonic() of the last message (the idle timer re-arms from it)


def _flow_ack(seq: int, msgs: int) -> bytes:
    return b'{"type":"ack","seq":%d,"msgs":%d}' % (seq, msgs)


def _gap(last_seq: int, seq: int) -> bytes:
    return b'{"type":"gap","last_seq":%d,"seq":%d}' % (last_seq, seq)


def _err(seq: int, exc: JetStreamError) -> bytes:
    return b'{"type":"err","seq":%d,"error":%s}' % (seq, encode(exc.to_dict()))


class _Out:
    """Where this message's answers go.

    A ``no_ack`` stream (nats-server 2.15.1, verified) sends neither the start ack nor the
    errors found before the batch is looked up, but does send flow acks, gaps, errors of
    a message's checks and the final PubAck: a fast-ingest publisher cannot work without them.
    """

    __slots__ = ("quiet", "reply", "st")

    def __init__(self, st: Stream, reply: str) -> None:
        self.st = st
        self.reply = reply
        self.quiet = bool(st.config.get("no_ack"))

    def send(self, body: bytes) -> None:
        self.st.account.publish(self.reply, "", b"", body)

    def error(self, exc: JetStreamError, *, early: bool = False) -> JetStreamError:
        if not (early and self.quiet):
            self.send(encode({"error": exc.to_dict(), "stream": self.st.name, "seq": 0}))
        return exc

    def final(self, batch: FastBatch, seq: int, count: int, duplicate: bool = False) -> None:
        dup = b',"duplicate": true' if duplicate else b""
        bid = gojson.dumps(batch.id).encode()
        self.send(self.st.puback_prefix + b'%d%s,"batch":%s,"count":%d}' % (seq, dup, bid, count))


def process(
    st: Stream, subject: str, reply: str, hdr: bytes, payload: bytes
) -> StoredMsg | JetStreamError | None:
    """One fast-ingest message. Returns the stored message, the error reported, or None."""
    out = _Out(st, reply)
    try:
        if st.config["sealed"]:
            raise js_error(Err.STREAM_SEALED)
        admit(st, len(subject), len(hdr), len(payload), "")
        if not st.config.get("allow_batched"):
            raise js_error(Err.BATCH_PUBLISH_DISABLED)
        ctl = parse_reply(reply)
        if ctl is None:
            raise js_error(Err.BATCH_PUBLISH_INVALID_PATTERN)
        if len(ctl.batch_id.encode()) > MAX_ID_LEN:
            raise js_error(Err.BATCH_PUBLISH_INVALID_BATCH_ID)
        batch: FastBatch | None = st.fast_batches.get(ctl.batch_id)
        if batch is None:
            if ctl.seq != 1:
                raise js_error(Err.BATCH_PUBLISH_UNKNOWN_BATCH_ID)
            batch = _start(st, ctl)
            if ctl.op == START and not out.quiet:
                out.send(_flow_ack(0, batch.am))
        if REQUIRED_API_LEVEL.encode() in hdr:
            if required_level_too_high(hdr, st.js.service.api_level):
                _drop(st, batch)
                raise js_error(Err.REQUIRED_API_LEVEL)
            hdr = headers.remove(hdr, [REQUIRED_API_LEVEL])
    except JetStreamError as exc:
        return out.error(exc, early=True)
    _restart_timer(st, batch)
    if ctl.op == PING:
        _ping(st, batch, ctl.seq, out)
        return None
    expected = batch.lseq + 1
    if ctl.seq != expected:
        out.send(_gap(expected, ctl.seq))
        if ctl.seq < expected or not batch.gap_ok:
            _end(st, batch, out, batch.sseq, batch.lseq)
            return None
    if ctl.op == EOB:
        batch.lseq = ctl.seq - 1
        _end(st, batch, out, batch.sseq, ctl.seq - 1)
        return None
    return _store(st, batch, ctl, subject, hdr, payload, out)


def _store(
    st: Stream, batch: FastBatch, ctl: FastReply, subject: str, hdr: bytes, payload: bytes, out: _Out
) -> StoredMsg | JetStreamError | None:
    """Check and store one message like a plain publish; then pace or end the batch."""
    commit = ctl.op == COMMIT
    try:
        checked = check_message(st, subject, hdr, payload, False)
        if checked is None:  # a Nats-Msg-Id already stored: skipped, counted as handled
            batch.lseq = ctl.seq
            if commit:
                if ctl.seq == 1 and not batch.gap_ok:
                    mid = headers.get(hdr, "Nats-Msg-Id") or ""
                    original = st.dedup.ids[mid][0] if st.dedup and mid in st.dedup.ids else 0
                    _drop(st, batch)
                    out.final(batch, original, 1, duplicate=True)
                else:
                    _end(st, batch, out, batch.sseq, ctl.seq)
            else:
                _pace(st, batch, out)
            return None
        hdr, payload, ttl_ns, rollup, msg_id, _ = checked
        # process() admitted it against the limits first (nats-server's order): not twice.
        msg, prev = store(st, subject, hdr, payload, ttl_ns, rollup, admitted=True)
    except JetStreamError as exc:
        return _refused(st, batch, ctl, out, exc)
    record(st, msg, msg_id, rollup)
    batch.lseq = ctl.seq
    batch.sseq = msg.seq
    if commit:
        _end(st, batch, out, msg.seq, ctl.seq)
    else:
        _pace(st, batch, out)
    finish(st, msg, prev)
    return msg


def _refused(st: Stream, batch: FastBatch, ctl: FastReply, out: _Out, exc: JetStreamError) -> JetStreamError:
    """A message failed its checks: the first message of a ``fail`` batch gets a plain error and
    ends it; otherwise an ``err``, after which ``ok`` carries on (unless it was the commit)."""
    if ctl.seq == 1 and not batch.gap_ok:
        _drop(st, batch)
        return out.error(exc)
    out.send(_err(ctl.seq, exc))
    if batch.gap_ok and ctl.op != COMMIT:
        batch.lseq = ctl.seq
        _pace(st, batch, out)
    else:
        batch.lseq = ctl.seq - 1
        _end(st, batch, out, batch.sseq, ctl.seq - 1)
    return exc


def _ping(st: Stream, batch: FastBatch, seq: int, out: _Out) -> None:
    """The publisher's highest seq: resend the last ack, or report what never arrived."""
    if seq <= batch.lseq:
        out.send(_flow_ack(batch.fseq, batch.am))
        return
    out.send(_gap(batch.lseq + 1, seq + 1))
    if not batch.gap_ok:
        _end(st, batch, out, batch.sseq, batch.lseq)
        return
    batch.lseq = seq
    if not _pace(st, batch, out):
        out.send(_flow_ack(batch.fseq, batch.am))


def _pace(st: Stream, batch: FastBatch, out: _Out) -> bool:
    """Send a flow ack when ``am`` more messages are stored, re-sizing ``am`` toward the stream's
    share (doubling up, halving down). Returns whether an ack went out."""
    pseq = batch.lseq
    if pseq < batch.fseq + batch.am:
        return False
    batch.fseq += ((pseq - batch.fseq) // batch.am) * batch.am
    target = min(max(1, FLOW_SHARE // max(1, len(st.fast_batches))), batch.max)
    if batch.am < target:
        batch.am = min(batch.am * 2, target)
    elif batch.am > target:
        batch.am = max(batch.am // 2, target)
    out.send(_flow_ack(batch.fseq, batch.am))
    return True


def _end(st: Stream, batch: FastBatch, out: _Out, seq: int, count: int) -> None:
    _drop(st, batch)
    out.final(batch, seq, count)


def _start(st: Stream, ctl: FastReply) -> FastBatch:
    limits = st.js.service.batches.limits
    counts = st.js.service.batches
    if len(st.fast_batches) + 1 > limits.fast_per_stream or counts.fast + 1 > limits.fast_total:
        raise js_error(Err.BATCH_PUBLISH_TOO_MANY_INFLIGHT)
    am = min(FLOW_SHARE, ctl.flow) if not st.fast_batches else 1
    batch = FastBatch(ctl.batch_id, ctl.gap_ok, ctl.flow, am)
    st.fast_batches[ctl.batch_id] = batch
    counts.fast += 1
    return batch


def _restart_timer(st: Stream, batch: FastBatch) -> None:
    # Per message only the clock is read; the one timer re-arms itself from ``batch.last``
    # (a cancel and a new call_later per message cost more than the message's own work).
    batch.last = time.monotonic()
    if batch.timer is not None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    batch.timer = loop.call_later(st.js.service.batches.limits.timeout, _timed_out, st, batch)


def _timed_out(st: Stream, batch: FastBatch) -> None:
    """An idle batch goes silently (no message, no advisory: nats-server's behaviour)."""
    batch.timer = None
    left = batch.last + st.js.service.batches.limits.timeout - time.monotonic()
    if left > 0:
        batch.timer = asyncio.get_running_loop().call_later(left, _timed_out, st, batch)
        return
    _drop(st, batch)


def _drop(st: Stream, batch: FastBatch) -> None:
    if batch.timer is not None:
        batch.timer.cancel()
        batch.timer = None
    if st.fast_batches.get(batch.id) is batch:
        del st.fast_batches[batch.id]
        st.js.service.batches.fast -= 1


def drop_all(st: Stream) -> None:
    for batch in list(st.fast_batches.values()):
        _drop(st, batch)


def _attach(st: Stream) -> None:
    return None


def _reconfigure(st: Stream, old: dict[str, object]) -> None:
    if not st.config.get("allow_batched"):
        drop_all(st)


FEATURE: StreamFeature = StreamFeature("batch_fast", _attach, drop_all, reconfigure=_reconfigure)
