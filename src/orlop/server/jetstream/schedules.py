"""Message schedules (ADR-51): the publish-time checks of the ``Nats-Schedule*`` headers.

A stream without ``allow_msg_schedules`` refuses any schedule with 10188, and a
``Nats-Scheduler`` without ``Nats-Schedule-Next`` with 10212, as nats-server does.
"""

from __future__ import annotations

from orlop.jsapi.errors import Err, js_error
from orlop.protocol import headers
from orlop.server.jetstream.stream import Stream

__all__ = ["check_publish"]

SCHEDULE = "Nats-Schedule"
TIME_ZONE = "Nats-Schedule-Time-Zone"
NEXT = "Nats-Schedule-Next"
SCHEDULER = "Nats-Scheduler"


def check_publish(st: Stream, subject: str, hdr: bytes) -> bytes:
    """Check the schedule headers of a client's publish; returns the header block to store."""
    get = headers.get
    if not st.config.get("allow_msg_schedules"):
        if get(hdr, TIME_ZONE) is not None or get(hdr, SCHEDULE) or get(hdr, NEXT) is not None:
            raise js_error(Err.MESSAGE_SCHEDULES_DISABLED)
        if get(hdr, SCHEDULER) is not None:
            raise js_error(Err.MESSAGE_SCHEDULES_SCHEDULER_INVALID)
        return hdr
    raise js_error(Err.MESSAGE_SCHEDULES_DISABLED)  # the stream config refuses schedules today
