"""Subject tokens and wildcards, shared by routing, storage and JetStream.

NATS subjects are dot-separated tokens. In a *pattern* (a subscription or a
stream/consumer filter) the token ``*`` matches exactly one token and a final
``>`` matches one or more. A *published* subject may itself contain ``*`` or
``>`` tokens on non-pedantic connections; those are matched literally (a ``*``
token in a published subject is matched by a ``*`` in a pattern, or by ``>``),
which the JetStream clients rely on (``$JS.API.DIRECT.GET.OBJ_b.$O.b.M.>``).

Everything here is pure and allocation-light: routing calls :func:`matches`
only on a cache miss, but stores call it per message when filtering.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = [
    "collide",
    "has_wildcard",
    "is_subset",
    "is_valid_publish",
    "is_valid_subject",
    "matches",
    "tokens",
]


def tokens(subject: str) -> list[str]:
    """Split a subject into its tokens."""
    return subject.split(".")


def has_wildcard(subject: str) -> bool:
    """True when any token of ``subject`` is ``*`` or ``>``."""
    if "*" not in subject and ">" not in subject:
        return False
    return any(t in ("*", ">") for t in subject.split("."))


@lru_cache(maxsize=8192)
def is_valid_subject(subject: str) -> bool:
    """A valid subscription subject/filter: non-empty tokens, no whitespace, ``>`` last only."""
    if not subject or any(c in subject for c in " \t\r\n"):
        return False
    toks = subject.split(".")
    for i, t in enumerate(toks):
        if not t:
            return False
        if t == ">" and i != len(toks) - 1:
            return False
    return True


def is_valid_publish(subject: str) -> bool:
    """A subject a client may publish to (wildcard tokens allowed, matched literally)."""
    if not subject or any(c in subject for c in " \t\r\n"):
        return False
    return all(subject.split("."))


def _match_tokens(subj: list[str], pat: list[str]) -> bool:
    n = len(pat)
    for i, p in enumerate(pat):
        if p == ">":
            return len(subj) > i and i == n - 1
        if i >= len(subj):
            return False
        if p != "*" and p != subj[i]:
            return False
    return len(subj) == n


def matches(subject: str, pattern: str) -> bool:
    """True when a published ``subject`` is delivered to a subscription on ``pattern``.

    Wildcard tokens inside ``subject`` are literal: ``a.*`` published is matched by
    pattern ``a.*`` (the ``*`` matches the token ``*``) and by ``a.>``.
    """
    if pattern == subject:
        return True
    if "*" not in pattern and ">" not in pattern:
        return False
    return _match_tokens(subject.split("."), pattern.split("."))


def collide(a: str, b: str) -> bool:
    """True when some concrete subject could match both patterns ``a`` and ``b``.

    Used for stream subject overlap checks and STREAM.NAMES/LIST filters.
    """
    ta, tb = a.split("."), b.split(".")
    i = 0
    while i < len(ta) and i < len(tb):
        x, y = ta[i], tb[i]
        if x == ">" or y == ">":
            return True
        if x != y and x != "*" and y != "*":
            return False
        i += 1
    return len(ta) == len(tb)


def is_subset(sub: str, sup: str) -> bool:
    """True when every subject matched by pattern ``sub`` is also matched by ``sup``."""
    ts, tp = sub.split("."), sup.split(".")
    for i, p in enumerate(tp):
        if p == ">":
            return len(ts) > i
        if i >= len(ts):
            return False
        s = ts[i]
        if s == ">":
            return False
        if p != "*" and (s == "*" or s != p):
            return False
    return len(ts) == len(tp)
