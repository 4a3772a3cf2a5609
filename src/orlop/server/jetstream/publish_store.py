"""The last step of every publish path: admit a checked message, store it, and apply its effects.

:func:`store` refuses what must not be stored (size 10054; the server's storage limit
or the disk's reserve 10023, except for a small ``Nats-Rollup`` message, a delete marker,
so a full store can still be emptied by its clients; the account's limit 10002; store
refusals 10077 with the store's text) and never lets an IO error through as anything but
a refusal. :func:`finish` does what follows a stored message: the dedup window, the
rollup's purge, ADR-28 republish and the consumers. Plain publishes, atomic batch commits
and fast-ingest messages all go through both.
"""

from __future__ import annotations

import logging

from orlop.errors import JetStreamError, MsgTooLargeError, StoreError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.subject_transform import SubjectTransform
from orlop.jsapi.timefmt import format_ts
from orlop.server.jetstream.publish_checks import alert, dedup
from orlop.server.jetstream.stream import Stream
from orlop.store.base import NewMsg, StoredMsg
from orlop.store.core import file_msg_size, memory_msg_size

__all__ = ["ROLLUP_GRACE", "admit", "finish", "record", "store", "store_all"]

log = logging.getLogger("orlop.jetstream")

ROLLUP_GRACE = 64 * 1024
"""Largest rollup message admitted over the storage limits (see :func:`store`)."""


def admit(st: Stream, subject_len: int, hdr_len: int, payload_len: int, rollup: str) -> None:
    """Raise the error a message of this size gets from the stream's and the server's limits."""
    limit = st.config["max_msg_size"]
    if 0 <= limit < hdr_len + payload_len:
        raise js_error(Err.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    storage = st.config.get("storage", "file")
    size = hdr_len + payload_len
    # A small rollup replaces what its subject held (an object's delete marker, a KV purge):
    # it may use the headroom, so a full store can still be emptied by its clients.
    if bool(rollup) and size <= ROLLUP_GRACE:
        return
    if not st.js.service.usage.admit(storage, size):
        alert(f"{storage} limits", "JetStream %s resource limits exceeded for server", storage)
        raise js_error(Err.INSUFFICIENT_RESOURCES)
    sized = memory_msg_size if storage == "memory" else file_msg_size
    if not st.js.admits(storage, sized(subject_len, hdr_len, payload_len)):
        alert(
            f"{storage} limits of {st.account.name}",
            "JetStream %s resource limits exceeded for account: %r",
            storage,
            st.account.name,
        )
        raise js_error(Err.ACCOUNT_RESOURCES_EXCEEDED)


def store(
    st: Stream,
    subject: str,
    hdr: bytes,
    payload: bytes,
    ttl_ns: int,
    rollup: str,
    *,
    admitted: bool = False,
) -> tuple[StoredMsg, int]:
    """Admit and store one message. Returns it and the subject's previous last seq (for republish).

    ``admitted``: the caller checked the limits already (a batch commit checks them once for
    the whole batch). Raises JetStreamError: nothing is acknowledged unless the store
    accepted the message.
    """
    if not admitted:
        admit(st, len(subject), len(hdr), len(payload), rollup)
    prev = st.store.last_seq_for_subject(subject) if st.republisher is not None else 0
    try:
        msg = st.store.store_msg(subject, hdr, payload, ttl_ns=ttl_ns)
    except (StoreError, OSError) as exc:
        raise _refusal(st, exc) from exc
    return msg, prev


def store_all(st: Stream, msgs: list[NewMsg]) -> list[tuple[StoredMsg, int]]:
    """Store checked and admitted messages (a batch commit) all at once, or none of them.

    Returns each with its subject's previous last seq, as :func:`store` does. The store
    writes them together (a few writes instead of one per message).
    """
    # Republish's previous seq: each subject's last before the batch, then the batch's own.
    last = {s: st.store.last_seq_for_subject(s) for s, *_ in msgs} if st.republisher is not None else {}
    try:
        stored = st.store.store_msgs(msgs)
    except (StoreError, OSError) as exc:
        raise _refusal(st, exc) from exc
    out: list[tuple[StoredMsg, int]] = []
    for msg in stored:
        out.append((msg, last.get(msg.subject, 0)))
        if last:
            last[msg.subject] = msg.seq
    return out


def _refusal(st: Stream, exc: Exception) -> JetStreamError:
    """The publish error for a store failure; nothing is acknowledged that was not stored."""
    if isinstance(exc, MsgTooLargeError):
        return js_error(Err.STREAM_MESSAGE_EXCEEDS_MAXIMUM)
    if isinstance(exc, StoreError):
        alert(st.name, "stream %s: store failed: %s", st.name, exc)
    else:  # any other IO failure: refuse, never acknowledge
        log.error("stream %s: store failed: %s", st.name, exc)
    return js_error(Err.STREAM_STORE_FAILED, err=str(exc))


def record(st: Stream, msg: StoredMsg, msg_id: str, rollup: str) -> None:
    """The stream-state effects of a stored message: its msg-id and its rollup's purge."""
    if msg_id:
        dedup(st).add(msg_id, msg.seq, msg.ts)
    st.last_msg_id = msg_id  # nats-server tracks the id of the last stored message, "" when none
    if rollup:
        try:
            st.store.purge(msg.subject if rollup == "sub" else "", up_to_seq=msg.seq)
        except StoreError:
            log.exception("stream %s: rollup purge failed", st.name)


def finish(st: Stream, msg: StoredMsg, prev: int) -> None:
    """What others see of a stored message: ADR-28 republish, then the consumers."""
    if st.republisher is not None:
        _republish(st, st.republisher, msg, prev)
    st.stored(msg)


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
