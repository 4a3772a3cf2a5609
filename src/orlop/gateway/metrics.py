"""The gateway's Prometheus metrics (docs/gateway.md lists them), on their own registry.

Request metrics are counted as requests finish; bucket metrics are read from the object
stores when ``/metrics`` is scraped (a collector asks ``orlop.objects`` for each bucket's
status), so they are as fresh as the scrape and cost nothing between scrapes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["BUCKET_METRICS", "GatewayMetrics"]

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
