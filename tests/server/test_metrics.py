"""``/metrics`` on the monitoring port, read the way Prometheus reads it.

Orlop only: nats-server has no ``/metrics`` (its numbers reach Prometheus through
prometheus-nats-exporter, whose metric and label names Orlop's endpoint uses), so there
is no reference server to compare against. What is shared with nats-server is checked
instead through /varz and /jsz: ``/metrics`` must agree with them.

The live tests drive a real ``orlop serve`` with nats-py (a stream, a consumer with
messages delivered and not yet acknowledged) and parse the scrape with
prometheus_client's own parser; the pure tests feed :func:`varz_families` and
:func:`jsz_families` hand-written bodies, without sockets.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterable
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, StorageType
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from orlop.server.monitor.metrics import jsz_families, varz_families
from orlop.testing import ServerProcess

PAYLOAD = b"order-payload-0123456789"
PUBLISHED = 10
FETCHED = 3
ACKED = 1


def _get(url: str) -> tuple[str, str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.headers.get("Content-Type", ""), resp.read().decode()


async def scrape(server: ServerProcess) -> dict[str, list[Sample]]:
    """GET /metrics and parse it: family name -> its samples. Asserts the text content type."""
    ctype, text = await asyncio.to_thread(_get, server.monitor_url + "/metrics")
    assert ctype.startswith("text/plain"), ctype
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


async def get_json(server: ServerProcess, path: str) -> dict[str, Any]:
    ctype, text = await asyncio.to_thread(_get, server.monitor_url + path)
    assert ctype.startswith("application/json"), ctype
    body = json.loads(text)
    assert isinstance(body, dict)
    return body


async def populate(nc: nats.NATS) -> None:
    """A file stream ORDERS with PUBLISHED messages and a consumer PROC that holds some unacked,
    a memory stream CACHE with one message, and one failed JetStream API call."""
    js = nc.jetstream()
    await js.add_stream(name="ORDERS", subjects=["orders.>"])
    await js.add_stream(name="CACHE", subjects=["cache.>"], storage=StorageType.MEMORY)
    for i in range(PUBLISHED):
        await js.publish(f"orders.{i % 2}", PAYLOAD)
    await js.publish("cache.k", PAYLOAD)
    await js.add_consumer(
        "ORDERS",
        ConsumerConfig(durable_name="PROC", ack_policy=AckPolicy.EXPLICIT),
    )
    psub = await js.pull_subscribe_bind("PROC", stream="ORDERS")
    msgs = await psub.fetch(FETCHED, timeout=5)
    assert len(msgs) == FETCHED
    for msg in msgs[:ACKED]:
        await msg.ack_sync()
    try:
        await js.stream_info("NO_SUCH_STREAM")
    except nats.js.errors.NotFoundError:
        pass
    else:
        raise AssertionError("stream_info of a missing stream succeeded")


def value(families: dict[str, list[Sample]], name: str, **labels: str) -> float:
    """The one sample of ``name`` whose labels include ``labels`` (fails on none or several)."""
    found = [s for s in families.get(name, []) if labels.items() <= s.labels.items()]
    assert len(found) == 1, (name, labels, families.get(name))
    return float(found[0].value)


# --- live: a real orlop serve ----------------------------------------------------------------------


async def test_metrics_report_streams_consumers_and_traffic(orlop_server: ServerProcess) -> None:
    nc = await nats.connect(orlop_server.url)
    try:
        await populate(nc)
        m = await scrape(orlop_server)
        varz = await get_json(orlop_server, "/varz")
        jsz = await get_json(orlop_server, "/jsz?accounts=true&streams=true&consumers=true")
    finally:
        await nc.close()

    sid = varz["server_id"]
    assert value(m, "gnatsd_varz_connections", server_id=sid) >= 1
    assert value(m, "gnatsd_varz_total_connections", server_id=sid) >= 1
    assert value(m, "gnatsd_varz_in_msgs", server_id=sid) >= PUBLISHED + 1
    assert value(m, "gnatsd_varz_in_bytes", server_id=sid) >= (PUBLISHED + 1) * len(PAYLOAD)
    assert value(m, "gnatsd_varz_out_msgs", server_id=sid) >= FETCHED
    assert value(m, "gnatsd_varz_out_bytes", server_id=sid) >= FETCHED * len(PAYLOAD)
    assert value(m, "gnatsd_varz_slow_consumers", server_id=sid) == 0
    assert value(m, "gnatsd_varz_subscriptions", server_id=sid) >= 1
    assert (
        value(m, "gnatsd_varz_jetstream_stats_api_total", server_id=sid) >= 4
    )  # 2 streams, 1 consumer, 1 info
    assert value(m, "gnatsd_varz_jetstream_stats_api_errors", server_id=sid) >= 1
    assert value(m, "gnatsd_varz_jetstream_stats_storage", server_id=sid) > 0
    assert value(m, "gnatsd_varz_jetstream_stats_memory", server_id=sid) > 0

    assert value(m, "jetstream_server_jetstream_disabled") == 0
    assert value(m, "jetstream_server_total_streams", server_id=sid) == 2
    assert value(m, "jetstream_server_total_consumers") == 1
    assert value(m, "jetstream_server_total_messages") == PUBLISHED + 1
    assert value(m, "jetstream_server_total_message_bytes") == jsz["bytes"] > 0
    assert value(m, "jetstream_account_storage_used", account="$G") > 0
    assert value(m, "jetstream_account_memory_used", account="$G") > 0

    orders = {"account": "$G", "stream_name": "ORDERS"}
    assert value(m, "jetstream_stream_total_messages", **orders) == PUBLISHED
    assert value(m, "jetstream_stream_total_messages", account="$G", stream_name="CACHE") == 1
    assert value(m, "jetstream_stream_last_seq", **orders) == PUBLISHED
    assert value(m, "jetstream_stream_consumer_count", **orders) == 1
    assert value(m, "jetstream_stream_subject_count", **orders) == 2
    assert value(m, "jetstream_stream_limit_messages", **orders) == -1
    streams = {d["name"]: d["state"] for d in jsz["account_details"][0]["stream_detail"]}
    assert value(m, "jetstream_stream_total_bytes", **orders) == streams["ORDERS"]["bytes"] > 0
    assert value(m, "jetstream_stream_total_bytes", stream_name="CACHE") == streams["CACHE"]["bytes"] > 0

    proc = {**orders, "consumer_name": "PROC"}
    assert value(m, "jetstream_consumer_num_pending", **proc) == PUBLISHED - FETCHED
    assert value(m, "jetstream_consumer_num_ack_pending", **proc) == FETCHED - ACKED
    assert value(m, "jetstream_consumer_delivered_stream_seq", **proc) == FETCHED
    assert value(m, "jetstream_consumer_ack_floor_stream_seq", **proc) == ACKED


async def test_metrics_are_gauges_labelled_like_the_exporter(orlop_server: ServerProcess) -> None:
    nc = await nats.connect(orlop_server.url)
    try:
        await populate(nc)
        m = await scrape(orlop_server)
    finally:
        await nc.close()
    for name, samples in m.items():
        assert name.startswith(("gnatsd_varz_", "jetstream_")), name
        assert samples, name  # families without samples are left out
        assert all(s.name == name for s in samples), name  # gauges: no _total/_bucket series
    (sample,) = m["jetstream_consumer_num_pending"]
    assert set(sample.labels) == {"server_id", "server_name", "account", "stream_name", "consumer_name"}
    (sample,) = m["gnatsd_varz_in_msgs"]
    assert set(sample.labels) == {"server_id"}


async def test_metrics_track_changes_between_scrapes(orlop_server: ServerProcess) -> None:
    nc = await nats.connect(orlop_server.url)
    try:
        js = nc.jetstream()
        await js.add_stream(name="TICK", subjects=["tick"])
        await js.publish("tick", b"1")
        first = await scrape(orlop_server)
        await js.publish("tick", b"2")
        await js.publish("tick", b"3")
        second = await scrape(orlop_server)
        await js.delete_stream("TICK")
        third = await scrape(orlop_server)
    finally:
        await nc.close()
    assert value(first, "jetstream_stream_total_messages", stream_name="TICK") == 1
    assert value(second, "jetstream_stream_total_messages", stream_name="TICK") == 3
    assert value(second, "gnatsd_varz_in_msgs") > value(first, "gnatsd_varz_in_msgs")
    assert "jetstream_stream_total_messages" not in third  # a deleted stream leaves no stale series
    assert value(third, "jetstream_server_total_streams") == 0


async def test_metrics_with_jetstream_off(server_factory: type[ServerProcess]) -> None:
    proc = server_factory(kind="orlop", jetstream=False).start()
    m = await scrape(proc)
    assert value(m, "jetstream_server_jetstream_disabled") == 1
    assert value(m, "jetstream_server_total_streams") == 0
    assert value(m, "gnatsd_varz_connections") == 0
    assert not [name for name in m if name.startswith("gnatsd_varz_jetstream_")]
    index = (await asyncio.to_thread(_get, proc.monitor_url + "/"))[1]
    assert 'href="./metrics"' in index


# --- pure: hand-written bodies ---------------------------------------------------------------------


def _by_name(families: Iterable[Any]) -> dict[str, list[Sample]]:
    return {f.name: list(f.samples) for f in families}


def test_varz_fields_that_are_absent_or_not_numbers_are_left_out() -> None:
    m = _by_name(varz_families({"server_id": "S1", "in_msgs": 7, "cpu": "n/a", "jetstream": {}}))
    assert m == {"gnatsd_varz_in_msgs": [Sample("gnatsd_varz_in_msgs", {"server_id": "S1"}, 7.0)]}


def test_jsz_labels_nest_server_account_stream_consumer() -> None:
    jsz = {
        "server_id": "S1",
        "config": {"max_memory": 10, "max_storage": 20},
        "streams": 1,
        "account_details": [
            {
                "name": "A",
                "storage": 5,
                "stream_detail": [
                    {
                        "name": "S",
                        "state": {"messages": 2, "bytes": 5},
                        "consumer_detail": [{"name": "C", "num_pending": 4}],
                    }
                ],
            }
        ],
    }
    m = _by_name(jsz_families(jsz, "me"))
    server = {"server_id": "S1", "server_name": "me"}
    assert m["jetstream_server_total_streams"] == [Sample("jetstream_server_total_streams", server, 1.0)]
    assert m["jetstream_server_max_storage"][0].value == 20
    assert m["jetstream_account_storage_used"][0].labels == server | {"account": "A"}
    (stream,) = m["jetstream_stream_total_bytes"]
    assert stream.value == 5 and stream.labels == server | {"account": "A", "stream_name": "S"}
    (consumer,) = m["jetstream_consumer_num_pending"]
    assert consumer.value == 4 and consumer.labels == stream.labels | {"consumer_name": "C"}
    assert "jetstream_consumer_num_ack_pending" not in m  # absent in the body: no sample
    assert m["jetstream_server_jetstream_disabled"][0].value == 0


def test_jsz_when_jetstream_is_disabled() -> None:
    m = _by_name(jsz_families({"server_id": "S1", "disabled": True, "streams": 0}, "me"))
    assert m["jetstream_server_jetstream_disabled"][0].value == 1
    assert set(m) == {"jetstream_server_jetstream_disabled", "jetstream_server_total_streams"}
