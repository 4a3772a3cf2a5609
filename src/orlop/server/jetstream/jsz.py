"""The /jsz monitoring body in nats-server's ``JSInfo`` shape.

Totals cover every account; ``?accounts=true`` adds ``account_details``,
``?streams=true`` (with accounts) adds each account's ``stream_detail`` and
``?consumers=true`` their consumer names, ``?config=true`` the stream configs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from orlop.jsapi.timefmt import format_ts
from orlop.server.jetstream.account_js import AccountJetStream
from orlop.server.jetstream.resources import ServerLimits
from orlop.server.jetstream.stream import state_dict
from orlop.server.options import ServerOptions
from orlop.store.base import Clock

__all__ = ["JszSource", "build_jsz"]


class JszSource(Protocol):
    """What /jsz reports on (the JetStream service, which builds it through :func:`build_jsz`)."""

    @property
    def options(self) -> ServerOptions: ...

    @property
    def limits(self) -> ServerLimits: ...

    @property
    def store_root(self) -> Path: ...

    @property
    def strict(self) -> bool: ...

    @property
    def api_level(self) -> int: ...

    @property
    def accounts(self) -> Mapping[str, AccountJetStream]: ...

    @property
    def api_total(self) -> int: ...

    @property
    def api_errors(self) -> int: ...

    @property
    def server_id(self) -> str: ...

    @property
    def clock(self) -> Clock: ...


def _flag(query: dict[str, Any], key: str) -> bool:
    return str(query.get(key, "")).lower() in ("1", "true", "yes", "on")


def _config(svc: JszSource) -> dict[str, Any]:
    o = svc.options
    mem, disk = svc.limits.max_memory, svc.limits.max_store
    out: dict[str, Any] = {
        "max_memory": mem,
        "max_storage": disk,
        "store_dir": str(svc.store_root),
        "sync_interval": int(o.sync_interval * 1_000_000_000),
    }
    if o.sync_always:
        out["sync_always"] = True
    out["strict"] = svc.strict
    return out


def _limits(svc: JszSource) -> dict[str, Any]:
    """``limits`` when ``jetstream { limits { batch { ... } } }`` set any (nats-server's omitempty keys)."""
    o = svc.options
    given = {
        "max_batch_inflight_per_stream": o.batch_max_inflight_per_stream,
        "max_batch_inflight_total": o.batch_max_inflight_total,
        "max_batch_size": o.batch_max_msgs,
        "max_batch_timeout": round(o.batch_timeout * 1_000_000_000),
    }
    limits = {k: v for k, v in given.items() if v}
    return {"limits": limits} if limits else {}


def _stream_detail(js: AccountJetStream, query: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for st in sorted(js.streams.values(), key=lambda s: s.name):
        d: dict[str, Any] = {
            "name": st.name,
            "created": format_ts(st.created),
            "cluster": {"leader": js.service.server_name},
        }
        if _flag(query, "config"):
            d["config"] = st.config
        d["state"] = state_dict(st)
        if _flag(query, "consumers") and st.consumers:
            d["consumer_detail"] = [_consumer_detail(st, c) for _, c in sorted(st.consumers.items())]
        out.append(d)
    return out


def _consumer_detail(st: Any, consumer: Any) -> dict[str, Any]:
    """The consumer's own info when it offers one (``info()``), else its names."""
    info = getattr(consumer, "info", None)
    if callable(info):
        try:
            detail = info()
            if isinstance(detail, dict):
                return detail
        except Exception:  # monitoring must not fail because one consumer cannot describe itself
            pass
    return {"stream_name": st.name, "name": getattr(consumer, "name", "")}


def _account_detail(svc: JszSource, js: AccountJetStream, query: dict[str, Any]) -> dict[str, Any]:
    mem, fil = js.usage()
    rmem, rfil = js.reserved()
    d: dict[str, Any] = {
        "name": js.name,
        "id": js.name,
        "memory": mem,
        "storage": fil,
        "reserved_memory": rmem,
        "reserved_storage": rfil,
        "accounts": 1,
        "ha_assets": 0,
        "api": {"level": svc.api_level, "total": js.api_total, "errors": js.api_errors},
    }
    if _flag(query, "streams") or _flag(query, "consumers") or _flag(query, "config"):
        d["stream_detail"] = _stream_detail(js, query)
    return d


def build_jsz(svc: JszSource, query: dict[str, Any]) -> dict[str, Any]:
    """The /jsz response for ``query`` (the URL's query parameters)."""
    accounts = list(svc.accounts.values())
    acc_filter = query.get("acc") or ""
    if acc_filter:
        accounts = [a for a in accounts if a.name == acc_filter]
    mem = fil = rmem = rfil = msgs = nbytes = streams = consumers = 0
    for js in accounts:
        m, f = js.usage()
        rm, rf = js.reserved()
        mem, fil, rmem, rfil = mem + m, fil + f, rmem + rm, rfil + rf
        streams += len(js.streams)
        consumers += js.consumer_count()
        for st in js.streams.values():
            s = st.store.fast_state()
            msgs += s.msgs
            nbytes += s.bytes
    out: dict[str, Any] = {
        "memory": mem,
        "storage": fil,
        "reserved_memory": rmem,
        "reserved_storage": rfil,
        "accounts": len(accounts),
        "ha_assets": 0,
        "api": {"level": svc.api_level, "total": svc.api_total, "errors": svc.api_errors},
        "server_id": svc.server_id,
        "now": format_ts(svc.clock()),
        "config": _config(svc),
        **_limits(svc),
        "streams": streams,
        "consumers": consumers,
        "messages": msgs,
        "bytes": nbytes,
    }
    if _flag(query, "accounts") or acc_filter:
        out["account_details"] = [_account_detail(svc, js, query) for js in accounts]
    out["total"] = len(accounts)
    return out
