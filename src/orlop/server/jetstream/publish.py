"""The publish path: a message on a stream subject becomes a stored message and a PubAck.

This runs once per published message, so it is shaped for speed: each stream
has its own internal subscription whose callback is bound to the stream (the
account's sublist and its match cache do the subject -> stream lookup), a
message without headers skips every header check, the success PubAck is a
precomputed prefix plus the sequence, and nothing is JSON-encoded unless an
error must be reported.

Header semantics follow nats-server's ``processJetStreamMsg``: sealed ->
10109; ``Nats-Expected-Stream`` -> 10060; ``Nats-TTL`` (ADR-43) -> 10166/10165,
and a TTL below ``subject_delete_marker_ttl`` is raised to it; ``Nats-Msg-Id``
duplicates within ``duplicate_window`` -> the original sequence with
``"duplicate": true``; ``Nats-Expected-Last-Sequence`` /
``-Last-Subject-Sequence`` -> 10071, ``-Last-Msg-Id`` -> 10070;
``Nats-Rollup`` -> 10111; size -> 10054; server storage limit already
exceeded or disk below its reserve -> 10023 (:mod:`.resources`), except for a
small ``Nats-Rollup`` message (a delete marker: Orlop lets deletes work on a
full store); store refusals -> 10077 with the store's text. Nothing is
acknowledged unless the store accepted the message.
"""

from __future__ import annotations

import logging
import time

from orlop.errors import JetStreamError, MsgTooLargeError, StoreError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.subject_transform import SubjectTransform
from orlop.jsapi.timefmt import format_ts
from orlop.protocol import headers
from orlop.server.jetstream import counters, schedules
from orlop.server.jetstream.encoding import encode
from orlop.server.jetstream.stream import Dedup, Stream, StreamFeature
from orlop.server.jetstream.ttl import parse_ttl
from orlop.store.base import StoredMsg
from orlop.store.core import file_msg_size, memory_msg_size

__all__ = ["FEATURE", "attach", "detach", "process"]

log = logging.getLogger("orlop.jetstream")

ROLLUP_GRACE = 64 * 1024
"""Largest rollup message admitted over the storage limits (see :func:`process`)."""

ALERT_INTERVAL = 10.0
"""Seconds between two log lines about the same refusal (nats-server's rate for resource errors)."""
_last_alert: dict[str, float] = {}


def _alert(key: str, fmt: str, *args: object) -> None:
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


def _dedup(st: Stream) -> Dedup:
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


def attach(st: Stream) -> None:
    """Subscribe the stream's subjects so publishes reach :func:`process`; compile ``republish``."""
    name = st.name.encode()
    st.puback_prefix = b'{"stream":"' + name + b'","seq":'
    rp = st.config.get("republish")
    st.republisher = SubjectTransform(rp.get("src") or ">", rp["dest"]) if rp else None
    tr = st.config.get("subject_transform")
    st.input_transform = SubjectTransform(tr.get("src") or ">", tr["dest"]) if tr else None
    st.counters = bool(st.config.get("allow_msg_counter"))

    def on_msg(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        process(st, subject, reply, hdr, payload)

    # With the audit trail on, an object store's meta subject gets an audited subscriber;
    # its chunk subject (the bulk of the bytes) keeps the plain one.
    audit = getattr(st.account.server, "audit", None)
    for subj in st.config["subjects"]:
        cb = audit.meta_subscriber(st, subj, process) if audit is not None else None
        st.subs.append(st.account.subscribe_internal(subj, cb or on_msg))


def detach(st: Stream) -> None:
    """Drop the stream's subject subscriptions."""
    for sub in st.subs:
        st.account.unsubscribe_internal(sub)
    st.subs.clear()


def _ack_error(st: Stream, reply: str, exc: JetStreamError) -> None:
    if reply:
        body = {"error": exc.to_dict(), "stream": st.name, "seq": 0}
        st.account.publish(reply, "", b"", encode(body))


def process(
    st: Stream, subject: str, reply: str, hdr: bytes, payload: bytes, *, internal: bool = False
) -> StoredMsg | JetStreamError | None:
    """Store one published message and answer ``reply`` (when set) with a PubAck.

    A ``no_ack`` stream never answers (nats-server's ``NoAck``). Returns the stored
    message, the error the PubAck reported, or None for a duplicate (the audit trail
    reads it). ``internal`` marks a message the server itself publishes (a fired
    schedule): the schedule headers it carries are the server's and are not checked.
    """
    if reply and st.config.get("no_ack"):
        reply = ""
    if st.input_transform is not None:
        subject = st.input_transform.apply(subject) or subject
    prev = 0
    ack_tail = b"}"
    try:
        if st.config["sealed"]:
            raise js_error(Err.STREAM_SEALED)
        ttl_ns = 0
        rollup = ""
        msg_id = ""
        if hdr and b"Nats-" in hdr:
            checked = _check_headers(st, subject, hdr, payload, internal)
            if checked is None:
                _ack_duplicate(st, reply, hdr)
                return None
            hdr, payload, ttl_ns, rollup, msg_id, total = checked
            if total is not None:
                ack_tail = b',"val":"' + total.encode() + b'"}'
            if ttl_ns > 0:
                hdr, ttl_ns = _raise_ttl(st, hdr, ttl_ns)
            if CLIENT_INFO.encode() in hdr:
                hdr = headers.remove(hdr, [CLIENT_INFO])
        elif st.counters:
            raise js_error(Err.MESSAGE_INCR_MISSING)
        if hdr == b"NATS/1.0\r\n\r\n":
            hdr = b""
        limit = st.config["max_msg_size"]
        if 0 <= limit < len(hdr) + len(payload):
            raise js_error(Err.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
        storage = st.config.get("storage", "file")
        size = len(hdr) + len(payload)
        # A small rollup replaces what its subject held (an object's delete marker, a KV purge):
        # it may use the headroom, so a full store can still be emptied by its clients.
        shrinks = bool(rollup) and size <= ROLLUP_GRACE
        if not shrinks and not st.js.service.usage.admit(storage, size):
            _alert(f"{storage} limits", "JetStream %s resource limits exceeded for server", storage)
            raise js_error(Err.INSUFFICIENT_RESOURCES)
        sized = memory_msg_size if storage == "memory" else file_msg_size
        if not shrinks and not st.js.admits(storage, sized(len(subject), len(hdr), len(payload))):
            _alert(
                f"{storage} limits of {st.account.name}",
                "JetStream %s resource limits exceeded for account: %r",
                storage,
                st.account.name,
            )
            raise js_error(Err.ACCOUNT_RESOURCES_EXCEEDED)
        if st.republisher is not None:
            prev = st.store.last_seq_for_subject(subject)
        try:
            msg = st.store.store_msg(subject, hdr, payload, ttl_ns=ttl_ns)
        except MsgTooLargeError as exc:
            raise js_error(Err.STREAM_MESSAGE_EXCEEDS_MAXIMUM) from exc
        except StoreError as exc:
            _alert(st.name, "stream %s: store failed: %s", st.name, exc)
            raise js_error(Err.STREAM_STORE_FAILED, err=str(exc)) from exc
        except OSError as exc:  # any other IO failure: refuse, never acknowledge
            log.error("stream %s: store failed: %s", st.name, exc)
            raise js_error(Err.STREAM_STORE_FAILED, err=str(exc)) from exc
    except JetStreamError as exc:
        _ack_error(st, reply, exc)
        return exc
    if msg_id:
        _dedup(st).add(msg_id, msg.seq, msg.ts)
    st.last_msg_id = msg_id  # nats-server tracks the id of the last stored message, "" when none
    if rollup:
        _rollup(st, rollup, subject, msg.seq)
    if reply:
        st.account.publish(reply, "", b"", st.puback_prefix + str(msg.seq).encode() + ack_tail)
    if st.republisher is not None:
        _republish(st, st.republisher, msg, prev)
    st.stored(msg)
    return msg


def _republish(st: Stream, transform: SubjectTransform, msg: StoredMsg, prev: int) -> None:
    """ADR-28 republish: the stored message, with stream headers, to the mapped subject."""
    dest = transform.apply(msg.subject)
    if dest is None:
        return
    headers_only = bool(st.config["republish"].get("headers_only"))
    lines = (
        f"Nats-Stream: {st.name}\r\nNats-Subject: {msg.subject}\r\nNats-Sequence: {msg.seq}\r\n"
        f"Nats-Time-Stamp: {format_ts(msg.ts)}\r\nNats-Last-Sequence: {prev}\r\n"
    )
    if headers_only:
        lines += f"Nats-Msg-Size: {len(msg.data)}\r\n"
    base = msg.hdr[:-2] if msg.hdr else b"NATS/1.0\r\n"
    st.account.publish(dest, "", base + lines.encode() + b"\r\n", b"" if headers_only else msg.data)


def _ack_duplicate(st: Stream, reply: str, hdr: bytes) -> None:
    if reply:
        seq = st.dedup.ids[headers.get(hdr, MSG_ID) or ""][0] if st.dedup else 0
        body = st.puback_prefix + str(seq).encode() + b',"duplicate": true}'
        st.account.publish(reply, "", b"", body)


def _rollup(st: Stream, rollup: str, subject: str, seq: int) -> None:
    try:
        if rollup == "sub":
            st.store.purge(subject, up_to_seq=seq)
        else:
            st.store.purge("", up_to_seq=seq)
    except StoreError:
        log.exception("stream %s: rollup purge failed", st.name)


Checked = tuple[bytes, bytes, int, str, str, "str | None"]
"""(header, payload, ttl_ns, rollup, msg_id, counter total) of a message that passed its checks."""


def _check_headers(st: Stream, subject: str, hdr: bytes, payload: bytes, internal: bool) -> Checked | None:
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
    ttl_ns = _ttl(st, get(hdr, TTL))
    msg_id = get(hdr, MSG_ID) or ""
    if msg_id:
        dd = _dedup(st)
        dd.prune(st.js.clock() - cfg["duplicate_window"])
        if msg_id in dd.ids:
            return None
    _check_expected(st, subject, hdr)
    if b"Nats-Schedule" in hdr and not internal:
        hdr = schedules.check_publish(st, subject, hdr)
    if b"Nats-Stream-Source" in hdr and get(hdr, STREAM_SOURCE) is not None:
        raise js_error(Err.MESSAGE_STREAM_SOURCE_HEADER)  # only a source may say where it came from
    rollup = (get(hdr, ROLLUP) or "").lower()
    if rollup:
        if not cfg["allow_rollup_hdrs"] or cfg["deny_purge"]:
            raise js_error(Err.STREAM_ROLLUP_FAILED, err="rollup not permitted")
        if rollup not in ("sub", "all"):
            raise js_error(Err.STREAM_ROLLUP_FAILED, err=f'rollup value invalid: "{rollup}"')
    total: str | None = None
    if st.counters:
        if incr is None:
            raise js_error(Err.MESSAGE_INCR_MISSING)
        last = st.store.load_last(subject)
        payload, total = counters.total_after(last.data if last else None, incr)
        hdr = counters.carry_sources(hdr, last.hdr if last else None)
        if len(hdr) + len(payload) > st.js.service.options.max_payload:
            raise js_error(Err.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    return hdr, payload, ttl_ns, rollup, msg_id, total


def _ttl(st: Stream, value: str | None) -> int:
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


def _raise_ttl(st: Stream, hdr: bytes, ttl_ns: int) -> tuple[bytes, int]:
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


def _seq_header(value: str | None) -> int | None:
    """nats-server parses these with a lenient uint parse: garbage reads as 0."""
    if value is None:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        return 0


def _check_expected(st: Stream, subject: str, hdr: bytes) -> None:
    get = headers.get
    seq = _seq_header(get(hdr, EXPECTED_LAST_SEQ))
    if seq is not None:
        last = st.store.fast_state().last_seq
        if seq != last:
            raise js_error(Err.STREAM_WRONG_LAST_SEQUENCE, seq=last)
    seq = _seq_header(get(hdr, EXPECTED_LAST_SUBJ_SEQ))
    if seq is not None:
        subj = get(hdr, EXPECTED_LAST_SUBJ_SEQ_SUBJ) or subject
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


FEATURE = StreamFeature("publish", attach, detach)
