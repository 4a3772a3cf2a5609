"""Who may use the gateway: NATS credentials passed through, or the gateway's own tokens.

Both servers run one configuration: ``admin`` administers every bucket, ``reader`` may only
read bucket ``docs`` (the roles of ``orlop object acl``). Through a gateway that requires
credentials: none or wrong ones are 401 (with a Basic challenge, so a browser asks), an
operation NATS refuses is 403 with the error JSON and changes nothing; bearer tokens of
the gateway's config map to NATS users; unknown tokens are 401.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from orlop.objects.roles import role_permissions
from orlop.testing import KINDS, GatewayProcess, ServerProcess

Factory = type[ServerProcess]


def _users(tmp_path: Path) -> str:
    admin = json.dumps(role_permissions("admin", "*"))
    reader = json.dumps(role_permissions("read-only", "docs"))
    return (
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
        "authorization { users: [\n"
        f"  {{ user: admin, password: adminpw, permissions: {admin} }}\n"
        f"  {{ user: reader, password: readpw, permissions: {reader} }}\n"
        "] }\n"
    )


@pytest.fixture(params=KINDS)
def secured(request: pytest.FixtureRequest, server_factory: Factory, tmp_path: Path) -> ServerProcess:
    conf = tmp_path / "users.conf"
    conf.write_text(_users(tmp_path))
    return server_factory(kind=request.param, jetstream=False, extra_args=["-c", str(conf)]).start()


async def test_passthrough_credentials(
    secured: ServerProcess, gateway_factory: type[GatewayProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text('auth = "passthrough"\n')
    gw = gateway_factory(secured.url, ["-c", str(conf)]).start()
    admin = httpx.AsyncClient(base_url=gw.url + "/api/v1", auth=("admin", "adminpw"), timeout=30)
    reader = httpx.AsyncClient(base_url=gw.url + "/api/v1", auth=("reader", "readpw"), timeout=30)
    anonymous = httpx.AsyncClient(base_url=gw.url + "/api/v1", timeout=30)
    wrong = httpx.AsyncClient(base_url=gw.url + "/api/v1", auth=("admin", "nope"), timeout=30)
    try:
        assert (await admin.post("/buckets", json={"bucket": "docs"})).status_code == 201
        assert (await admin.put("/buckets/docs/objects/a.txt", content=b"secret plans")).status_code == 201
        nobody = await anonymous.get("/buckets/docs/objects/a.txt")
        assert nobody.status_code == 401 and nobody.headers["www-authenticate"].startswith("Basic")
        assert nobody.json()["error"]["err_code"] == 10401
        refused = await wrong.get("/buckets/docs/objects/a.txt")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == 401
        assert (await reader.get("/buckets/docs/objects/a.txt")).content == b"secret plans"
        listed = await reader.post("/buckets/docs/list", json={})
        assert [o["name"] for o in listed.json()["objects"]] == ["a.txt"]
        denied = await reader.put("/buckets/docs/objects/a.txt", content=b"overwritten")
        assert denied.status_code == 403, denied.text
        assert denied.json()["error"]["code"] == 403 and denied.json()["error"]["err_code"] == 10403
        denied = await reader.post("/buckets/docs/delete", json={"name": "a.txt"})
        assert denied.status_code == 403
        assert (await reader.post("/buckets", json={"bucket": "mine"})).status_code == 403
        # Nothing the reader tried changed anything.
        assert (await admin.get("/buckets/docs/objects/a.txt")).content == b"secret plans"
        assert [b["bucket"] for b in (await admin.get("/buckets")).json()["buckets"]] == ["docs"]
    finally:
        for c in (admin, reader, anonymous, wrong):
            await c.aclose()


async def test_gateway_tokens(
    secured: ServerProcess, gateway_factory: type[GatewayProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "gateway.toml"
    conf.write_text(
        'auth = "tokens"\n'
        '[tokens."ops-7f3a"]\nuser = "admin"\npassword = "adminpw"\n'
        '[tokens."view-19c2"]\nuser = "reader"\npassword = "readpw"\n'
    )
    gw = gateway_factory(secured.url, ["-c", str(conf)]).start()
    async with httpx.AsyncClient(base_url=gw.url + "/api/v1", timeout=30) as http:
        ops = {"Authorization": "Bearer ops-7f3a"}
        view = {"Authorization": "Bearer view-19c2"}
        assert (await http.post("/buckets", json={"bucket": "docs"}, headers=ops)).status_code == 201
        assert (await http.put("/buckets/docs/objects/b.txt", content=b"b", headers=ops)).status_code == 201
        assert (await http.get("/buckets/docs/objects/b.txt", headers=view)).content == b"b"
        assert (await http.put("/buckets/docs/objects/b.txt", content=b"x", headers=view)).status_code == 403
        unknown = await http.get("/buckets/docs/objects/b.txt", headers={"Authorization": "Bearer guess"})
        assert unknown.status_code == 401
        basic = await http.get("/buckets/docs/objects/b.txt", auth=("admin", "adminpw"))
        assert basic.status_code == 401  # tokens mode takes only the configured tokens


def test_auth_cannot_be_off_beyond_loopback(tmp_path: Path) -> None:
    import subprocess
    import sys

    conf = tmp_path / "gateway.toml"
    conf.write_text('auth = "none"\nlisten = "0.0.0.0:0"\n')
    orlop = str(Path(sys.executable).with_name("orlop"))
    done = subprocess.run([orlop, "gateway", "-c", str(conf)], capture_output=True, timeout=30)
    assert done.returncode == 1
    assert b"only allowed when the gateway listens on loopback" in done.stderr
