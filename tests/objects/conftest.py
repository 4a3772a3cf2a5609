"""Fixtures for orlop.objects tests: a client and a fresh bucket on each server kind."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from orlop.objects import Bucket, ObjectStoreClient, connect
from orlop.testing import ServerProcess


@pytest.fixture
async def client(server: ServerProcess) -> AsyncIterator[ObjectStoreClient]:
    async with connect(server.url) as c:
        yield c


@pytest.fixture
async def bucket(client: ObjectStoreClient) -> Bucket:
    return await client.create_bucket("docs", description="test bucket")


StateFn = Callable[[str], Awaitable[dict[str, Any]]]


@pytest.fixture
def stream_state(client: ObjectStoreClient) -> StateFn:
    """``await stream_state("docs")`` -> the backing stream's STREAM.INFO state."""

    async def get(bucket: str) -> dict[str, Any]:
        info = await client.wire.request(f"STREAM.INFO.OBJ_{bucket}")
        state: dict[str, Any] = info["state"]
        return state

    return get
