"""The publish path: a message on a stream subject becomes a stored message and a PubAck.

A message whose reply subject ends in ``.$FI`` is fast ingest (:mod:`.batch_fast`), one
with a ``Nats-Batch-Id`` header is part of an atomic batch (:mod:`.batch_atomic`), any
other is stored here. The checks live in :mod:`.publish_checks`, the store step in
:mod:`.publish_store`.

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

from orlop.errors import JetStreamError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.subject_transform import SubjectTransform
from orlop.protocol import headers
from orlop.server.jetstream import batch_atomic, batch_fast
from orlop.server.jetstream.encoding import encode
from orlop.server.jetstream.publish_checks import MSG_ID, check_message
from orlop.server.jetstream.publish_store import finish, record, store
from orlop.server.jetstream.stream import Stream, StreamFeature
from orlop.store.base import StoredMsg

__all__ = ["FEATURE", "attach", "detach", "process"]


def attach(st: Stream) -> None:
    """Subscribe the stream's subjects so publishes reach :func:`process`; compile ``republish``."""
    name = st.name.encode()
    st.puback_prefix = b'{"stream":"' + name + b'","seq":'
    rp = st.config.get("republish")
    st.republisher = SubjectTransform(rp.get("src") or ">", rp["dest"]) if rp else None
    tr = st.config.get("subject_transform")
    st.input_transform = SubjectTransform(tr.get("src") or ">", tr["dest"]) if tr else None
    st.counters = bool(st.config.get("allow_msg_counter"))
    st.ingest = lambda subject, hdr, payload: process(st, subject, "", hdr, payload, internal=True)

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
    st.ingest = None


def _ack_error(st: Stream, reply: str, exc: JetStreamError) -> None:
    if reply:
        body = {"error": exc.to_dict(), "stream": st.name, "seq": 0}
        st.account.publish(reply, "", b"", encode(body))


def process(
    st: Stream, subject: str, reply: str, hdr: bytes, payload: bytes, *, internal: bool = False
) -> StoredMsg | JetStreamError | None:
    """Store one published message and answer ``reply`` (when set) with a PubAck.

    A ``no_ack`` stream never answers (nats-server's ``NoAck``). Returns the stored
    message, the error the PubAck reported, or None when nothing was stored (a
    duplicate, a batch message only staged; the audit trail reads it). ``internal``
    marks a message the server itself publishes (a fired schedule): the schedule
    headers it carries are the server's and are not checked.
    """
    if st.input_transform is not None:
        subject = st.input_transform.apply(subject) or subject
    if not internal:
        if reply and reply.endswith(".$FI") and len(reply) > 4:
            return batch_fast.process(st, subject, reply, hdr, payload)  # it knows no_ack's rules
        if reply and st.config.get("no_ack"):
            reply = ""
        if hdr and b"Nats-Batch-Id" in hdr:
            batch_id = headers.get(hdr, batch_atomic.BATCH_ID)
            if batch_id:
                return batch_atomic.process(st, subject, reply, hdr, payload, batch_id)
    elif reply and st.config.get("no_ack"):
        reply = ""
    ack_tail = b"}"
    try:
        if st.config["sealed"]:
            raise js_error(Err.STREAM_SEALED)
        checked = check_message(st, subject, hdr, payload, internal)
        if checked is None:
            _ack_duplicate(st, reply, hdr)
            return None
        hdr, payload, ttl_ns, rollup, msg_id, total = checked
        if total is not None:
            ack_tail = b',"val":"' + total.encode() + b'"}'
        msg, prev = store(st, subject, hdr, payload, ttl_ns, rollup)
    except JetStreamError as exc:
        _ack_error(st, reply, exc)
        return exc
    record(st, msg, msg_id, rollup)
    if reply:
        st.account.publish(reply, "", b"", st.puback_prefix + str(msg.seq).encode() + ack_tail)
    finish(st, msg, prev)
    return msg


def _ack_duplicate(st: Stream, reply: str, hdr: bytes) -> None:
    if reply:
        seq = st.dedup.ids[headers.get(hdr, MSG_ID) or ""][0] if st.dedup else 0
        body = st.puback_prefix + str(seq).encode() + b',"duplicate": true}'
        st.account.publish(reply, "", b"", body)


FEATURE: StreamFeature = StreamFeature("publish", attach, detach)
