"""Advisories on $JS.EVENT.ADVISORY.> and the /jsz monitoring page, on both servers."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import nats

from orlop.testing import ServerProcess


async def drain(sub: Any, quiet: float = 0.5) -> list[Any]:
    out = []
    while True:
        try:
            out.append(await sub.next_msg(timeout=quiet))
        except nats.errors.TimeoutError:
            return out


async def test_stream_and_api_audit_advisories(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        sub = await nc.subscribe("$JS.EVENT.ADVISORY.>")
        await nc.flush()
        await nc.request("$JS.API.STREAM.CREATE.ADV", b'{"name":"ADV"}', timeout=5)
        await nc.request("$JS.API.STREAM.UPDATE.ADV", b'{"name":"ADV","max_msgs":3}', timeout=5)
        await nc.request("$JS.API.STREAM.DELETE.ADV", b"", timeout=5)
        await nc.request("$JS.API.STREAM.INFO.ADV", b"", timeout=5)
        # Advisories are sent asynchronously (nats-server, under load, can take over a second
        # for the last one): collect until the 3 actions and 4 audits arrived, then a quiet spell.
        msgs: list[Any] = []
        deadline = asyncio.get_running_loop().time() + 15
        while asyncio.get_running_loop().time() < deadline:
            seen = [m.subject for m in msgs]
            if sum(".STREAM." in s for s in seen) >= 3 and seen.count("$JS.EVENT.ADVISORY.API") >= 4:
                break
            msgs += await drain(sub, quiet=0.2)
        msgs += await drain(sub)
        actions = {m.subject: json.loads(m.data) for m in msgs if ".STREAM." in m.subject}
        assert set(actions) == {
            "$JS.EVENT.ADVISORY.STREAM.CREATED.ADV",
            "$JS.EVENT.ADVISORY.STREAM.UPDATED.ADV",
            "$JS.EVENT.ADVISORY.STREAM.DELETED.ADV",
        }
        created = actions["$JS.EVENT.ADVISORY.STREAM.CREATED.ADV"]
        assert created["type"] == "io.nats.jetstream.advisory.v1.stream_action"
        assert (created["stream"], created["action"]) == ("ADV", "create")
        assert actions["$JS.EVENT.ADVISORY.STREAM.UPDATED.ADV"]["action"] == "modify"
        assert created["timestamp"].endswith("Z") and len(created["id"]) > 10
        audits = [json.loads(m.data) for m in msgs if m.subject == "$JS.EVENT.ADVISORY.API"]
        by_subject = {a["subject"]: a for a in audits}
        assert set(by_subject) == {
            "$JS.API.STREAM.CREATE.ADV",
            "$JS.API.STREAM.UPDATE.ADV",
            "$JS.API.STREAM.DELETE.ADV",
            "$JS.API.STREAM.INFO.ADV",
        }
        upd = by_subject["$JS.API.STREAM.UPDATE.ADV"]
        assert upd["type"] == "io.nats.jetstream.advisory.v1.api_audit"
        assert json.loads(upd["request"]) == {"name": "ADV", "max_msgs": 3}
        assert json.loads(upd["response"])["config"]["max_msgs"] == 3
        assert upd["client"]["acc"] == "$G"
        missing = json.loads(by_subject["$JS.API.STREAM.INFO.ADV"]["response"])
        assert missing["error"]["err_code"] == 10059
        assert "request" not in by_subject["$JS.API.STREAM.DELETE.ADV"]
    finally:
        await nc.close()


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as resp:
        result: dict[str, Any] = json.loads(resp.read())
    return result


async def test_jsz(server: ServerProcess) -> None:
    nc = await nats.connect(server.url)
    try:
        await nc.request("$JS.API.STREAM.CREATE.J1", b'{"name":"J1","subjects":["j1"]}', timeout=5)
        await nc.request(
            "$JS.API.STREAM.CREATE.J2", b'{"name":"J2","subjects":["j2"],"storage":"memory"}', timeout=5
        )
        for _ in range(3):
            await nc.request("j1", b"file", timeout=5)
        await nc.request("j2", b"mem", timeout=5)
        await nc.request("$JS.API.STREAM.INFO.nope", b"", timeout=5)
        loop = asyncio.get_running_loop()
        body = await loop.run_in_executor(None, get_json, server.monitor_url + "/jsz")
        assert (body["streams"], body["consumers"], body["messages"]) == (2, 0, 4)
        assert body["memory"] > 0 and body["storage"] > 0 and body["accounts"] == 1
        assert body["api"]["total"] == 3 and body["api"]["errors"] == 1
        assert body["config"]["store_dir"].endswith("jetstream") and body["config"]["max_memory"] > 0
        assert "account_details" not in body
        url = server.monitor_url + "/jsz?accounts=true&streams=true&config=true"
        detail = await loop.run_in_executor(None, get_json, url)
        (acc,) = detail["account_details"]
        assert acc["name"] == "$G"
        streams = {s["name"]: s for s in acc["stream_detail"]}
        assert set(streams) == {"J1", "J2"}
        assert streams["J1"]["state"]["messages"] == 3 and streams["J2"]["config"]["storage"] == "memory"
    finally:
        await nc.close()
