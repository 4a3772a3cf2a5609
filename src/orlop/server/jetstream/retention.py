"""Work-queue and interest retention: messages leave the stream once consumed.

``limits`` streams keep messages until a limit removes them. ``workqueue``
streams drop a message as soon as its (single) consumer acknowledges it;
``interest`` streams drop it once every consumer whose filter matches has
acknowledged it, and do not keep messages nobody is interested in.

The stream learns about acks the way nats-server's stream does, by listening
on ``$JS.ACK.<stream>.>`` next to the consumers. Settling is deferred with
``call_soon`` so it runs after the consumer has processed the same ack; a
consumer has acknowledged a sequence when it has moved past it (``sseq``) and
no longer holds it pending. Consumers are read through those duck-typed
attributes (``sseq``, ``pending``, ``filters``, ``ack_all``), never imported.
"""

from __future__ import annotations

import asyncio
from typing import Any

from orlop.server.jetstream.stream import Stream, StreamFeature
from orlop.store.base import StoredMsg
from orlop.subjects import matches

__all__ = ["FEATURE", "after_store", "attach", "detach", "reconcile"]

_ACKS = (b"", b"+ACK", b"+TERM", b"+NXT")


def attach(st: Stream) -> None:
    """Listen to the stream's acks when its retention is not ``limits``."""
    if st.config.get("retention", "limits") == "limits" or st.retention_sub is not None:
        return

    def on_ack(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        toks = subject.split(".")
        if len(toks) < 9 or payload.strip().partition(b" ")[0] not in _ACKS:
            return
        try:
            sseq = int(toks[5])
        except ValueError:
            return
        asyncio.get_running_loop().call_soon(settle, st, toks[3], sseq)

    st.retention_sub = st.account.subscribe_internal(f"$JS.ACK.{st.name}.>", on_ack)
    st.store_watchers.append(after_store)
    st.consumer_watchers.append(_consumer_gone)


def detach(st: Stream) -> None:
    if st.retention_sub is not None:
        st.account.unsubscribe_internal(st.retention_sub)
        st.retention_sub = None
        st.store_watchers.remove(after_store)
        st.consumer_watchers.remove(_consumer_gone)


def _consumer_gone(st: Stream) -> None:
    asyncio.get_running_loop().call_soon(reconcile, st)


def _wants(consumer: Any, subject: str) -> bool:
    filters = getattr(consumer, "filters", None) or []
    return not filters or any(matches(subject, f) for f in filters)


def _acked(consumer: Any, seq: int) -> bool:
    return seq < int(getattr(consumer, "sseq", 0)) and seq not in getattr(consumer, "pending", {})


def after_store(st: Stream, msg: StoredMsg) -> None:
    """Interest retention keeps nothing that no consumer wants."""
    if st.config.get("retention") != "interest":
        return
    if not any(_wants(c, msg.subject) for c in st.consumers.values()):
        st.store.remove(msg.seq)


def _removable(st: Stream, m: StoredMsg) -> bool:
    if st.config.get("retention") == "workqueue":
        return True
    return all(_acked(c, m.seq) for c in st.consumers.values() if _wants(c, m.subject))


def settle(st: Stream, consumer_name: str, sseq: int) -> None:
    """Remove what the consumer's ack released (for ack-all: everything up to ``sseq``)."""
    consumer = st.consumers.get(consumer_name)
    if consumer is None or st.closed:
        return
    first = sseq
    if getattr(consumer, "ack_all", False):
        first = st.store.fast_state().first_seq
    seq = first
    while seq <= sseq:
        m = st.store.load(seq) if seq == sseq else st.store.load_next(">", seq)
        if m is None or m.seq > sseq:
            break
        if _wants(consumer, m.subject) and _acked(consumer, m.seq) and _removable(st, m):
            st.store.remove(m.seq)
        seq = m.seq + 1


def reconcile(st: Stream) -> None:
    """After a consumer went away: drop what the remaining consumers no longer need (interest)."""
    if st.closed or st.config.get("retention") != "interest":
        return
    m = st.store.load_next(">", st.store.fast_state().first_seq)
    while m is not None:
        if _removable(st, m):
            st.store.remove(m.seq)
        m = st.store.load_next(">", m.seq + 1)


FEATURE = StreamFeature("retention", attach, detach)
