"""The seed's JSON operations over HTTP, with the seed's own example bodies, on both servers.

Every body below is copied from seed 000 (its configuration, put, get, get info, update,
delete and list examples); responses carry the seed's generated fields, and every error
class comes back as the seed's error JSON with its HTTP status.
"""

from __future__ import annotations

import base64
import hashlib

import httpx

SEED_BASIC = {
    "bucket": "documents",
    "description": "Project document storage",
    "max_object_size": 10485760,
    "storage": "file",
    "num_replicas": 1,
    "ttl": 0,
}
SEED_ADVANCED = {
    "bucket": "media-assets",
    "description": "Media file storage",
    "max_object_size": 104857600,
    "storage": "file",
    "num_replicas": 3,
    "compression": "s2",
    "placement": {"cluster": "storage-tier", "tags": ["high-capacity", "redundant"]},
    "metadata": {"department": "media", "retention_policy": "7-years"},
}
REPORT = b'{"month": "2023-01", "visits": 1234}'
SEED_PUT = {
    "name": "report.json",
    "description": "Monthly analytics report",
    "data": base64.b64encode(REPORT).decode(),
    "headers": {"Content-Type": "application/json", "Generated": "2023-01-15T10:30:00Z"},
    "options": {"max_chunk_size": 65536},
}
GENERATED = {"nuid", "size", "chunks", "digest", "deleted", "revision", "created", "modified"}


async def test_store_create_status_list_delete(http: httpx.AsyncClient) -> None:
    made = await http.post("/buckets", json=SEED_BASIC)
    assert made.status_code == 201, made.text
    status = made.json()
    assert (status["bucket"], status["description"], status["max_object_size"]) == (
        "documents",
        "Project document storage",
        10485760,
    )
    assert (status["storage"], status["replicas"], status["object_count"]) == ("file", 1, 0)
    again = await http.post("/buckets", json=SEED_BASIC)
    assert again.status_code == 409
    error = again.json()["error"]
    assert (error["code"], error["err_code"]) == (409, 10058) and "already exists" in error["description"]
    assert (await http.get("/buckets/documents")).json()["bucket"] == "documents"
    head = await http.head("/buckets/documents")  # does it exist? (curl -I)
    assert (head.status_code, head.content) == (200, b"")
    listed = (await http.get("/buckets")).json()["buckets"]
    assert [b["bucket"] for b in listed] == ["documents"]
    edited = await http.patch("/buckets/documents", json={"description": "Edited"})
    assert edited.status_code == 200 and edited.json()["description"] == "Edited"
    gone = await http.delete("/buckets/documents")
    assert gone.json() == {"bucket": "documents", "deleted": True}
    assert (await http.head("/buckets/documents")).status_code == 404
    missing = await http.get("/buckets/documents")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": 404,
        "err_code": 10059,
        "description": "bucket 'documents' not found",
    }


async def test_advanced_configuration(http: httpx.AsyncClient) -> None:
    """The seed's advanced body: one server answers R3 as a single server does (see ARCHITECTURE)."""
    made = await http.post("/buckets", json=SEED_ADVANCED)
    if made.status_code == 201:
        status = made.json()
        assert status["compression"] == "s2"
        assert status["metadata"]["department"] == "media"
    else:
        # A single server cannot place three replicas on "storage-tier": refused, as the seed's
        # error shape says, and nothing was created.
        body = made.json()["error"]
        assert made.status_code == body["code"] and body["code"] in (400, 503), made.text
        assert (await http.get("/buckets/media-assets")).status_code == 404
    single = {**SEED_ADVANCED, "bucket": "media-r1", "num_replicas": 1}
    single.pop("placement")
    made = await http.post("/buckets", json=single)
    assert made.status_code == 201, made.text
    assert made.json()["compression"] == "s2" and made.json()["metadata"]["retention_policy"] == "7-years"


async def test_object_operations_with_the_seeds_bodies(http: httpx.AsyncClient) -> None:
    assert (await http.post("/buckets", json=SEED_BASIC)).status_code == 201
    put = await http.post("/buckets/documents/put", json=SEED_PUT)
    assert put.status_code == 201, put.text
    info = put.json()
    assert set(info) >= GENERATED
    assert (info["name"], info["size"], info["chunks"], info["deleted"]) == (
        "report.json",
        len(REPORT),
        1,
        False,
    )
    digest = base64.urlsafe_b64encode(hashlib.sha256(REPORT).digest()).decode()
    assert info["digest"] == f"SHA-256={digest}"
    assert info["headers"]["Content-Type"] == ["application/json"]

    got = await http.post("/buckets/documents/get", json={"name": "report.json"})
    assert got.status_code == 200
    assert base64.b64decode(got.json()["data"]) == REPORT
    assert got.json()["info"]["description"] == "Monthly analytics report"

    # What `curl -d '{...}'` sends: a form content type, read as the JSON it is.
    only = await http.post(
        "/buckets/documents/get",
        content=b'{"name": "report.json", "info_only": true}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert "data" not in only.json() and only.json()["info"]["size"] == len(REPORT)

    update = {
        "name": "report.json",
        "description": "Updated monthly analytics report",
        "headers": {"Content-Type": "application/json", "Modified": "2023-01-15T15:00:00Z"},
    }
    updated = await http.post("/buckets/documents/update", json=update)
    assert updated.status_code == 200, updated.text
    assert updated.json()["description"] == "Updated monthly analytics report"
    assert updated.json()["headers"]["Modified"] == ["2023-01-15T15:00:00Z"]
    again = await http.post("/buckets/documents/get", json={"name": "report.json"})
    assert base64.b64decode(again.json()["data"]) == REPORT  # metadata changed, bytes did not

    await http.post("/buckets/documents/put", json={**SEED_PUT, "name": "notes.txt"})
    listed = await http.post("/buckets/documents/list", json={"filter": "*.json", "include_deleted": False})
    assert [o["name"] for o in listed.json()["objects"]] == ["report.json"]

    deleted = await http.post("/buckets/documents/delete", json={"name": "report.json", "purge": False})
    assert deleted.status_code == 200 and deleted.json()["deleted"] is True
    after = await http.post("/buckets/documents/get", json={"name": "report.json"})
    assert after.status_code == 404
    assert after.json() == {"error": {"code": 404, "err_code": 10404, "description": "object not found"}}
    with_deleted = await http.post(
        "/buckets/documents/list", json={"filter": "*.json", "include_deleted": True}
    )
    assert [(o["name"], o["deleted"]) for o in with_deleted.json()["objects"]] == [("report.json", True)]


async def test_error_classes(http: httpx.AsyncClient) -> None:
    small = {**SEED_BASIC, "bucket": "small", "max_object_size": 10}
    assert (await http.post("/buckets", json=small)).status_code == 201
    too_big = await http.post(
        "/buckets/small/put", json={**SEED_PUT, "data": base64.b64encode(b"x" * 11).decode()}
    )
    assert too_big.status_code == 413
    assert too_big.json() == {"error": {"code": 413, "err_code": 10413, "description": "object too large"}}
    no_bucket = await http.post("/buckets/nope/put", json=SEED_PUT)
    assert no_bucket.status_code == 404 and no_bucket.json()["error"]["err_code"] == 10059
    bad64 = await http.post("/buckets/small/put", json={**SEED_PUT, "data": "not base64!"})
    assert bad64.status_code == 400 and bad64.json()["error"]["err_code"] == 10400
    assert "base64" in bad64.json()["error"]["description"]
    missing_field = await http.post("/buckets/small/put", json={"name": "x"})
    assert missing_field.status_code == 400 and "data" in missing_field.json()["error"]["description"]
    unknown_field = await http.post("/buckets/small/put", json={**SEED_PUT, "colour": "red"})
    assert unknown_field.status_code == 400 and "colour" in unknown_field.json()["error"]["description"]
    wrong_type = await http.post("/buckets/small/list", json={"include_deleted": "sometimes"})
    assert wrong_type.status_code == 400
    not_json = await http.post("/buckets/small/get", content=b"{not json")
    assert not_json.status_code == 400 and not_json.json()["error"]["err_code"] == 10400
    bad_name = await http.post("/buckets", json={**SEED_BASIC, "bucket": "has space"})
    assert bad_name.status_code == 400 and bad_name.json()["error"]["code"] == 400
    # A full bucket: max_bytes reached is the seed's 507.
    capped = {"bucket": "capped", "max_bytes": 4096}
    assert (await http.post("/buckets", json=capped)).status_code == 201, "capped"
    full = await http.post(
        "/buckets/capped/put", json={**SEED_PUT, "data": base64.b64encode(b"y" * 8192).decode()}
    )
    assert full.status_code == 507
    assert full.json() == {"error": {"code": 507, "err_code": 10507, "description": "storage limit exceeded"}}
    exists = await http.post("/buckets/small/put", json={**SEED_PUT, "data": "eA=="})
    assert exists.status_code == 201
    # The gateway stays up through all of it.
    assert (await http.get("/buckets/small")).status_code == 200
