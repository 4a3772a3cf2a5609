"""Encrypted objects read by the official clients: the ciphertext (digest verified) and the headers."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from typing import Any

import nats
import nats.js.errors
import pytest

from orlop.objects import Key, ObjectInfo, connect
from orlop.objects.meta import chunk_subject
from orlop.testing import ServerProcess

KEY = Key(bytes(range(32)), id="k1")
CHUNK = 1000


async def raw_chunks(js: Any, info: ObjectInfo) -> list[bytes]:
    """The stored payload of every chunk of ``info``, read with nats-py."""
    subject, seq, out = chunk_subject(info.bucket, info.nuid), 1, []
    while True:
        try:
            msg = await js.get_msg(f"OBJ_{info.bucket}", seq=seq, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return out
        out.append(msg.data or b"")
        seq = msg.seq + 1


@pytest.fixture
async def js(server: ServerProcess) -> AsyncIterator[Any]:
    nc = await nats.connect(server.url)
    try:
        yield nc.jetstream(timeout=20)
    finally:
        await nc.close()


async def test_official_clients_read_the_ciphertext(
    server: ServerProcess, js: Any, run_node_steps: Any
) -> None:
    data = os.urandom(3 * CHUNK + 5)
    async with connect(server.url) as client:
        bucket = await client.create_bucket("enc")
        info = await bucket.put("enc", data, chunk_size=CHUNK, encryption=KEY)
        assert await bucket.get_bytes("enc", encryption=Key(bytes(range(32)), id="k1")) == data
    cipher = b"".join(await raw_chunks(js, info))
    store = await js.object_store("enc")
    got = await store.get("enc")  # nats-py verifies the digest of what it downloads
    assert bytes(got.data) == cipher and got.data != data
    assert got.info.headers["Orlop-Encryption"] in ("aes-256-gcm", ["aes-256-gcm"])
    assert got.info.headers["Orlop-Key-Id"] in ("k1", ["k1"])
    steps = [{"op": op, "bucket": "enc", "name": "enc"} for op in ("get", "headers")]
    results = await run_node_steps(server.url, steps)
    assert all(r["ok"] for r in results), results
    assert results[0]["value"] == {"size": len(cipher), "sha256": hashlib.sha256(cipher).hexdigest()}
    assert results[1]["value"]["Orlop-Encryption"] == ["aes-256-gcm"]
    assert results[1]["value"]["Orlop-Original-Size"] == [str(len(data))]
