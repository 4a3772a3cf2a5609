"""Where a consumer starts, and where CONSUMER.RESET puts it back.

Kept apart from :mod:`.consumer` because it is arithmetic over the store (first
and last sequences, the last message of each subject, a binary search by time)
run once per create or reset, never on the delivery path. It answers with
numbers and never touches a consumer, so it sits below :mod:`.consumer`, which
applies them (:meth:`Consumer.init_position`, :meth:`Consumer.reset_to`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.timefmt import parse_ts
from orlop.store.base import StreamStore

__all__ = ["Start", "reset_start", "seq_for_time", "start_of"]


@dataclass(frozen=True, slots=True)
class Start:
    """Where a new consumer begins: ``sseq`` is the next stream sequence to scan from, ``floor``
    its ack and delivered floor; a ``last_per_subject`` consumer first delivers ``lps``."""

    sseq: int
    floor: int
    lps: tuple[int, ...] = ()


def start_of(store: StreamStore, config: dict[str, Any], filters: list[str]) -> Start:
    """The start of a consumer of ``config`` (its deliver policy) over ``store``."""
    st = store.fast_state()
    dp = config["deliver_policy"]
    first = st.first_seq if st.msgs else st.last_seq + 1
    start = first
    if dp == "new":
        start = st.last_seq + 1
    elif dp == "last":
        lasts = [store.load_last(f) for f in (filters or [">"])]
        last = max((m.seq for m in lasts if m is not None), default=0)
        start = last or st.last_seq + 1
    elif dp == "by_start_sequence":
        start = max(int(config["opt_start_seq"]), first)
    elif dp == "by_start_time":
        start = seq_for_time(store, parse_ts(config["opt_start_time"]), first, st.last_seq)
    elif dp == "last_per_subject":
        seqs = sorted({s for f in (filters or [">"]) for s in store.last_seqs_per_subject(f)})
        begin = seqs[0] if seqs else st.last_seq + 1
        return Start(st.last_seq + 1, begin - 1, tuple(seqs))
    return Start(start, start - 1)


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


def reset_start(config: dict[str, Any], ack_floor: int, seq: int) -> int:
    """CONSUMER.RESET (ADR-60): the stream sequence delivery restarts at.

    With ``seq`` > 0 the next delivery is at or above ``seq``; otherwise delivery resumes
    just above the ack floor. Raises JetStreamError 10204 when ``seq`` is not allowed by
    the deliver policy.
    """
    dp = config["deliver_policy"]
    if seq:
        if dp not in ("all", "by_start_sequence", "by_start_time"):
            raise js_error(Err.CONSUMER_INVALID_RESET, err=f"deliver policy {dp} does not allow a sequence")
        if dp == "by_start_sequence" and seq < int(config["opt_start_seq"]):
            raise js_error(Err.CONSUMER_INVALID_RESET, err="sequence below the consumer's start sequence")
    return seq if seq else ack_floor + 1
