"""Client-side encryption through the gateway: a per-request key header, or the gateway's own keys by id."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import httpx

from orlop.objects import Key, connect
from orlop.testing import GatewayProcess, ServerProcess

RAW = bytes(range(32))
HEADER = {"X-Orlop-Encryption-Key": base64.b64encode(RAW).decode()}


async def test_per_request_key_streaming_and_json(http: httpx.AsyncClient, server: ServerProcess) -> None:
    await http.post("/buckets", json={"bucket": "vault"})
    data = os.urandom(700_000)
    put = await http.put("/buckets/vault/objects/a.bin", content=data, headers=HEADER)
    assert put.status_code == 201, put.text
    assert put.json()["encryption"] == "aes-256-gcm" and put.json()["original_size"] == len(data)
    got = await http.get("/buckets/vault/objects/a.bin", headers=HEADER)
    assert got.status_code == 200 and got.content == data
    assert int(got.headers["content-length"]) == len(data)
    part = await http.get("/buckets/vault/objects/a.bin", headers={**HEADER, "Range": "bytes=200000-200099"})
    assert part.status_code == 206 and part.content == data[200_000:200_100]

    for headers in ({}, {"X-Orlop-Encryption-Key": base64.b64encode(os.urandom(32)).decode()}):
        bad = await http.get("/buckets/vault/objects/a.bin", headers=headers)
        assert bad.status_code == 422, bad.text
        assert bad.json()["error"]["err_code"] == 10422
    malformed = await http.get("/buckets/vault/objects/a.bin", headers={"X-Orlop-Encryption-Key": "short"})
    assert malformed.status_code == 400

    body = {"name": "j.txt", "data": base64.b64encode(b"json body").decode()}
    assert (await http.post("/buckets/vault/put", json=body, headers=HEADER)).status_code == 201
    j = await http.post("/buckets/vault/get", json={"name": "j.txt"}, headers=HEADER)
    assert base64.b64decode(j.json()["data"]) == b"json body"
    assert (await http.post("/buckets/vault/get", json={"name": "j.txt"})).status_code == 422
    async with connect(server.url) as c:  # what reached NATS is encrypted under that key
        assert await (await c.bucket("vault")).get_bytes("j.txt", encryption=Key(RAW)) == b"json body"


async def test_gateway_held_keys_by_id(
    server: ServerProcess, gateway_factory: type[GatewayProcess], tmp_path: Path
) -> None:
    (tmp_path / "old.key").write_bytes(os.urandom(32))
    (tmp_path / "new.key").write_bytes(os.urandom(32))
    conf = tmp_path / "gw.toml"
    conf.write_text(
        'auth = "none"\n'
        f'encryption_keys = {{ "old" = "{tmp_path / "old.key"}", "new" = "{tmp_path / "new.key"}" }}\n'
    )
    gw = gateway_factory(server.url, ["-c", str(conf)]).start()
    async with httpx.AsyncClient(base_url=gw.url + "/api/v1", timeout=30) as http:
        await http.post("/buckets", json={"bucket": "held"})
        old = {"X-Orlop-Encryption-Key-Id": "old"}
        assert (await http.put("/buckets/held/objects/x", content=b"by old", headers=old)).status_code == 201
        new = {"X-Orlop-Encryption-Key-Id": "new"}
        put = await http.put("/buckets/held/objects/y", content=b"by new", headers=new)
        assert put.json()["key_id"] == "new"
        # Any configured key decrypts (by the object's key id), whichever id the request names.
        assert (await http.get("/buckets/held/objects/x", headers=new)).content == b"by old"
        assert (await http.get("/buckets/held/objects/y", headers=old)).content == b"by new"
        unknown = await http.get("/buckets/held/objects/x", headers={"X-Orlop-Encryption-Key-Id": "nope"})
        assert unknown.status_code == 400
        assert (await http.get("/buckets/held/objects/x")).status_code == 422


async def test_openapi_documents_the_headers(http: httpx.AsyncClient, gateway: GatewayProcess) -> None:
    async with httpx.AsyncClient(base_url=gateway.url, timeout=30) as root:
        spec = (await root.get("/openapi.json")).json()
    get_params = {
        p["name"] for p in spec["paths"]["/api/v1/buckets/{bucket}/objects/{name}"]["get"]["parameters"]
    }
    assert {"x-orlop-encryption-key", "x-orlop-encryption-key-id"} <= {p.lower() for p in get_params}
