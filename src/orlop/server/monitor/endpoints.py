"""The HTTP monitoring port: ``/healthz /varz /connz /subsz /jsz`` as nats-server serves them.

``/metrics`` (Prometheus, :mod:`.metrics`) is built from the /varz and /jsz bodies.

The HTTP side is :mod:`.http` (one request per connection, routes by path). The
handlers run in the server's event loop, so they read the live counters without
locks; they only read, never mutate, server state.

Field names, units and formats follow nats-server (``ping_interval`` in nanoseconds,
``uptime``/``idle`` like ``1h2m3s``, timestamps RFC3339Nano UTC), so dashboards and the
``nats`` CLI that read nats-server's monitoring read Orlop's too. Fields that describe
features Orlop does not have (clustering, gateways, leaf nodes) are present and empty,
as on a standalone nats-server.

The server is described here by a Protocol (:class:`MonitoredServer`): the monitor
depends on attributes, not on the Server class, and tests may pass any object that has them.
"""

from __future__ import annotations

import os
import resource
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from orlop.jsapi.timefmt import format_ts
from orlop.server.monitor.http import HttpEndpoints, HttpError
from orlop.server.monitor.metrics import MetricsPage
from orlop.subjects import matches

__all__ = ["MonitorServer", "MonitoredServer", "uptime_string"]

_DEFAULT_LIMIT = 1024
_NS = 1_000_000_000


class _Sub(Protocol):
    subject: str
    queue: str


class _Conn(Protocol):
    cid: int
    host: str
    port: int
    name: str
    lang: str
    version: str
    start_time_ns: int
    last_activity_ns: int
    in_msgs: int
    out_msgs: int
    in_bytes: int
    out_bytes: int
    pending_bytes: int

    @property
    def account(self) -> Any: ...  # an Account (with .name) or its name

    @property
    def subscriptions(self) -> Mapping[str, _Sub]: ...


class MonitoredServer(Protocol):
    """What the monitor reads from the server (see docs/internals.md)."""

    server_id: str
    name: str
    version: str
    start_time_ns: int
    in_msgs: int
    out_msgs: int
    in_bytes: int
    out_bytes: int
    slow_consumers: int
    total_connections: int

    @property
    def options(self) -> Any: ...  # ServerOptions

    @property
    def clients(self) -> Mapping[int, Any]: ...  # cid -> Connection (see _Conn)

    @property
    def accounts(self) -> Mapping[str, Any]: ...  # name -> Account (with .sublist)

    @property
    def jetstream(self) -> Any: ...  # JetStreamService (with .jsz(query)) or None

    @property
    def authenticator(self) -> Any: ...  # with .required: clients must authenticate


def uptime_string(seconds: float) -> str:
    """nats-server's uptime format: ``0s``, ``1m2s``, ``3h0m5s``, ``2d1h0m0s``, ``1y3d0h0m0s``."""
    secs = int(seconds)
    mins, hours, days = secs // 60, secs // 3600, secs // 86400
    years = days // 365
    if years:
        return f"{years}y{days % 365}d{hours % 24}h{mins % 60}m{secs % 60}s"
    if days:
        return f"{days}d{hours % 24}h{mins % 60}m{secs % 60}s"
    if hours:
        return f"{hours}h{mins % 60}m{secs % 60}s"
    if mins:
        return f"{mins}m{secs % 60}s"
    return f"{secs}s"


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, in KiB on Linux


def _flag(query: Mapping[str, str], key: str) -> bool:
    return query.get(key, "").lower() in ("1", "true", "yes", "on", "detail")


def _int_arg(query: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(query[key])
    except (KeyError, ValueError):
        return default


class MonitorServer(HttpEndpoints):
    """Serves the monitoring endpoints of ``server`` over HTTP/1.1.

    ``clock`` returns Unix nanoseconds (injectable for tests of time fields).
    """

    def __init__(self, server: MonitoredServer, *, clock: Callable[[], int] = time.time_ns) -> None:
        super().__init__()
        self.server = server
        self.clock = clock
        self._cpu_mark = (time.monotonic(), time.process_time())
        self.routes.update(
            {
                "/": self.index,
                "/healthz": self.healthz,
                "/varz": self.varz,
                "/connz": self.connz,
                "/subsz": self.subsz,
                "/subscriptionsz": self.subsz,
                "/jsz": self.jsz,
                "/metrics": MetricsPage(self.varz, self.jsz),  # Prometheus, built from /varz and /jsz
            }
        )

    # -- endpoints -------------------------------------------------------------------------
    def index(self, query: dict[str, str]) -> str:
        pages = ("varz", "connz", "subsz", "jsz", "healthz", "metrics")
        links = "".join(f'<a href="./{p}">/{p}</a><br>\n' for p in pages)
        return (
            f"<!doctype html><html lang=en><head><title>Orlop {self.server.version}</title></head>"
            f"<body><h1>Orlop {self.server.version}</h1>\n{links}</body></html>\n"
        )

    def healthz(self, query: dict[str, str]) -> dict[str, Any]:
        return {"status": "ok"}

    def _cpu_percent(self) -> float:
        wall, cpu = time.monotonic(), time.process_time()
        last_wall, last_cpu = self._cpu_mark
        self._cpu_mark = (wall, cpu)
        if wall - last_wall <= 0:
            return 0.0
        return round(100.0 * (cpu - last_cpu) / (wall - last_wall), 1)

    def _num_subscriptions(self) -> int:
        return sum(int(acc.sublist.count()) for acc in self.server.accounts.values())

    def _listen_port(self) -> int:
        port = getattr(self.server, "port", None)
        return int(port if isinstance(port, int) else self.server.options.port)

    def varz(self, query: dict[str, str]) -> dict[str, Any]:
        s, o, now = self.server, self.server.options, self.clock()
        return (
            {
                "server_id": s.server_id,
                "server_name": s.name or s.server_id,
                "version": s.version,
                "proto": 1,
                "host": o.host,
                "port": self._listen_port(),
                "max_connections": o.max_connections,
                "ping_interval": int(o.ping_interval * _NS),
                "ping_max": o.max_pings_out,
                "http_host": o.http_host,
                "http_port": o.http_port,
                "http_base_path": "",
                "https_port": o.https_port,
                "max_control_line": o.max_control_line,
                "max_payload": o.max_payload,
                "max_pending": o.max_pending,
                "cluster": {},
                "gateway": {},
                "leaf": {},
                "mqtt": {},
                "websocket": {},
                "jetstream": self._varz_jetstream(),
                "write_deadline": int(o.write_deadline * _NS),
                "start": format_ts(s.start_time_ns),
                "now": format_ts(now),
                "uptime": uptime_string((now - s.start_time_ns) / _NS),
                "mem": _rss_bytes(),
                "cores": os.cpu_count() or 1,
                "cpu": self._cpu_percent(),
                "connections": len(s.clients),
                "total_connections": s.total_connections,
                "routes": 0,
                "remotes": 0,
                "leafnodes": 0,
                "in_msgs": s.in_msgs,
                "out_msgs": s.out_msgs,
                "in_bytes": s.in_bytes,
                "out_bytes": s.out_bytes,
                "slow_consumers": s.slow_consumers,
                "subscriptions": self._num_subscriptions(),
                "http_req_stats": dict(self.requests),
                "config_load_time": format_ts(s.start_time_ns),
                "slow_consumer_stats": {"clients": s.slow_consumers, "routes": 0, "gateways": 0, "leafs": 0},
            }
            | ({"auth_required": True} if s.authenticator.required else {})
            | self._varz_tls()
        )

    def _varz_tls(self) -> dict[str, Any]:
        tls = self.server.options.tls
        if tls is None:
            return {}
        return {
            "tls_required": True,
            "tls_verify": tls.verify or tls.verify_and_map,
            "tls_timeout": tls.timeout,
        }

    def _varz_jetstream(self) -> dict[str, Any]:
        js = self.server.jetstream
        if js is None:
            return {}
        body = js.jsz({})
        stats_keys = (
            "memory",
            "storage",
            "reserved_memory",
            "reserved_storage",
            "accounts",
            "ha_assets",
            "api",
        )
        out: dict[str, Any] = {
            "config": body.get("config", {}),
            "stats": {k: body[k] for k in stats_keys if k in body},
        }
        if "limits" in body:
            out["limits"] = body["limits"]
        return out

    def connz(self, query: dict[str, str]) -> dict[str, Any]:
        """Open connections; ``offset``/``limit`` paging, ``sort``, ``cid``, ``acc``, ``subs=1|detail``."""
        now = self.clock()
        conns: list[Any] = list(self.server.clients.values())
        if "cid" in query:
            wanted = _int_arg(query, "cid", -1)
            conns = [c for c in conns if c.cid == wanted]
        if query.get("acc"):
            conns = [c for c in conns if _account_name(c) == query["acc"]]
        if query.get("state", "open") not in ("open", "any", "all"):
            conns = []  # closed connections are not kept
        conns.sort(key=_sort_key(query.get("sort", "cid"), now), reverse=query.get("sort", "cid") != "cid")
        offset = max(0, _int_arg(query, "offset", 0))
        limit = _int_arg(query, "limit", _DEFAULT_LIMIT)
        page = conns[offset : offset + limit] if limit > 0 else []
        subs = query.get("subs", "").lower()
        return {
            "server_id": self.server.server_id,
            "now": format_ts(now),
            "num_connections": len(page),
            "total": len(conns),
            "offset": offset,
            "limit": limit,
            "connections": [_conn_info(c, now, subs, _flag(query, "auth")) for c in page],
        }

    def subsz(self, query: dict[str, str]) -> dict[str, Any]:
        """Subscription routing statistics over every account; ``subs=1`` lists them."""
        lists = [acc.sublist for acc in self.server.accounts.values()]
        matches = sum(int(sl.matches) for sl in lists)
        hits = sum(int(sl.cache_hits) for sl in lists)
        out: dict[str, Any] = {
            "server_id": self.server.server_id,
            "now": format_ts(self.clock()),
            "num_subscriptions": self._num_subscriptions(),
            "num_cache": sum(int(sl.cache_count()) for sl in lists),
            "num_inserts": sum(int(sl.inserts) for sl in lists),
            "num_removes": sum(int(sl.removes) for sl in lists),
            "num_matches": matches,
            "cache_hit_rate": hits / matches if matches else 0.0,
        }
        if _flag(query, "subs"):
            details = [
                {"account": _account_name(c), "subject": sub.subject, "sid": sid, "cid": c.cid}
                | ({"qgroup": sub.queue} if sub.queue else {})
                for c in self.server.clients.values()
                for sid, sub in c.subscriptions.items()
                if not query.get("test") or _subject_matches(sub.subject, query["test"])
            ]
            offset = max(0, _int_arg(query, "offset", 0))
            limit = _int_arg(query, "limit", _DEFAULT_LIMIT)
            out |= {
                "total": len(details),
                "offset": offset,
                "limit": limit,
                "subscriptions_list": details[offset : offset + limit],
            }
        return out

    def jsz(self, query: dict[str, str]) -> dict[str, Any]:
        js = self.server.jetstream
        if js is not None:
            return dict(js.jsz(query))
        return {
            "memory": 0,
            "storage": 0,
            "reserved_memory": 0,
            "reserved_storage": 0,
            "accounts": 0,
            "ha_assets": 0,
            "api": {"level": 0, "total": 0, "errors": 0},
            "server_id": self.server.server_id,
            "now": format_ts(self.clock()),
            "disabled": True,
            "config": {"max_memory": 0, "max_storage": 0},
            "streams": 0,
            "consumers": 0,
            "messages": 0,
            "bytes": 0,
            "total": 0,
        }


def _account_name(conn: Any) -> str:
    acc = conn.account
    return acc if isinstance(acc, str) else str(getattr(acc, "name", acc))


def _subject_matches(pattern: str, literal: str) -> bool:
    return matches(literal, pattern)


_SORTS: dict[str, Callable[[Any, int], Any]] = {
    "cid": lambda c, now: c.cid,
    "start": lambda c, now: c.start_time_ns,
    "subs": lambda c, now: len(c.subscriptions),
    "pending": lambda c, now: c.pending_bytes,
    "msgs_to": lambda c, now: c.out_msgs,
    "msgs_from": lambda c, now: c.in_msgs,
    "bytes_to": lambda c, now: c.out_bytes,
    "bytes_from": lambda c, now: c.in_bytes,
    "last": lambda c, now: c.last_activity_ns,
    "idle": lambda c, now: now - c.last_activity_ns,
    "uptime": lambda c, now: now - c.start_time_ns,
}


def _sort_key(name: str, now: int) -> Callable[[Any], Any]:
    """connz ``sort``: cid ascending; every other key descending, as nats-server."""
    fn = _SORTS.get(name)
    if fn is None:
        raise HttpError(400, "Bad Request", f"Invalid sorting option: {name}")
    return lambda c: fn(c, now)


def _conn_info(c: Any, now: int, subs: str, auth: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "cid": c.cid,
        "kind": "Client",
        "type": "nats",
        "ip": c.host,
        "port": c.port,
        "start": format_ts(c.start_time_ns),
        "last_activity": format_ts(c.last_activity_ns),
        "uptime": uptime_string((now - c.start_time_ns) / _NS),
        "idle": uptime_string(max(0, now - c.last_activity_ns) / _NS),
        "pending_bytes": c.pending_bytes,
        "in_msgs": c.in_msgs,
        "out_msgs": c.out_msgs,
        "in_bytes": c.in_bytes,
        "out_bytes": c.out_bytes,
        "subscriptions": len(c.subscriptions),
    }
    for key in ("name", "lang", "version"):
        if getattr(c, key, ""):
            info[key] = getattr(c, key)
    info["account"] = _account_name(c)
    user = getattr(c, "user", "")
    if auth and user:
        info["authorized_user"] = user
    if subs == "detail":
        info["subscriptions_list_detail"] = [
            {"account": info["account"], "subject": sub.subject, "sid": sid, "cid": c.cid}
            | ({"qgroup": sub.queue} if sub.queue else {})
            for sid, sub in c.subscriptions.items()
        ]
    elif subs in ("1", "true", "yes", "on"):
        info["subscriptions_list"] = [sub.subject for sub in c.subscriptions.values()]
    return info
