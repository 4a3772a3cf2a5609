"""The consumer endpoints of the JetStream API: create (three subject forms), info, delete, names,
list, pause, reset, unpin.

Handlers only decode, check and encode; consumer behaviour lives in
:mod:`.consumer` and its push/pull subclasses. The create path mirrors
nats-server's ``jsConsumerCreateRequest`` then ``addConsumerWithAction``:
subject form checks (10056, 10127, 10016-10020, 10137, 10131), stream lookup
(10059), defaults and validation (:mod:`orlop.jsapi.consumer_config`), then the
create/update decision (10148, 10149, update rules 10012). Pull requests
(``CONSUMER.MSG.NEXT``) are not endpoints here: each pull consumer subscribes
its own subject, as nats-server does.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

from orlop.jsapi.consumer_config import (
    CREATE_REQUEST_SCHEMA,
    ack_req_level,
    apply_defaults,
    check_update,
    configs_equal,
    filters,
    is_valid_group_name,
    ordered,
    priority_req_level,
    validate,
)
from orlop.jsapi.errors import Err, js_error
from orlop.jsapi.schema import Schema
from orlop.jsapi.timefmt import ZERO_TIME, format_ts, parse_ts
from orlop.server.jetstream import advisories, consumer_state
from orlop.server.jetstream.api import ApiRequest, api
from orlop.server.jetstream.consumer import Consumer
from orlop.server.jetstream.consumer_pull import PullConsumer
from orlop.server.jetstream.stream import Stream
from orlop.subjects import collide

__all__ = ["create_consumer", "new_name"]

_T = "io.nats.jetstream.api.v1."
_ALNUM = string.ascii_letters + string.digits
_NAMES_LIMIT = 1024
_LIST_LIMIT = 256
_EMPTY_PAGE = {"total": 0, "offset": 0, "limit": 0, "consumers": []}


def new_name() -> str:
    """A server-generated ephemeral consumer name: 8 base62 characters."""
    return "".join(secrets.choice(_ALNUM) for _ in range(8))


def _server_metadata(req: ApiRequest, cfg: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """``_nats.*`` metadata; the required level is the highest any used feature needs.

    ``raw`` is the request's config before defaults, which priority settings are judged on;
    ``ack_policy: flow_control`` needs 4.
    """
    svc = req.js.service
    meta = {k: v for k, v in (cfg.get("metadata") or {}).items() if not k.startswith("_nats.")}
    level = str(max(1 if cfg.get("pause_until") else 0, priority_req_level(raw), ack_req_level(cfg)))
    meta.update({"_nats.level": str(svc.api_level), "_nats.req.level": level, "_nats.ver": svc.version})
    out = dict(cfg)
    out["metadata"] = dict(sorted(meta.items()))
    return ordered(out)


def _subject_checks(body: dict[str, Any], cfg: dict[str, Any], form: str, cname: str, filt: str) -> None:
    """The checks nats-server makes on the subject form before looking at the stream."""
    if cname and any(c in cname for c in "\\/"):
        raise js_error(Err.CONSUMER_NAME_CONTAINS_PATH_SEPARATORS)
    durable = cfg.get("durable_name") or ""
    if form == "durable":
        if not durable:
            raise js_error(Err.CONSUMER_DURABLE_NAME_NOT_SET)
        if cname != durable:
            raise js_error(Err.CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT)
    elif form == "new":
        if durable and cname != durable:
            raise js_error(Err.CONSUMER_DURABLE_NAME_NOT_MATCH_SUBJECT)
        cfg["name"] = cname
    elif durable:
        raise js_error(Err.CONSUMER_EPHEMERAL_WITH_DURABLE_NAME)
    if filt and cfg.get("filter_subjects"):
        raise js_error(Err.CONSUMER_MULTIPLE_FILTERS_NOT_ALLOWED)
    if filt and (cfg.get("filter_subject") or "") != filt:
        raise js_error(Err.CONSUMER_CREATE_FILTER_SUBJECT_MISMATCH)


def _create(req: ApiRequest, stream_name: str, cname: str, filt: str, form: str) -> dict[str, Any]:
    body = req.json(CREATE_REQUEST_SCHEMA)
    if (body.get("stream_name") or "") != stream_name:
        raise js_error(Err.STREAM_MISMATCH)
    raw = dict(body.get("config") or {})
    _subject_checks(body, raw, form, cname, filt)
    stream = req.stream(stream_name)
    durable = raw.get("durable_name") or ""
    if durable:
        raw["name"] = durable
    acc_limit = req.js.limits.max_ack_pending
    cfg = apply_defaults(
        raw,
        stream.config,
        ephemeral=not durable,
        account_max_ack_pending=acc_limit,
        pedantic=body.get("pedantic") is True,
    )
    validate(cfg, stream.config)
    if 0 < acc_limit < cfg["max_ack_pending"]:
        raise js_error(Err.CONSUMER_MAX_PENDING_ACK_EXCESS, limit=acc_limit)
    name = cfg.get("name") or new_name()
    existing = stream.consumers.get(name)
    if existing is not None:
        # pause_until changes only through CONSUMER.PAUSE: a create or update keeps the current
        # one, whatever it says (nats-server's jsConsumerCreateRequest), before the metadata.
        cfg = {k: v for k, v in cfg.items() if k != "pause_until"}
        if "pause_until" in existing.config:
            cfg["pause_until"] = existing.config["pause_until"]
    cfg = _server_metadata(req, cfg, raw)
    return create_consumer(req, stream, name, cfg, body.get("action") or "").info()


def create_consumer(req: ApiRequest, stream: Stream, name: str, cfg: dict[str, Any], action: str) -> Consumer:
    """Create ``name`` or update it in place (``action`` "", "create" or "update").

    Raises JetStreamError 10148 (exists with another config), 10149 (update of a missing
    consumer), 10012 (a change nats-server refuses), 10026 (consumer limit).
    """
    existing: Consumer | None = stream.consumers.get(name)
    if existing is not None:
        if configs_equal(existing.config, cfg):
            existing.advise_if_paused()
            return existing
        if action == "create":
            raise js_error(Err.CONSUMER_ALREADY_EXISTS)
        check_update(existing.config, cfg, bound=existing.push_bound())
        existing.update_config(cfg)
        consumer_state.save_meta(existing)
        existing.advise_if_paused()
        return existing
    if action == "update":
        raise js_error(Err.CONSUMER_DOES_NOT_EXIST)
    if stream.config.get("retention") == "workqueue":
        _check_workqueue(stream, cfg)
    limit = int(stream.config.get("max_consumers") or -1)
    acc_limit = req.js.limits.max_consumers
    if (0 < limit <= len(stream.consumers)) or (0 < acc_limit <= req.js.consumer_count()):
        raise js_error(Err.MAXIMUM_CONSUMERS_LIMIT)
    c = consumer_state.build(stream, name, cfg, req.js.clock())
    c.init_position()
    stream.consumers[name] = c
    consumer_state.attach(c)
    c.start()
    advisories.consumer_action(req.js, "create", stream.name, name)
    c.advise_if_paused()
    return c


def _check_workqueue(stream: Stream, cfg: dict[str, Any]) -> None:
    """A workqueue stream allows one consumer per message: explicit (or flow-control) acks,
    deliver all, disjoint filters."""
    if cfg["ack_policy"] not in ("explicit", "flow_control"):
        raise js_error(Err.CONSUMER_WQ_REQUIRES_EXPLICIT_ACK)
    mine = filters(cfg)
    for other in stream.consumers.values():
        theirs = other.filters
        if not mine or not theirs:
            raise js_error(Err.CONSUMER_WQ_MULTIPLE_UNFILTERED)
        if any(collide(a, b) for a in mine for b in theirs):
            raise js_error(Err.CONSUMER_WQ_CONSUMER_NOT_UNIQUE)
    if cfg["deliver_policy"] != "all":
        raise js_error(Err.CONSUMER_WQ_CONSUMER_NOT_DELIVER_ALL)


@api("CONSUMER.CREATE", _T + "consumer_create_response", nargs=-1)
def consumer_create(req: ApiRequest) -> dict[str, Any]:
    """``CONSUMER.CREATE.<stream>`` (legacy ephemeral) and ``CONSUMER.CREATE.<stream>.<name>[.<filter>]``."""
    toks = req.tokens
    stream_name = toks[2]
    if len(toks) == 3:
        return _create(req, stream_name, "", "", "legacy")
    return _create(req, stream_name, toks[3], ".".join(toks[4:]), "new")


@api("CONSUMER.DURABLE.CREATE", _T + "consumer_create_response", nargs=-1)
def consumer_durable_create(req: ApiRequest) -> dict[str, Any]:
    """``CONSUMER.DURABLE.CREATE.<stream>.<durable>``."""
    toks = req.tokens
    if len(toks) != 5:
        raise js_error(Err.CONSUMER_DURABLE_NAME_NOT_IN_SUBJECT)
    return _create(req, toks[3], toks[4], "", "durable")


def _consumer(req: ApiRequest) -> Consumer:
    stream = req.stream(req.token(2))
    c: Consumer | None = stream.consumers.get(req.token(3))
    if c is None:
        raise js_error(Err.CONSUMER_NOT_FOUND)
    return c


@api("CONSUMER.INFO", _T + "consumer_info_response", nargs=2)
def consumer_info(req: ApiRequest) -> dict[str, Any]:
    """ConsumerInfo of ``CONSUMER.INFO.<stream>.<consumer>``."""
    return _consumer(req).info()


@api("CONSUMER.DELETE", _T + "consumer_delete_response", nargs=2)
def consumer_delete(req: ApiRequest) -> dict[str, Any]:
    """Delete a consumer with its state; waiting pull requests get ``409 Consumer Deleted``."""
    _consumer(req).delete()
    return {"success": True}


def _page(req: ApiRequest, limit: int) -> tuple[Stream, list[str], int]:
    body = req.json()
    stream = req.stream(req.token(2))
    offset = body.get("offset") or 0
    if not isinstance(offset, int) or offset < 0:
        offset = 0
    names = sorted(stream.consumers)
    return stream, names[offset : offset + limit], offset


@api("CONSUMER.NAMES", _T + "consumer_names_response", nargs=1, error_fields=_EMPTY_PAGE)
def consumer_names(req: ApiRequest) -> dict[str, Any]:
    """Names of a stream's consumers, sorted, 1024 per page."""
    stream, names, offset = _page(req, _NAMES_LIMIT)
    return {"total": len(stream.consumers), "offset": offset, "limit": _NAMES_LIMIT, "consumers": names}


def _list_info(c: Consumer) -> dict[str, Any]:
    info = c.info()
    cfg = dict(info["config"])
    meta = cfg.get("metadata") or {}
    cfg["metadata"] = {k: v for k, v in meta.items() if k == "_nats.req.level" or k[:6] != "_nats."}
    info["config"] = ordered(cfg)
    return info


@api("CONSUMER.LIST", _T + "consumer_list_response", nargs=1, error_fields=_EMPTY_PAGE)
def consumer_list(req: ApiRequest) -> dict[str, Any]:
    """ConsumerInfo of a stream's consumers, sorted by name, 256 per page."""
    stream, names, offset = _page(req, _LIST_LIMIT)
    infos = [_list_info(stream.consumers[n]) for n in names]
    return {"total": len(stream.consumers), "offset": offset, "limit": _LIST_LIMIT, "consumers": infos}


@api(
    "CONSUMER.PAUSE",
    _T + "consumer_pause_response",
    nargs=2,
    error_fields={"paused": False, "pause_until": ZERO_TIME},
)
def consumer_pause(req: ApiRequest) -> dict[str, Any]:
    """Pause delivery until ``pause_until`` (RFC 3339); empty, zero or past resumes."""
    body = req.json()
    c = _consumer(req)
    text = body.get("pause_until") or ""
    try:
        until = parse_ts(text) if isinstance(text, str) and text else 0
    except ValueError as exc:
        raise js_error(Err.INVALID_JSON, err=str(exc)) from exc
    c.set_pause(until)
    consumer_state.save_meta(c)
    remaining = c.pause_until - req.js.clock()
    if remaining <= 0:  # resumed, or paused until a time already past (echoed, as nats-server does)
        return {"paused": False, "pause_until": format_ts(c.pause_until)}
    return {"paused": True, "pause_until": format_ts(c.pause_until), "pause_remaining": remaining}


@api("CONSUMER.RESET", _T + "consumer_reset_response", nargs=2)
def consumer_reset(req: ApiRequest) -> dict[str, Any]:
    """ADR-60 reset: ConsumerInfo after the reset plus ``reset_seq``, the next stream sequence."""
    body = req.json()
    c = _consumer(req)
    seq = body.get("seq") or 0
    if not isinstance(seq, int) or seq < 0:
        raise js_error(Err.INVALID_JSON, err="json: cannot unmarshal seq into Go value of type uint64")
    start = c.reset_to(seq)
    return {**c.info(), "reset_seq": start}


_UNPIN_SCHEMA = Schema("JSApiConsumerUnpinRequest", {"group": "string"}, lenient=True)


@api("CONSUMER.UNPIN", _T + "consumer_unpin_response", nargs=2)
def consumer_unpin(req: ApiRequest) -> dict[str, Any]:
    """Drop the pin of a pinned_client group (ADR-42); the next delivery picks a new one.

    As nats-server: the body is checked before the stream (an empty body is invalid JSON),
    and unpinning when nothing is pinned succeeds. Raises JetStreamError 10025, 10162,
    10059, 10014, 10160.
    """
    if req.empty:
        raise js_error(Err.INVALID_JSON, err="unexpected end of JSON input")
    body = req.json(_UNPIN_SCHEMA)
    group = body.get("group") or ""
    if not group:
        raise js_error(Err.INVALID_JSON, err="consumer group not specified")
    if not is_valid_group_name(group):
        raise js_error(Err.CONSUMER_INVALID_GROUP_NAME)
    c = _consumer(req)
    if group not in (c.config.get("priority_groups") or []):
        raise js_error(Err.CONSUMER_INVALID_PRIORITY_GROUP)
    if isinstance(c, PullConsumer):
        c.unpin(group)
    return {}
