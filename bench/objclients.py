"""The two object-store clients under test behind one small interface (:data:`ObjClient`).

``orlop.objects`` and nats-py's own object store (``js.create_object_store``) do the
same things with different APIs. The benchmarks are written once against
these methods, so a figure differs only by the client that produced it. Big gets
go to a file on both sides: ``bucket.download(name, path)`` for orlop.objects,
``obs.get(name, writeinto=file)`` for nats-py (its fastest and memory-bounded path).

``orlop.objects`` is imported lazily: while it is missing, its side reports the
ImportError and the nats-py side still runs.
"""

from __future__ import annotations

import contextlib
import inspect
from pathlib import Path
from typing import Any

import nats
from nats.js import api

__all__ = ["CLIENTS", "NatsPyClient", "ObjClient", "OrlopClient", "open_client"]

CLIENTS = ("orlop.objects", "nats-py")


async def _maybe_await(value: Any) -> Any:
    """The contract leaves open whether ``bucket()``/``delete_bucket()`` are coroutines."""
    return await value if inspect.isawaitable(value) else value


class OrlopClient:
    """orlop.objects behind :class:`ObjClient`; ``client`` is the library's connected client."""

    def __init__(self, client: Any, exit_stack: contextlib.AsyncExitStack) -> None:
        self.client = client
        self._stack = exit_stack
        self._buckets: dict[str, Any] = {}

    @classmethod
    async def open(cls, url: str) -> OrlopClient:
        from orlop.objects import connect

        stack = contextlib.AsyncExitStack()
        client = await stack.enter_async_context(connect(url))
        return cls(client, stack)

    async def _bucket(self, bucket: str) -> Any:
        if bucket not in self._buckets:
            self._buckets[bucket] = await _maybe_await(self.client.bucket(bucket))
        return self._buckets[bucket]

    async def create_bucket(self, bucket: str) -> None:
        self._buckets[bucket] = await self.client.create_bucket(bucket)

    async def delete_bucket(self, bucket: str) -> None:
        self._buckets.pop(bucket, None)
        await _maybe_await(self.client.delete_bucket(bucket))

    async def put(self, bucket: str, name: str, data: bytes) -> None:
        await (await self._bucket(bucket)).put(name, data)

    async def get_bytes(self, bucket: str, name: str) -> bytes:
        data: bytes = await (await self._bucket(bucket)).get_bytes(name)
        return data

    async def download(self, bucket: str, name: str, path: Path) -> None:
        await (await self._bucket(bucket)).download(name, str(path))

    async def read_range(self, bucket: str, name: str, offset: int, length: int) -> bytes:
        data: bytes = await (await self._bucket(bucket)).read_range(name, offset, length)
        return data

    async def close(self) -> None:
        await self._stack.aclose()


class NatsPyClient:
    """nats-py's object store (``nats.js.object_store``) behind :class:`ObjClient`."""

    def __init__(self, nc: Any) -> None:
        self.nc = nc
        self.js = nc.jetstream(timeout=30)
        self._stores: dict[str, Any] = {}

    @classmethod
    async def open(cls, url: str) -> NatsPyClient:
        return cls(await nats.connect(url))

    async def _store(self, bucket: str) -> Any:
        if bucket not in self._stores:
            self._stores[bucket] = await self.js.object_store(bucket)
        return self._stores[bucket]

    async def create_bucket(self, bucket: str) -> None:
        config = api.ObjectStoreConfig(bucket=bucket, storage=api.StorageType.FILE)
        self._stores[bucket] = await self.js.create_object_store(bucket, config=config)

    async def delete_bucket(self, bucket: str) -> None:
        self._stores.pop(bucket, None)
        await self.js.delete_object_store(bucket)

    async def put(self, bucket: str, name: str, data: bytes) -> None:
        await (await self._store(bucket)).put(name, data)

    async def get_bytes(self, bucket: str, name: str) -> bytes:
        result = await (await self._store(bucket)).get(name)
        return bytes(result.data)

    async def download(self, bucket: str, name: str, path: Path) -> None:
        store = await self._store(bucket)
        with open(path, "wb") as f:
            await store.get(name, writeinto=f)

    async def close(self) -> None:
        await self.nc.close()


ObjClient = OrlopClient | NatsPyClient


async def open_client(kind: str, url: str) -> ObjClient:
    """Connect the client named ``kind`` (one of :data:`CLIENTS`) to ``url``."""
    if kind == "orlop.objects":
        return await OrlopClient.open(url)
    if kind == "nats-py":
        return await NatsPyClient.open(url)
    raise ValueError(f"unknown client {kind!r}")
