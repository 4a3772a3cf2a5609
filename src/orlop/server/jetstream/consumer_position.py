"""Where a consumer starts, and where CONSUMER.RESET puts it back.

Kept apart from :mod:`.consumer` because it is arithmetic over the store (first
and last sequences, the last message of each subject, a binary search by time)
run once per create or reset, never on the delivery path.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.timefmt import parse_ts
from orlop.store.base import StreamStore

if TYPE_CHECKING:
    from orlop.server.jetstream.consumer import Consumer

__all__ = ["reset_position", "seq_for_time", "start_position"]


def start_position(c: Consumer) -> None:
    """Place ``c`` by its deliver policy and count ``num_pending`` (before any delivery)."""
    store = c.stream.store
    st = store.fast_state()
    dp = c.config["deliver_policy"]
    first = st.first_seq if st.msgs else st.last_seq + 1
    start = first
    if dp == "new":
        start = st.last_seq + 1
    elif dp == "last":
        lasts = [store.load_last(f) for f in (c.filters or [">"])]
        last = max((m.seq for m in lasts if m is not None), default=0)
        start = last or st.last_seq + 1
    elif dp == "by_start_sequence":
        start = max(int(c.config["opt_start_seq"]), first)
    elif dp == "by_start_time":
        start = seq_for_time(store, parse_ts(c.config["opt_start_time"]), first, st.last_seq)
    elif dp == "last_per_subject":
        seqs = sorted({s for f in (c.filters or [">"]) for s in store.last_seqs_per_subject(f)})
        c.lps = deque(seqs)
        c.lps_set = set(seqs)
        c.sseq = st.last_seq + 1
        c.num_pending = len(seqs)
        start = seqs[0] if seqs else st.last_seq + 1
        c.delivered_sseq = c.asflr = start - 1
        return
    c.sseq = start
    c.delivered_sseq = c.asflr = start - 1
    c.num_pending = c._count(start)


def seq_for_time(store: StreamStore, ts: int, lo: int, hi: int) -> int:
    """First sequence in ``lo..hi`` whose message time is >= ``ts`` (binary search); ``hi + 1`` if none."""
    result = hi + 1
    while lo <= hi:
        mid = (lo + hi) // 2
        m = store.load_next(">", mid)
        if m is None or m.seq > hi:
            hi = mid - 1
            continue
        if m.ts >= ts:
            result = m.seq
            hi = mid - 1
        else:
            lo = m.seq + 1
    return result


def reset_position(c: Consumer, seq: int) -> int:
    """CONSUMER.RESET (ADR-60): forget pending acks and redeliveries, restart consumer sequences.

    With ``seq`` > 0 the next delivery is at or above ``seq``; otherwise delivery resumes
    just above the ack floor. Returns that stream sequence. Raises JetStreamError 10204
    when ``seq`` is not allowed by the deliver policy.
    """
    dp = c.config["deliver_policy"]
    if seq:
        if dp not in ("all", "by_start_sequence", "by_start_time"):
            raise js_error(Err.CONSUMER_INVALID_RESET, err=f"deliver policy {dp} does not allow a sequence")
        if dp == "by_start_sequence" and seq < int(c.config["opt_start_seq"]):
            raise js_error(Err.CONSUMER_INVALID_RESET, err="sequence below the consumer's start sequence")
    start = seq if seq else c.asflr + 1
    c.pending.clear()
    c.rdc.clear()
    c.rdq.clear()
    c.rdq_set.clear()
    c.lps.clear()
    c.lps_set.clear()
    c.dseq, c.adflr = 1, 0
    c.sseq = start
    c.delivered_sseq = c.asflr = start - 1
    c.num_pending = c._count(start)
    c.dirty()
    c.kick()
    return start
