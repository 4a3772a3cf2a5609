"""An object's history through the gateway: ``GET /api/v1/buckets/{bucket}/history/{name}``.

A real gateway in front of a real server reads an audit file the test writes in the
server's fixed record format (the server's own writer is tested with the server): the
records of one object, newest first, across rotated files, never another bucket's or
object's; 501 when no audit file is configured; only for callers who may open the
bucket; only their account's records when ``audit_accounts`` maps them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from orlop.objects.roles import role_permissions
from orlop.testing import GatewayProcess, ServerProcess


def record(
    minute: int, op: str, *, bucket: str = "docs", name: str | None = "a.txt", **extra: Any
) -> dict[str, Any]:
    rec = {
        "time": f"2026-12-03T09:{minute:02d}:00.123456Z",
        "server": "s1",
        "account": "A",
        "user": "alice",
        "client_id": 5,
        "client_addr": "127.0.0.1:53422",
        "bucket": bucket,
        "object": name,
        "op": op,
        "bytes": 5,
        "revision": minute,
        "result": "ok",
        "err_code": None,
        "error": None,
    }
    rec.update(extra)
    return rec


def write(path: Path, records: list[dict[str, Any]], *, ascii_only: bool = True, junk: bool = False) -> None:
    lines = [json.dumps(r, separators=(",", ":"), ensure_ascii=ascii_only) for r in records]
    if junk:
        lines.insert(1, '{"time": truncated')
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def history(http: httpx.Client, bucket: str, name: str, **params: Any) -> httpx.Response:
    encoded = "/".join(quote(part, safe="") for part in name.split("/"))
    return http.get(f"/buckets/{bucket}/history/{encoded}", params=params)


def test_an_objects_records_newest_first(
    server: ServerProcess, gateway_factory: type[GatewayProcess], tmp_path: Path
) -> None:
    trail = tmp_path / "audit.log"
    # Rotated: audit.log.2 is the oldest, audit.log.1 the newest rotated file.
    write(trail.with_name("audit.log.2"), [record(1, "put"), record(2, "get", name="b.txt")])
    write(trail.with_name("audit.log.1"), [record(3, "get"), record(4, "put", bucket="other")], junk=True)
    unicode = "reports/2024/notes ü.txt"
    write(
        trail,
        [
            record(5, "info"),
            record(6, "list", name=None),
            record(7, "delete", result="denied", err_code=10403, error="permissions violation", user=None),
            record(8, "put", name=unicode),
            record(9, "get", name="a.txt.bak"),
        ],
    )
    with trail.open("a", encoding="utf-8") as f:  # the same object written by a non-ASCII-escaping writer
        f.write(json.dumps(record(10, "get", name=unicode), separators=(",", ":"), ensure_ascii=False) + "\n")
    gw = gateway_factory(server.url, ["--audit-file", str(trail)]).start()
    with httpx.Client(base_url=gw.url + "/api/v1", timeout=30) as http:
        assert http.post("/buckets", json={"bucket": "docs"}).status_code == 201

        got = history(http, "docs", "a.txt")
        assert got.status_code == 200, got.text
        body = got.json()
        assert (body["bucket"], body["name"], body["more"]) == ("docs", "a.txt", False)
        assert [(r["time"][:16], r["op"]) for r in body["records"]] == [
            ("2026-12-03T09:07", "delete"),
            ("2026-12-03T09:05", "info"),
            ("2026-12-03T09:03", "get"),
            ("2026-12-03T09:01", "put"),
        ]
        denied = body["records"][0]
        assert denied == {
            "time": "2026-12-03T09:07:00.123456Z",
            "account": "A",
            "user": None,
            "op": "delete",
            "bytes": 5,
            "revision": 7,
            "result": "denied",
            "err_code": 10403,
            "error": "permissions violation",
        }  # the client's id and address stay in the file

        limited = history(http, "docs", "a.txt", limit=2).json()
        assert [r["revision"] for r in limited["records"]] == [7, 5] and limited["more"] is True

        named = history(http, "docs", unicode).json()
        assert [r["revision"] for r in named["records"]] == [10, 8]
        assert history(http, "docs", "never-touched").json() == {
            "bucket": "docs", "name": "never-touched", "records": [], "more": False,
        }  # fmt: skip

        # Appended lines show at once (no cache); a bad limit is a 400 with the error JSON.
        with trail.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record(11, "update_meta"), separators=(",", ":")) + "\n")
        assert history(http, "docs", "a.txt").json()["records"][0]["op"] == "update_meta"
        bad = history(http, "docs", "a.txt", limit=0)
        assert bad.status_code == 400 and bad.json()["error"]["err_code"] == 10400
        missing = history(http, "nope", "a.txt")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == 404


def test_not_configured_is_501(orlop_server: ServerProcess, gateway_factory: type[GatewayProcess]) -> None:
    gw = gateway_factory(orlop_server.url).start()
    with httpx.Client(base_url=gw.url + "/api/v1", timeout=30) as http:
        assert http.post("/buckets", json={"bucket": "docs"}).status_code == 201
        got = history(http, "docs", "a.txt")
        assert got.status_code == 501
        assert got.json() == {
            "error": {"code": 501, "err_code": 10501, "description": "audit trail not configured"}
        }
        # An object whose name ends in /history is still an object, not this route.
        assert http.put("/buckets/docs/objects/a/history", content=b"h").status_code == 201
        assert http.get("/buckets/docs/objects/a/history").content == b"h"
        doc = http.get(gw.url + "/openapi.json").json()
        op = doc["paths"]["/api/v1/buckets/{bucket}/history/{name}"]["get"]
        assert {"200", "401", "403", "404", "501"} <= set(op["responses"])


def test_the_file_may_not_exist_yet(
    orlop_server: ServerProcess, gateway_factory: type[GatewayProcess], tmp_path: Path
) -> None:
    trail = tmp_path / "later" / "audit.log"
    gw = gateway_factory(orlop_server.url, ["--audit-file", str(trail)]).start()
    with httpx.Client(base_url=gw.url + "/api/v1", timeout=30) as http:
        assert http.post("/buckets", json={"bucket": "docs"}).status_code == 201
        assert history(http, "docs", "a.txt").json()["records"] == []
        trail.parent.mkdir()
        write(trail, [record(1, "put")])
        assert len(history(http, "docs", "a.txt").json()["records"]) == 1


@pytest.fixture
def secured(server_factory: type[ServerProcess], tmp_path: Path) -> ServerProcess:
    admin = json.dumps(role_permissions("admin", "*"))
    reader = json.dumps(role_permissions("read-only", "docs"))
    conf = tmp_path / "users.conf"
    conf.write_text(
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
        "authorization { users: [\n"
        f"  {{ user: admin, password: adminpw, permissions: {admin} }}\n"
        f"  {{ user: reader, password: readpw, permissions: {reader} }}\n"
        "] }\n"
    )
    return server_factory(kind="orlop", jetstream=False, extra_args=["-c", str(conf)]).start()


def test_only_for_callers_who_may_open_the_bucket(
    secured: ServerProcess, gateway_factory: type[GatewayProcess], tmp_path: Path
) -> None:
    trail = tmp_path / "audit.log"
    write(
        trail,
        [
            record(1, "put", account="A"),
            record(2, "get", account="B", user="bob"),  # another account's bucket of the same name
            record(3, "put", bucket="private", account="A"),
        ],
    )
    conf = tmp_path / "gateway.toml"
    conf.write_text(
        f'auth = "passthrough"\naudit_file = {json.dumps(str(trail))}\naudit_accounts = {{ admin = "A" }}\n'
    )
    gw = gateway_factory(secured.url, ["-c", str(conf)]).start()
    base = gw.url + "/api/v1"
    with (
        httpx.Client(base_url=base, auth=("admin", "adminpw"), timeout=30) as admin,
        httpx.Client(base_url=base, auth=("reader", "readpw"), timeout=30) as reader,
        httpx.Client(base_url=base, timeout=30) as anonymous,
    ):
        for bucket in ("docs", "private"):
            assert admin.post("/buckets", json={"bucket": bucket}).status_code == 201
        # Mapped to account A: only A's records of the bucket.
        assert [r["revision"] for r in history(admin, "docs", "a.txt").json()["records"]] == [1]
        assert [r["revision"] for r in history(admin, "private", "a.txt").json()["records"]] == [3]
        nobody = history(anonymous, "docs", "a.txt")
        assert nobody.status_code == 401 and nobody.json()["error"]["err_code"] == 10401
        # The reader may open docs, but the map names no account for it: nothing shown.
        allowed = history(reader, "docs", "a.txt")
        assert allowed.status_code == 200 and allowed.json()["records"] == []
        refused = history(reader, "private", "a.txt")
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["err_code"] == 10403


def test_a_large_trail_is_read_from_its_end(
    orlop_server: ServerProcess, gateway_factory: type[GatewayProcess], tmp_path: Path
) -> None:
    """30 MB of other objects' records before the last few: the answer does not parse them all."""
    trail = tmp_path / "audit.log"
    filler = "".join(
        json.dumps(record(i % 60, "get", name=f"other-{i}.bin"), separators=(",", ":")) + "\n"
        for i in range(125_000)
    )
    with trail.open("w", encoding="utf-8") as f:
        f.write(json.dumps(record(0, "put", name="first.bin"), separators=(",", ":")) + "\n")
        f.write(filler)
        f.write(json.dumps(record(59, "get", name="last.bin"), separators=(",", ":")) + "\n")
    assert trail.stat().st_size > 30_000_000
    gw = gateway_factory(orlop_server.url, ["--audit-file", str(trail)]).start()
    with httpx.Client(base_url=gw.url + "/api/v1", timeout=30) as http:
        assert http.post("/buckets", json={"bucket": "docs"}).status_code == 201
        started = time.perf_counter()
        assert [r["op"] for r in history(http, "docs", "last.bin").json()["records"]] == ["get"]
        # The oldest record needs the whole file: found, by a scan that skips lines not naming it.
        assert [r["op"] for r in history(http, "docs", "first.bin").json()["records"]] == ["put"]
        assert time.perf_counter() - started < 10
