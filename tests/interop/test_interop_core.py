"""Core NATS between the official Node client and nats-py, through each server.

One round trip in each direction: Node publishes to a nats-py subscriber (one message
with a header), nats-py publishes to a Node subscriber (one with a header), and each
side answers the other's request. The Node peer (``tests/node/interop_core.mjs``) is a
separate process speaking to the server over TCP, so this is real cross-client routing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import nats
from nats.aio.msg import Msg

from orlop.testing import ServerProcess


async def _read_line(stream: asyncio.StreamReader, what: str, timeout: float = 20) -> str:
    line = await asyncio.wait_for(stream.readline(), timeout)
    assert line, f"Node peer closed its output before {what}"
    return line.decode().strip()


async def test_core_pub_sub_request_with_node(
    server: ServerProcess, node_argv: Callable[..., list[str]], node_dir: Path
) -> None:
    nc = await nats.connect(server.url)
    to_py: list[Msg] = []
    got_two = asyncio.Event()

    async def collect(msg: Msg) -> None:
        to_py.append(msg)
        if len(to_py) == 2:
            got_two.set()

    async def answer(msg: Msg) -> None:
        await msg.respond(b"py:" + msg.data)

    await nc.subscribe("interop.to_py", cb=collect)
    await nc.subscribe("interop.py.req", cb=answer)
    await nc.flush()
    proc = await asyncio.create_subprocess_exec(
        *node_argv("interop_core.mjs", server.url),
        cwd=node_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        assert await _read_line(proc.stdout, "READY") == "READY"
        await nc.publish("interop.to_node", b"from-py-1")
        await nc.publish("interop.to_node", b"from-py-2", headers={"X-From": "py"})
        await nc.publish("interop.to_node", b"from-py-3")
        reply = await nc.request("interop.node.req", b"ping", timeout=5)
        assert reply.data == b"node:ping"
        report = json.loads(await _read_line(proc.stdout, "its report"))
        await asyncio.wait_for(got_two.wait(), 10)
        await nc.publish("interop.node.bye", b"")
        await nc.flush()
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        stderr = (await proc.stderr.read()).decode(errors="replace")
        await nc.close()
    assert report["received"] == [
        {"data": "from-py-1", "header": None},
        {"data": "from-py-2", "header": "py"},
        {"data": "from-py-3", "header": None},
    ], stderr
    assert report["reply"] == "py:hello"
    assert [m.data for m in to_py] == [b"from-node-1", b"from-node-2"]
    assert to_py[0].headers is None
    assert to_py[1].headers == {"X-From": "node"}
