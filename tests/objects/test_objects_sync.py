"""The blocking twin mirrors the async API; public names and error JSON."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

import orlop.objects
import orlop.objects.sync as sync_api
from orlop.errors import BucketNotFound, ObjectNotFound
from orlop.testing import ServerProcess


def test_sync_round_trip(server: ServerProcess, tmp_path: Path) -> None:
    with sync_api.connect(server.url) as client:
        bucket = client.create_bucket("docs", history=2)
        data = os.urandom(400_000)
        info = bucket.put("a.bin", data, chunk_size=100_000, metadata={"k": "v"})
        assert info.chunks == 4 and bucket.get_bytes("a.bin") == data
        assert bucket.read_range("a.bin", 150_000, 10) == data[150_000:150_010]
        with bucket.get("a.bin") as reader:
            reader.seek(399_990)
            assert reader.read() == data[399_990:] and reader.tell() == 400_000
            reader.seek(0)
            assert b"".join(reader) == data
        bucket.download("a.bin", tmp_path / "out")
        assert (tmp_path / "out").read_bytes() == data
        bucket.put("a.bin", io.BytesIO(b"v2"))
        assert bucket.versions("a.bin")[0].revision == info.revision
        assert [i.name for i in bucket.list("*.bin")] == ["a.bin"]
        with bucket.watch(updates_only=True) as watcher:
            assert watcher.initial_done
            bucket.put("w", b"x")
            seen = watcher.next(timeout=10)
            assert seen is not None and seen.name == "w"
        bucket.delete("w")
        with pytest.raises(ObjectNotFound):
            bucket.info("w")
        assert client.buckets() == ["docs"] and bucket.status().object_count == 1
        client.delete_bucket("docs")
        with pytest.raises(BucketNotFound):
            client.bucket("docs")
    assert not any(t.name == "orlop-objects-sync" and t.is_alive() for t in threading.enumerate())


def test_public_names() -> None:
    assert set(orlop.objects.__all__) >= {
        "connect",
        "ObjectStoreClient",
        "Bucket",
        "ObjectInfo",
        "ObjectReader",
    }
    for name in orlop.objects.__all__:
        assert hasattr(orlop.objects, name)
    for name in sync_api.__all__:
        assert hasattr(sync_api, name)
    async_methods = {m for m in dir(orlop.objects.Bucket) if not m.startswith("_")}
    sync_methods = {m for m in dir(sync_api.Bucket) if not m.startswith("_")}
    wanted = {
        "put",
        "get",
        "get_bytes",
        "download",
        "read_range",
        "info",
        "update_meta",
        "delete",
        "list",
        "watch",
        "add_link",
        "add_bucket_link",
        "versions",
        "restore",
        "status",
        "seal",
    }
    assert wanted <= async_methods and wanted <= sync_methods


def test_error_json_shapes() -> None:
    from orlop import errors

    expected = {
        errors.ObjectNotFound: (404, 10404),
        errors.ObjectAlreadyExists: (409, 10409),
        errors.RevisionMismatch: (409, 10409),
        errors.ObjectTooLarge: (413, 10413),
        errors.StorageLimitExceeded: (507, 10507),
        errors.BucketNotFound: (404, 10059),
    }
    for cls, (code, err_code) in expected.items():
        d = cls().to_dict()
        assert d == {"error": {"code": code, "err_code": err_code, "description": cls.default_description}}


def test_an_interrupted_sync_put_is_cancelled_and_leaves_nothing(server: ServerProcess) -> None:
    """Ctrl-C while a blocking put runs: the put stops on its loop thread and cleans up after itself."""
    import signal
    import time

    sent = threading.Event()

    def slow_source():  # type: ignore[no-untyped-def]
        for _ in range(200):
            yield b"x" * 65536
            sent.set()
            time.sleep(0.02)

    # Ctrl-C as a terminal gives it: SIGINT handled by Python's default handler, in the main
    # thread. Sent to the main thread itself (a signal sent to the process may be taken by any
    # thread not blocking it), with the default handler in place whatever earlier code set.
    main = threading.get_ident()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    with sync_api.connect(server.url) as client:
        bucket = client.create_bucket("interrupted")
        timer = threading.Thread(
            target=lambda: (sent.wait(10), time.sleep(0.3), signal.pthread_kill(main, signal.SIGINT))
        )
        timer.start()
        started = time.monotonic()
        try:
            with pytest.raises(KeyboardInterrupt):
                bucket.put("slow.bin", slow_source())
        finally:
            timer.join()
            signal.signal(signal.SIGINT, previous)
        assert time.monotonic() - started < 4  # stopped, not run to its end (200 x 20 ms)
        with pytest.raises(ObjectNotFound):
            bucket.info("slow.bin")
        assert bucket.status().messages == 0  # the chunks it had written were purged
        bucket.put("after.bin", b"the client still works")
        assert bucket.get_bytes("after.bin") == b"the client still works"
