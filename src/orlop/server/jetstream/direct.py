"""Direct get (ADR-31): raw stored messages answered straight from the store.

A stream with ``allow_direct`` subscribes ``$JS.API.DIRECT.GET.<stream>`` (JSON
request) and ``$JS.API.DIRECT.GET.<stream>.<subject...>`` (empty body, last
message on that subject), as nats-server does, so a direct get for a stream
that does not exist or does not allow it gets "no responders". Replies are the
stored payload with the stored headers plus ``Nats-Stream``, ``Nats-Subject``,
``Nats-Sequence`` and ``Nats-Time-Stamp``; failures are inline status
messages (``404 Message Not Found``, ``408 Bad Request`` ...).

Batched requests (``batch``, ``multi_last``) answer with one message per hit,
each carrying ``Nats-Num-Pending`` and ``Nats-Last-Sequence`` (the previous
hit's sequence), and end with ``204 EOB`` repeating both (plus
``Nats-UpTo-Sequence`` for ``multi_last``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orlop.jsapi.timefmt import format_ts, parse_ts
from orlop.server.jetstream.encoding import go_json_text, required_level_too_high
from orlop.server.jetstream.stream import Stream, StreamFeature
from orlop.store.base import StoredMsg
from orlop.subjects import is_valid_subject

__all__ = ["FEATURE", "DirectRequest", "attach", "detach", "handle"]

PREFIX = "$JS.API.DIRECT.GET."
NOT_FOUND = b"NATS/1.0 404 Message Not Found\r\n\r\n"
NO_RESULTS = b"NATS/1.0 404 No Results\r\n\r\n"
EMPTY_REQUEST = b"NATS/1.0 408 Empty Request\r\n\r\n"
MALFORMED = b"NATS/1.0 408 Malformed Request\r\n\r\n"
BAD_REQUEST = b"NATS/1.0 408 Bad Request\r\n\r\n"
REQUIRED_LEVEL = b"NATS/1.0 412 Required Api Level\r\n\r\n"
MAX_MULTI = 1024

_FIELDS = {
    "seq": int, "last_by_subj": str, "next_by_subj": str, "batch": int, "max_bytes": int,
    "start_time": str, "multi_last": list, "up_to_seq": int, "up_to_time": str, "no_hdr": bool,
}  # fmt: skip


@dataclass(slots=True)
class DirectRequest:
    """A decoded direct-get request (nats-server's JSApiMsgGetRequest)."""

    seq: int = 0
    last_by_subj: str = ""
    next_by_subj: str = ""
    batch: int = 0
    max_bytes: int = 0
    start_time: int = 0
    multi_last: list[str] | None = None
    up_to_seq: int = 0
    up_to_time: int = 0
    no_hdr: bool = False

    def valid(self) -> bool:
        """The combinations nats-server accepts."""
        if self.seq < 0 or self.batch < 0 or self.max_bytes < 0 or self.up_to_seq < 0:
            return False
        if self.multi_last is not None:
            if self.last_by_subj or self.next_by_subj or self.seq or self.start_time:
                return False
            return bool(self.multi_last) and all(is_valid_subject(s) for s in self.multi_last)
        if self.last_by_subj and (self.seq or self.next_by_subj or self.batch or self.start_time):
            return False
        if self.seq and self.start_time:
            return False
        return bool(self.seq or self.last_by_subj or self.next_by_subj or self.start_time)


def decode(body: bytes) -> DirectRequest | bytes:
    """The request, or the status reply refusing it."""
    try:
        raw = json.loads(go_json_text(body))  # stray bytes inside strings: U+FFFD, as in Go
    except ValueError:
        return MALFORMED
    if not isinstance(raw, dict):
        return MALFORMED
    req = DirectRequest()
    for key, value in raw.items():
        want = _FIELDS.get(key)
        if want is None or value is None:
            continue
        if want is int and (isinstance(value, bool) or not isinstance(value, int)):
            return MALFORMED
        if want is not int and not isinstance(value, want):
            return MALFORMED
        if key in ("start_time", "up_to_time"):
            try:
                value = parse_ts(value)
            except ValueError:
                return MALFORMED
        setattr(req, key, value)
    return req if req.valid() else BAD_REQUEST


def attach(st: Stream) -> None:
    """Subscribe the direct-get subjects when the stream allows direct gets."""
    if not st.config.get("allow_direct"):
        return
    base = PREFIX + st.name

    def on_request(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        if reply:
            key = subject[len(base) + 1 :] if len(subject) > len(base) else ""
            handle(st, key, reply, payload, hdr)

    audit = getattr(st.account.server, "audit", None)  # records reads of object stores when on
    serve = audit.direct_subscriber(st, on_request) if audit is not None else on_request
    st.direct_subs = [
        st.account.subscribe_internal(base, serve),
        st.account.subscribe_internal(base + ".>", serve),
    ]


def detach(st: Stream) -> None:
    for sub in st.direct_subs:
        st.account.unsubscribe_internal(sub)
    st.direct_subs = []


def _reconfigure(st: Stream, old: dict[str, Any]) -> None:
    if old.get("allow_direct") != st.config.get("allow_direct"):
        detach(st)
        attach(st)


def _block(st: Stream, m: StoredMsg, extra: str, no_hdr: bool) -> bytes:
    base = b"NATS/1.0\r\n" if no_hdr or not m.hdr else m.hdr[:-2]
    lines = (
        f"Nats-Stream: {st.name}\r\nNats-Subject: {m.subject}\r\nNats-Sequence: {m.seq}\r\n"
        f"Nats-Time-Stamp: {format_ts(m.ts)}\r\n{extra}\r\n"
    )
    return base + lines.encode()


def handle(st: Stream, subject_key: str, reply: str, body: bytes, hdr: bytes = b"") -> None:
    """Answer one direct-get request on ``reply``."""
    pub = st.account.publish
    if hdr and required_level_too_high(hdr, st.js.service.api_level):
        pub(reply, "", REQUIRED_LEVEL, b"")
        return
    if subject_key:
        if body.strip():
            pub(reply, "", BAD_REQUEST, b"")
            return
        req: DirectRequest | bytes = DirectRequest(last_by_subj=subject_key)
    elif not body.strip():
        pub(reply, "", EMPTY_REQUEST, b"")
        return
    else:
        req = decode(body)
    if isinstance(req, bytes):
        pub(reply, "", req, b"")
        return
    if req.multi_last is not None:
        _multi_last(st, req, reply)
    elif req.batch > 0:
        _batch(st, req, reply)
    else:
        m = _single(st, req)
        if m is None:
            pub(reply, "", NOT_FOUND, b"")
        else:
            pub(reply, "", _block(st, m, "", req.no_hdr), m.data)


def _start_seq(st: Stream, req: DirectRequest) -> int:
    if req.start_time:
        return _seq_at_time(st, req.start_time)
    return max(req.seq, 1)


def _seq_at_time(st: Stream, ts: int) -> int:
    """First sequence whose timestamp is >= ts (linear: nats-server's stores index by time)."""
    seq = st.store.fast_state().first_seq
    while True:
        m = st.store.load_next("", seq)
        if m is None or m.ts >= ts:
            return m.seq if m else seq
        seq = m.seq + 1


def _single(st: Stream, req: DirectRequest) -> StoredMsg | None:
    store = st.store
    if req.last_by_subj:
        return store.load_last(req.last_by_subj)
    if req.next_by_subj:
        return store.load_next(req.next_by_subj, _start_seq(st, req))
    if req.start_time:
        return store.load_next("", _start_seq(st, req))
    return store.load(req.seq)


def _batch(st: Stream, req: DirectRequest, reply: str) -> None:
    pub = st.account.publish
    filt = req.next_by_subj or ">"
    seq = _start_seq(st, req)
    first = st.store.load_next(filt, seq)
    if first is None:
        pub(reply, "", NOT_FOUND, b"")
        return
    pending = st.store.num_pending(first.seq, filt)
    last, sent_bytes = 0, 0
    m: StoredMsg | None = first
    for _ in range(req.batch):
        if m is None:
            break
        pending -= 1
        extra = f"Nats-Num-Pending: {pending}\r\nNats-Last-Sequence: {last}\r\n"
        pub(reply, "", _block(st, m, extra, req.no_hdr), m.data)
        last = m.seq
        sent_bytes += len(m.subject) + len(m.hdr) + len(m.data)
        if req.max_bytes and sent_bytes >= req.max_bytes:
            break
        m = st.store.load_next(filt, m.seq + 1)
    eob = f"NATS/1.0 204 EOB\r\nNats-Num-Pending: {pending}\r\nNats-Last-Sequence: {last}\r\n\r\n"
    pub(reply, "", eob.encode(), b"")


def _last_seqs_up_to(st: Stream, filters: list[str], up_to: int) -> list[int]:
    """Ascending newest-sequence-per-subject for subjects matching any filter, as of ``up_to``."""
    state = st.store.fast_state()
    seqs: set[int] = set()
    if up_to >= state.last_seq:
        for f in filters:
            seqs.update(st.store.last_seqs_per_subject(f))
        return sorted(seqs)
    for f in filters:
        newest: dict[str, int] = {}
        m = st.store.load_next(f, state.first_seq)
        while m is not None and m.seq <= up_to:
            newest[m.subject] = m.seq
            m = st.store.load_next(f, m.seq + 1)
        seqs.update(newest.values())
    return sorted(seqs)


def _multi_last(st: Stream, req: DirectRequest, reply: str) -> None:
    pub = st.account.publish
    up_to = req.up_to_seq or st.store.fast_state().last_seq
    if req.up_to_time:
        up_to = _seq_at_time(st, req.up_to_time + 1) - 1
    filters = req.multi_last or []
    seqs = _last_seqs_up_to(st, filters, up_to)
    if not seqs:
        pub(reply, "", NO_RESULTS, b"")
        return
    if len(seqs) > MAX_MULTI and not req.batch:
        pub(reply, "", b"NATS/1.0 413 Too Many Results\r\n\r\n", b"")
        return
    count = min(len(seqs), req.batch) if req.batch else len(seqs)
    last, pending, sent_bytes = 0, len(seqs), 0
    for seq in seqs[:count]:
        m = st.store.load(seq)
        pending -= 1
        if m is None:
            continue
        extra = f"Nats-Num-Pending: {pending}\r\nNats-Last-Sequence: {last}\r\n"
        pub(reply, "", _block(st, m, extra, req.no_hdr), m.data)
        last = m.seq
        sent_bytes += len(m.subject) + len(m.hdr) + len(m.data)
        if req.max_bytes and sent_bytes >= req.max_bytes:
            break
    eob = (
        f"NATS/1.0 204 EOB\r\nNats-Num-Pending: {pending}\r\nNats-Last-Sequence: {last}\r\n"
        f"Nats-UpTo-Sequence: {up_to}\r\n\r\n"
    )
    pub(reply, "", eob.encode(), b"")


FEATURE = StreamFeature("direct", attach, detach, reconfigure=_reconfigure)
