"""Audit records: their fixed JSON format, and the pure derivations from wire traffic to records.

Why a module of pure functions: what an object-store operation *is* must be read from
what clients actually send (ADR-20 subjects, JetStream API requests, see
docs/audit.md), and that reading is the part worth unit-testing without sockets. The
wiring (:mod:`.trail`) only feeds these functions and stamps who and when.

The record format is FIXED (the ``orlop audit`` reader and the gateway's history view
parse it): one JSON object per line, UTF-8, keys in exactly this order::

    {"time":"2026-12-03T09:45:00.123456Z","server":"<name>","account":"A","user":"alice",
     "client_id":5,"client_addr":"127.0.0.1:53422","bucket":"b","object":"dir/x.bin",
     "op":"put","bytes":123,"revision":45,"result":"ok","err_code":null,"error":null}

* ``time``: RFC 3339 UTC with microseconds and ``Z``; ``server``: the server name (its
  id when unnamed); ``account``: the account owning the bucket (for a denied request:
  the client's account); ``user``: the authenticated user name (an NKEY/JWT user's
  public key or name), ``null`` without authentication; ``client_id`` (int) and
  ``client_addr`` (``"ip:port"``), ``null`` when no client is known.
* ``bucket``; ``object``: the object name (``null`` for bucket operations, list and
  watch, and when it cannot be known); ``op``: one of :data:`OPS`.
* ``bytes``: the object's size from its meta (``null`` when unknown); ``revision``: the
  stream sequence of the meta message written (put, update_meta, delete, link) or read
  (info, get), ``null`` when unknown.
* ``result``: ``ok``, ``denied`` (a permissions violation) or ``error`` (the JetStream
  API or the publish answered an error); ``err_code``: nats-server's JetStream error
  code (e.g. 10059) or ``null``; ``error``: its description, or ``null``.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "OPS",
    "ApiOp",
    "MetaInfo",
    "Record",
    "api_op",
    "bucket_of_stream",
    "decode_name",
    "encode",
    "format_time",
    "meta_info",
    "meta_op",
    "split_subject",
]

OPS = (
    "create_bucket",
    "update_bucket",
    "delete_bucket",
    "seal",
    "put",
    "get",
    "info",
    "list",
    "watch",
    "update_meta",
    "delete",
    "purge",
    "link",
)

_API = "$JS.API."
_STREAM_OPS = {
    "STREAM.CREATE": "create_bucket",
    "STREAM.UPDATE": "update_bucket",
    "STREAM.DELETE": "delete_bucket",
}


@dataclass(slots=True)
class Record:
    """One audit record before encoding; ``time_ns`` is Unix nanoseconds."""

    time_ns: int
    account: str
    user: str | None
    client_id: int | None
    client_addr: str | None
    bucket: str
    object: str | None
    op: str
    bytes: int | None = None
    revision: int | None = None
    result: str = "ok"
    err_code: int | None = None
    error: str | None = None


def format_time(ns: int) -> str:
    """``ns`` (Unix) as RFC 3339 UTC with microseconds: ``2026-12-03T09:45:00.123456Z``."""
    secs, rem = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{rem // 1000:06d}Z"


def encode(record: Record, server: str) -> bytes:
    """One JSON line (with its ``\\n``) in the fixed key order."""
    r = record
    doc = {
        "time": format_time(r.time_ns),
        "server": server,
        "account": r.account,
        "user": r.user,
        "client_id": r.client_id,
        "client_addr": r.client_addr,
        "bucket": r.bucket,
        "object": r.object,
        "op": r.op,
        "bytes": r.bytes,
        "revision": r.revision,
        "result": r.result,
        "err_code": r.err_code,
        "error": r.error,
    }
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode("utf-8", "replace") + b"\n"


def bucket_of_stream(stream: str) -> str | None:
    """``OBJ_<bucket>`` -> bucket; None for any other stream."""
    if stream.startswith("OBJ_") and len(stream) > 4:
        return stream[4:]
    return None


def decode_name(token: str) -> str | None:
    """The object name of a meta subject token (URL-safe base64, padding optional); None when invalid
    or a wildcard."""
    if not token or token in ("*", ">"):
        return None
    try:
        raw = base64.b64decode(token + "=" * (-len(token) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw.decode("utf-8", "replace") if raw else None


def split_subject(subject: str) -> tuple[str, str, str] | None:
    """``$O.<bucket>.<C|M>.<token>`` -> (bucket, kind, token); None for any other subject."""
    if not subject.startswith("$O."):
        return None
    parts = subject.split(".")
    if len(parts) != 4 or parts[2] not in ("C", "M") or not parts[1]:
        return None
    return parts[1], parts[2], parts[3]


@dataclass(slots=True)
class MetaInfo:
    """What a meta message says (ADR-20 ObjectInfo): the fields the audit needs."""

    name: str | None
    nuid: str
    size: int | None
    deleted: bool
    link: bool


def meta_info(payload: bytes) -> MetaInfo | None:
    """Decode a meta message payload; None when it is not an ObjectInfo JSON object."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    name = doc.get("name")
    nuid = doc.get("nuid")
    size = doc.get("size")
    options = doc.get("options")
    return MetaInfo(
        name=name if isinstance(name, str) else None,
        nuid=nuid if isinstance(nuid, str) else "",
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
        deleted=doc.get("deleted") is True,
        link=isinstance(options, dict) and bool(options.get("link")),
    )


def meta_op(info: MetaInfo | None, nuid_known: bool) -> str:
    """The operation a meta publish performs.

    ``deleted: true`` -> delete; ``options.link`` -> link; a nuid some meta of the bucket
    already points at -> update_meta (same chunks, new name/description/headers: also a
    rename); otherwise (a fresh nuid, as every client's put makes) -> put.
    """
    if info is None:
        return "put"
    if info.deleted:
        return "delete"
    if info.link:
        return "link"
    if info.nuid and nuid_known:
        return "update_meta"
    return "put"


@dataclass(slots=True)
class ApiOp:
    """A JetStream API request that is an object-store operation.

    ``nuid`` is set when the object is named by its chunk subject (get, purge of chunks):
    the caller resolves it to a name. ``meta`` is set for requests about one meta subject.
    """

    bucket: str
    op: str
    object: str | None = None
    nuid: str = ""
    sealing: bool = False  # STREAM.UPDATE asking for sealed: true
    subject: str = ""  # the meta subject an info reads
    whole: bool = False  # a purge of more than one chunk subject (the object index is stale)


def _filter_of(tokens: list[str], body: dict[str, Any]) -> str:
    cfg = body.get("config")
    filt = ""
    if isinstance(cfg, dict):
        f = cfg.get("filter_subject")
        if isinstance(f, str) and f:
            filt = f
        else:
            fs = cfg.get("filter_subjects")
            if isinstance(fs, list) and len(fs) == 1 and isinstance(fs[0], str):
                filt = fs[0]
    if not filt and len(tokens) > 4 and tokens[1] == "CREATE":
        filt = ".".join(tokens[4:])  # CONSUMER.CREATE.<stream>.<name>.<filter...>
    return filt


def _consumer_op(bucket: str, tokens: list[str], body: dict[str, Any]) -> ApiOp | None:
    parts = split_subject(_filter_of(tokens, body))
    if parts is None or parts[0] != bucket:
        return None
    _, kind, token = parts
    if kind == "C":
        return None if token in ("*", ">") else ApiOp(bucket, "get", nuid=token)
    cfg = body.get("config")
    policy = cfg.get("deliver_policy") if isinstance(cfg, dict) else None
    if token == ">":
        return ApiOp(bucket, "list" if policy == "last_per_subject" else "watch")
    return ApiOp(bucket, "watch", object=decode_name(token))


def _get_op(bucket: str, body: dict[str, Any]) -> ApiOp | None:
    """STREAM.MSG.GET / DIRECT.GET bodies: a meta read is info, a chunk read is get."""
    for key in ("last_by_subj", "next_by_subj"):
        subj = body.get(key)
        if isinstance(subj, str) and subj:
            parts = split_subject(subj)
            if parts is None or parts[0] != bucket:
                return None
            _, kind, token = parts
            if token in ("*", ">"):
                return None  # the "is the bucket empty" probe before a list or watch
            if kind == "M":
                return (
                    ApiOp(bucket, "info", object=decode_name(token), subject=subj)
                    if key == "last_by_subj"
                    else None
                )
            return ApiOp(bucket, "get", nuid=token)
    return None


def _purge_op(bucket: str, body: dict[str, Any]) -> ApiOp:
    filt = body.get("filter")
    parts = split_subject(filt) if isinstance(filt, str) and filt else None
    if parts is not None and parts[0] == bucket and parts[2] not in ("*", ">"):
        if parts[1] == "C":
            return ApiOp(bucket, "purge", nuid=parts[2])
        return ApiOp(bucket, "purge", object=decode_name(parts[2]), whole=True)
    return ApiOp(bucket, "purge", whole=True)


def api_op(subject: str, body: bytes | dict[str, Any]) -> ApiOp | None:
    """The object-store operation of a JetStream API request, None when it is none.

    ``subject`` is the full request subject (``$JS.API.…``); ``body`` its payload or the
    decoded JSON. Direct gets with the subject in the request subject
    (``$JS.API.DIRECT.GET.OBJ_b.$O.b.M.<enc>``) are understood too.
    """
    if not subject.startswith(_API):
        return None
    tokens = subject[len(_API) :].split(".")
    if len(tokens) < 3:
        return None
    if tokens[0] == "DIRECT" and tokens[1] == "GET":
        bucket = bucket_of_stream(tokens[2])
        if bucket is None:
            return None
        if len(tokens) > 3:
            return _get_op(bucket, {"last_by_subj": ".".join(tokens[3:])})
        return _get_op(bucket, _json(body))
    if tokens[0] == "STREAM" and tokens[1] == "MSG" and len(tokens) == 4 and tokens[2] == "GET":
        bucket = bucket_of_stream(tokens[3])
        return None if bucket is None else _get_op(bucket, _json(body))
    if tokens[0] == "CONSUMER" and tokens[1] in ("CREATE", "DURABLE"):
        idx = 2 if tokens[1] == "CREATE" else 3
        bucket = bucket_of_stream(tokens[idx]) if len(tokens) > idx else None
        return None if bucket is None else _consumer_op(bucket, tokens, _json(body))
    if tokens[0] != "STREAM" or len(tokens) != 3:
        return None
    bucket = bucket_of_stream(tokens[2])
    if bucket is None:
        return None
    verb = f"STREAM.{tokens[1]}"
    if verb == "STREAM.PURGE":
        return _purge_op(bucket, _json(body))
    op = _STREAM_OPS.get(verb)
    if op is None:
        return None
    sealing = False
    if op == "update_bucket":
        sealing = _json(body).get("sealed") is True
    return ApiOp(bucket, op, sealing=sealing)


def _json(body: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(body, dict):
        return body
    if not body.strip():
        return {}
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}
