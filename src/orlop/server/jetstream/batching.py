"""Limits and server-wide counts shared by atomic batches and fast ingest (ADR-50).

nats-server's defaults: 1,000 messages per atomic batch; 50 atomic batches in flight per
stream and 1,000 per server; 1,000 fast batches per stream and 50,000 per server; 10 s
idle timeout for both. ``jetstream { limits { batch { max_msgs, max_inflight_per_stream,
max_inflight_total, timeout } } }`` overrides them, and one in-flight number overrides the
atomic and the fast default alike (as nats-server reads it).
"""

from __future__ import annotations

from dataclasses import dataclass

from orlop.server.options import ServerOptions

__all__ = ["BatchCounts", "BatchLimits"]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    max_msgs: int = 1000
    atomic_per_stream: int = 50
    atomic_total: int = 1000
    fast_per_stream: int = 1000
    fast_total: int = 50_000
    timeout: float = 10.0  # seconds since a batch's last message

    @classmethod
    def from_options(cls, o: ServerOptions) -> BatchLimits:
        d = cls()
        return cls(
            max_msgs=o.batch_max_msgs or d.max_msgs,
            atomic_per_stream=o.batch_max_inflight_per_stream or d.atomic_per_stream,
            atomic_total=o.batch_max_inflight_total or d.atomic_total,
            fast_per_stream=o.batch_max_inflight_per_stream or d.fast_per_stream,
            fast_total=o.batch_max_inflight_total or d.fast_total,
            timeout=o.batch_timeout or d.timeout,
        )


@dataclass(slots=True)
class BatchCounts:
    """Batches in flight on the whole server, by kind (the per-stream counts are the streams' dicts)."""

    limits: BatchLimits
    atomic: int = 0
    fast: int = 0
