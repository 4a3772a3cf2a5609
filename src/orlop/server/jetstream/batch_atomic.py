"""Atomic batch publish (ADR-50): messages with ``Nats-Batch-Id`` are stored all together or not at all.

Each message carries ``Nats-Batch-Id`` (at most 64 bytes) and ``Nats-Batch-Sequence``
(1, 2, 3, ...); the last carries ``Nats-Batch-Commit: 1`` (store it and commit) or
``eob`` (commit without it). Until the commit the messages are only *staged* on the stream
(in memory; a reply, when asked for, is an empty message). The commit checks every staged
message as nats-server's ``checkMsgHeadersPreClusteredProposal`` does, against the stream
*and* the batch's own earlier messages (:class:`_Diff`), then stores them one after the other
in one synchronous stretch: no other publish, consumer delivery or API request runs in
between, because the event loop does not get control back. The PubAck of the commit is
``{"stream":…,"seq":<last>,"batch":"<id>","count":<n>}``.

All or nothing across a crash: every stored batch message keeps its batch headers and only
the last carries ``Nats-Batch-Commit``. A stream recovered from disk whose newest message is
a batch message without the commit header was cut mid-commit; :func:`recover` removes that
batch's messages, so after any crash a batch is either wholly there (the commit finished) or
wholly absent. nats-server instead finishes the commit from a staging store on disk; both
keep the promise, Orlop's needs no second copy of every batch on disk. A batch that never
reached its commit is lost with the process in both.

Limits and the idle timer come from :mod:`.batching`; a batch abandoned for a reason the
client cannot see (timeout, a gap, too large, an API level it cannot have) is reported by
an advisory on ``$JS.EVENT.ADVISORY.STREAM.BATCH_ABANDONED.<stream>``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from orlop import gojson
from orlop.errors import JetStreamError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.timefmt import format_ts
from orlop.protocol import headers
from orlop.server.jetstream import counters, schedules
from orlop.server.jetstream.advisories import ADVISORY_PREFIX, new_id
from orlop.server.jetstream.encoding import REQUIRED_API_LEVEL, encode, required_level_too_high
from orlop.server.jetstream.publish_checks import (
    CLIENT_INFO,
    EXPECTED_LAST_MSG_ID,
    EXPECTED_STREAM,
    MSG_ID,
    STREAM_SOURCE,
    TTL,
    apply_counter,
    check_expected,
    check_rollup,
    dedup,
    message_ttl,
    raise_ttl,
)
from orlop.server.jetstream.publish_store import admit, finish, record, store, store_all
from orlop.server.jetstream.stream import Stream, StreamFeature
from orlop.store.base import StoredMsg

__all__ = ["BATCH_COMMIT", "BATCH_ID", "BATCH_SEQ", "FEATURE", "process", "recover"]

log = logging.getLogger("orlop.jetstream")

BATCH_ID = "Nats-Batch-Id"
BATCH_SEQ = "Nats-Batch-Sequence"
BATCH_COMMIT = "Nats-Batch-Commit"
MAX_ID_LEN = 64
ABANDONED_TYPE = "io.nats.jetstream.advisory.v1.stream_batch_abandoned"

CRASH_ENV = "ORLOP_FAULT_BATCH_COMMIT_EXIT_AFTER"
"""Fault injection for crash tests: with this set to k, the process exits (as if killed) after
storing and flushing k records of a batch commit. Read once, at import."""
_crash_after = int(os.environ.get(CRASH_ENV, "0") or 0)


_Staged = tuple[str, bytes, bytes, bool]
"""A staged message: subject, header, payload, and whether its header holds nothing but
``Nats-Batch-Id`` and ``Nats-Batch-Sequence`` (the commit's header checks then have
nothing to look at: most messages of most batches)."""

_ID_LINE = b"\r\n" + BATCH_ID.encode() + b":"
_SEQ_LINE = b"\r\n" + BATCH_SEQ.encode() + b":"
_REQUIRED_API_LEVEL = REQUIRED_API_LEVEL.encode()


@dataclass(slots=True)
class AtomicBatch:
    """A batch being staged: its messages (subject, header, payload) and the idle timer.

    ``last`` is the loop time of the batch's latest message; the timer is armed once and,
    when it fires early because messages kept coming, re-armed for the time left.
    """

    id: str
    msgs: list[_Staged] = field(default_factory=list)
    lseq: int = 0
    timer: asyncio.TimerHandle | None = None
    last: float = 0.0


@dataclass(slots=True)
class _Diff:
    """What the batch wrote so far, as its later messages' checks must see it."""

    subjects: dict[str, int] = field(default_factory=dict)  # subject -> messages in the batch
    msg_ids: set[str] = field(default_factory=set)
    totals: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)  # counter subject -> (hdr, body)
    nbytes: int = 0


_Prepared = tuple[str, bytes, bytes, int, str, str]  # subject, hdr, payload, ttl_ns, rollup, msg_id


def process(
    st: Stream, subject: str, reply: str, hdr: bytes, payload: bytes, batch_id: str
) -> StoredMsg | JetStreamError | None:
    """Stage one batch message, or commit the batch. Returns the last stored message on a
    commit, the error reported, or None for a message only staged."""
    try:
        return _process(st, subject, reply, hdr, payload, batch_id)
    except JetStreamError as exc:
        if reply:
            body = {"error": exc.to_dict(), "stream": st.name, "seq": 0}
            st.account.publish(reply, "", b"", encode(body))
        return exc


def _process(
    st: Stream, subject: str, reply: str, hdr: bytes, payload: bytes, batch_id: str
) -> StoredMsg | None:
    cfg = st.config
    if cfg["sealed"]:
        raise js_error(Err.STREAM_SEALED)
    # The size limit per message; storage limits are checked for the whole batch at its commit.
    limit = cfg["max_msg_size"]
    if 0 <= limit < len(hdr) + len(payload):
        raise js_error(Err.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    if not cfg.get("allow_atomic"):
        raise js_error(Err.ATOMIC_PUBLISH_DISABLED)
    if batch_id not in st.atomic_batches and len(batch_id.encode()) > MAX_ID_LEN:  # staged: checked
        raise js_error(Err.ATOMIC_PUBLISH_INVALID_BATCH_ID)
    seq_text = headers.get(hdr, BATCH_SEQ) or ""
    if not seq_text.isdigit() or not seq_text.isascii():
        raise js_error(Err.ATOMIC_PUBLISH_MISSING_SEQ)
    seq = int(seq_text)
    # Version line, the two batch headers, the end: four line ends and nothing else.
    plain = hdr.count(b"\r\n") == 4 and _ID_LINE in hdr and _SEQ_LINE in hdr
    commit = "" if plain else headers.get(hdr, BATCH_COMMIT) or ""
    eob = commit == "eob"
    limits = st.js.service.batches.limits
    batch: AtomicBatch | None = st.atomic_batches.get(batch_id)
    if batch is None:
        if seq != 1:
            if seq - (1 if eob else 0) > limits.max_msgs:
                raise js_error(Err.ATOMIC_PUBLISH_TOO_LARGE_BATCH, size=limits.max_msgs)
            raise js_error(Err.ATOMIC_PUBLISH_INCOMPLETE_BATCH)
        counts = st.js.service.batches
        if len(st.atomic_batches) + 1 > limits.atomic_per_stream or counts.atomic + 1 > limits.atomic_total:
            raise js_error(Err.ATOMIC_PUBLISH_TOO_MANY_INFLIGHT)
        batch = AtomicBatch(batch_id)
        st.atomic_batches[batch_id] = batch
        counts.atomic += 1
    if commit and commit not in ("1", "eob"):
        _drop(st, batch)
        raise js_error(Err.ATOMIC_PUBLISH_INVALID_BATCH_COMMIT)
    if not plain and _REQUIRED_API_LEVEL in hdr:
        if required_level_too_high(hdr, st.js.service.api_level):
            _abandon(st, batch, "unsupported")
            raise js_error(Err.REQUIRED_API_LEVEL)
        hdr = headers.remove(hdr, [REQUIRED_API_LEVEL])
    _restart_timer(st, batch, limits.timeout)
    if seq != batch.lseq + 1 or (seq == 1 and eob):
        _abandon(st, batch, "incomplete")
        raise js_error(Err.ATOMIC_PUBLISH_INCOMPLETE_BATCH)
    if seq - (1 if eob else 0) > limits.max_msgs:
        _abandon(st, batch, "large")
        raise js_error(Err.ATOMIC_PUBLISH_TOO_LARGE_BATCH, size=limits.max_msgs)
    batch.lseq = seq
    if not eob:
        batch.msgs.append((subject, hdr, payload, plain))
    if not commit:
        if reply:
            st.account.publish(reply, "", b"", b"")
        return None
    _drop(st, batch)
    return _commit(st, batch, reply, eob)


def _commit(st: Stream, batch: AtomicBatch, reply: str, eob: bool) -> StoredMsg:
    """Check every staged message, then store them all, in one stretch with no await."""
    prepared = _check_all(st, batch)
    if eob:  # the last stored message is the one that says the batch is complete
        subject, hdr, payload, ttl_ns, rollup, msg_id = prepared[-1]
        hdr = headers.append(hdr or b"NATS/1.0\r\n\r\n", [(BATCH_COMMIT, "1")])
        prepared[-1] = (subject, hdr, payload, ttl_ns, rollup, msg_id)
    admit(
        st,
        sum(len(p[0]) for p in prepared),
        sum(len(p[1]) for p in prepared),
        sum(len(p[2]) for p in prepared),
        "",
    )
    if _crash_after:
        stored = _store_until_crash(st, prepared)
    else:  # all at once: a few writes to the store, and all or nothing there too
        stored = store_all(
            st, [(subject, hdr, payload, ttl_ns) for subject, hdr, payload, ttl_ns, _, _ in prepared]
        )
    for (msg, _), (_, _, _, _, rollup, msg_id) in zip(stored, prepared, strict=True):
        record(st, msg, msg_id, rollup)
    last = stored[-1][0]
    if reply:
        ack = st.puback_prefix + b'%d,"batch":%s,"count":%d}' % (
            last.seq,
            gojson.dumps(batch.id).encode(),
            batch.lseq - (1 if eob else 0),
        )
        st.account.publish(reply, "", b"", ack)
    for msg, prev in stored:
        finish(st, msg, prev)
    return last


def _store_until_crash(st: Stream, prepared: list[_Prepared]) -> list[tuple[StoredMsg, int]]:
    """The fault hook's commit: one message at a time, and the process ends after the
    ``_crash_after``-th, as a crash part way through writing a batch would leave it."""
    stored: list[tuple[StoredMsg, int]] = []
    for n, (subject, hdr, payload, ttl_ns, rollup, _) in enumerate(prepared, start=1):
        stored.append(store(st, subject, hdr, payload, ttl_ns, rollup, admitted=True))
        if n >= _crash_after and n < len(prepared):
            st.store.flush()
            os._exit(137)
    return stored


def _check_all(st: Stream, batch: AtomicBatch) -> list[_Prepared]:
    """nats-server's per-message checks at commit, in its order, each seeing the batch so far."""
    diff = _Diff()
    get = headers.get
    running = st.store.fast_state().last_seq
    out: list[_Prepared] = []
    window = dedup(st)
    window.prune(st.js.clock() - st.config["duplicate_window"])
    # Header keys match in any case (headers.get); one lower-cased copy per message tells
    # which of them are there at all, so a batch of plain messages costs a few scans each.
    # A plain message (only the batch headers) has none of the keys looked for: b"".
    lows = [b"" if plain else hdr.lower() for _, hdr, _, plain in batch.msgs]
    for low, (_, hdr, _, _) in zip(lows, batch.msgs, strict=True):
        if b"nats-expected-last-msg-id" in low and get(hdr, EXPECTED_LAST_MSG_ID) is not None:
            raise js_error(Err.ATOMIC_PUBLISH_UNSUPPORTED_HEADER_BATCH, header=EXPECTED_LAST_MSG_ID)
    discard_new = st.config["discard"] == "new"
    for i, (low, (subject, hdr, payload, plain)) in enumerate(zip(lows, batch.msgs, strict=True), start=1):
        if plain and not st.counters:  # no header check applies
            size = len(hdr) + len(payload)
            if discard_new:
                _check_discard_new(st, subject, size, "", diff)
            diff.subjects[subject] = diff.subjects.get(subject, 0) + 1
            diff.nbytes += size
            running += 1
            out.append((subject, hdr, payload, 0, "", ""))
            continue
        ttl_ns = 0
        rollup = ""
        msg_id = ""
        if hdr:
            if len(hdr) > 65535:
                raise js_error(Err.STREAM_HEADER_EXCEEDS_MAXIMUM)
            incr = counters.check_increment(hdr, payload, st.counters) if b"nats-incr" in low else None
            expected = get(hdr, EXPECTED_STREAM) if b"nats-expected-stream" in low else None
            if expected and expected != st.name:
                raise js_error(Err.STREAM_NOT_MATCH)
            ttl_ns = message_ttl(st, get(hdr, TTL)) if b"nats-ttl" in low else 0
            msg_id = (get(hdr, MSG_ID) or "") if b"nats-msg-id" in low else ""
            if msg_id:
                if msg_id in diff.msg_ids or msg_id in window.ids:
                    raise js_error(Err.ATOMIC_PUBLISH_CONTAINS_DUPLICATE_MESSAGE)
                diff.msg_ids.add(msg_id)
            if b"nats-stream-source" in low and get(hdr, STREAM_SOURCE) is not None:
                raise js_error(Err.MESSAGE_STREAM_SOURCE_HEADER)
            if st.counters:
                hdr, payload, _ = apply_counter(st, subject, hdr, incr, diff.totals)
                diff.totals[subject] = (hdr, payload)
            if b"nats-expected-last-" in low:
                check_expected(st, subject, hdr, running=running, first=i == 1, written=diff.subjects)
            if b"nats-schedule" in low:
                hdr = schedules.check_publish(st, subject, hdr)
            rollup = check_rollup(st, hdr) if b"nats-rollup" in low else ""
            if rollup == "sub" and subject in diff.subjects:
                raise js_error(Err.STREAM_ROLLUP_FAILED, err="batch rollup sub invalid")
            if rollup == "all" and i > 1:
                raise js_error(Err.STREAM_ROLLUP_FAILED, err="batch rollup all invalid")
            if ttl_ns > 0:
                hdr, ttl_ns = raise_ttl(st, hdr, ttl_ns)
            if b"nats-client-info" in low:
                hdr = headers.remove(hdr, [CLIENT_INFO])
        elif st.counters:
            raise js_error(Err.MESSAGE_INCR_MISSING)
        if hdr == b"NATS/1.0\r\n\r\n":
            hdr = b""
        _check_discard_new(st, subject, len(hdr) + len(payload), rollup, diff)
        diff.subjects[subject] = diff.subjects.get(subject, 0) + 1
        diff.nbytes += len(hdr) + len(payload)
        running += 1
        out.append((subject, hdr, payload, ttl_ns, rollup, msg_id))
    return out


def _check_discard_new(st: Stream, subject: str, size: int, rollup: str, diff: _Diff) -> None:
    """``discard: new`` limits, counting what the batch already holds (10077 as the store says it)."""
    cfg = st.config
    if cfg["discard"] != "new":
        return
    state = st.store.fast_state()
    staged = sum(diff.subjects.values())
    if cfg["max_msgs"] > 0 and state.msgs + staged + 1 > cfg["max_msgs"]:
        raise js_error(Err.STREAM_STORE_FAILED, err="maximum messages exceeded")
    if cfg["max_bytes"] > 0 and state.bytes + diff.nbytes + size > cfg["max_bytes"]:
        raise js_error(Err.STREAM_STORE_FAILED, err="maximum bytes exceeded")
    per_subject = cfg["max_msgs_per_subject"]
    if per_subject > 0 and not rollup and cfg.get("discard_new_per_subject"):
        have = st.store.num_pending(0, subject) + diff.subjects.get(subject, 0)
        if have + 1 > per_subject:
            raise js_error(Err.STREAM_STORE_FAILED, err="maximum messages per subject exceeded")


# --- the batch's life: timer, drop, abandon ------------------------------------------------


def _restart_timer(st: Stream, batch: AtomicBatch, timeout: float) -> None:
    # Per staged message only the clock is read: the one timer re-arms itself from
    # ``batch.last`` when it fires (asyncio.get_running_loop costs a getpid() syscall on
    # Python 3.11, once per message was several percent of the server's batch time).
    batch.last = time.monotonic()
    if batch.timer is not None:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    batch.timer = loop.call_later(timeout, _timed_out, st, batch, timeout)


def _timed_out(st: Stream, batch: AtomicBatch, timeout: float) -> None:
    batch.timer = None
    if st.atomic_batches.get(batch.id) is not batch:
        return
    left = batch.last + timeout - time.monotonic()
    if left > 0:
        batch.timer = asyncio.get_running_loop().call_later(left, _timed_out, st, batch, timeout)
        return
    _abandon(st, batch, "timeout")


def _drop(st: Stream, batch: AtomicBatch) -> None:
    """Forget a batch (committed, refused or abandoned) and free its in-flight slot."""
    if batch.timer is not None:
        batch.timer.cancel()
        batch.timer = None
    if st.atomic_batches.get(batch.id) is batch:
        del st.atomic_batches[batch.id]
        st.js.service.batches.atomic -= 1


def _abandon(st: Stream, batch: AtomicBatch, reason: str) -> None:
    _drop(st, batch)
    subject = f"{ADVISORY_PREFIX}STREAM.BATCH_ABANDONED.{st.name}"
    if st.account.has_interest(subject):
        body: dict[str, Any] = {
            "type": ABANDONED_TYPE,
            "id": new_id(),
            "timestamp": format_ts(st.js.clock()),
            "stream": st.name,
            "batch": batch.id,
            "reason": reason,
        }
        st.account.publish(subject, "", b"", gojson.dumps(body).encode())


def drop_all(st: Stream) -> None:
    """Forget every batch being staged (the stream closes, or its config turned batches off)."""
    for batch in list(st.atomic_batches.values()):
        _drop(st, batch)


# --- recovery --------------------------------------------------------------------------------


def recover(st: Stream) -> None:
    """Remove a batch whose commit a crash cut short (see the module text)."""
    if not st.config.get("allow_atomic"):
        return
    last_seq = st.store.fast_state().last_seq
    last = st.store.load(last_seq) if last_seq else None
    if last is None or not last.hdr or BATCH_ID.encode() not in last.hdr:
        return
    batch_id = headers.get(last.hdr, BATCH_ID)
    if not batch_id or headers.get(last.hdr, BATCH_COMMIT) is not None:
        return
    removed = 0
    seq = last_seq
    while seq > 0:
        m = st.store.load(seq)
        if m is None or not m.hdr or headers.get(m.hdr, BATCH_ID) != batch_id:
            break
        if headers.get(m.hdr, BATCH_COMMIT) is not None:
            break
        st.store.remove(seq)
        removed += 1
        if headers.get(m.hdr, BATCH_SEQ) == "1":
            break
        seq -= 1
    log.warning(
        "stream %s: removed %d message(s) of batch %r whose commit did not finish before the server stopped",
        st.name,
        removed,
        batch_id,
    )


def _attach(st: Stream) -> None:
    return None


def _detach(st: Stream) -> None:
    drop_all(st)


def _reconfigure(st: Stream, old: dict[str, Any]) -> None:
    if not st.config.get("allow_atomic"):
        drop_all(st)


FEATURE: StreamFeature = StreamFeature(
    "batch_atomic", _attach, _detach, recover=recover, reconfigure=_reconfigure
)
