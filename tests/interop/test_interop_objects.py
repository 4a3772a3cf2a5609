"""Objects cross three clients: orlop.objects, nats-py's object store, and Node's ``js.views.os``.

Each test puts with one client and reads with the others, through each server (the
``server`` fixture), comparing bytes and ADR-20 digests (``SHA-256=`` + padded URL-safe
base64). A failure message names the server, the client and the step. Objects are small
except one ~5 MiB object (41 chunks of 128 KiB) so chunking is exercised on every path.
The Node steps run in one process per test (``tests/node/interop_objects.mjs``).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.js.errors import LinkIsABucketError, ObjectNotFoundError

from orlop.errors import ObjectNotFound
from orlop.objects import connect
from orlop.testing import ServerProcess

BIG = 5 * 1024 * 1024 + 123


def adr20_digest(data: bytes) -> str:
    """The digest every client writes into ObjectInfo for ``data``."""
    return "SHA-256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).decode()


@pytest.fixture
async def js(server: ServerProcess) -> AsyncIterator[Any]:
    """A nats-py JetStream context on the test's server."""
    nc = await nats.connect(server.url)
    try:
        yield nc.jetstream(timeout=20)
    finally:
        await nc.close()


async def _raises(exc: type[BaseException], call: Awaitable[Any], step: str) -> None:
    """Await ``call``; fail naming ``step`` unless it raises ``exc``."""
    try:
        result = await call
    except exc:
        return
    except Exception as other:
        pytest.fail(f"{step}: expected {exc.__name__}, got {other!r}")
    pytest.fail(f"{step}: expected {exc.__name__}, got a result: {result!r}")


def _node_ok(results: list[dict[str, Any]], where: str) -> dict[tuple[str, str], Any]:
    """Node step results keyed by (op, name); fails naming the first step that failed."""
    for r in results:
        assert r["ok"], f"{where}: Node step {r['op']} {r.get('name')!r} failed: {r.get('error')}"
    return {(r["op"], r.get("name") or ""): r["value"] for r in results}


async def test_orlop_objects_read_by_nats_py_and_node(
    server: ServerProcess, js: Any, run_node_steps: Any, tmp_path: Path
) -> None:
    where = f"[{server.kind}] put by orlop.objects"
    objects = {
        "hello.txt": b"hello, interop\n",
        "empty": b"",
        "dir/big.bin": os.urandom(BIG),
        "text.txt": "grüße aus Python".encode(),
    }
    async with connect(server.url) as client:
        bucket = await client.create_bucket("fromorlop")
        for name, data in objects.items():
            source: bytes | str = data.decode() if name == "text.txt" else data
            info = await bucket.put(name, source)
            assert info.digest == adr20_digest(data), f"{where}: digest returned by put of {name}"
            assert info.size == len(data), f"{where}: size returned by put of {name}"
        odd = os.urandom(1024 * 1024 + 5)
        (tmp_path / "odd.bin").write_bytes(odd)
        info = await bucket.put("odd-chunks.bin", tmp_path / "odd.bin", chunk_size=100_000, description="odd")
        assert info.digest == adr20_digest(odd), f"{where}: digest returned by put from a file path"
        objects["odd-chunks.bin"] = odd
    chunk_sizes = {"odd-chunks.bin": 100_000}

    store = await js.object_store("fromorlop")
    for name, data in objects.items():
        result = await store.get(name)
        assert bytes(result.data) == data, f"{where}, read by nats-py: bytes of {name}"
        assert result.info.digest == adr20_digest(data), f"{where}, read by nats-py: digest of {name}"
        assert result.info.size == len(data), f"{where}, read by nats-py: size of {name}"
    assert (await store.get_info("odd-chunks.bin")).description == "odd", f"{where}, nats-py: description"

    steps = [{"op": op, "bucket": "fromorlop", "name": n} for n in objects for op in ("get", "info")]
    got = _node_ok(await run_node_steps(server.url, steps), f"{where}, read by Node")
    for name, data in objects.items():
        assert got["get", name] == {
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }, f"{where}, read by Node: bytes of {name}"
        assert got["info", name]["digest"] == adr20_digest(data), f"{where}, read by Node: digest of {name}"
        chunk = chunk_sizes.get(name, 128 * 1024)
        assert got["info", name]["chunks"] == -(-len(data) // chunk), (
            f"{where}, read by Node: chunks of {name}"
        )


async def test_nats_py_and_node_objects_read_by_orlop(
    server: ServerProcess, js: Any, run_node_steps: Any, tmp_path: Path
) -> None:
    where = f"[{server.kind}]"
    store = await js.create_object_store("foreign")
    py_big, py_small = os.urandom(BIG), b"put by nats-py"
    await store.put("py-big.bin", py_big)
    await store.put("py-small", py_small)
    node_data = os.urandom(300 * 1024 + 7)
    (tmp_path / "node.bin").write_bytes(node_data)
    steps = [
        {"op": "put", "bucket": "foreign", "name": "node.bin", "file": str(tmp_path / "node.bin")},
        {"op": "put", "bucket": "foreign", "name": "node-empty", "file": str(tmp_path / "empty")},
        {"op": "link", "bucket": "foreign", "name": "node-link", "target": "py-big.bin"},
    ]
    (tmp_path / "empty").write_bytes(b"")
    _node_ok(await run_node_steps(server.url, steps), f"{where} Node put/link")

    async with connect(server.url) as client:
        bucket = await client.bucket("foreign")
        for name, data, who in (
            ("py-big.bin", py_big, "nats-py"),
            ("py-small", py_small, "nats-py"),
            ("node.bin", node_data, "Node"),
            ("node-empty", b"", "Node"),
        ):
            step = f"{where} put by {who}, read by orlop.objects"
            assert await bucket.get_bytes(name) == data, f"{step}: get_bytes({name!r})"
            assert (await bucket.info(name)).digest == adr20_digest(data), f"{step}: info({name!r}).digest"
        await bucket.download("node.bin", tmp_path / "node-download.bin")
        assert (tmp_path / "node-download.bin").read_bytes() == node_data, f"{where} Node object, download"
        async with await bucket.get("py-big.bin") as reader:
            await reader.seek(3 * 128 * 1024 - 10)
            assert await reader.read(20) == py_big[3 * 128 * 1024 - 10 : 3 * 128 * 1024 + 10], (
                f"{where} nats-py object, orlop.objects reader seek+read across a chunk boundary"
            )
        part = await bucket.read_range("node.bin", 131_000, 2_000)
        assert part == node_data[131_000:133_000], (
            f"{where} Node object, orlop.objects read_range across chunks"
        )
        linked = await bucket.get_bytes("node-link")
        assert linked == py_big, f"{where} Node link to a nats-py object, read by orlop.objects"
        listed = [info.name for info in await bucket.list()]
        assert listed == sorted(["py-big.bin", "py-small", "node.bin", "node-empty", "node-link"]), (
            f"{where} orlop.objects list of objects put by nats-py and Node"
        )


async def test_links_and_deletes_across_clients(server: ServerProcess, js: Any, run_node_steps: Any) -> None:
    where = f"[{server.kind}]"
    a, b, c = b"object a" * 100, b"object b", b"object c"
    async with connect(server.url) as client:
        bucket = await client.create_bucket("shared")
        await client.create_bucket("other")
        info_a = await bucket.put("a", a)
        await bucket.put("b", b)
        await bucket.put("c", c)
        await bucket.add_link("a-link", info_a)
        await bucket.add_bucket_link("other-link", await client.bucket("other"))
        await bucket.delete("c")

        store = await js.object_store("shared")
        linked = await store.get("a-link")
        assert bytes(linked.data) == a, f"{where} orlop.objects link, followed by nats-py"
        await _raises(
            ObjectNotFoundError, store.get_info("c"), f"{where} orlop.objects delete, nats-py get_info"
        )
        await _raises(
            LinkIsABucketError, store.get("other-link"), f"{where} orlop.objects bucket link, nats-py get"
        )

        steps = [
            {"op": "get", "bucket": "shared", "name": "a-link"},
            {"op": "info", "bucket": "shared", "name": "other-link"},
            {"op": "get", "bucket": "shared", "name": "c"},
            {"op": "info", "bucket": "shared", "name": "c"},
            {"op": "delete", "bucket": "shared", "name": "b"},
        ]
        got = _node_ok(await run_node_steps(server.url, steps), f"{where} Node")
        assert got["get", "a-link"] == {"size": len(a), "sha256": hashlib.sha256(a).hexdigest()}, (
            f"{where} orlop.objects link, followed by Node"
        )
        assert got["info", "other-link"]["options"]["link"] == {"bucket": "other"}, (
            f"{where} orlop.objects bucket link, seen by Node"
        )
        assert got["get", "c"] is None, f"{where} orlop.objects delete, Node get returns null"
        assert got["info", "c"]["deleted"] is True, f"{where} orlop.objects delete, Node info"

        await _raises(ObjectNotFound, bucket.info("b"), f"{where} Node delete, orlop.objects info")
        await _raises(ObjectNotFound, bucket.get_bytes("b"), f"{where} Node delete, orlop.objects get_bytes")
        assert [i.name for i in await bucket.list()] == ["a", "a-link", "other-link"], (
            f"{where} orlop.objects list after an orlop.objects delete and a Node delete"
        )
    await _raises(ObjectNotFoundError, store.get_info("b"), f"{where} Node delete, nats-py get_info")
