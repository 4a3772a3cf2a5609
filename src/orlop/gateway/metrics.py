"""The gateway's Prometheus metrics (docs/gateway.md lists them), on their own registry.

Request metrics are counted as requests finish; bucket metrics are read from the object
stores when ``/metrics`` is scraped (a collector asks ``orlop.objects`` for each bucket's
status), so they are as fresh as the scrape and cost nothing between scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BUCKET_METRICS", "GatewayMetrics", "MeasureRequests"]

# No ``*_created`` series: they double every counter and nothing here needs them.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

# name -> (help, BucketStatus field or a function of the status dict)
BUCKET_METRICS: dict[str, tuple[str, Callable[[dict[str, Any]], float | None]]] = {
    "orlop_gateway_bucket_objects": ("Live objects in the bucket", lambda s: s["object_count"]),
    "orlop_gateway_bucket_stored_bytes": ("Bytes the bucket's stream holds", lambda s: s["size"]),
    "orlop_gateway_bucket_logical_bytes": (
        "Sum of the live objects' sizes before compression",
        lambda s: s["total_bytes"],
    ),
    "orlop_gateway_bucket_average_object_bytes": (
        "Average live object size",
        lambda s: s["average_object_size"],
    ),
    "orlop_gateway_bucket_chunks": ("Chunks of the live objects", lambda s: s["chunk_count"]),
    "orlop_gateway_bucket_compression_ratio": (
        "Logical bytes per stored byte of the live objects",
        lambda s: s["compression_ratio"],
    ),
}


class _BucketCollector(Collector):
    """Bucket gauges from the statuses the gateway last read (refreshed before each scrape)."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (text, read) in BUCKET_METRICS.items():
            family = GaugeMetricFamily(name, text, labels=["bucket"])
            for status in self.statuses:
                value = read(status)
                if value is not None:
                    family.add_metric([str(status["bucket"])], float(value))
            yield family


class GatewayMetrics:
    """Every metric of one gateway; :meth:`render` refreshes the bucket gauges first."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "orlop_gateway_requests",
            "Requests by operation and HTTP status",
            ["operation", "status"],
            registry=r,
        )
        self.duration = Histogram(
            "orlop_gateway_request_duration_seconds",
            "Request latency by operation (until the response is complete)",
            ["operation"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.bytes_in = Counter("orlop_gateway_bytes_in", "Object bytes received", ["operation"], registry=r)
        self.bytes_out = Counter("orlop_gateway_bytes_out", "Object bytes sent", ["operation"], registry=r)
        self.errors = Counter(
            "orlop_gateway_errors",
            "Failed requests by operation and err_code",
            ["operation", "err_code"],
            registry=r,
        )
        self.watchers = Gauge(
            "orlop_gateway_watchers", "Connected event streams (live page updates)", registry=r
        )
        self._buckets = _BucketCollector()
        r.register(self._buckets)

    async def refresh_buckets(self, read: Callable[[], Awaitable[list[dict[str, Any]]]]) -> None:
        """Read every bucket's status (``read`` is the gateway's own client) for the next scrape."""
        self._buckets.statuses = await read()

    def render(self) -> bytes:
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class MeasureRequests:
    """ASGI middleware: request count, latency, bytes and errors per operation.

    The operation is what the handler put in the scope's ``state["operation"]`` (else the
    route's name); errors are labelled with ``state["err_code"]``. Bytes are the handler's
    ``state["bytes_in"]``/``["bytes_out"]``, or with ``count_bytes`` every request and
    response body byte (the S3 API, whose bodies are the objects).
    """

    def __init__(self, app: ASGIApp, metrics: GatewayMetrics, count_bytes: bool = False) -> None:
        self.app = app
        self.metrics = metrics
        self.count_bytes = count_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        state: dict[str, Any] = scope.setdefault("state", {})
        counted = {"in": 0, "out": 0}

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif self.count_bytes and message["type"] == "http.response.body":
                counted["out"] += len(message.get("body", b""))
            await send(message)

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                counted["in"] += len(message.get("body", b""))
            return message

        try:
            await self.app(scope, receiving if self.count_bytes else receive, sending)
        finally:
            route = scope.get("route")
            operation = state.get("operation") or getattr(route, "name", None) or "other"
            m = self.metrics
            m.requests.labels(operation, str(status)).inc()
            m.duration.labels(operation).observe(time.perf_counter() - started)
            bytes_in = state.get("bytes_in") or counted["in"]
            bytes_out = state.get("bytes_out") or counted["out"]
            if bytes_in:
                m.bytes_in.labels(operation).inc(bytes_in)
            if bytes_out:
                m.bytes_out.labels(operation).inc(bytes_out)
            if status >= 400:
                m.errors.labels(operation, str(state.get("err_code", 10000 + status))).inc()
