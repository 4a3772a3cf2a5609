"""Regressions from the orlop.objects audit: the seed's error JSON, and revisions that are not metas.

Raised Object Store errors must render exactly the seed's JSON (fixed
``description`` per class, the specific text kept as ``detail``/``str()``),
and a ``revision=`` that is not one of the object's metas must be
ObjectNotFound (a non-positive one BadRequest with our own text), on both servers.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from orlop.errors import (
    BadRequest,
    ObjectAlreadyExists,
    ObjectNotFound,
    ObjectStoreUnavailable,
    ObjectTooLarge,
    StorageLimitExceeded,
)
from orlop.objects import Bucket, ObjectStoreClient, connect
from orlop.testing import KINDS, ServerProcess


def _seed_json(code: int, err_code: int, description: str) -> dict[str, dict[str, object]]:
    return {"error": {"code": code, "err_code": err_code, "description": description}}


async def test_raised_errors_carry_the_seed_json(client: ObjectStoreClient, bucket: Bucket) -> None:
    with pytest.raises(ObjectNotFound) as nf:
        await bucket.info("nope")
    assert nf.value.to_dict() == _seed_json(404, 10404, "object not found")
    assert "nope" in nf.value.detail and "nope" in str(nf.value)
    await bucket.put("there", b"x")
    with pytest.raises(ObjectAlreadyExists) as ae:
        await bucket.put("there", b"y", create_only=True)
    assert ae.value.to_dict() == _seed_json(409, 10409, "object already exists")
    small = await client.create_bucket("small", max_object_size=10)
    with pytest.raises(ObjectTooLarge) as tl:
        await small.put("big", b"x" * 11)
    assert tl.value.to_dict() == _seed_json(413, 10413, "object too large")
    quota = await client.create_bucket("quota", max_bytes=200_000)
    with pytest.raises(StorageLimitExceeded) as sl:
        await quota.put("big", os.urandom(400_000), chunk_size=50_000)
    assert sl.value.to_dict() == _seed_json(507, 10507, "storage limit exceeded")
    with pytest.raises(BadRequest) as br:
        await bucket.read_range("there", -1, 5)
    assert br.value.to_dict() == _seed_json(400, 10400, "offset and length must not be negative")


async def test_revision_must_be_a_meta_of_that_object(bucket: Bucket) -> None:
    first = await bucket.put("doc", os.urandom(300_000), chunk_size=100_000)
    other = await bucket.put("other", b"hello")
    chunk_seq = first.revision - 1  # the object's last chunk, stored just before its meta
    for name, revision in [("doc", chunk_seq), ("doc", other.revision), ("doc", first.revision + 100)]:
        with pytest.raises(ObjectNotFound) as err:
            await bucket.info(name, revision=revision)
        assert err.value.to_dict() == _seed_json(404, 10404, "object not found")
        with pytest.raises(ObjectNotFound):
            await bucket.get_bytes(name, revision=revision)
        with pytest.raises(ObjectNotFound):
            await bucket.restore(name, revision)
    for bad in (0, -3):
        for call in (
            bucket.info("doc", revision=bad),
            bucket.get_bytes("doc", revision=bad),
            bucket.restore("doc", bad),
        ):
            with pytest.raises(BadRequest) as br:
                await call
            assert br.value.to_dict() == _seed_json(400, 10400, "revision must be a positive integer")
    assert (await bucket.info("doc", revision=first.revision)).nuid == first.nuid


async def test_account_without_jetstream_is_a_prompt_clear_error(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """An account without JetStream: JetStreamNotEnabled (503/10039) at once, no waiting.

    Reads wait out a cluster's election, which also answers 503 (10008); this 503
    never passes. nats-server only: Orlop's server does not take accounts yet.
    """
    import time

    from orlop.errors import JetStreamNotEnabled
    from orlop.objects import connect

    conf = tmp_path / "accounts.conf"
    conf.write_text(
        "accounts {\n"
        "  WITH { jetstream: enabled, users: [{user: a, password: a}] }\n"
        "  WITHOUT { users: [{user: b, password: b}] }\n"
        "}\n"
    )
    proc = server_factory(kind="nats-server", extra_args=["-c", str(conf)]).start()
    host = proc.url.removeprefix("nats://")
    async with connect(f"nats://a:a@{host}") as allowed:
        await allowed.create_bucket("docs")  # JetStream runs, for the account that has it
    async with connect(f"nats://b:b@{host}") as client:
        for op in (lambda: client.bucket("docs"), client.buckets):
            started = time.monotonic()
            with pytest.raises(JetStreamNotEnabled) as caught:
                await op()
            # Bounds a hang, not a speed: patient retries would take twenty seconds.
            assert time.monotonic() - started < 3
            assert caught.value.to_dict()["error"]["code"] == 503


@pytest.mark.parametrize("kind", KINDS)
async def test_a_server_that_dies_mid_put_is_said_at_once(
    kind: str, server_factory: type[ServerProcess]
) -> None:
    """The connection closes under a put: it fails saying so, without waiting out PubAck
    timeouts, and once the server is back no object (no meta) was left half-written."""
    proc = server_factory(kind=kind).start()
    async with connect(proc.url, allow_reconnect=False, request_timeout=30) as client:
        bucket = await client.create_bucket("dying")
        data = os.urandom(400 * 1024 * 1024)

        async def kill_soon() -> None:
            await asyncio.sleep(0.3)
            proc.kill()

        killer = asyncio.create_task(kill_soon())
        with pytest.raises(ObjectStoreUnavailable, match="connection to the NATS server closed"):
            await bucket.put("big", data)
        await killer
    proc.start()
    async with connect(proc.url) as client:
        with pytest.raises(ObjectNotFound):
            await (await client.bucket("dying")).info("big")
