"""Bad input: the right error before anything is written, nothing partial left behind."""

from __future__ import annotations

import os
from typing import Any

import pytest

from orlop.errors import (
    BadRequest,
    BucketNotFound,
    BucketSealed,
    DigestMismatch,
    ObjectNotFound,
    ObjectStoreError,
    ObjectTooLarge,
    StorageLimitExceeded,
)
from orlop.objects import Bucket, ObjectStoreClient
from orlop.objects.meta import encode_name
from orlop.testing import KINDS, ServerProcess


async def test_invalid_names(client: ObjectStoreClient, bucket: Bucket, stream_state: Any) -> None:
    # "ok\n": a regex anchored with $ lets one trailing newline through (found by schemathesis
    # through the gateway: the newline reached a NATS subject and the request failed with 503).
    for name in ("", "a.b", "a b", "x*", "ü", "ok\n", "ok\r\n"):
        with pytest.raises(BadRequest):
            await client.create_bucket(name)
    for name in ("bad name", "docs\n"):
        with pytest.raises(BadRequest):
            await client.bucket(name)
    with pytest.raises(BadRequest):
        await bucket.put("", b"x")
    with pytest.raises(BadRequest):
        await bucket.info("")
    assert (await stream_state("docs"))["messages"] == 0


async def test_bad_headers_metadata_options(bucket: Bucket, stream_state: Any) -> None:
    cases: list[dict[str, Any]] = [
        {"headers": {"X": 1}},
        {"headers": {"X": ["a", 2]}},
        {"headers": {"bad key": "v"}},
        {"headers": {"X-Key\n": "v"}},  # a newline in a key would end the NATS header block
        {"headers": {"X": "a\r\nb"}},
        {"headers": {"Orlop-Compression": "s2"}},
        {"metadata": {"k": 1}},
        {"chunk_size": 0},
        {"chunk_size": 2 << 20},
        {"compression": "gzip"},
        {"if_revision": 1, "create_only": True},
        {"colour": "red"},
    ]
    for opts in cases:
        with pytest.raises(BadRequest):
            await bucket.put("x", os.urandom(1000), **opts)
    with pytest.raises(BadRequest):
        await bucket.put("x", 12345)
    assert (await stream_state("docs"))["messages"] == 0


async def test_max_object_size(client: ObjectStoreClient, stream_state: Any) -> None:
    b = await client.create_bucket("small", max_object_size=100_000)
    assert b.max_object_size == 100_000
    with pytest.raises(ObjectTooLarge) as err:
        await b.put("big", os.urandom(100_001))
    assert err.value.to_dict() == {
        "error": {"code": 413, "err_code": 10413, "description": "object too large"}
    }
    assert "100000" in str(err.value)  # the specific detail stays on the exception

    def stream() -> Any:
        for _ in range(10):
            yield os.urandom(30_000)

    with pytest.raises(ObjectTooLarge):
        await b.put("streamed", stream(), chunk_size=10_000)
    assert (await stream_state("small"))["messages"] == 0
    await b.put("ok", os.urandom(100_000))
    reopened = await client.bucket("small")
    assert reopened.max_object_size == 100_000


async def test_bucket_max_bytes(client: ObjectStoreClient, stream_state: Any) -> None:
    b = await client.create_bucket("quota", max_bytes=1_000_000)
    with pytest.raises(StorageLimitExceeded) as err:
        await b.put("big", os.urandom(2_000_000), chunk_size=100_000)
    assert err.value.code == 507 and err.value.err_code == 10507
    assert (await stream_state("quota"))["messages"] == 0
    await b.put("fits", os.urandom(100_000))


async def test_sealed_bucket(bucket: Bucket, client: ObjectStoreClient, stream_state: Any) -> None:
    await bucket.put("a", b"kept")
    await bucket.seal()
    assert (await bucket.status()).sealed
    with pytest.raises(BucketSealed):
        await bucket.put("b", b"x")
    other_handle = await client.bucket("docs")
    other_handle.sealed = False  # a stale handle: the server refuses the write
    with pytest.raises(BucketSealed):
        await other_handle.put("b", os.urandom(500_000))
    assert await bucket.get_bytes("a") == b"kept"
    assert (await stream_state("docs"))["messages"] == 2


async def test_missing_things(client: ObjectStoreClient, bucket: Bucket) -> None:
    with pytest.raises(ObjectNotFound) as err:
        await bucket.get_bytes("nope")
    assert err.value.to_dict() == {
        "error": {"code": 404, "err_code": 10404, "description": "object not found"}
    }
    assert "nope" in str(err.value) and "nope" in err.value.detail
    await client.delete_bucket("docs")
    with pytest.raises(BucketNotFound):
        await bucket.put("x", b"y")
    with pytest.raises(BucketNotFound):
        await bucket.info("x")


async def test_digest_mismatch_detected(bucket: Bucket, client: ObjectStoreClient) -> None:
    info = await bucket.put("d", b"honest data")
    forged = info.evolve(digest="SHA-256=" + "A" * 43 + "=")
    await client.wire.publish(f"$O.docs.M.{encode_name('d')}", forged.to_json(), {"Nats-Rollup": "sub"})
    with pytest.raises(DigestMismatch) as err:
        await bucket.get_bytes("d")
    assert isinstance(err.value, ObjectStoreError) and err.value.to_dict()["error"]["code"] == 500


async def test_cancelled_put_leaves_no_trace(bucket: Bucket, stream_state: Any) -> None:
    import asyncio

    sent = asyncio.Event()

    async def slow() -> Any:
        for i in range(1000):
            yield os.urandom(50_000)
            if i == 20:
                sent.set()
            await asyncio.sleep(0.001)

    task = asyncio.create_task(bucket.put("cancelled", slow(), chunk_size=50_000))
    await asyncio.wait_for(sent.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await stream_state("docs"))["messages"] == 0
    with pytest.raises(ObjectNotFound):
        await bucket.info("cancelled")


async def test_failing_source_leaves_no_trace(bucket: Bucket, stream_state: Any) -> None:
    def broken() -> Any:
        yield os.urandom(300_000)
        raise OSError("disk went away")

    with pytest.raises(OSError):
        await bucket.put("broken", broken(), chunk_size=100_000)
    assert (await stream_state("docs"))["messages"] == 0


async def test_put_without_pubacks_fails_after_one_timeout_and_leaves_no_trace(
    server: Any, stream_state: Any
) -> None:
    """Lost PubAcks (a dead connection or stream leader): the put fails in about one timeout.

    The stream is switched to ``no_ack``: chunks are stored, no PubAck ever comes.
    Every chunk in flight is then waited for at most once in all before the purge,
    not one timeout each (40 chunks x 1 s here).
    """
    import time

    from orlop.errors import ObjectStoreUnavailable
    from orlop.objects import connect

    async with connect(server.url, request_timeout=1.0) as quick:
        # Without fast ingest: its final PubAck comes even on a no_ack stream (nats-server 2.15),
        # which confirms the chunks, so such a put completes (the meta is found stored).
        silent = await quick.create_bucket("silent", fast_ingest=False)
        info = await quick.wire.request("STREAM.INFO.OBJ_silent")
        config = {**info["config"], "no_ack": True}
        await quick.wire.request("STREAM.UPDATE.OBJ_silent", config)
        started = time.monotonic()
        with pytest.raises(ObjectStoreUnavailable):
            await silent.put("lost", os.urandom(40 * 64 * 1024), chunk_size=64 * 1024)
        # Bounds a hang, not a speed: one timeout per chunk would be 40 s or more.
        assert time.monotonic() - started < 20
        assert (await stream_state("silent"))["messages"] == 0  # the stored chunks were purged


@pytest.mark.parametrize("kind", KINDS)
async def test_server_without_jetstream_is_a_prompt_clear_error(
    kind: str, server_factory: type[ServerProcess]
) -> None:
    """No JetStream behind the connection: JetStreamNotEnabled at once, not a wait for an election.

    Reads retry while JetStream does not answer (a cluster electing a leader), but
    a server that has no JetStream at all answers "no responders", which no wait mends.
    """
    import time

    from orlop.errors import JetStreamNotEnabled, ObjectStoreUnavailable
    from orlop.objects import connect

    proc = server_factory(kind=kind, jetstream=False).start()
    async with connect(proc.url) as client:
        for op in (lambda: client.bucket("docs"), lambda: client.create_bucket("docs"), client.buckets):
            started = time.monotonic()
            with pytest.raises(JetStreamNotEnabled) as caught:
                await op()
            # Bounds a hang, not a speed: patient retries would take twenty seconds.
            assert time.monotonic() - started < 3
            assert isinstance(caught.value, ObjectStoreUnavailable)  # still caught as "unavailable"
            assert caught.value.to_dict()["error"]["err_code"] == 10076
