"""Fixtures for the gateway: a real ``orlop gateway`` process in front of a real server.

``gateway`` runs against each server kind (``server`` is parametrised over Orlop and
nats-server); ``gateway_factory`` starts gateways with other flags (auth configs).
Tests speak HTTP to it with httpx, as any client would.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from orlop.testing import GatewayProcess, ServerProcess


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[type[GatewayProcess]]:
    made: list[GatewayProcess] = []

    class Factory(GatewayProcess):
        def start(self, log_dir: Path = tmp_path) -> GatewayProcess:
            made.append(self)
            return super().start(log_dir)

    try:
        yield Factory
    finally:
        for g in made:
            g.stop()


@pytest.fixture
def gateway(server: ServerProcess, gateway_factory: type[GatewayProcess]) -> GatewayProcess:
    """A gateway without auth (loopback) in front of each kind of server."""
    return gateway_factory(server.url).start()


@pytest.fixture
async def http(gateway: GatewayProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url + "/api/v1", timeout=30) as client:
        yield client
