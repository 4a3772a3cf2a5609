"""JetStream advisories on ``$JS.EVENT.ADVISORY.>``, published only when someone listens.

Advisories cost a JSON encode and a publish per API call; checking
``account.has_interest`` first keeps the API path cheap when (as usual)
nobody subscribes. Shapes follow nats-server's ``io.nats.jetstream.advisory.v1.*``
events: every advisory has ``type``, ``id`` (a fresh NUID-like token),
``timestamp`` (RFC3339Nano) and the event's own fields.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from orlop import gojson
from orlop.jsapi.timefmt import format_ts
from orlop.server.jetstream.types import AccountView, RequestView

__all__ = ["ADVISORY_PREFIX", "Advisories", "new_id"]

ADVISORY_PREFIX = "$JS.EVENT.ADVISORY."
API_AUDIT_SUBJECT = ADVISORY_PREFIX + "API"
API_AUDIT_TYPE = "io.nats.jetstream.advisory.v1.api_audit"
STREAM_ACTION_TYPE = "io.nats.jetstream.advisory.v1.stream_action"

_ALPHABET = string.ascii_letters + string.digits
_VERBS = {"create": "CREATED", "modify": "UPDATED", "delete": "DELETED"}


def new_id(n: int = 22) -> str:
    """A random base62 token (NUID length by default)."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


class Advisories:
    """Publishes advisories through each account's ``publish``; ``server_name`` names the origin."""

    def __init__(self, server_name: str, server_id: str) -> None:
        self.server_name = server_name
        self.server_id = server_id

    def _publish(self, js: AccountView, subject: str, body: dict[str, Any]) -> None:
        js.account.publish(subject, "", b"", gojson.dumps(body).encode())

    def _base(self, js: AccountView, kind: str) -> dict[str, Any]:
        return {"type": kind, "id": new_id(), "timestamp": format_ts(js.clock())}

    def api_audit(self, js: AccountView, req: RequestView, response: bytes) -> None:
        """``$JS.EVENT.ADVISORY.API``: the request subject and body and the response text."""
        if not js.account.has_interest(API_AUDIT_SUBJECT):
            return
        body = self._base(js, API_AUDIT_TYPE)
        body["server"] = self.server_name
        body["client"] = {"acc": js.name, "server": self.server_name, "kind": "Client"}
        body["subject"] = req.subject
        if req.body:
            body["request"] = req.body.decode("utf-8", "replace")
        body["response"] = response.decode("utf-8", "replace")
        self._publish(js, API_AUDIT_SUBJECT, body)

    def stream_action(self, js: AccountView, action: str, stream: str) -> None:
        """``$JS.EVENT.ADVISORY.STREAM.<CREATED|UPDATED|DELETED>.<stream>``.

        ``action`` is nats-server's word: ``create``, ``modify`` or ``delete``.
        """
        subject = f"{ADVISORY_PREFIX}STREAM.{_VERBS[action]}.{stream}"
        if not js.account.has_interest(subject):
            return
        body = self._base(js, STREAM_ACTION_TYPE)
        body.update({"stream": stream, "action": action})
        self._publish(js, subject, body)


# --- priority groups (ADR-42): a pinned_client group got or lost its pin ------------------

CONSUMER_GROUP_PINNED_TYPE = "io.nats.jetstream.advisory.v1.consumer_group_pinned"
CONSUMER_GROUP_UNPINNED_TYPE = "io.nats.jetstream.advisory.v1.consumer_group_unpinned"

__all__ += ["consumer_group_pinned", "consumer_group_unpinned"]


def _consumer_event(
    js: AccountView,
    subject: str,
    kind: str,
    stream: str,
    consumer: str,
    fields: dict[str, Any],
    *,
    account: bool = False,
) -> None:
    """Publish one consumer event when someone listens: type, id, timestamp, (the account,
    for priority-group events), stream, consumer, then ``fields``: nats-server's order."""
    if not js.account.has_interest(subject):
        return
    body: dict[str, Any] = {"type": kind, "id": new_id(), "timestamp": format_ts(js.clock())}
    if account:
        body["account"] = js.name
    body.update({"stream": stream, "consumer": consumer, **fields})
    js.account.publish(subject, "", b"", gojson.dumps(body).encode())


def consumer_group_pinned(js: AccountView, stream: str, consumer: str, group: str, pin_id: str) -> None:
    """``$JS.EVENT.ADVISORY.CONSUMER.PINNED.<stream>.<consumer>``: ``pin_id`` now owns ``group``."""
    subject = f"{ADVISORY_PREFIX}CONSUMER.PINNED.{stream}.{consumer}"
    fields = {"group": group, "pinned_id": pin_id}
    _consumer_event(js, subject, CONSUMER_GROUP_PINNED_TYPE, stream, consumer, fields, account=True)


def consumer_group_unpinned(js: AccountView, stream: str, consumer: str, group: str, reason: str) -> None:
    """``$JS.EVENT.ADVISORY.CONSUMER.UNPINNED.<stream>.<consumer>``; ``reason`` is
    ``"admin"`` (CONSUMER.UNPIN) or ``"timeout"`` (no pull with the pin id in time)."""
    subject = f"{ADVISORY_PREFIX}CONSUMER.UNPINNED.{stream}.{consumer}"
    fields = {"group": group, "reason": reason}
    _consumer_event(js, subject, CONSUMER_GROUP_UNPINNED_TYPE, stream, consumer, fields, account=True)


# --- consumers: created and deleted, deliveries given up, naks, terms, sampled acks --------

CONSUMER_ACTION_TYPE = "io.nats.jetstream.advisory.v1.consumer_action"
MAX_DELIVER_TYPE = "io.nats.jetstream.advisory.v1.max_deliver"
NAK_TYPE = "io.nats.jetstream.advisory.v1.nak"
TERMINATED_TYPE = "io.nats.jetstream.advisory.v1.terminated"
ACK_METRIC_TYPE = "io.nats.jetstream.metric.v1.consumer_ack"
ACK_METRIC_PREFIX = "$JS.EVENT.METRIC.CONSUMER.ACK."

__all__ += [
    "ACK_METRIC_PREFIX",
    "consumer_acked",
    "consumer_action",
    "consumer_max_deliveries",
    "consumer_naked",
    "consumer_pause",
    "consumer_terminated",
]


def consumer_action(js: AccountView, action: str, stream: str, consumer: str) -> None:
    """``$JS.EVENT.ADVISORY.CONSUMER.<CREATED|DELETED>.<stream>.<consumer>``; ``action``
    is ``create`` or ``delete``."""
    subject = f"{ADVISORY_PREFIX}CONSUMER.{_VERBS[action]}.{stream}.{consumer}"
    _consumer_event(js, subject, CONSUMER_ACTION_TYPE, stream, consumer, {"action": action})


def consumer_max_deliveries(js: AccountView, stream: str, consumer: str, sseq: int, deliveries: int) -> None:
    """``$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>``: message ``sseq``
    was delivered ``deliveries`` (max_deliver) times and will not be again."""
    subject = f"{ADVISORY_PREFIX}CONSUMER.MAX_DELIVERIES.{stream}.{consumer}"
    fields = {"stream_seq": sseq, "deliveries": deliveries}
    _consumer_event(js, subject, MAX_DELIVER_TYPE, stream, consumer, fields)


def consumer_naked(js: AccountView, stream: str, consumer: str, dseq: int, sseq: int, dc: int) -> None:
    """``$JS.EVENT.ADVISORY.CONSUMER.MSG_NAKED.<stream>.<consumer>``: a pending message was naked."""
    subject = f"{ADVISORY_PREFIX}CONSUMER.MSG_NAKED.{stream}.{consumer}"
    fields = {"consumer_seq": dseq, "stream_seq": sseq, "deliveries": dc}
    _consumer_event(js, subject, NAK_TYPE, stream, consumer, fields)


def consumer_terminated(
    js: AccountView, stream: str, consumer: str, dseq: int, sseq: int, dc: int, reason: str
) -> None:
    """``$JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.<stream>.<consumer>``: ``+TERM [reason]``."""
    subject = f"{ADVISORY_PREFIX}CONSUMER.MSG_TERMINATED.{stream}.{consumer}"
    fields: dict[str, Any] = {"consumer_seq": dseq, "stream_seq": sseq, "deliveries": dc}
    if reason:
        fields["reason"] = reason
    _consumer_event(js, subject, TERMINATED_TYPE, stream, consumer, fields)


def consumer_acked(
    js: AccountView, stream: str, consumer: str, dseq: int, sseq: int, ack_time: int, dc: int
) -> None:
    """``$JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer>``: a sampled ack (``sample_freq``),
    ``ack_time`` nanoseconds after the delivery."""
    subject = f"{ACK_METRIC_PREFIX}{stream}.{consumer}"
    fields = {"consumer_seq": dseq, "stream_seq": sseq, "ack_time": ack_time, "deliveries": dc}
    _consumer_event(js, subject, ACK_METRIC_TYPE, stream, consumer, fields)


PAUSE_TYPE = "io.nats.jetstream.advisory.v1.consumer_pause"


def consumer_pause(js: AccountView, stream: str, consumer: str, until_ns: int) -> None:
    """``$JS.EVENT.ADVISORY.CONSUMER.PAUSE.<stream>.<consumer>``: paused until ``until_ns``
    (Unix ns; 0: not paused), or a pause that just ended (``paused`` false)."""
    subject = f"{ADVISORY_PREFIX}CONSUMER.PAUSE.{stream}.{consumer}"
    fields = {
        "paused": bool(until_ns) and js.clock() < until_ns,
        "pause_until": format_ts(until_ns),  # 0: Go's zero time, as nats-server writes it
    }
    _consumer_event(js, subject, PAUSE_TYPE, stream, consumer, fields)
