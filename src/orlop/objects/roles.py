"""Bucket roles as nats-server permissions: exactly the subjects an object store client needs.

An object store is a stream (``OBJ_<bucket>``) and two subject trees (``$O.<bucket>.C.>``
for chunks, ``$O.<bucket>.M.>`` for metas), used through the JetStream API. What each
client sends (nats.go, nats.js, nats-py, orlop.objects; see the wire reference) comes to:

* reading (get, info, list, watch): ``$JS.API.INFO``, ``STREAM.INFO`` of the stream,
  ``STREAM.MSG.GET`` and ``DIRECT.GET`` on it (last meta, chunks), consumers on it
  (``CONSUMER.CREATE`` / ``INFO`` / ``DELETE``: the ordered push consumers of get and
  watch), and flow-control replies to ``$JS.FC.<stream>.>``; replies arrive on ``_INBOX.>``;
* writing adds publishing to ``$O.<bucket>.>`` and purging the stream (a delete, a
  replace reclaiming old chunks);
* administering every bucket adds creating, updating (seal, edit), deleting and listing
  streams. NATS permissions match whole tokens, so "every bucket" is written as every
  stream (``$JS.API.STREAM.INFO.*``): an admin of all buckets can reach other streams'
  API too; give it to people who may.

Nothing else: a read-only user cannot publish a chunk, purge, seal or see other buckets.
:func:`role_permissions` returns the blocks; :func:`config_block` writes one as nats-server
configuration (``orlop object acl`` prints it).
"""

from __future__ import annotations

import json
from typing import Any

from orlop.objects.meta import validate_bucket_name

__all__ = ["ROLES", "config_block", "role_permissions"]

ROLES = ("read-only", "read-write", "admin")


def _read(stream: str) -> list[str]:
    api = "$JS.API"
    return [
        f"{api}.INFO",
        f"{api}.STREAM.INFO.{stream}",
        f"{api}.STREAM.MSG.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}",
        f"{api}.DIRECT.GET.{stream}.>",
        f"{api}.CONSUMER.CREATE.{stream}",
        f"{api}.CONSUMER.CREATE.{stream}.>",
        f"{api}.CONSUMER.INFO.{stream}.>",
        f"{api}.CONSUMER.DELETE.{stream}.>",
        f"$JS.FC.{stream}.>",
        # nats-py finds the stream of a subscription by subject (names only, no contents).
        f"{api}.STREAM.NAMES",
    ]


def role_permissions(role: str, bucket: str = "*") -> dict[str, Any]:
    """``{"publish": {"allow": [...]}, "subscribe": {"allow": [...]}}`` for ``role`` on ``bucket``.

    ``bucket`` ``*`` (the default) means every bucket; ``admin`` is always every bucket.
    Raises ValueError for an unknown role, BadRequest for an invalid bucket name.
    """
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if role == "admin" or bucket == "*":
        # NATS permissions match whole tokens: "every bucket" is every stream ("OBJ_*" is no pattern).
        bucket, stream = "*", "*"
    else:
        validate_bucket_name(bucket)
        stream = f"OBJ_{bucket}"
    publish = _read(stream)
    if role in ("read-write", "admin"):
        publish += [f"$O.{bucket}.>", f"$JS.API.STREAM.PURGE.{stream}"]
    if role == "admin":
        publish += [
            f"$JS.API.STREAM.CREATE.{stream}",
            f"$JS.API.STREAM.UPDATE.{stream}",
            f"$JS.API.STREAM.DELETE.{stream}",
            "$JS.API.STREAM.LIST",
        ]
    return {"publish": {"allow": publish}, "subscribe": {"allow": ["_INBOX.>"]}}


def config_block(role: str, bucket: str, user: str, password: str) -> str:
    """A ``users`` entry in nats-server's configuration syntax (paste it into ``authorization``)."""
    perms = role_permissions(role, bucket)
    where = "every bucket" if role == "admin" or bucket == "*" else f"bucket {bucket}"

    def subjects(items: list[str]) -> str:
        return "[\n" + "".join(f"          {json.dumps(s)}\n" for s in items) + "        ]"

    return (
        f"# {role} on {where}\n"
        f"{{ user: {json.dumps(user)}, password: {json.dumps(password)}\n"
        "  permissions: {\n"
        f"    publish: {{ allow: {subjects(perms['publish']['allow'])} }}\n"
        f"    subscribe: {{ allow: {subjects(perms['subscribe']['allow'])} }}\n"
        "  }\n"
        "}\n"
    )
