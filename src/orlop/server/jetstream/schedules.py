"""Message schedules (ADR-51): publish-time checks, the schedule table, firing, recovery.

A schedule is a message on its own *schedule subject* whose ``Nats-Schedule``
header holds a pattern (:mod:`orlop.jsapi.schedule_pattern`). When it is due, the
server publishes the schedule's body (or the last message of
``Nats-Schedule-Source``) on ``Nats-Schedule-Target`` with ``Nats-Scheduler`` and
``Nats-Schedule-Next`` headers; an ``@at`` schedule is then purged, a repeating
one waits for the time its ``Nats-Schedule-Next`` names.

The stream keeps ``schedules`` (a :class:`Schedules`): schedule subject ->
(sequence, next fire time), kept up to date by a store watcher with nats-server's
store-hook rules (a schedule message adds, any other message without
``Nats-Scheduler`` on that subject removes, a produced message's
``Nats-Schedule-Next`` moves the time on). Removals by delete, purge, TTL or
limits are noticed when the schedule comes due and its message is gone, which
is the check nats-server's loader makes too. After a restart the table is rebuilt
by replaying the stored messages through the same rules, each with its own
timestamp as "now", which reproduces the table as it stood; so overdue schedules
fire once right after the start.

Time comes from the injected clock. A loop timer fires the earliest due
schedule, never sooner than :data:`MIN_DELAY` after it is armed (nats-server's
rate limit); :func:`fire_due` runs the same step on demand (tests with a fake
clock call it through ``JetStreamService.fire_schedules``).

nats-server reads these headers with its own raw lookup (exact key case, first
occurrence, leading spaces dropped), so :func:`header` does the same here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import tzinfo

from orlop.errors import JetStreamError
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.schedule_pattern import Next, format_rfc3339nano, load_zone, next_fire, parse_rfc3339
from orlop.protocol import headers
from orlop.server.jetstream.stream import Stream, StreamFeature
from orlop.server.jetstream.ttl import parse_ttl
from orlop.store.base import StoredMsg
from orlop.subjects import collide, has_wildcard, is_valid_subject

__all__ = ["FEATURE", "MIN_DELAY", "Schedules", "check_publish", "fire_due", "header"]

log = logging.getLogger("orlop.jetstream")

SCHEDULE = "Nats-Schedule"
TIME_ZONE = "Nats-Schedule-Time-Zone"
SCHEDULE_TTL = "Nats-Schedule-TTL"
SCHEDULE_ROLLUP = "Nats-Schedule-Rollup"
TARGET = "Nats-Schedule-Target"
SOURCE = "Nats-Schedule-Source"
NEXT = "Nats-Schedule-Next"
SCHEDULER = "Nats-Scheduler"
PURGE = "purge"

MIN_DELAY = 0.25
"""Seconds: the schedule timer never fires sooner than this after it is armed (as nats-server)."""

_STRIPPED_PREFIXES = (b"Nats-Schedule", b"Nats-Expected-")
_STRIPPED_KEYS = (b"Nats-Msg-Id:", b"Nats-TTL:", b"Nats-Rollup:")


class Schedules:
    """One stream's schedules: subject -> (seq, next fire Unix ns), plus the loop timer."""

    __slots__ = ("by_subject", "inflight", "timer", "timer_at")

    def __init__(self) -> None:
        self.by_subject: dict[str, tuple[int, int]] = {}
        self.inflight: set[str] = set()  # produced, not yet stored (a failed store leaves it here)
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0  # loop time the timer fires at

    def add(self, subject: str, seq: int, at: int) -> None:
        self.by_subject[subject] = (seq, at)
        self.inflight.discard(subject)

    def update(self, subject: str, at: int) -> None:
        entry = self.by_subject.get(subject)
        if entry is not None:
            self.by_subject[subject] = (entry[0], at)
            self.inflight.discard(subject)

    def remove(self, subject: str) -> None:
        self.by_subject.pop(subject, None)
        self.inflight.discard(subject)

    def next_due(self) -> int | None:
        """The earliest fire time of a schedule not in flight, or None."""
        times = [at for subj, (_, at) in self.by_subject.items() if subj not in self.inflight]
        return min(times) if times else None

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer, self.timer_at = None, 0.0


def header(hdr: bytes, key: str) -> str | None:
    """nats-server's ``sliceHeader``: the first ``key:`` line (exact case), leading spaces dropped."""
    if not hdr:
        return None
    needle = b"\r\n" + key.encode() + b":"
    at = hdr.find(needle)
    if at < 0:
        return None
    start = at + len(needle)
    end = hdr.find(b"\r\n", start)
    raw = hdr[start:] if end < 0 else hdr[start:end]
    return raw.lstrip(b" ").decode("utf-8", "surrogateescape")


def _valid_publish(subject: str) -> bool:
    """nats-server's ``IsValidPublishSubject``: a valid subject without wildcard tokens."""
    return is_valid_subject(subject) and "\f" not in subject and not has_wildcard(subject)


def _zone(hdr: bytes) -> tzinfo | None:
    """The ``Nats-Schedule-Time-Zone`` (None when absent); 10223 when empty or unknown."""
    name = header(hdr, TIME_ZONE)
    if name is None:
        return None
    try:
        return load_zone(name)
    except ValueError:
        raise js_error(Err.MESSAGE_SCHEDULES_TIME_ZONE_INVALID) from None


def _next_of(hdr: bytes, ts: int, now: int) -> Next:
    """When the schedule in ``hdr`` fires after ``ts`` (``Next(0, …)``: no schedule). Raises 10223/10189."""
    zone = _zone(hdr)
    try:
        return next_fire(header(hdr, SCHEDULE) or "", zone, ts, now)
    except ValueError:
        raise js_error(Err.MESSAGE_SCHEDULES_PATTERN_INVALID) from None


# --- publish checks ---------------------------------------------------------------------------


def check_publish(st: Stream, subject: str, hdr: bytes) -> bytes:
    """Check the schedule headers of a client's publish (nats-server's order); returns the header
    block to store (a schedule gets ``Nats-Rollup: sub`` appended). Raises JetStreamError."""
    allow = bool(st.config.get("allow_msg_schedules"))
    now = st.js.clock()
    try:
        nxt = _next_of(hdr, now, now)
    except JetStreamError:
        if not allow:
            raise js_error(Err.MESSAGE_SCHEDULES_DISABLED) from None
        raise
    if nxt.at:
        if not allow:
            raise js_error(Err.MESSAGE_SCHEDULES_DISABLED)
        hdr = _check_schedule(st, subject, hdr)
    _check_scheduler(st, subject, hdr, allow)
    return hdr


def _check_schedule(st: Stream, subject: str, hdr: bytes) -> bytes:
    ttl = header(hdr, SCHEDULE_TTL) or ""
    if ttl:
        try:
            parse_ttl(ttl)
        except ValueError:
            raise js_error(Err.MESSAGE_SCHEDULES_TTL_INVALID) from None
    rollup = header(hdr, SCHEDULE_ROLLUP) or ""
    if rollup and rollup != "sub":
        raise js_error(Err.MESSAGE_SCHEDULES_ROLLUP_INVALID)
    if ttl and not st.config.get("allow_msg_ttl"):
        raise js_error(Err.MESSAGE_TTL_DISABLED)
    target = header(hdr, TARGET) or ""
    if not target or not _valid_publish(target) or target == subject:
        raise js_error(Err.MESSAGE_SCHEDULES_TARGET_INVALID)
    source = header(hdr, SOURCE) or ""
    if source and (source in (target, subject) or not _valid_publish(source)):
        raise js_error(Err.MESSAGE_SCHEDULES_SOURCE_INVALID)
    subjects = st.config.get("subjects") or [st.name]
    if not any(collide(s, target) for s in subjects):
        raise js_error(Err.MESSAGE_SCHEDULES_TARGET_INVALID)
    if source and not any(collide(s, source) for s in subjects):
        raise js_error(Err.MESSAGE_SCHEDULES_SOURCE_INVALID)
    own = (header(hdr, "Nats-Rollup") or "").lower()
    if not own:
        return headers.append(hdr, [("Nats-Rollup", "sub")])  # a new schedule replaces the old one
    if own != "sub":
        raise js_error(Err.MESSAGE_SCHEDULES_ROLLUP_INVALID)
    return hdr


def _check_scheduler(st: Stream, subject: str, hdr: bytes, allow: bool) -> None:
    """``Nats-Schedule-Next`` from a client may only be ``purge`` (cancel the named scheduler)."""
    value = header(hdr, NEXT)
    if not value:
        if header(hdr, SCHEDULER):
            raise js_error(Err.MESSAGE_SCHEDULES_SCHEDULER_INVALID)
        return
    scheduler = header(hdr, SCHEDULER) or ""
    if value != PURGE or not scheduler or scheduler == subject or not _valid_publish(scheduler):
        raise js_error(Err.MESSAGE_SCHEDULES_SCHEDULER_INVALID)
    if not allow:
        raise js_error(Err.MESSAGE_SCHEDULES_DISABLED)
    last = st.store.load_last(scheduler)
    if last is not None and not header(last.hdr, SCHEDULE):
        raise js_error(Err.MESSAGE_SCHEDULES_SCHEDULER_INVALID)  # not a schedule: nothing to cancel


# --- the table --------------------------------------------------------------------------------


def _apply(tab: Schedules, msg: StoredMsg, now: int) -> str:
    """Update the table for one stored message; returns a scheduler subject to purge, or ""."""
    hdr = msg.hdr
    if not hdr:
        tab.remove(msg.subject)
        return ""
    try:
        at = _next_of(hdr, msg.ts, now).at
    except JetStreamError:
        at = 0
    if at:
        tab.add(msg.subject, msg.seq, at)
    elif not header(hdr, SCHEDULER):
        tab.remove(msg.subject)
    value = header(hdr, NEXT)
    if value == PURGE:
        return header(hdr, SCHEDULER) or ""
    scheduler = header(hdr, SCHEDULER)
    if value and scheduler:
        with contextlib.suppress(ValueError):  # not a time: nothing to move on
            tab.update(scheduler, parse_rfc3339(value))
    return ""


def _stored(st: Stream, msg: StoredMsg) -> None:
    """Store watcher: keep the table current; purge a schedule that a message cancelled or used up."""
    tab: Schedules | None = st.schedules
    if tab is None or (b"Nats-Schedule" not in msg.hdr and msg.subject not in tab.by_subject):
        return  # the common case: a message that has nothing to do with schedules
    purge = _apply(tab, msg, st.js.clock())
    if purge:
        try:
            st.store.purge(purge)
        except Exception:  # a failing purge must not fail the publish that was already acknowledged
            log.exception("stream %s: purge of schedule %s failed", st.name, purge)
        tab.remove(purge)
    _arm(st)


def recover(st: Stream) -> None:
    """Rebuild the table of a stream read back from disk by replaying its messages in order."""
    if not st.config.get("allow_msg_schedules"):
        return
    tab = Schedules()
    state = st.store.fast_state()
    seq = max(state.first_seq, 1)
    while seq <= state.last_seq:
        msg = st.store.load_next(">", seq)
        if msg is None:
            break
        purge = _apply(tab, msg, msg.ts)
        if purge:
            tab.remove(purge)
        seq = msg.seq + 1
    st.schedules = tab


# --- firing -------------------------------------------------------------------------------------


def _strip(hdr: bytes) -> bytes:
    """The content's headers without the schedule, expectation, id, TTL and rollup headers."""
    if not hdr:
        return b""
    lines = hdr.split(b"\r\n")
    kept = [lines[0]]
    for line in lines[1:]:
        if line and not line.startswith(_STRIPPED_PREFIXES) and not line.startswith(_STRIPPED_KEYS):
            kept.append(line)
    return b"\r\n".join([*kept, b"", b""])


Produced = tuple[str, bytes, bytes]
"""(target subject, header block, body) of a message a schedule produces."""


def _produce(st: Stream, tab: Schedules, subject: str, seq: int, due: int, now: int) -> Produced | None:
    """(target, headers, body) of the message a due schedule produces; None drops the schedule."""
    msg = st.store.load(seq)
    pattern = header(msg.hdr, SCHEDULE) if msg is not None else None
    if msg is None or not pattern:
        tab.remove(subject)
        return None
    try:
        nxt = next_fire(pattern, _zone(msg.hdr), due, now)
        ttl = (header(msg.hdr, SCHEDULE_TTL) or "").strip()
        if ttl:
            parse_ttl(ttl)
    except (ValueError, JetStreamError):
        tab.remove(subject)
        return None
    target = header(msg.hdr, TARGET) or ""
    if not target:
        tab.remove(subject)
        return None
    content = msg
    source = header(msg.hdr, SOURCE) or ""
    if source:
        content = st.store.load_last(source) or msg
    pairs = [(SCHEDULER, subject), (NEXT, format_rfc3339nano(nxt.at, nxt.zone) if nxt.repeat else PURGE)]
    if ttl:
        pairs.append(("Nats-TTL", ttl))
    rollup = (header(msg.hdr, SCHEDULE_ROLLUP) or "").strip()
    if rollup:
        pairs.append(("Nats-Rollup", rollup))
    return target, headers.append(_strip(content.hdr), pairs), content.data


def fire_due(st: Stream) -> int:
    """Publish every schedule due at the clock's now, in stream order; returns messages stored."""
    tab: Schedules | None = st.schedules
    if tab is None or st.closed:
        return 0
    now = st.js.clock()
    due = sorted(
        (seq, subj, at)
        for subj, (seq, at) in tab.by_subject.items()
        if at <= now and subj not in tab.inflight
    )
    produced: list[Produced] = []
    for seq, subj, at in due:
        out = _produce(st, tab, subj, seq, at, now)
        if out is not None:
            produced.append(out)
            tab.inflight.add(subj)
    stored = 0
    for target, hdr, data in produced:
        if st.ingest is not None and isinstance(st.ingest(target, hdr, data), StoredMsg):
            stored += 1
    _arm(st)
    return stored


def _run(st: Stream) -> None:
    tab: Schedules | None = st.schedules
    if tab is not None:
        tab.timer, tab.timer_at = None, 0.0
    fire_due(st)


def _arm(st: Stream) -> None:
    """Arm the timer for the earliest due schedule (not sooner than MIN_DELAY; earlier timers stay)."""
    tab: Schedules | None = st.schedules
    if tab is None or st.closed:
        return
    at = tab.next_due()
    if at is None:
        tab.cancel_timer()
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    # 2 ms late rather than early: a loop timer may run a little before its time, and the
    # wall clock that stamps ``at`` and the loop's monotonic clock drift apart slightly.
    deadline = loop.time() + max(MIN_DELAY, (at - st.js.clock()) / 1e9 + 0.002)
    if tab.timer is not None and tab.timer_at <= deadline:
        return
    tab.cancel_timer()
    tab.timer, tab.timer_at = loop.call_at(deadline, _run, st), deadline


# --- wiring -------------------------------------------------------------------------------------


def attach(st: Stream) -> None:
    """On a schedule stream: start the table (unless recovered), watch stored messages, arm the timer."""
    if not st.config.get("allow_msg_schedules"):
        return
    if st.schedules is None:
        st.schedules = Schedules()
    if _stored not in st.store_watchers:
        st.store_watchers.append(_stored)
    _arm(st)


def detach(st: Stream) -> None:
    """Stop watching and cancel the timer (the table stays for a re-attach after an update)."""
    if _stored in st.store_watchers:
        st.store_watchers.remove(_stored)
    tab: Schedules | None = st.schedules
    if tab is not None:
        tab.cancel_timer()


FEATURE = StreamFeature("schedules", attach, detach, recover)
