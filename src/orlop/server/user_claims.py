"""What a user JWT's claims come to at connect: scoped signing keys and connect times.

**Scoped signing keys** (``nsc edit signing-key --sk K --role R``). An account JWT may
list a signing key as ``{"kind": "user_scope", "key": K, "role": R, "template": {...}}``.
A user that key signs gets the template's permissions and limits instead of its own: its
JWT must set none of them (nats-server refuses it otherwise), and the template's
subjects may name the user with ``{{name()}}``, ``{{subject()}}``, ``{{tag(T)}}``, and
its account with ``{{account-name()}}``, ``{{account-subject()}}``, ``{{account-tag(T)}}``.
A tag template stands for every value of that tag (``T:value`` in the JWT's tags), so a
subject with several expands into several subjects (at most 4096 per list). As nats-server (auth.go
processUserPermissionsTemplate) does it: an allow subject that comes out invalid (a tag
the user lacks) is dropped, and an allow list emptied that way becomes a ``deny >``; a deny
subject that comes out invalid, an unknown template, or more subjects than that refuses
the user: failing closed.

**Connect times** (``times``: ``[{"start": "HH:MM:SS", "end": "HH:MM:SS"}]``, in the zone
``times_location`` or else local time). A user connects only inside one of its ranges (a
range may cross midnight) and is disconnected with ``User Authentication Expired`` when
the range ends (nats-server's jwt.go validateTimes).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import time
import zoneinfo
from typing import Any

from orlop.subjects import is_valid_subject

__all__ = ["ScopeError", "connect_window", "has_own_permissions", "limits_problem", "scoped_claims"]

# The fields of jwt's UserPermissionLimits: what a scope's template sets for its users.
_LIMIT_FIELDS = (
    "pub",
    "sub",
    "resp",
    "src",
    "times",
    "times_location",
    "subs",
    "data",
    "payload",
    "bearer_token",
    "proxy_required",
    "allowed_connection_types",
)
_TEMPLATE = re.compile(r"\{\{([^}]+)\}\}")
_MAX_EXPANSIONS = 4096
_CLOCK = re.compile(r"(\d{1,2}):(\d{2}):(\d{2})")


class ScopeError(ValueError):
    """A scoped user whose permissions cannot be built: it is refused."""


def _strings(value: Any) -> bool:
    return value is None or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def limits_problem(block: Any) -> str:
    """What in a user JWT's permissions and limits (or a scope's template, or an account's
    default permissions) jwt's decoder would refuse ("" when nothing): the token is then
    invalid. Read loosely instead, a ``pub`` written as a list would be no restriction."""
    if not isinstance(block, dict):
        return "permissions are not an object"
    for side in ("pub", "sub"):
        value = block.get(side)
        if value is None:
            continue
        if not isinstance(value, dict) or not (_strings(value.get("allow")) and _strings(value.get("deny"))):
            return f"{side} is not an object of allow and deny lists of subjects"
    if block.get("resp") is not None and not isinstance(block["resp"], dict):
        return "resp is not an object"
    times = block.get("times")
    if times is not None and not (isinstance(times, list) and all(isinstance(t, dict) for t in times)):
        return "times is not a list of ranges"
    for key in ("subs", "data", "payload"):
        value = block.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            return f"{key} is not a number"
    if not _strings(block.get("allowed_connection_types")):
        return "allowed_connection_types is not a list of strings"
    return ""


def has_own_permissions(nats: dict[str, Any]) -> bool:
    """Whether a user JWT sets permissions or limits, which a scoped key's user may not.

    nats-server compares the decoded fields with Go's zero values: an absent or null field
    is unset, so are ``false``, ``0``, ``""`` and a ``pub``/``sub`` without allow or deny
    (nsc writes ``"pub": {}``); any list, even empty, and any ``resp`` object are set.
    """
    for key in _LIMIT_FIELDS:
        value = nats.get(key)
        if value is None:
            continue
        if key in ("pub", "sub"):
            if not isinstance(value, dict) or any(value.get(k) is not None for k in ("allow", "deny")):
                return True
        elif isinstance(value, (list, dict)) or value:
            return True
    return False


def _tags(nats: dict[str, Any]) -> list[str]:
    tags = nats.get("tags")
    return [str(t) for t in tags] if isinstance(tags, list) else []


def _expand(subjects: Any, strict: bool, user: dict[str, Any], account: dict[str, Any]) -> list[str]:
    """One allow or deny list with its templates filled in (see the module docstring)."""
    if not isinstance(subjects, list):
        return []
    listed = [str(s) for s in subjects]
    if not any(_TEMPLATE.search(s) for s in listed):
        return listed
    out: list[str] = []
    for subject in listed:
        sources = [m.group(0) for m in _TEMPLATE.finditer(subject)]
        choices: list[list[str]] = []
        for source in sources:
            op = source[2:-2].strip()
            lowered = op.lower()
            if lowered == "name()":
                choices.append([str(user.get("name", ""))])
            elif lowered == "subject()":
                choices.append([str(user.get("subject", ""))])
            elif lowered == "account-name()":
                choices.append([str(account.get("name", ""))])
            elif lowered == "account-subject()":
                choices.append([str(user.get("issuer_account", ""))])
            elif (lowered.startswith("tag(") or lowered.startswith("account-tag(")) and op.endswith(")"):
                # Recognised in any case, but nats-server strips only a lowercase "tag(":
                # "Tag(team)" looks for the tag "tag(team", which no user has.
                opener = "account-tag(" if lowered.startswith("account-tag(") else "tag("
                name = op.removeprefix(opener)[:-1]
                prefix = name.lower() + ":"
                owner = account if opener == "account-tag(" else user
                values = [t[len(prefix) :] for t in owner.get("tags", []) if t.startswith(prefix)]
                if not values and strict:
                    raise ScopeError(f"generated invalid subject {subject!r}: {name!r} is not defined")
                choices.append(values or [" "])  # " " makes the subject invalid: dropped
            else:
                raise ScopeError(f"template operation in {subject!r}: {op!r} is not defined")
        count = 1
        for values in choices:
            count *= len(values)
        if len(out) + count > _MAX_EXPANSIONS:
            raise ScopeError(f"template expansion exceeds limit: {_MAX_EXPANSIONS}")
        for combination in itertools.product(*choices):
            expanded = subject
            for source, value in zip(sources, combination, strict=True):
                expanded = expanded.replace(source, value)
            if is_valid_subject(expanded):
                out.append(expanded)
            elif strict:
                raise ScopeError("generated invalid subject")
    return out


def scoped_claims(
    template: dict[str, Any],
    nats: dict[str, Any],
    *,
    name: str,
    subject: str,
    account_name: str,
    account_tags: list[str],
) -> dict[str, Any]:
    """The ``nats`` claims a scoped key's user connects with: its own JWT's ``nats``, less
    its (empty) permissions and limits, plus the template's with the subjects filled in.

    ``name`` and ``subject`` are the user JWT's. Raises ScopeError when the template
    cannot be applied (the user is then refused).
    """
    who = {
        "name": name,
        "subject": subject,
        "issuer_account": str(nats.get("issuer_account") or ""),
        "tags": _tags(nats),
    }
    account = {"name": account_name, "tags": account_tags}
    # A template's limits default to none (jwt's NewUserScope), not to zero.
    merged: dict[str, Any] = {k: v for k, v in nats.items() if k not in _LIMIT_FIELDS}
    merged.update({"subs": -1, "data": -1, "payload": -1})
    merged.update({k: template[k] for k in _LIMIT_FIELDS if k in template})
    for side in ("sub", "pub"):
        block = template.get(side)
        if not isinstance(block, dict):
            continue
        allow = _expand(block.get("allow"), False, who, account)
        deny = _expand(block.get("deny"), True, who, account)
        if block.get("allow") and not allow:
            deny = [*deny, ">"]  # every allowed subject was dropped: allow nothing
        merged[side] = {"allow": allow or None, "deny": deny or None}
    return merged


def _clock(text: Any) -> tuple[int, int, int] | None:
    match = _CLOCK.fullmatch(str(text))
    if match is None:
        return None
    h, m, s = (int(g) for g in match.groups())
    return (h, m, s) if h < 24 and m < 60 and s < 60 else None


def connect_window(nats: dict[str, Any], now: float | None = None) -> tuple[bool, float]:
    """Whether the user may connect now under its ``times``, and for how many seconds more.

    ``(True, 0.0)`` when the user has no connect times; ``(False, 0.0)`` outside every
    range, or when a range or the zone does not parse (refused: failing closed).
    """
    ranges = nats.get("times")
    if not ranges:
        return True, 0.0
    location = nats.get("times_location")
    zone: dt.tzinfo | None = None  # Go's LoadLocation: "Local" is the server's zone, as none is
    if location and location != "Local":
        try:
            zone = zoneinfo.ZoneInfo(str(location))
        except Exception:  # not found, a directory, a name too long...: refused, never raised
            return False, 0.0
    stamp = time.time() if now is None else now
    local = dt.datetime.fromtimestamp(stamp, zone) if zone else dt.datetime.fromtimestamp(stamp).astimezone()
    best: float | None = None
    for entry in ranges if isinstance(ranges, list) else ():
        start_at = _clock(entry.get("start")) if isinstance(entry, dict) else None
        end_at = _clock(entry.get("end")) if isinstance(entry, dict) else None
        if start_at is None or end_at is None:
            return False, 0.0
        # Instants, not wall clocks: comparisons and differences stay right across DST.
        start = local.replace(hour=start_at[0], minute=start_at[1], second=start_at[2], microsecond=0)
        end = local.replace(hour=end_at[0], minute=end_at[1], second=end_at[2], microsecond=0)
        left = _left(start.timestamp(), end.timestamp(), (end + dt.timedelta(days=1)).timestamp(), stamp)
        if left is not None and (best is None or left > best):
            best = left
    return (True, best) if best is not None else (False, 0.0)


def _left(start: float, end: float, end_tomorrow: float, now: float) -> float | None:
    """Seconds left in today's range at ``now`` (nats-server's validateTimeRangeAt), else None."""
    if start < now < end:
        return end - now
    if start > end:  # the range crosses midnight
        if now < end:  # after midnight, e.g. 22:00-06:00 at 05:00
            return end - now
        if start < now < end_tomorrow:  # before midnight, e.g. 22:00-06:00 at 23:30
            return end_tomorrow - now
    return None
