"""The publish headers' checks, shared by plain publishes and both kinds of batch.

nats-server's order (``processJetStreamMsg`` and ``checkMsgHeadersPreClusteredProposal``):
``Nats-Incr`` (counters) -> ``Nats-Expected-Stream`` -> ``Nats-TTL`` -> ``Nats-Msg-Id``
dedup -> ``Nats-Expected-Last-*`` -> schedules -> ``Nats-Stream-Source`` -> ``Nats-Rollup``
-> the counter's new total. :func:`check_headers` is the plain publish's; the atomic batch
commit runs the same pieces against the batch's own earlier messages
(:mod:`.batch_atomic`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Container

from orlop.jsapi.errors import Err, js_error
from orlop.protocol import headers
from orlop.server.jetstream import counters, schedules
from orlop.server.jetstream.stream import Dedup, Stream
from orlop.server.jetstream.ttl import parse_ttl

__all__ = [
    "CLIENT_INFO",
    "EXPECTED_LAST_MSG_ID",
    "EXPECTED_LAST_SEQ",
    "EXPECTED_LAST_SUBJ_SEQ",
    "EXPECTED_LAST_SUBJ_SEQ_SUBJ",
    "EXPECTED_STREAM",
    "MSG_ID",
    "ROLLUP",
    "STREAM_SOURCE",
    "TTL",
    "Checked",
    "alert",
    "apply_counter",
    "check_expected",
    "check_headers",
    "check_message",
    "check_rollup",
    "dedup",
    "message_ttl",
    "raise_ttl",
    "seq_header",
]

log = logging.getLogger("orlop.jetstream")

ALERT_INTERVAL = 10.0
"""Seconds between two log lines about the same refusal (nats-server's rate for resource errors)."""
_last_alert: dict[str, float] = {}


def alert(key: str, fmt: str, *args: object) -> None:
    """Log a refusal at error level, at most once per ``ALERT_INTERVAL`` for each key."""
    now = time.monotonic()
    last = _last_alert.get(key)
    if last is None or now - last >= ALERT_INTERVAL:
        _last_alert[key] = now
        log.error(fmt, *args)


MSG_ID = "Nats-Msg-Id"
EXPECTED_STREAM = "Nats-Expected-Stream"
EXPECTED_LAST_SEQ = "Nats-Expected-Last-Sequence"
EXPECTED_LAST_SUBJ_SEQ = "Nats-Expected-Last-Subject-Sequence"
EXPECTED_LAST_SUBJ_SEQ_SUBJ = "Nats-Expected-Last-Subject-Sequence-Subject"
EXPECTED_LAST_MSG_ID = "Nats-Expected-Last-Msg-Id"
ROLLUP = "Nats-Rollup"
TTL = "Nats-TTL"
CLIENT_INFO = "Nats-Client-Info"
STREAM_SOURCE = "Nats-Stream-Source"


REBUILD_MAX_BYTES = 512 * 1024 * 1024
"""Reading back the duplicate window after a restart stops after this much data."""


def dedup(st: Stream) -> Dedup:
    """The stream's dedup table, rebuilt from the newest stored messages on first use.

    The rebuild walks back from the last message through the duplicate window, but
    never reads more than :data:`REBUILD_MAX_BYTES` (a fast stream's two-minute window
    can hold gigabytes of chunks that carry no msg-id).
    """
    if st.dedup is None:
        d = Dedup()
        state = st.store.fast_state()
        cutoff = st.js.clock() - st.config["duplicate_window"]
        found: list[tuple[str, int, int]] = []
        seq, read = state.last_seq, 0
        while seq >= state.first_seq and seq > 0 and read < REBUILD_MAX_BYTES:
            m = st.store.load(seq)
            seq -= 1
            if m is None:
                continue
            if m.ts < cutoff:
                break
            read += len(m.data) + len(m.hdr)
            mid = headers.get(m.hdr, MSG_ID) if m.hdr else None
            if mid:
                found.append((mid, m.seq, m.ts))
        if read >= REBUILD_MAX_BYTES:
            log.warning("stream %s: duplicate window rebuilt from its newest %d bytes only", st.name, read)
        for mid, s, ts in reversed(found):
            d.add(mid, s, ts)
        st.dedup = d
    dd: Dedup = st.dedup
    return dd


Checked = tuple[bytes, bytes, int, str, str, "str | None"]
"""(header, payload, ttl_ns, rollup, msg_id, counter total) of a message that passed its checks."""


def check_message(st: Stream, subject: str, hdr: bytes, payload: bytes, internal: bool) -> Checked | None:
    """:func:`check_headers` and what every publish path does after it: a TTL raised to the
    delete-marker floor, ``Nats-Client-Info`` dropped, an empty header block dropped; a counter
    stream refuses a message without headers (10169). None for a duplicate."""
    ttl_ns, rollup, msg_id, total = 0, "", "", None
    if hdr and b"Nats-" in hdr:
        checked = check_headers(st, subject, hdr, payload, internal)
        if checked is None:
            return None
        hdr, payload, ttl_ns, rollup, msg_id, total = checked
        if ttl_ns > 0:
            hdr, ttl_ns = raise_ttl(st, hdr, ttl_ns)
        if CLIENT_INFO.encode() in hdr:
            hdr = headers.remove(hdr, [CLIENT_INFO])
    elif st.counters:
        raise js_error(Err.MESSAGE_INCR_MISSING)
    if hdr == b"NATS/1.0\r\n\r\n":
        hdr = b""
    return hdr, payload, ttl_ns, rollup, msg_id, total


def check_headers(st: Stream, subject: str, hdr: bytes, payload: bytes, internal: bool) -> Checked | None:
    """Apply the Nats-* publish headers. Returns what to store, or None for a duplicate.

    The header and payload may change: a counter's body becomes its new total, a schedule
    gets its ``Nats-Rollup: sub``. Raises JetStreamError for a refused message.
    """
    cfg = st.config
    get = headers.get
    incr = counters.check_increment(hdr, payload, st.counters) if b"Nats-Incr" in hdr else None
    expected = get(hdr, EXPECTED_STREAM)
    if expected and expected != st.name:
        raise js_error(Err.STREAM_NOT_MATCH)
    ttl_ns = message_ttl(st, get(hdr, TTL))
    msg_id = get(hdr, MSG_ID) or ""
    if msg_id:
        dd = dedup(st)
        dd.prune(st.js.clock() - cfg["duplicate_window"])
        if msg_id in dd.ids:
            return None
    check_expected(st, subject, hdr)
    if b"Nats-Schedule" in hdr and not internal:
        hdr = schedules.check_publish(st, subject, hdr)
    if b"Nats-Stream-Source" in hdr and get(hdr, STREAM_SOURCE) is not None:
        raise js_error(Err.MESSAGE_STREAM_SOURCE_HEADER)  # only a source may say where it came from
    rollup = check_rollup(st, hdr)
    total: str | None = None
    if st.counters:
        hdr, payload, total = apply_counter(st, subject, hdr, incr, None)
    return hdr, payload, ttl_ns, rollup, msg_id, total


def apply_counter(
    st: Stream, subject: str, hdr: bytes, incr: int | None, staged: dict[str, tuple[bytes, bytes]] | None
) -> tuple[bytes, bytes, str]:
    """A counter message's (header, body, total): the subject's last total plus ``incr``.

    ``staged`` holds the (header, body) an atomic batch already wrote per subject, which
    counts as the subject's last message. 10169 without an increment, 10054 when the new
    message outgrows the server's max_payload.
    """
    if incr is None:
        raise js_error(Err.MESSAGE_INCR_MISSING)
    if staged is not None and subject in staged:
        last_hdr, last_body = staged[subject]
        payload, total = counters.total_after(last_body, incr)
        hdr = counters.carry_sources(hdr, last_hdr)
    else:
        last = st.store.load_last(subject)
        payload, total = counters.total_after(last.data if last else None, incr)
        hdr = counters.carry_sources(hdr, last.hdr if last else None)
    if len(hdr) + len(payload) > st.js.service.options.max_payload:
        raise js_error(Err.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    return hdr, payload, total


def check_rollup(st: Stream, hdr: bytes) -> str:
    """The ``Nats-Rollup`` value (lower case, "" for none); 10111 when the stream refuses it."""
    rollup = (headers.get(hdr, ROLLUP) or "").lower()
    if rollup:
        cfg = st.config
        if not cfg["allow_rollup_hdrs"] or cfg["deny_purge"]:
            raise js_error(Err.STREAM_ROLLUP_FAILED, err="rollup not permitted")
        if rollup not in ("sub", "all"):
            raise js_error(Err.STREAM_ROLLUP_FAILED, err=f'rollup value invalid: "{rollup}"')
    return rollup


def message_ttl(st: Stream, value: str | None) -> int:
    if value is None:
        return 0
    try:
        ttl = parse_ttl(value)
    except ValueError:
        ttl = None
    if ttl == 0:
        return 0
    if not st.config["allow_msg_ttl"]:
        raise js_error(Err.MESSAGE_TTL_DISABLED)
    if ttl is None:
        raise js_error(Err.MESSAGE_TTL_INVALID)
    return ttl


def raise_ttl(st: Stream, hdr: bytes, ttl_ns: int) -> tuple[bytes, int]:
    """A TTL shorter than ``subject_delete_marker_ttl`` is raised to it, in whole seconds.

    As nats-server does (except on ``max_msgs_per_subject: 1`` streams): the header is
    replaced by ``Nats-TTL: <seconds>`` at the end of the block. Returns (header, ttl ns).
    """
    cfg = st.config
    floor_s = cfg.get("subject_delete_marker_ttl", 0) // 1_000_000_000
    if floor_s <= 0 or ttl_ns // 1_000_000_000 >= floor_s or cfg.get("max_msgs_per_subject") == 1:
        return hdr, ttl_ns
    hdr = headers.append(headers.remove(hdr, [TTL]), [(TTL, str(floor_s))])
    return hdr, floor_s * 1_000_000_000


def seq_header(value: str | None) -> int | None:
    """nats-server parses these with a lenient uint parse: garbage reads as 0."""
    if value is None:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return 0


def check_expected(
    st: Stream,
    subject: str,
    hdr: bytes,
    *,
    running: int | None = None,
    first: bool = True,
    written: Container[str] = (),
) -> None:
    """The ``Nats-Expected-Last-*`` headers (10071, 10193, 10070).

    Inside an atomic batch (``running`` = the stream's last seq as the batch has it so far):
    only the ``first`` message may name the last sequence (else 10164 even when it matches),
    and a subject the batch already ``written`` has no stored "last" to expect (10164).
    """
    get = headers.get
    seq = seq_header(get(hdr, EXPECTED_LAST_SEQ))
    if seq is not None:
        last = st.store.fast_state().last_seq if running is None else running
        if seq != last:
            raise js_error(Err.STREAM_WRONG_LAST_SEQUENCE, seq=last)
        if not first:
            raise js_error(Err.STREAM_WRONG_LAST_SEQUENCE_CONSTANT)
    seq = seq_header(get(hdr, EXPECTED_LAST_SUBJ_SEQ))
    if seq is not None:
        subj = get(hdr, EXPECTED_LAST_SUBJ_SEQ_SUBJ) or subject
        if subj in written:
            raise js_error(Err.STREAM_WRONG_LAST_SEQUENCE_CONSTANT)
        if subj == subject:
            actual = st.store.last_seq_for_subject(subj)
        else:
            last_msg = st.store.load_last(subj)
            actual = last_msg.seq if last_msg else 0
        if seq != actual:
            raise js_error(Err.STREAM_WRONG_LAST_SEQUENCE, seq=actual)
    elif get(hdr, EXPECTED_LAST_SUBJ_SEQ_SUBJ):
        raise js_error(Err.STREAM_EXPECTED_LAST_SEQ_PER_SUBJECT_INVALID)
    last_id = get(hdr, EXPECTED_LAST_MSG_ID)
    if last_id and last_id != st.last_msg_id:
        raise js_error(Err.STREAM_WRONG_LAST_MSG_ID, id=st.last_msg_id)
