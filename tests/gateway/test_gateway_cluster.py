"""The gateway in front of a 3-node nats-server cluster: it keeps serving while nodes die.

Given every node (``-s`` repeated), the gateway reconnects to a live one when the node it
uses is killed; an R3 bucket stays readable and writable through it, node after node.
Only nats-server clusters (Orlop's server is a single node).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import httpx
import pytest

from orlop.testing import GatewayProcess, NatsCluster


@pytest.fixture
def cluster() -> Iterator[NatsCluster]:
    with NatsCluster(size=3) as c:
        yield c


async def _round_trip(http: httpx.AsyncClient, name: str, data: bytes, deadline: float) -> float:
    """Seconds until a PUT and a GET of ``name`` both work (failing the test at ``deadline``)."""
    started = time.monotonic()
    last = ""
    while time.monotonic() < deadline:
        try:
            put = await http.put(f"/buckets/r3/objects/{name}", content=data)
            got = await http.get(f"/buckets/r3/objects/{name}")
            if put.status_code == 201 and got.status_code == 200 and got.content == data:
                return time.monotonic() - started
            last = f"{put.status_code} {got.status_code} {put.text[:200]}"
            assert put.status_code in (201, 503, 504) and got.status_code in (200, 404, 503, 504), last
        except httpx.TransportError as exc:  # the gateway itself must not go away
            raise AssertionError(f"gateway unreachable: {exc}") from exc
        await asyncio.sleep(0.2)
    raise AssertionError(f"no round trip through the gateway in time: {last}")


async def test_gateway_survives_each_node_dying(
    cluster: NatsCluster, gateway_factory: type[GatewayProcess]
) -> None:
    urls = cluster.urls
    gateway = gateway_factory(urls[0], args=["-s", urls[1], "-s", urls[2]]).start()
    async with httpx.AsyncClient(base_url=gateway.url + "/api/v1", timeout=30) as http:
        for _ in range(50):  # right after the meta group forms, R3 placement may miss a peer
            made = await http.post("/buckets", json={"bucket": "r3", "num_replicas": 3})
            if made.status_code == 201:
                break
            await asyncio.sleep(0.2)
        assert made.status_code == 201, made.text
        kept = os.urandom(3 * 1024 * 1024)
        assert (await http.put("/buckets/r3/objects/kept.bin", content=kept)).status_code == 201
        for i, node in enumerate(cluster.nodes):
            node.kill()
            await _round_trip(http, f"during-{i}", os.urandom(300_000), time.monotonic() + 30)
            assert (await http.get("/buckets/r3/objects/kept.bin")).content == kept
            node.start()
            cluster.wait_ready(30)
        listed = (await http.post("/buckets/r3/list", json={})).json()
        names = sorted(o["name"] for o in listed["objects"])
        assert names == ["during-0", "during-1", "during-2", "kept.bin"]
