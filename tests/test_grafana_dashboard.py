"""docs/grafana-dashboard.json queries only metrics (and labels) that Orlop exports.

A dashboard drifts silently: a renamed metric or label shows "No data", not an error.
So every PromQL expression in the dashboard (panel targets and template variables) is
taken apart, and each metric name it reads must be a sample name of a real scrape:

* the server's from a real ``orlop serve`` ``/metrics`` after a stream, a consumer and
  traffic exist (so the per-stream and per-consumer families are there);
* the gateway's from :class:`orlop.gateway.metrics.GatewayMetrics` with each labelled
  metric touched once and one bucket status read, rendered as the gateway serves it.

Every label a query filters or groups on must be carried by one of the metrics it reads
(``instance`` and ``job`` are Prometheus's own). Orlop only: nats-server has no /metrics.
The PromQL reader is a small tokenizer, checked on made-up expressions first.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
from prometheus_client.parser import text_string_to_metric_families
from tests.server.test_metrics import populate, scrape

from orlop.gateway.metrics import BUCKET_METRICS, GatewayMetrics
from orlop.testing import ServerProcess

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana-dashboard.json"

# PromQL words that look like identifiers but are not metrics.
KEYWORDS = frozenset(
    [
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "bool",
        "and",
        "or",
        "unless",
        "offset",
        "start",
        "end",
        "inf",
        "nan",
    ]
)
AGGREGATIONS = frozenset(
    [
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "limitk",
        "limit_ratio",
    ]
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_IDENT = re.compile(r"(?<![\w.:$])[A-Za-z_:][\w:]*")
_LABEL_NAME = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
# Grafana's variable queries wrap PromQL: label_values(expr, label), query_result(expr).
_GRAFANA_WRAPPER = re.compile(r"^\s*(label_values|query_result)\s*\((.*)\)\s*$", re.S)
PROMETHEUS_LABELS = frozenset({"instance", "job"})


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) an expression reads.

    Label names come from matchers (``{a="x"}``) and grouping clauses (``by (a)``); a
    bare name that is neither followed by ``(`` (a function or an aggregation) nor a
    PromQL keyword is a metric.
    """
    labels: set[str] = set()
    wrapped = _GRAFANA_WRAPPER.match(expr)
    if wrapped and wrapped.group(1) == "label_values":
        inner, _, label = wrapped.group(2).rpartition(",")
        expr, labels = (inner, {label.strip()}) if inner else ("", set())  # a label of every metric
    elif wrapped:
        expr = wrapped.group(2)
    expr = _STRING.sub('""', expr)
    for block in _MATCHERS.findall(expr):
        labels.update(_LABEL_NAME.findall(block))
    expr = _MATCHERS.sub(" ", expr)
    expr = _RANGE.sub(" ", expr)
    for clause in _GROUPING.findall(expr):
        labels.update(name.strip() for name in clause.split(",") if name.strip())
    expr = _GROUPING.sub(" ", expr)
    metrics = set()
    for match in _IDENT.finditer(expr):
        name, rest = match.group(), expr[match.end() :].lstrip()
        if rest.startswith("(") or name in KEYWORDS or name in AGGREGATIONS:
            continue
        metrics.add(name)
    return metrics, labels


def dashboard_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(where, expr) for every panel target (rows' nested panels too) and query variable."""

    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield f"panel {panel.get('title')!r} target {target.get('refId')}", target["expr"]
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var.get("query")
            text = query.get("query", "") if isinstance(query, dict) else str(query or "")
            if text:
                yield f"variable {var['name']!r}", text


def problems(queries: list[tuple[str, str]], exported: dict[str, set[str]]) -> list[str]:
    """What the queries read that ``exported`` (sample name -> its label names) does not have."""
    out = []
    for where, expr in queries:
        metrics, labels = promql_names(expr)
        if not metrics:
            out.append(f"{where}: no metric in {expr!r}")
        for name in sorted(metrics - exported.keys()):
            out.append(f"{where}: metric {name} is not exported")
        carried = set().union(*(exported.get(m, set()) for m in metrics)) | PROMETHEUS_LABELS
        for label in sorted(labels - carried):
            out.append(f"{where}: label {label} is on none of {sorted(metrics)}")
    return out


def _sample_labels(text: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[sample.name].update(sample.labels)
    return dict(out)


def gateway_exported() -> dict[str, set[str]]:
    """The gateway's sample names with each labelled metric touched and one bucket read."""
    m = GatewayMetrics()
    m.requests.labels(operation="put", status="200").inc()
    m.duration.labels(operation="put").observe(0.01)
    m.bytes_in.labels(operation="put").inc(10)
    m.bytes_out.labels(operation="get").inc(10)
    m.errors.labels(operation="get", err_code="10404").inc()
    m.watchers.set(1)
    status: dict[str, Any] = defaultdict(lambda: 1.0, bucket="photos")  # every field BUCKET_METRICS reads

    async def read() -> list[dict[str, Any]]:
        return [status]

    asyncio.run(m.refresh_buckets(read))
    exported = _sample_labels(m.render().decode())
    assert set(BUCKET_METRICS) <= exported.keys()
    return exported


async def server_exported(server: ServerProcess) -> dict[str, set[str]]:
    nc = await nats.connect(server.url)
    try:
        await populate(nc)
        families = await scrape(server)
    finally:
        await nc.close()
    out: dict[str, set[str]] = defaultdict(set)
    for samples in families.values():
        for sample in samples:
            out[sample.name].update(sample.labels)
    return dict(out)


# --- the PromQL reader -----------------------------------------------------------------------------


def test_promql_names_reads_metrics_and_labels() -> None:
    expr = (
        "histogram_quantile(0.95, sum by (le, operation) (rate(orlop_gateway_request_duration_seconds_bucket"
        '{operation=~"put|get", status!="500"}[$__rate_interval] offset 5m)))'
        " / on(instance) group_left max without (job) (jetstream_stream_total_bytes > bool 0)"
        ' + count(up{job="x"}) * 1e3 + sum(rate(gnatsd_varz_in_msgs{server_id=~"$server"}[5m]))'
    )
    metrics, labels = promql_names(expr)
    assert metrics == {
        "orlop_gateway_request_duration_seconds_bucket",
        "jetstream_stream_total_bytes",
        "up",
        "gnatsd_varz_in_msgs",
    }
    assert labels == {"le", "operation", "status", "instance", "job", "server_id"}
    assert promql_names('label_values(jetstream_stream_total_messages{server_id=~"$s"}, stream_name)') == (
        {"jetstream_stream_total_messages"},
        {"server_id", "stream_name"},
    )
    assert promql_names("label_values(stream_name)") == (set(), set())


def test_problems_reports_what_is_not_exported() -> None:
    exported = {"orlop_gateway_requests_total": {"operation", "status"}}
    queries = [
        ("ok", "sum by (operation) (rate(orlop_gateway_requests_total[5m]))"),
        ("made up", 'sum by (bucket) (rate(orlop_gateway_made_up_total{bucket="b"}[5m]))'),
        ("wrong label", "sum by (stream) (orlop_gateway_requests_total)"),
        ("no metric", "vector(1)"),
    ]
    assert problems(queries, exported) == [
        "made up: metric orlop_gateway_made_up_total is not exported",
        "made up: label bucket is on none of ['orlop_gateway_made_up_total']",
        "wrong label: label stream is on none of ['orlop_gateway_requests_total']",
        "no metric: no metric in 'vector(1)'",
    ]


# --- the dashboard ---------------------------------------------------------------------------------


def test_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert 36 <= dashboard["schemaVersion"] <= 41
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    ids = []
    for panel in dashboard["panels"]:
        ids.append(panel["id"])
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        if panel["type"] != "row":
            assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
            assert panel["targets"], panel["title"]
            assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"])
    assert len(ids) == len(set(ids))


async def test_every_queried_metric_is_exported(orlop_server: ServerProcess) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queries = list(dashboard_queries(dashboard))
    exported = await server_exported(orlop_server)
    gateway = await asyncio.to_thread(gateway_exported)
    assert not exported.keys() & gateway.keys()
    exported |= gateway
    found = problems(queries, exported)
    assert not found, "\n".join(found)
    read = set().union(*(promql_names(expr)[0] for _, expr in queries))
    # The dashboard covers both sides: the server, JetStream, and the gateway.
    assert {n for n in read if n.startswith("gnatsd_varz_")}
    assert {n for n in read if n.startswith("jetstream_consumer_")}
    assert set(BUCKET_METRICS) <= read
    assert {"orlop_gateway_requests_total", "orlop_gateway_errors_total", "orlop_gateway_watchers"} <= read
