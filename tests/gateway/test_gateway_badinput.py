"""Bad input through the gateway: a clear 4xx with the error JSON, nothing half-written, still up."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx

from orlop.testing import GatewayProcess, ServerProcess


async def test_oversize_json_bodies_and_bad_names(
    server: ServerProcess, gateway_factory: type[GatewayProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text('auth = "none"\nmax_json_body = "4KiB"\n')
    gw = gateway_factory(server.url, ["-c", str(conf)]).start()
    async with httpx.AsyncClient(base_url=gw.url + "/api/v1", timeout=30) as http:
        assert (await http.post("/buckets", json={"bucket": "b"})).status_code == 201
        big = {"name": "big.bin", "data": base64.b64encode(b"z" * 8192).decode()}
        refused = await http.post("/buckets/b/put", json=big)
        assert refused.status_code == 413 and refused.json()["error"]["err_code"] == 10413
        assert "4096" in refused.json()["error"]["description"]

        async def chunked() -> object:  # no Content-Length: caught while it arrives
            yield b'{"name": "big.bin", "data": "'
            for _ in range(4):
                yield b"QUFB" * 512
            yield b'"}'

        streamed = await http.post("/buckets/b/put", content=chunked())
        assert streamed.status_code == 413
        # Raw uploads are streamed, not bounded by the JSON limit.
        assert (await http.put("/buckets/b/objects/raw.bin", content=b"r" * 65536)).status_code == 201
        listed = await http.post("/buckets/b/list", json={})
        assert [o["name"] for o in listed.json()["objects"]] == ["raw.bin"]  # nothing of big.bin

        for path in ("/buckets/bad%20name", "/buckets/a.b", "/buckets/x*"):
            bad = await http.get(path)
            assert bad.status_code in (400, 404), path
            assert bad.json()["error"]["code"] == bad.status_code
        # A trailing newline once passed the name check and reached a NATS subject (503).
        for method, path in (
            ("GET", "/buckets/b%0A"),
            ("GET", "/buckets/b%0A/objects/x"),
            ("HEAD", "/buckets/b%0A/objects/x"),
        ):
            bad = await http.request(method, path)
            assert bad.status_code == 400, (method, path, bad.status_code)
        assert (await http.get("/buckets/b%0A/objects/x")).json()["error"]["err_code"] == 10400
        bad_object = await http.post("/buckets/b/put", json={"name": "", "data": ""})
        assert bad_object.status_code == 400 and bad_object.json()["error"]["err_code"] == 10400
        negative = await http.get("/buckets/b/objects", params={"limit": "0"})
        assert negative.status_code == 400
        assert (await http.get("/buckets/b/objects/nothing-here")).status_code == 404
        assert (await http.get("/nowhere")).json()["error"]["code"] == 404
        assert (await http.get("/buckets/b")).status_code == 200  # still up
