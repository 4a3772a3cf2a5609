"""Accounts: the unit of subject isolation, and the message router inside one.

Every connection belongs to exactly one account and every subscription lives in
its account's :class:`~orlop.server.sublist.Sublist`; a publish reaches only the
subscriptions of the publisher's account. In-process services (JetStream) use
the same router through internal subscriptions, so "is anybody listening" and
"queue group picks one member" mean the same thing for clients and services.

:meth:`Account.route` is the hot path: it takes the cached match for a subject
and hands each delivery to the subscriber's connection (which only appends
bytes to a buffer) or to the internal callback, without awaiting anything.
Delivery iterates an immutable match, so callbacks may subscribe, unsubscribe
and publish re-entrantly.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any, Protocol

from orlop.protocol.encode import wire_bytes
from orlop.server.sublist import Sublist
from orlop.subjects import is_valid_subject

__all__ = ["GLOBAL_ACCOUNT", "Account", "Client", "InternalCallback", "InternalSub", "Subscription"]

GLOBAL_ACCOUNT = "$G"

log = logging.getLogger("orlop.server")

# ``callback(subject, reply, hdr, payload)``; it may return how many deliveries it made in
# turn (an import forwarding a request), where 0 means nobody received it (no responders).
InternalCallback = Callable[[str, str, bytes, bytes], int | None]


class Client(Protocol):
    """A client connection as routing sees it (:class:`orlop.server.connection.Connection`)."""

    @property
    def cid(self) -> int: ...

    @property
    def write_paused(self) -> bool:
        """Its outbound buffer is over the high-water mark (publishers to it are paused)."""

    @property
    def echo(self) -> bool:
        """It receives its own publishes (CONNECT ``echo``)."""

    def send_msg(self, sub: Subscription, subject: str, reply: str, hdr: bytes, payload: bytes) -> None: ...

    def auto_unsubscribe(self, sub: Subscription) -> None: ...

    def block_on(self, peer: Client) -> None:
        """Stop reading this publisher until ``peer``'s buffer drains."""


class Subscription:
    """A subscription: a client's (``conn`` set) or an internal one (``callback`` set).

    ``max_msgs`` (0 = unlimited) and ``delivered`` implement ``UNSUB sid max``;
    ``closed`` is set when it is removed, so an in-flight delivery skips it.
    ``sid_part`` is ``b" <sid> "``, precomputed for MSG frames.
    """

    __slots__ = (
        "callback",
        "closed",
        "conn",
        "delivered",
        "deny_filter",
        "max_msgs",
        "queue",
        "sid",
        "sid_part",
        "subject",
    )

    def __init__(
        self,
        subject: str,
        queue: str,
        sid: str,
        conn: Client | None = None,
        callback: InternalCallback | None = None,
    ) -> None:
        self.subject = subject
        self.queue = queue
        self.sid = sid
        self.sid_part = b" " + wire_bytes(sid) + b" "
        self.conn = conn
        self.callback = callback
        self.max_msgs = 0
        self.delivered = 0
        self.closed = False
        # Its owner's permissions deny some subjects this subscription could reach: each
        # delivery is checked (see orlop.server.permissions).
        self.deny_filter = False

    def __repr__(self) -> str:
        owner = f"cid={self.conn.cid}" if self.conn is not None else "internal"
        return f"<Subscription {self.subject!r} queue={self.queue!r} sid={self.sid} {owner}>"


class InternalSub(Subscription):
    """A subscription owned by an in-process service; see :meth:`Account.subscribe_internal`."""

    __slots__ = ()


class Account:
    """One account: its sublist, its connections and its interest listeners.

    ``server`` is the owning :class:`~orlop.server.server.Server` (or None for an
    account used without a server, e.g. in unit tests).
    """

    def __init__(self, name: str, server: Any = None) -> None:
        self.name = name
        self.server = server
        self.sublist: Sublist[Subscription] = Sublist()
        self.clients: dict[int, Client] = {}
        self._interest_listeners: list[Callable[[str], None]] = []
        self._isid = 0

    def __repr__(self) -> str:
        return f"<Account {self.name} subs={self.sublist.count()} clients={len(self.clients)}>"

    # -- the contract for in-process services ---------------------------------------------

    def subscribe_internal(self, subject: str, callback: InternalCallback, queue: str = "") -> InternalSub:
        """Subscribe an in-process ``callback(subject, reply, hdr, payload)`` to ``subject``.

        The callback runs synchronously inside the publisher's dispatch and must not
        block; it may publish and (un)subscribe. Raises ValueError for an invalid subject.
        """
        if not is_valid_subject(subject):
            raise ValueError(f"invalid subject {subject!r}")
        self._isid += 1
        sub = InternalSub(subject, queue, f"$I{self._isid}", None, callback)
        self.sublist.insert(sub)
        return sub

    def unsubscribe_internal(self, sub: InternalSub) -> None:
        """Remove an internal subscription; removing it twice is harmless."""
        sub.closed = True
        self.sublist.remove(sub)

    def publish(self, subject: str, reply: str, hdr: bytes, payload: bytes) -> int:
        """Deliver a message from inside the server; returns the number of deliveries."""
        return self.route(subject, reply, hdr, payload, None)

    def publish_as(self, subject: str, shown: str, reply: str, hdr: bytes, payload: bytes) -> int:
        """Route by ``subject`` while receivers see ``shown`` as the message subject.

        JetStream consumers deliver a stored message to a deliver subject (or a pull
        request's inbox) under the message's own subject, as nats-server does. Queue
        groups are honoured; returns the number of deliveries.
        """
        m = self.sublist.match(subject)
        if not m:
            return 0
        n = 0
        for sub in m.plain:
            if not sub.closed:
                n += self._deliver(sub, shown, reply, hdr, payload, None)
        for group in m.groups:
            member = self._pick(group, None)
            if member is not None:
                n += self._deliver(member, shown, reply, hdr, payload, None)
        return n

    def has_interest(self, subject: str) -> bool:
        """True when any subscription (client or internal) matches ``subject``."""
        return bool(self.sublist.match(subject))

    def add_interest_listener(self, fn: Callable[[str], None]) -> None:
        """Call ``fn(sub_subject)`` after every client SUB/UNSUB and for each sub of a closed client."""
        self._interest_listeners.append(fn)

    def remove_interest_listener(self, fn: Callable[[str], None]) -> None:
        if fn in self._interest_listeners:
            self._interest_listeners.remove(fn)

    # -- used by connections ----------------------------------------------------------------

    def add_client_sub(self, sub: Subscription) -> None:
        self.sublist.insert(sub)
        self.notify_interest(sub.subject)

    def remove_client_sub(self, sub: Subscription, notify: bool = True) -> None:
        sub.closed = True
        if self.sublist.remove(sub) and notify:
            self.notify_interest(sub.subject)

    def notify_interest(self, subject: str) -> None:
        for fn in tuple(self._interest_listeners):
            fn(subject)

    def route(self, subject: str, reply: str, hdr: bytes, payload: bytes, publisher: Client | None) -> int:
        """Deliver to every matching subscription; one member per queue group.

        A publisher whose connection has ``echo`` off does not receive its own
        message. Returns the number of deliveries.
        """
        sublist = self.sublist
        m = sublist.cache.get(subject)  # the cache hit, inline: this runs once per message
        if m is None:
            m = sublist.match(subject)
        else:
            sublist.cache_hits += 1
        plain, groups = m.plain, m.groups
        if not plain and not groups:
            return 0
        skip = publisher if publisher is not None and not publisher.echo else None
        n = 0
        for sub in plain:
            conn = sub.conn
            if conn is None or sub.max_msgs or (publisher is not None and conn.write_paused):
                if not sub.closed and (skip is None or conn is not skip):
                    n += self._deliver(sub, subject, reply, hdr, payload, publisher)
            elif conn is not skip and not sub.closed:
                conn.send_msg(sub, subject, reply, hdr, payload)  # the common case, inline
                n += 1
        for group in groups:
            member = self._pick(group, skip)
            if member is not None:
                n += self._deliver(member, subject, reply, hdr, payload, publisher)
        return n

    @staticmethod
    def _pick(group: tuple[Subscription, ...], skip: Client | None) -> Subscription | None:
        size = len(group)
        if size == 1:
            sub = group[0]
            return None if sub.closed or (skip is not None and sub.conn is skip) else sub
        start = random.randrange(size)
        for i in range(size):
            sub = group[(start + i) % size]
            if not sub.closed and (skip is None or sub.conn is not skip):
                return sub
        return None

    @staticmethod
    def _deliver(
        sub: Subscription, subject: str, reply: str, hdr: bytes, payload: bytes, publisher: Client | None
    ) -> int:
        if sub.max_msgs:
            sub.delivered += 1
            if sub.delivered >= sub.max_msgs:
                sub.closed = True  # no more deliveries, even from this same match
                conn = sub.conn
                if conn is not None:
                    conn.auto_unsubscribe(sub)
        conn = sub.conn
        if conn is None:
            assert sub.callback is not None
            try:
                delivered = sub.callback(subject, reply, hdr, payload)
            except Exception:  # a failing service must not break the publisher's connection
                log.exception("internal subscription %r failed on %r", sub.subject, subject)
                return 1
            return 1 if delivered is None else delivered
        conn.send_msg(sub, subject, reply, hdr, payload)
        if conn.write_paused and publisher is not None and publisher is not conn:
            publisher.block_on(conn)
        return 1
