"""The official Node client's object store (nats@2.29.3, ``js.views.os``) against the server.

``tests/node/os_roundtrip.mjs`` puts a 16 MiB object and an empty one, reads them back
(ordered push consumers with flow control and heartbeats, created with the legacy
``CONSUMER.CREATE.<stream>`` subject and subscribed before the create), follows a link,
lists, watches history then live updates, deletes. Runs on Orlop and nats-server.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from orlop.testing import ServerProcess

NODE_DIR = Path(__file__).resolve().parent.parent / "node"
SIZE = 16 * 1024 * 1024 + 17


async def run_node(url: str, timeout: float = 120) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node 20+")
    if not (NODE_DIR / "node_modules" / "nats").is_dir():
        pytest.fail(f"the Node client is not installed: run `cd {NODE_DIR} && npm install`")
    proc = await asyncio.create_subprocess_exec(
        node,
        str(NODE_DIR / "os_roundtrip.mjs"),
        url,
        str(SIZE),
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        pytest.fail(f"os_roundtrip.mjs timed out after {timeout}s")
    if proc.returncode != 0:
        pytest.fail(f"node exited {proc.returncode}: {err.decode(errors='replace')[-3000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return result


async def test_node_object_store_roundtrip(server: ServerProcess) -> None:
    r = await run_node(server.url)
    put, empty = r["put"]["info"], r["putEmpty"]["info"]
    assert (put["size"], put["chunks"], put["options"]["max_chunk_size"]) == (SIZE, 129, 131072)
    assert (empty["size"], empty["chunks"]) == (0, 0)
    assert empty["digest"] == "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="
    assert r["get"]["size"] == SIZE and r["get"]["sha"] == r["get"]["want"]
    assert r["getEmpty"] == {"size": 0}
    assert r["link"]["info"]["name"] == "link.bin"
    assert r["link"]["info"]["options"]["link"] == {"bucket": "nodeos", "name": "big.bin"}
    assert r["getLink"] == {"size": SIZE, "sha": r["get"]["want"]}
    assert r["list"] == ["big.bin", "empty", "link.bin"]
    assert r["watchHistory"] == ["big.bin", "empty", "link.bin"]
    assert r["watchUpdate"] == "late.txt"
    assert r["delete"]["success"] is True and r["delete"]["purged"] == 129
    assert r["watchDelete"] == {"name": "big.bin", "deleted": True}
    assert r["getAfterDelete"] is None
    assert r["listAfterDelete"] == ["empty", "late.txt", "link.bin"]
    print(f"{server.kind}: node get of {SIZE} bytes took {r['getMillis']} ms")
