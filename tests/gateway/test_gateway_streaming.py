"""Objects as raw HTTP bodies through the gateway, on both servers.

PUT streams a body into a bucket, GET streams it back with ``Content-Length``, ``ETag``,
``Last-Modified`` and a guessed ``Content-Type``; single ``Range`` requests (at chunk
boundaries, suffixes, open ends) answer 206, unsatisfiable ones 416; validators answer
304 and 412; HEAD carries the headers only; names may hold slashes and any UTF-8; a
client that goes away mid-upload leaves nothing behind; changes arrive as Server-Sent Events.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from urllib.parse import quote

import httpx

from orlop.objects import connect
from orlop.testing import GatewayProcess, ServerProcess

CHUNK = 128 * 1024


async def _bucket(http: httpx.AsyncClient, name: str = "raw") -> None:
    made = await http.post("/buckets", json={"bucket": name})
    assert made.status_code == 201, made.text


async def test_put_get_head_and_ranges(http: httpx.AsyncClient) -> None:
    await _bucket(http)
    data = os.urandom(5 * CHUNK + 1234)
    put = await http.put(
        "/buckets/raw/objects/data.bin", content=data, headers={"X-Object-Chunk-Size": str(CHUNK)}
    )
    assert put.status_code == 201, put.text
    etag = put.headers["etag"]
    assert put.json()["chunks"] == 6 and etag == f'"{put.json()["digest"]}"'
    got = await http.get("/buckets/raw/objects/data.bin")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-length"] == str(len(data))
    assert got.headers["content-type"] == "application/octet-stream" and got.headers["etag"] == etag
    assert got.headers["accept-ranges"] == "bytes" and "last-modified" in got.headers
    head = await http.head("/buckets/raw/objects/data.bin")
    assert (
        head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(data))
    )
    cases = {
        f"bytes={CHUNK}-{2 * CHUNK - 1}": (CHUNK, 2 * CHUNK - 1),  # exactly the second chunk
        f"bytes={CHUNK - 1}-{CHUNK}": (CHUNK - 1, CHUNK),  # across a boundary
        "bytes=-100": (len(data) - 100, len(data) - 1),  # the last 100 bytes
        f"bytes={5 * CHUNK}-": (5 * CHUNK, len(data) - 1),  # the short last chunk
        "bytes=0-0": (0, 0),
        f"bytes=10-{len(data) + 50}": (10, len(data) - 1),  # an end past the object
    }
    for spec, (start, end) in cases.items():
        part = await http.get("/buckets/raw/objects/data.bin", headers={"Range": spec})
        assert part.status_code == 206, spec
        assert part.content == data[start : end + 1], spec
        assert part.headers["content-range"] == f"bytes {start}-{end}/{len(data)}", spec
    beyond = await http.get("/buckets/raw/objects/data.bin", headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(data)}"
    assert beyond.json()["error"]["err_code"] == 10416


async def test_content_type_names_and_versions(http: httpx.AsyncClient) -> None:
    await _bucket(http)
    name = "dir/sub/ünïcødé ✓.json"
    url = "/buckets/raw/objects/" + quote(name)
    first = await http.put(url, content=b'{"v": 1}')
    assert first.status_code == 201 and first.json()["name"] == name
    got = await http.get(url)
    assert got.headers["content-type"] == "application/json" and got.content == b'{"v": 1}'
    second = await http.put(
        url, content=b"<p>v2</p>", headers={"Content-Type": "text/html", "X-Object-Meta-Owner": "ann"}
    )
    assert second.json()["metadata"] == {"owner": "ann"}
    latest = await http.get(url)
    assert latest.content == b"<p>v2</p>" and latest.headers["content-type"].startswith("text/html")
    versions = (await http.get("/buckets/raw/versions/" + quote(name))).json()["versions"]
    assert [v["revision"] for v in versions] == sorted((v["revision"] for v in versions), reverse=True)
    old = versions[-1]["revision"]
    older = await http.get(url, params={"revision": old})
    # History 1 keeps one revision per name; with more, the older bytes come back.
    assert older.status_code in (200, 404)
    listed = await http.post("/buckets/raw/list", json={"filter": "dir/*"})
    assert [o["name"] for o in listed.json()["objects"]] == [name]


async def test_conditional_requests(http: httpx.AsyncClient) -> None:
    await http.post("/buckets", json={"bucket": "cond", "history": 5})
    url = "/buckets/cond/objects/doc.txt"
    put = await http.put(url, content=b"one")
    etag = put.headers["etag"]
    same = await http.get(url, headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b""
    since = await http.get(url, headers={"If-Modified-Since": put.headers.get("date", "")})
    assert since.status_code in (200, 304)
    lm = (await http.get(url)).headers["last-modified"]
    assert (await http.get(url, headers={"If-Modified-Since": lm})).status_code == 304
    stale = await http.put(url, content=b"two", headers={"If-Match": '"SHA-256=not-it"'})
    assert stale.status_code == 412 and stale.json()["error"]["err_code"] == 10412
    assert (await http.get(url)).content == b"one"  # nothing changed
    fresh = await http.put(url, content=b"two", headers={"If-Match": etag})
    assert fresh.status_code == 201
    create_only = await http.put(url, content=b"three", headers={"If-None-Match": "*"})
    assert create_only.status_code == 409
    gone = await http.delete(url, headers={"If-Match": etag})  # the etag of "one": stale now
    assert gone.status_code == 412
    assert (await http.delete(url, headers={"If-Match": fresh.headers["etag"]})).status_code == 200
    assert (await http.get(url)).status_code == 404
    # Versions and restore through the JSON operations.
    versions = (await http.get("/buckets/cond/versions/doc.txt")).json()["versions"]
    live = [v for v in versions if not v["deleted"]]
    restored = await http.post(
        "/buckets/cond/restore", json={"name": "doc.txt", "revision": live[-1]["revision"]}
    )
    assert restored.status_code == 200, restored.text
    assert (await http.get(url)).content == b"one"


def _raw_put(gateway: GatewayProcess, path: str, declared: int, send: bytes) -> None:
    """An HTTP PUT that promises ``declared`` bytes, sends ``send`` and hangs up."""
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        head = f"PUT /api/v1{path} HTTP/1.1\r\nHost: x\r\nContent-Length: {declared}\r\n\r\n"
        sock.sendall(head.encode() + send)


async def test_an_interrupted_upload_leaves_nothing(
    http: httpx.AsyncClient, gateway: GatewayProcess, server: ServerProcess
) -> None:
    await _bucket(http)
    _raw_put(gateway, "/buckets/raw/objects/partial.bin", 4 * CHUNK, os.urandom(CHUNK + 10))
    for _ in range(50):
        await asyncio.sleep(0.1)
        status = (await http.get("/buckets/raw")).json()
        if status["messages"] == 0 and status["size"] == 0:
            break
    assert (await http.get("/buckets/raw/objects/partial.bin")).status_code == 404
    assert (status["messages"], status["object_count"]) == (0, 0), status
    # The gateway is still there and still takes uploads.
    assert (await http.put("/buckets/raw/objects/whole.bin", content=b"ok")).status_code == 201
    async with connect(server.url) as client:
        assert await (await client.bucket("raw")).get_bytes("whole.bin") == b"ok"


async def test_events_relay_changes(
    http: httpx.AsyncClient, gateway: GatewayProcess, server: ServerProcess
) -> None:
    await _bucket(http)
    events: list[tuple[str, dict[str, object]]] = []

    async def listen() -> None:
        async with (
            httpx.AsyncClient(timeout=30) as sse,
            sse.stream("GET", gateway.url + "/api/v1/buckets/raw/events") as resp,
        ):
            assert resp.headers["content-type"].startswith("text/event-stream")
            kind = ""
            async for line in resp.aiter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    events.append((kind, json.loads(line[6:])))
                    if len(events) == 2:
                        return

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.5)  # the watch is open once the first comment arrived; give it a moment
    async with connect(server.url) as client:  # a change made elsewhere, not through the gateway
        bucket = await client.bucket("raw")
        await bucket.put("from-elsewhere.txt", b"hello")
        await bucket.delete("from-elsewhere.txt")
    await asyncio.wait_for(task, 10)
    assert [(k, e["name"]) for k, e in events] == [
        ("put", "from-elsewhere.txt"),
        ("delete", "from-elsewhere.txt"),
    ]


async def test_a_range_fetches_only_the_chunks_it_covers(
    http: httpx.AsyncClient, server: ServerProcess
) -> None:
    """The server's own byte counter (/varz out_bytes) shows what a range read moved."""
    await _bucket(http)
    data = os.urandom(20 * CHUNK)
    put = await http.put(
        "/buckets/raw/objects/long.bin", content=data, headers={"X-Object-Chunk-Size": str(CHUNK)}
    )
    assert put.status_code == 201 and put.json()["chunks"] == 20

    def out_bytes() -> int:
        with httpx.Client(timeout=10) as monitor:
            return int(monitor.get(server.monitor_url + "/varz").json()["out_bytes"])

    before = out_bytes()
    part = await http.get(
        "/buckets/raw/objects/long.bin", headers={"Range": f"bytes={10 * CHUNK}-{11 * CHUNK - 1}"}
    )
    assert part.status_code == 206 and part.content == data[10 * CHUNK : 11 * CHUNK]
    moved = out_bytes() - before
    assert CHUNK <= moved < 3 * CHUNK, moved  # one chunk (and the meta), not the 2.5 MiB object


async def test_a_damaged_object_is_an_error_not_a_short_body(
    http: httpx.AsyncClient, server: ServerProcess
) -> None:
    """A chunk gone from the stream (expired, deleted by hand): a GET answered whole says so."""
    await _bucket(http)
    data = os.urandom(3 * 64 * 1024)
    put = await http.put(
        "/buckets/raw/objects/hurt.bin", content=data, headers={"X-Object-Chunk-Size": "65536"}
    )
    assert put.status_code == 201 and put.json()["chunks"] == 3
    async with connect(server.url) as client:
        nuid = (await (await client.bucket("raw")).info("hurt.bin")).nuid
        second = await client.wire.request(
            "STREAM.MSG.GET.OBJ_raw", {"next_by_subj": f"$O.raw.C.{nuid}", "seq": 2}
        )
        await client.wire.request("STREAM.MSG.DELETE.OBJ_raw", {"seq": second["message"]["seq"]})
    for headers in ({}, {"Range": "bytes=1000-150000"}):
        got = await http.get("/buckets/raw/objects/hurt.bin", headers=headers)
        assert got.status_code in (404, 500), (headers, got.status_code)
        assert got.json()["error"]["err_code"] in (10404, 10500), got.text
