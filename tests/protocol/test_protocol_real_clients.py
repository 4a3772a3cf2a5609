"""The codec against real clients: nats-py and the Node client talk to a minimal server
made of orlop.protocol.

The server side here is only a socket loop: ServerParser turns what the client writes into
ops, and encode builds every byte the client reads (INFO, PONG, MSG/HMSG). If the official
clients can connect, subscribe (with wildcards, queues and auto-unsubscribe), publish with
headers (and with an empty header block, as nats.js does for JetStream) and make requests,
both directions of the codec speak real NATS.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import nats
import pytest
from nats.aio.msg import Msg

from orlop.errors import ProtocolError
from orlop.protocol import Connect, Op, Ping, Pub, ServerParser, Sub, Unsub, encode
from orlop.subjects import matches


@dataclass
class Subscription:
    writer: asyncio.StreamWriter
    subject: str
    queue: str
    sid: str
    remaining: int = 0


@dataclass
class MiniServer:
    """Routes PUB to matching SUBs (first member only for queue groups), answers PING."""

    subs: list[Subscription] = field(default_factory=list)
    seen: list[Op] = field(default_factory=list)
    connects: list[dict[str, object]] = field(default_factory=list)
    raw: bytearray = field(default_factory=bytearray)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            encode.info(
                {
                    "server_id": "MINI",
                    "server_name": "mini",
                    "version": "2.10.22",
                    "proto": 1,
                    "headers": True,
                    "max_payload": 1048576,
                }
            )
        )
        parser = ServerParser()
        try:
            while data := await reader.read(65536):
                self.raw += data
                for op in parser.feed(data):
                    self.seen.append(op)
                    self.dispatch(op, writer)
                await writer.drain()
        except ProtocolError as exc:
            writer.write(encode.err(exc.text))
        except ConnectionResetError:
            pass
        finally:
            self.subs = [s for s in self.subs if s.writer is not writer]
            writer.close()

    def dispatch(self, op: Op, writer: asyncio.StreamWriter) -> None:
        if type(op) is Pub:
            self.route(op)
        elif type(op) is Sub:
            self.subs.append(Subscription(writer, op.subject, op.queue, op.sid))
        elif type(op) is Unsub:
            for s in self.subs:
                if s.writer is writer and s.sid == op.sid:
                    s.remaining = op.max_msgs
            if op.max_msgs == 0:
                self.subs = [s for s in self.subs if not (s.writer is writer and s.sid == op.sid)]
        elif type(op) is Ping:
            writer.write(encode.PONG)
        elif type(op) is Connect:
            self.connects.append(op.options)

    def route(self, op: Pub) -> None:
        groups: set[str] = set()
        for s in list(self.subs):
            if not matches(op.subject, s.subject) or (s.queue and s.queue in groups):
                continue
            if s.queue:
                groups.add(s.queue)
            s.writer.write(encode.msg(op.subject, s.sid, op.reply, op.hdr, op.payload))
            if s.remaining:
                s.remaining -= 1
                if s.remaining == 0:
                    self.subs.remove(s)


@pytest.fixture
async def mini() -> AsyncIterator[tuple[MiniServer, str]]:
    state = MiniServer()
    server = await asyncio.start_server(state.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield state, f"nats://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


async def test_nats_py_pub_sub_request_and_headers(mini: tuple[MiniServer, str]) -> None:
    state, url = mini
    nc = await nats.connect(url, allow_reconnect=False)
    try:
        assert state.connects[0]["headers"] is True and state.connects[0]["lang"] == "python3"
        sub = await nc.subscribe("orders.*")
        await nc.publish("orders.new", b"line1\r\nline2\r\n")
        await nc.publish("orders.hdr", b"x", headers={"Nats-Msg-Id": "abc", "X-Two": "2"})
        await nc.publish("other", b"nobody")
        first = await sub.next_msg(timeout=2)
        second = await sub.next_msg(timeout=2)
        assert (first.subject, first.data, first.headers) == ("orders.new", b"line1\r\nline2\r\n", None)
        assert (second.subject, second.data) == ("orders.hdr", b"x")
        assert second.headers == {"Nats-Msg-Id": "abc", "X-Two": "2"}

        async def echo(msg: Msg) -> None:
            await msg.respond(msg.data[::-1])

        await nc.subscribe("svc.echo", queue="workers", cb=echo)
        reply = await nc.request("svc.echo", b"hello", timeout=2)
        assert reply.data == b"olleh"

        big = bytes(range(256)) * 512
        await nc.publish("orders.big", big)
        assert (await sub.next_msg(timeout=2)).data == big

        once = await nc.subscribe("limit.x")
        await once.unsubscribe(limit=1)
        await nc.publish("limit.x", b"1")
        await nc.publish("limit.x", b"2")
        assert (await once.next_msg(timeout=2)).data == b"1"
        await nc.flush()
        await sub.unsubscribe()
    finally:
        await nc.close()
    ops = state.seen
    assert any(type(op) is Unsub and op.max_msgs == 1 for op in ops)
    assert any(type(op) is Pub and op.hdr.startswith(b"NATS/1.0\r\n") for op in ops)


NODE_DIR = Path(__file__).resolve().parent.parent / "node"

NODE_SCRIPT = """
import nats from "nats";
const { connect, StringCodec, headers } = nats;
const sc = StringCodec();
const nc = await connect({ servers: process.argv[1], timeout: 5000 });
const got = [];
const sub = nc.subscribe("js.>", { max: 3 });
nc.subscribe("svc.node", { callback: (_e, m) => m.respond(sc.encode("re:" + sc.decode(m.data))) });
await nc.flush();
nc.publish("js.empty", sc.encode("a\\r\\nb"), { headers: headers() });
const h = headers();
h.set("X-From", "node");
h.append("X-From", "again");
nc.publish("js.hdr", sc.encode("h"), { headers: h, reply: "_INBOX.r" });
nc.publish("js.plain", new Uint8Array(131072).fill(7));
for await (const m of sub) {
  got.push({ subject: m.subject, size: m.data.length, reply: m.reply ?? "",
             from: m.headers ? m.headers.values("X-From") : null });
}
const r = await nc.request("svc.node", sc.encode("ping"), { timeout: 5000 });
console.log(JSON.stringify({ got, reply: sc.decode(r.data) }));
await nc.close();
"""


async def test_node_client_pub_sub_headers_and_request(mini: tuple[MiniServer, str]) -> None:
    state, url = mini
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "nats").is_dir():
        pytest.fail(f"the Node client is needed: install Node 20+ and run `cd {NODE_DIR} && npm install`")
    proc = await asyncio.create_subprocess_exec(
        node,
        "--input-type=module",
        "-e",
        NODE_SCRIPT,
        url,
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["reply"] == "re:ping"
    assert result["got"] == [
        {"subject": "js.empty", "size": 4, "reply": "", "from": None},
        {"subject": "js.hdr", "size": 1, "reply": "_INBOX.r", "from": ["node", "again"]},
        {"subject": "js.plain", "size": 131072, "reply": "", "from": None},
    ]
    assert b"HPUB js.empty 0 4\r\na\r\nb\r\n" in state.raw  # nats.js: empty headers() -> #hdr 0
    pubs = {op.subject: op for op in state.seen if type(op) is Pub}
    assert pubs["js.empty"].hdr == b"" and pubs["js.empty"].payload == b"a\r\nb"
    assert pubs["js.hdr"].hdr == b"NATS/1.0\r\nX-From: node\r\nX-From: again\r\n\r\n"
    assert pubs["js.plain"].payload == b"\x07" * 131072
