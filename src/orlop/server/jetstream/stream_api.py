"""Stream endpoints of the JetStream API: INFO and STREAM.*.

Handlers only decode, check, call the account/stream and encode; the shared
preamble lives in :mod:`.api`. Every error text and the order of checks follow
nats-server 2.15 (verified side by side by the tests): schema errors (10025)
first, then name checks, then the stream lookup (10059), then semantics.
"""

from __future__ import annotations

import base64
from typing import Any

from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.schema import Schema
from orlop.jsapi.stream_config import (
    STREAM_CONFIG_SCHEMA,
    check_update,
    configs_equal,
    normalise,
    with_server_metadata,
)
from orlop.jsapi.timefmt import format_ts, parse_ts
from orlop.server.jetstream.api import ApiRequest, api
from orlop.server.jetstream.stream import Stream, info_dict
from orlop.subjects import collide

__all__: list[str] = []

_T = "io.nats.jetstream.api.v1."
NAMES_LIMIT = 1024
LIST_LIMIT = 256
SUBJECTS_LIMIT = 100_000

_INFO_SCHEMA = Schema(
    "JSApiStreamInfoRequest",
    {"deleted_details": "bool", "subjects_filter": "string", "offset": "int"},
)
_NAMES_SCHEMA = Schema("JSApiStreamNamesRequest", {"offset": "int", "subject": "string"})
_LIST_SCHEMA = Schema("JSApiStreamListRequest", {"offset": "int", "subject": "string"})
_PURGE_SCHEMA = Schema("JSApiStreamPurgeRequest", {"filter": "string", "seq": "uint64", "keep": "uint64"})
_MSG_DELETE_SCHEMA = Schema("JSApiMsgDeleteRequest", {"seq": "uint64", "no_erase": "bool"})
_MSG_GET_SCHEMA = Schema(
    "JSApiMsgGetRequest",
    {
        "seq": "uint64", "last_by_subj": "string", "next_by_subj": "string", "batch": "int",
        "max_bytes": "int", "start_time": "any", "multi_last": "[]string", "up_to_seq": "uint64",
        "up_to_time": "any", "no_hdr": "bool",
    },
)  # fmt: skip


def _replicas(cfg: dict[str, Any]) -> None:
    if cfg["num_replicas"] > 1:
        raise js_error(Err.STREAM_REPLICAS_NOT_SUPPORTED)


def _server_config(req: ApiRequest, cfg: dict[str, Any]) -> dict[str, Any]:
    svc = req.js.service
    return with_server_metadata(cfg, svc.version, svc.api_level)


@api("INFO", _T + "account_info_response", nargs=0)
def account_info(req: ApiRequest) -> dict[str, Any]:
    js = req.js
    mem, fil = js.usage()
    rmem, rfil = js.reserved()
    return {
        "memory": mem,
        "storage": fil,
        "reserved_memory": rmem,
        "reserved_storage": rfil,
        "streams": len(js.streams),
        "consumers": js.consumer_count(),
        "limits": js.limits.to_dict(),
        "api": {"level": js.service.api_level, "total": js.api_total, "errors": js.api_errors},
    }


@api("STREAM.CREATE", _T + "stream_create_response", nargs=1)
def stream_create(req: ApiRequest) -> dict[str, Any]:
    body = req.json(STREAM_CONFIG_SCHEMA)
    name = req.args[0]
    if (body.get("name") or "") != name:
        raise js_error(Err.STREAM_MISMATCH)
    cfg = normalise(body, strict=req.js.service.strict)
    if cfg["sealed"]:
        raise js_error(Err.STREAM_INVALID_CONFIG, err="stream configuration for create can not be sealed")
    _replicas(cfg)
    existing = req.js.streams.get(name)
    if existing is not None:
        if not configs_equal(existing.config, cfg):
            raise js_error(Err.STREAM_NAME_EXIST)
        return {**info_dict(existing), "did_create": True}
    st = req.js.add_stream(_server_config(req, cfg), created=req.js.clock())
    req.js.service.advisories.stream_action(req.js, "create", st.name)
    return {**info_dict(st), "did_create": True}


@api("STREAM.UPDATE", _T + "stream_update_response", nargs=1)
def stream_update(req: ApiRequest) -> dict[str, Any]:
    body = req.json(STREAM_CONFIG_SCHEMA)
    cfg = normalise(body, strict=req.js.service.strict)
    if cfg["name"] != req.args[0]:
        raise js_error(Err.STREAM_MISMATCH)
    st = req.stream(cfg["name"])
    _replicas(cfg)
    new = check_update(st.config, cfg)
    req.js.update_stream(st, _server_config(req, new))
    req.js.service.advisories.stream_action(req.js, "modify", st.name)
    return info_dict(st)


@api(
    "STREAM.INFO",
    _T + "stream_info_response",
    nargs=1,
    error_fields={"total": 0, "offset": 0, "limit": 0},
)
def stream_info(req: ApiRequest) -> dict[str, Any]:
    body = req.json(_INFO_SCHEMA)
    st = req.stream(req.args[0])
    filt = body.get("subjects_filter") or ""
    info = info_dict(st, subjects_filter=filt, deleted_details=bool(body.get("deleted_details")))
    head = {"total": 0, "offset": 0, "limit": 0}
    if filt:
        subjects = info["state"].get("subjects") or {}
        offset = max(0, int(body.get("offset") or 0))
        keys = list(subjects)[offset : offset + SUBJECTS_LIMIT]
        if subjects:
            info["state"]["subjects"] = {k: subjects[k] for k in keys}
        head = {"total": len(subjects), "offset": offset, "limit": SUBJECTS_LIMIT}
    cluster = {"leader": req.js.service.server_name}
    return {**head, **{k: v for k, v in info.items() if k != "ts"}, "cluster": cluster, "ts": info["ts"]}


@api("STREAM.DELETE", _T + "stream_delete_response", nargs=1)
def stream_delete(req: ApiRequest) -> dict[str, Any]:
    if not req.empty:
        raise js_error(Err.NOT_EMPTY_REQUEST)
    st = req.stream(req.args[0])
    req.js.delete_stream(st)
    req.js.service.advisories.stream_action(req.js, "delete", st.name)
    return {"success": True}


def _filtered(req: ApiRequest, subject: str) -> list[Stream]:
    streams = sorted(req.js.streams.values(), key=lambda s: s.name)
    if not subject:
        return streams
    return [s for s in streams if any(collide(subject, x) for x in s.config["subjects"])]


@api("STREAM.NAMES", _T + "stream_names_response", nargs=0)
def stream_names(req: ApiRequest) -> dict[str, Any]:
    body = req.json(_NAMES_SCHEMA)
    streams = _filtered(req, body.get("subject") or "")
    offset = max(0, int(body.get("offset") or 0))
    page = [s.name for s in streams[offset : offset + NAMES_LIMIT]]
    return {"total": len(streams), "offset": offset, "limit": NAMES_LIMIT, "streams": page or None}


@api("STREAM.LIST", _T + "stream_list_response", nargs=0)
def stream_list(req: ApiRequest) -> dict[str, Any]:
    body = req.json(_LIST_SCHEMA)
    streams = _filtered(req, body.get("subject") or "")
    offset = max(0, int(body.get("offset") or 0))
    page = [info_dict(s) for s in streams[offset : offset + LIST_LIMIT]]
    return {"total": len(streams), "offset": offset, "limit": LIST_LIMIT, "streams": page}


@api("STREAM.PURGE", _T + "stream_purge_response", nargs=1, error_fields={"purged": 0})
def stream_purge(req: ApiRequest) -> dict[str, Any]:
    body = req.json(_PURGE_SCHEMA)
    st = req.stream(req.args[0])
    seq, keep = int(body.get("seq") or 0), int(body.get("keep") or 0)
    if seq and keep:
        raise js_error(Err.BAD_REQUEST)
    if st.config["sealed"]:
        raise js_error(Err.STREAM_SEALED)
    if st.config["deny_purge"]:
        raise js_error(Err.STREAM_PURGE_FAILED, err="stream purge not permitted")
    filt = body.get("filter") or ""
    purged = st.store.purge("" if filt == ">" else filt, up_to_seq=seq, keep=keep)
    return {"success": True, "purged": purged}


@api("STREAM.MSG.DELETE", _T + "stream_msg_delete_response", nargs=1)
def stream_msg_delete(req: ApiRequest) -> dict[str, Any]:
    if req.empty:
        raise js_error(Err.BAD_REQUEST)
    body = req.json(_MSG_DELETE_SCHEMA)
    st = req.stream(req.args[0])
    if st.config["sealed"]:
        raise js_error(Err.STREAM_SEALED)
    if st.config["deny_delete"]:
        raise js_error(Err.STREAM_MSG_DELETE_FAILED, err="message delete not permitted")
    seq = int(body.get("seq") or 0)
    if seq == 0:
        raise js_error(Err.BAD_REQUEST)
    if not st.store.remove(seq):
        raise js_error(Err.SEQUENCE_NOT_FOUND, seq=seq)
    return {"success": True}


def _msg_get_valid(body: dict[str, Any]) -> bool:
    if body.get("batch") or body.get("max_bytes") or body.get("multi_last"):
        return False
    seq, last, nxt = body.get("seq") or 0, body.get("last_by_subj"), body.get("next_by_subj")
    start = body.get("start_time")
    if (seq or start) and last:
        return False
    if last and nxt:
        return False
    return bool(seq or last or nxt or start)


@api("STREAM.MSG.GET", _T + "stream_msg_get_response", nargs=1)
def stream_msg_get(req: ApiRequest) -> dict[str, Any]:
    if req.empty:
        raise js_error(Err.BAD_REQUEST)
    body = req.json(_MSG_GET_SCHEMA)
    if not _msg_get_valid(body):
        raise js_error(Err.BAD_REQUEST)
    st = req.stream(req.args[0])
    store = st.store
    seq = int(body.get("seq") or 0)
    if body.get("start_time"):
        try:
            seq = _first_seq_at(st, parse_ts(str(body["start_time"])))
        except ValueError as exc:
            raise js_error(Err.BAD_REQUEST) from exc
    if body.get("last_by_subj"):
        m = store.load_last(body["last_by_subj"])
    elif body.get("next_by_subj") or body.get("start_time"):
        m = store.load_next(body.get("next_by_subj") or ">", max(seq, 1))
    else:
        m = store.load(seq)
    if m is None:
        raise js_error(Err.NO_MESSAGE_FOUND)
    msg: dict[str, Any] = {"subject": m.subject, "seq": m.seq}
    if m.hdr and not body.get("no_hdr"):
        msg["hdrs"] = base64.b64encode(m.hdr).decode()
    if m.data:
        msg["data"] = base64.b64encode(m.data).decode()
    msg["time"] = format_ts(m.ts)
    return {"message": msg}


def _first_seq_at(st: Stream, ts: int) -> int:
    seq = st.store.fast_state().first_seq
    while True:
        m = st.store.load_next("", seq)
        if m is None or m.ts >= ts:
            return m.seq if m else seq
        seq = m.seq + 1


@api("STREAM.LEADER.STEPDOWN", _T + "stream_leader_stepdown_response", nargs=1)
def stream_leader_stepdown(req: ApiRequest) -> dict[str, Any]:
    """A single server has no stream leaders to move (nats-server answers 10010 too)."""
    raise js_error(Err.CLUSTER_REQUIRED)


@api("STREAM.PEER.REMOVE", _T + "stream_remove_peer_response", nargs=1)
def stream_peer_remove(req: ApiRequest) -> dict[str, Any]:
    """No peers without a cluster (10010, as nats-server)."""
    raise js_error(Err.CLUSTER_REQUIRED)
