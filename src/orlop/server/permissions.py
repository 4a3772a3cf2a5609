"""Subject permissions of a user: what it may publish, subscribe to, and answer.

nats-server's rules, as its ``client.go`` applies them (``setPermissions``,
``pubAllowedFullCheck``, ``canSubscribe``, ``responseAllowed``):

* a publish is allowed when it matches an ``allow`` pattern (no allow list: everything)
  and no ``deny`` pattern; refused ones get ``-ERR 'Permissions Violation for Publish to
  "x"'`` and the connection stays open;
* a subscription likewise, where an entry may name a queue (``"subject queue"``): with
  queue entries among the matches, the subscription's queue must be one of them (allow)
  or must not be (deny); ``-ERR 'Permissions Violation for Subscription to "x"'`` (``…
  using queue "q"``);
* a subscription allowed although its wildcard overlaps a deny entry (``>`` with
  ``secret.>`` denied) never receives a message on a denied subject: those are
  filtered out at delivery;
* ``allow_responses``: a message delivered with a reply subject lets the receiver
  publish to that reply ``max_msgs`` times within ``expires`` seconds (default once,
  2 minutes), even where its publish rules would refuse it. Setting it without a
  publish allow list turns the blanket allow off (only responses may be published).

The compiled form (:class:`ConnPermissions`) belongs to one connection: it caches
publish decisions and tracks the replies it may send.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from orlop.server.sublist import Sublist
from orlop.subjects import collide, has_wildcard, matches

__all__ = [
    "DEFAULT_RESPONSE_EXPIRES",
    "DEFAULT_RESPONSE_MAX",
    "ConnPermissions",
    "Permissions",
    "ResponsePermission",
    "SubjectPermission",
]

DEFAULT_RESPONSE_MAX = 1
DEFAULT_RESPONSE_EXPIRES = 120.0  # seconds (nats-server: 2 minutes)
_PUB_CACHE_MAX = 1024  # nats-server's maxPermCacheSize


@dataclass(frozen=True, slots=True)
class SubjectPermission:
    """``allow`` None means everything is allowed (before ``deny``); an empty tuple, nothing."""

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ResponsePermission:
    max_msgs: int = DEFAULT_RESPONSE_MAX  # <= 0: unlimited
    expires: float = DEFAULT_RESPONSE_EXPIRES  # seconds; <= 0: never


@dataclass(frozen=True, slots=True)
class Permissions:
    publish: SubjectPermission | None = None
    subscribe: SubjectPermission | None = None
    response: ResponsePermission | None = None


@dataclass(slots=True, eq=False)  # hashed by identity: the sublist keeps entries in sets
class _Entry:
    """A permission pattern in a sublist (the sublist wants ``subject`` and ``queue``)."""

    subject: str
    queue: str = ""


def split_queue(entry: str) -> tuple[str, str]:
    """``"subject queue"`` -> (subject, queue); a plain subject has the queue ''."""
    parts = entry.split()
    return (parts[0], parts[1]) if len(parts) == 2 else (entry, "")


def _sublist(entries: Iterable[str], *, queues: bool) -> Sublist[_Entry]:
    sl: Sublist[_Entry] = Sublist()
    for text in entries:
        subject, queue = split_queue(text) if queues else (text, "")
        sl.insert(_Entry(subject, queue))
    return sl


@dataclass(slots=True)
class _Reply:
    count: int = 0
    since: float = field(default_factory=time.monotonic)


class ConnPermissions:
    """One connection's permissions, compiled for matching."""

    __slots__ = (
        "_cache",
        "_deny_subs",
        "_pub_allow",
        "_pub_deny",
        "_replies",
        "_sub_allow",
        "_sub_deny",
        "checks_pub",
        "response",
    )

    def __init__(self, perms: Permissions) -> None:
        pub, sub = perms.publish, perms.subscribe
        self._pub_allow = _sublist(pub.allow, queues=False) if pub and pub.allow is not None else None
        self._pub_deny = _sublist(pub.deny, queues=False) if pub and pub.deny else None
        self._sub_allow = _sublist(sub.allow, queues=True) if sub and sub.allow else None
        self._sub_deny = _sublist(sub.deny, queues=True) if sub and sub.deny else None
        self._deny_subs = tuple(split_queue(d)[0] for d in (sub.deny if sub else ()))
        self.response = perms.response
        self._replies: dict[str, _Reply] = {}
        self._cache: dict[str, bool] = {}
        # Whether publishes need a look at all (no publish rules and no responses: never).
        self.checks_pub = self._pub_allow is not None or self._pub_deny is not None

    # -- publish ---------------------------------------------------------------------------

    def may_publish(self, subject: str) -> bool:
        cached = self._cache.get(subject)
        if cached is None:
            cached = True
            if self._pub_allow is not None:
                cached = bool(self._pub_allow.match(subject))
            if cached and self._pub_deny is not None:
                cached = not self._pub_deny.match(subject)
            if cached or self.response is None:  # a response grant is never cached
                if len(self._cache) >= _PUB_CACHE_MAX:
                    self._cache.clear()
                self._cache[subject] = cached
        if not cached and self.response is not None:
            return self._response_allowed(subject)
        return cached

    def note_reply(self, reply: str) -> None:
        """A message with ``reply`` was delivered to this connection: it may answer it."""
        if self.response is not None:
            self._replies[reply] = _Reply()  # a new delivery renews the grant, as nats-server
            if len(self._replies) > 4096:
                self._prune()

    def _response_allowed(self, subject: str) -> bool:
        grant = self._replies.get(subject)
        if grant is None or self.response is None:
            return False
        grant.count += 1
        limit, expires = self.response.max_msgs, self.response.expires
        if (limit > 0 and grant.count > limit) or (expires > 0 and time.monotonic() - grant.since > expires):
            del self._replies[subject]
            return False
        if limit > 0 and grant.count == limit:
            del self._replies[subject]  # used up: the next one is refused
        return True

    def _prune(self) -> None:
        """Drop expired grants (a client that never answers must not grow this forever)."""
        expires = self.response.expires if self.response else 0
        if expires > 0:
            now = time.monotonic()
            for reply in [r for r, g in self._replies.items() if now - g.since > expires]:
                del self._replies[reply]

    # -- subscribe -------------------------------------------------------------------------

    def may_subscribe(self, subject: str, queue: str = "") -> bool:
        allowed = True
        if self._sub_allow is not None:
            match = self._sub_allow.match(subject)
            allowed = bool(match.plain)
            if queue and match.groups:
                allowed = _queue_listed(queue, match.groups)
        if allowed and self._sub_deny is not None:
            match = self._sub_deny.match(subject)
            allowed = not match.plain
            if allowed and queue and match.groups:
                allowed = not _queue_listed(queue, match.groups)
        return allowed

    def filters_delivery(self, subject: str, queue: str = "") -> bool:
        """Whether a subscription to ``subject`` can reach denied subjects (then each message is checked)."""
        if not self._deny_subs or not (queue or has_wildcard(subject)):
            return False
        return any(collide(denied, subject) for denied in self._deny_subs)

    def delivery_denied(self, subject: str, queue: str = "") -> bool:
        """A message on ``subject`` must not reach a filtered subscription (of ``queue``)."""
        if self._sub_deny is None:
            return False
        match = self._sub_deny.match(subject)
        return bool(match.plain) or bool(queue and match.groups and _queue_listed(queue, match.groups))


def _queue_listed(queue: str, groups: tuple[tuple[_Entry, ...], ...]) -> bool:
    """Whether ``queue`` is one of the entries' queues (which may be wildcards, as in nats-server)."""
    for group in groups:
        name = group[0].queue
        if queue == name or (has_wildcard(name) and matches(queue, name)):
            return True
    return False
