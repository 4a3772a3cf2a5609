"""``/metrics``: the monitoring port's numbers in Prometheus text format, exporter-named.

Why built from /varz and /jsz: the NATS world reads a server through
prometheus-nats-exporter, which polls /varz and /jsz and turns their fields into
gauges. Building the families from the very same bodies (the bound ``varz`` and
``jsz`` handlers of :class:`orlop.server.monitor.MonitorServer`) means ``/metrics``
can never disagree with ``/varz`` or ``/jsz``, and the names and labels are the
exporter's (``gnatsd_varz_in_msgs{server_id}``,
``jetstream_stream_total_messages{server_id,server_name,account,stream_name}``,
``jetstream_consumer_num_pending{…,consumer_name}``), so dashboards and alerts written
for nats-server plus the exporter work on Orlop unchanged as long as they select on
those labels (the exporter's cluster and leader labels are left out, see below).

Every family is a gauge, counters included, because the exporter exposes them so
(and a Prometheus counter would gain a ``_total`` suffix and so a different name);
``rate()`` works on them all the same. A scrape builds the families from scratch
(a collector on its own registry, never the process-global one): the cost is one
pass over accounts, streams and consumers reading counters the server keeps anyway,
with no per-message work and nothing kept between scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from orlop.server.monitor.http import Body

__all__ = ["JSZ_QUERY", "MetricsPage", "ServerCollector", "jsz_families", "varz_families"]

# What the exporter's "all" mode asks /jsz for: accounts, their streams, consumers, configs.
JSZ_QUERY: dict[str, str] = {"accounts": "true", "streams": "true", "consumers": "true", "config": "true"}

Source = Callable[[dict[str, str]], Mapping[str, Any]]
# (metric name, help, dotted path of the value in the body it is read from)
Table = tuple[tuple[str, str, str], ...]

_VARZ: Table = (
    ("gnatsd_varz_connections", "Open client connections", "connections"),
    ("gnatsd_varz_total_connections", "Client connections accepted since start", "total_connections"),
    ("gnatsd_varz_in_msgs", "Messages received from clients", "in_msgs"),
    ("gnatsd_varz_out_msgs", "Messages sent to clients", "out_msgs"),
    ("gnatsd_varz_in_bytes", "Payload bytes received from clients", "in_bytes"),
    ("gnatsd_varz_out_bytes", "Payload bytes sent to clients", "out_bytes"),
    ("gnatsd_varz_slow_consumers", "Clients disconnected as slow consumers", "slow_consumers"),
    ("gnatsd_varz_subscriptions", "Subscriptions over every account", "subscriptions"),
    ("gnatsd_varz_mem", "Resident memory of the server process in bytes", "mem"),
    ("gnatsd_varz_cpu", "CPU use of the server process in percent", "cpu"),
    (
        "gnatsd_varz_jetstream_config_max_memory",
        "JetStream memory limit in bytes",
        "jetstream.config.max_memory",
    ),
    (
        "gnatsd_varz_jetstream_config_max_storage",
        "JetStream storage limit in bytes",
        "jetstream.config.max_storage",
    ),
    ("gnatsd_varz_jetstream_stats_memory", "JetStream memory in use in bytes", "jetstream.stats.memory"),
    ("gnatsd_varz_jetstream_stats_storage", "JetStream storage in use in bytes", "jetstream.stats.storage"),
    (
        "gnatsd_varz_jetstream_stats_reserved_memory",
        "JetStream memory reserved by account limits in bytes",
        "jetstream.stats.reserved_memory",
    ),
    (
        "gnatsd_varz_jetstream_stats_reserved_storage",
        "JetStream storage reserved by account limits in bytes",
        "jetstream.stats.reserved_storage",
    ),
    ("gnatsd_varz_jetstream_stats_accounts", "Accounts with JetStream enabled", "jetstream.stats.accounts"),
    ("gnatsd_varz_jetstream_stats_api_total", "JetStream API requests", "jetstream.stats.api.total"),
    (
        "gnatsd_varz_jetstream_stats_api_errors",
        "JetStream API requests that failed",
        "jetstream.stats.api.errors",
    ),
)

_JS_SERVER: Table = (
    ("jetstream_server_total_streams", "Total number of streams in JetStream", "streams"),
    ("jetstream_server_total_consumers", "Total number of consumers in JetStream", "consumers"),
    ("jetstream_server_total_messages", "Total number of stored messages in JetStream", "messages"),
    ("jetstream_server_total_message_bytes", "Total number of bytes stored in JetStream", "bytes"),
    ("jetstream_server_max_memory", "JetStream Max Memory", "config.max_memory"),
    ("jetstream_server_max_storage", "JetStream Max Storage", "config.max_storage"),
)

_JS_ACCOUNT: Table = (
    ("jetstream_account_max_memory", "JetStream Account Max Memory in bytes", "reserved_memory"),
    ("jetstream_account_max_storage", "JetStream Account Max Storage in bytes", "reserved_storage"),
    ("jetstream_account_storage_used", "Total number of bytes used by JetStream storage", "storage"),
    ("jetstream_account_memory_used", "Total number of bytes used by JetStream memory", "memory"),
)

_JS_STREAM: Table = (
    ("jetstream_stream_total_messages", "Total number of messages from a stream", "state.messages"),
    ("jetstream_stream_total_bytes", "Total stored bytes from a stream", "state.bytes"),
    ("jetstream_stream_first_seq", "First sequence from a stream", "state.first_seq"),
    ("jetstream_stream_last_seq", "Last sequence from a stream", "state.last_seq"),
    ("jetstream_stream_consumer_count", "Total number of consumers from a stream", "state.consumer_count"),
    ("jetstream_stream_subject_count", "Total number of subjects in a stream", "state.num_subjects"),
    ("jetstream_stream_limit_bytes", "Stream max_bytes (-1: no limit)", "config.max_bytes"),
    ("jetstream_stream_limit_messages", "Stream max_msgs (-1: no limit)", "config.max_msgs"),
)

_JS_CONSUMER: Table = (
    ("jetstream_consumer_num_pending", "Number of pending messages from a consumer", "num_pending"),
    ("jetstream_consumer_num_ack_pending", "Number of pending acks from a consumer", "num_ack_pending"),
    (
        "jetstream_consumer_num_redelivered",
        "Number of redelivered messages from a consumer",
        "num_redelivered",
    ),
    (
        "jetstream_consumer_num_waiting",
        "Number of inflight fetch requests from a pull consumer",
        "num_waiting",
    ),
    (
        "jetstream_consumer_delivered_consumer_seq",
        "Latest sequence number of a stream consumer",
        "delivered.consumer_seq",
    ),
    ("jetstream_consumer_delivered_stream_seq", "Latest sequence number of a stream", "delivered.stream_seq"),
    (
        "jetstream_consumer_ack_floor_stream_seq",
        "Ack floor stream sequence of a consumer",
        "ack_floor.stream_seq",
    ),
    (
        "jetstream_consumer_ack_floor_consumer_seq",
        "Ack floor consumer sequence of a consumer",
        "ack_floor.consumer_seq",
    ),
)

# The exporter's label names, each level extending the one above. Only the labels that vary on
# one server are kept: the exporter's cluster, domain, *_leader, is_*_leader and raft-group labels
# are constants on a standalone server, account_name/account_id repeat account, and each label
# costs exposition time on every sample (the scrape runs in the server's event loop).
_SERVER_LABELS = ("server_id", "server_name")
_ACCOUNT_LABELS = (*_SERVER_LABELS, "account")
_STREAM_LABELS = (*_ACCOUNT_LABELS, "stream_name")
_CONSUMER_LABELS = (*_STREAM_LABELS, "consumer_name")


def _lookup(body: Mapping[str, Any], path: str) -> float | None:
    """The number at ``path`` (dots separate keys), or None when absent or not a number."""
    value: Any = body
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    if isinstance(value, bool | int | float):
        return float(value)
    return None


def _items(body: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = body.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


class _Level:
    """The gauge families of one table sharing one label set."""

    def __init__(self, table: Table, labels: Sequence[str]) -> None:
        self.families = [
            (GaugeMetricFamily(name, text, labels=list(labels)), path) for name, text, path in table
        ]

    def add(self, values: Sequence[str], body: Mapping[str, Any]) -> None:
        """One sample in each family whose value ``body`` has (the exporter leaves absent ones out)."""
        for family, path in self.families:
            value = _lookup(body, path)
            if value is not None:
                family.add_metric(list(values), value)

    def nonempty(self) -> Iterator[GaugeMetricFamily]:
        return (family for family, _ in self.families if family.samples)


def _text(body: Mapping[str, Any], key: str) -> str:
    return str(body.get(key, ""))


def varz_families(varz: Mapping[str, Any]) -> Iterator[GaugeMetricFamily]:
    """``gnatsd_varz_*`` from a /varz body (label ``server_id``)."""
    level = _Level(_VARZ, ["server_id"])
    level.add([_text(varz, "server_id")], varz)
    return level.nonempty()


def jsz_families(jsz: Mapping[str, Any], server_name: str) -> Iterator[GaugeMetricFamily]:
    """``jetstream_*`` from a /jsz body fetched with :data:`JSZ_QUERY` (``server_name`` from /varz)."""
    server = [_text(jsz, "server_id"), server_name]
    disabled = GaugeMetricFamily(
        "jetstream_server_jetstream_disabled", "JetStream disabled or not", labels=_SERVER_LABELS
    )
    disabled.add_metric(server, 1.0 if jsz.get("disabled") else 0.0)
    yield disabled
    levels = (
        _Level(_JS_SERVER, _SERVER_LABELS),
        _Level(_JS_ACCOUNT, _ACCOUNT_LABELS),
        _Level(_JS_STREAM, _STREAM_LABELS),
        _Level(_JS_CONSUMER, _CONSUMER_LABELS),
    )
    levels[0].add(server, jsz)
    for account in _items(jsz, "account_details"):
        acc = [*server, _text(account, "name")]
        levels[1].add(acc, account)
        for stream in _items(account, "stream_detail"):
            st = [*acc, _text(stream, "name")]
            levels[2].add(st, stream)
            for consumer in _items(stream, "consumer_detail"):
                levels[3].add([*st, _text(consumer, "name")], consumer)
    for level in levels:
        yield from level.nonempty()


class ServerCollector:
    """A prometheus_client collector over the /varz and /jsz handlers, read at each scrape.

    ``varz`` and ``jsz`` take the endpoint's query dict and return its body; an exception
    from either propagates to the caller (the monitoring port answers 500). /varz measures
    ``cpu`` since its previous call, so a scrape also restarts that window for /varz readers.
    """

    def __init__(self, varz: Source, jsz: Source) -> None:
        self._varz, self._jsz = varz, jsz

    def collect(self) -> Iterator[GaugeMetricFamily]:
        varz = self._varz({})
        jsz = self._jsz(dict(JSZ_QUERY))
        yield from varz_families(varz)
        yield from jsz_families(jsz, str(varz.get("server_name", "")))


class MetricsPage:
    """The ``/metrics`` route: a private registry holding one :class:`ServerCollector`."""

    def __init__(self, varz: Source, jsz: Source) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(ServerCollector(varz, jsz))

    def __call__(self, query: dict[str, str]) -> Body:
        return Body(CONTENT_TYPE_LATEST, generate_latest(self.registry))
