"""The seed's JSON operations: buckets, and put/get/update/delete/list with the seed's bodies.

Each handler translates one body into one ``orlop.objects`` call; errors travel as
exceptions to the handlers of :mod:`.errors`. Durations in bodies are nanoseconds, as the
seed writes them; ``orlop.objects`` takes seconds.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from orlop.errors import BadRequest
from orlop.gateway import models as m
from orlop.gateway.encryption import RequestKey
from orlop.gateway.errors import ERROR_RESPONSES
from orlop.gateway.state import client_for, forget_bucket, open_bucket
from orlop.objects import ObjectStoreClient

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES)
Client = Annotated[ObjectStoreClient, Depends(client_for)]
_NS = 1_000_000_000


def _seconds(ns: int | None) -> float | None:
    return None if ns is None else ns / _NS


def _bucket_options(body: m.BucketConfig | m.BucketEdit) -> dict[str, Any]:
    given = body.model_dump(exclude_unset=True, exclude={"bucket"})
    if "ttl" in given:
        given["ttl"] = _seconds(given["ttl"]) or 0.0
    if given.get("compression") in ("none", ""):
        given["compression"] = False
    if "placement" in given and given["placement"] is not None:
        given["placement"] = {k: v for k, v in given["placement"].items() if v}
    return {k: v for k, v in given.items() if v is not None or k == "description"}


@router.get("/buckets", response_model=m.BucketList, name="bucket_list")
async def bucket_list(client: Client) -> JSONResponse:
    statuses = []
    for name in await client.buckets():
        statuses.append((await (await client.bucket(name)).status()).to_dict())
    return JSONResponse({"buckets": statuses})


@router.post("/buckets", status_code=201, response_model=m.BucketStatusOut, name="bucket_create")
async def bucket_create(body: m.BucketConfig, client: Client) -> JSONResponse:
    bucket = await client.create_bucket(body.bucket, **_bucket_options(body))
    return JSONResponse((await bucket.status()).to_dict(), status_code=201)


# HEAD too: ``curl -I`` tells whether a bucket exists (200 or 404) without its status body.
@router.api_route(
    "/buckets/{bucket}", methods=["GET", "HEAD"], response_model=m.BucketStatusOut, name="bucket_status"
)
async def bucket_status(bucket: str, client: Client) -> JSONResponse:
    return JSONResponse((await (await client.bucket(bucket)).status()).to_dict())


@router.patch("/buckets/{bucket}", response_model=m.BucketStatusOut, name="bucket_edit")
async def bucket_edit(bucket: str, body: m.BucketEdit, client: Client) -> JSONResponse:
    updated = await client.update_bucket(bucket, **_bucket_options(body))
    forget_bucket(client, bucket)
    return JSONResponse((await updated.status()).to_dict())


@router.delete("/buckets/{bucket}", name="bucket_delete")
async def bucket_delete(bucket: str, client: Client) -> JSONResponse:
    await client.delete_bucket(bucket)
    forget_bucket(client, bucket)
    return JSONResponse({"bucket": bucket, "deleted": True})


@router.post("/buckets/{bucket}/put", status_code=201, response_model=m.ObjectInfoOut, name="put")
async def put(
    bucket: str, body: m.PutRequest, client: Client, request: Request, key: RequestKey = None
) -> JSONResponse:
    try:
        data = base64.b64decode(body.data, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("data is not valid base64") from None
    request.state.bytes_in = len(data)
    opts = body.options or m.PutOptions()
    compression = None if opts.compression in (None, "none", "") else opts.compression
    info = await (await open_bucket(client, bucket)).put(
        body.name,
        data,
        description=body.description,
        headers=body.headers,
        metadata=body.metadata,
        chunk_size=opts.max_chunk_size,
        compression=compression,
        ttl=_seconds(opts.ttl),
        encryption=key,
    )
    return JSONResponse(info.to_dict(), status_code=201)


@router.post("/buckets/{bucket}/get", response_model=m.GetResponse, name="get")
async def get(
    bucket: str, body: m.GetRequest, client: Client, request: Request, key: RequestKey = None
) -> JSONResponse:
    store = await open_bucket(client, bucket)
    info = await store.info(body.name, revision=body.revision)
    if body.info_only:
        request.state.operation = "info"
        return JSONResponse({"info": info.to_dict()})
    data = await store.get_bytes(body.name, revision=body.revision, encryption=key)
    request.state.bytes_out = len(data)
    return JSONResponse({"info": info.to_dict(), "data": base64.b64encode(data).decode()})


@router.post("/buckets/{bucket}/update", response_model=m.ObjectInfoOut, name="update")
async def update(bucket: str, body: m.UpdateRequest, client: Client) -> JSONResponse:
    store = await open_bucket(client, bucket)
    info = await store.update_meta(
        body.name, description=body.description, headers=body.headers, metadata=body.metadata
    )
    return JSONResponse(info.to_dict())


@router.post("/buckets/{bucket}/delete", name="delete")
async def delete(bucket: str, body: m.DeleteRequest, client: Client) -> JSONResponse:
    store = await open_bucket(client, bucket)
    marker = await store.delete(body.name, purge=body.purge)
    if marker is None:
        return JSONResponse({"name": body.name, "bucket": bucket, "purged": True})
    return JSONResponse(marker.to_dict())


@router.post("/buckets/{bucket}/list", response_model=m.ObjectList, name="list")
async def list_objects(bucket: str, body: m.ListRequest, client: Client) -> JSONResponse:
    store = await open_bucket(client, bucket)
    infos = await store.list(body.filter or None, include_deleted=body.include_deleted)
    return JSONResponse({"objects": [i.to_dict() for i in infos]})


_SORTS = {"name": lambda i: i.name, "size": lambda i: i.size, "modified": lambda i: i.modified_ns}


@router.get("/buckets/{bucket}/objects", response_model=m.ObjectPage, name="list")
async def object_page(
    bucket: str,
    client: Client,
    filter: str = "",
    sort: Annotated[str, Query(pattern="^(name|size|modified)$")] = "name",
    order: Annotated[str, Query(pattern="^(asc|desc)$")] = "asc",
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    include_deleted: bool = False,
) -> JSONResponse:
    """One page of a bucket's objects (for the web page: never the whole list at once)."""
    store = await open_bucket(client, bucket)
    infos = await store.list(include_deleted=include_deleted)
    if filter:
        infos = [i for i in infos if fnmatch.fnmatchcase(i.name, filter)]
    infos.sort(key=_SORTS[sort], reverse=order == "desc")
    page = infos[offset : offset + limit]
    return JSONResponse(
        {"objects": [i.to_dict() for i in page], "total": len(infos), "offset": offset, "limit": limit}
    )


@router.get("/buckets/{bucket}/versions/{name:path}", response_model=m.VersionList, name="versions")
async def versions(bucket: str, name: str, client: Client) -> JSONResponse:
    store = await open_bucket(client, bucket)
    return JSONResponse({"versions": [i.to_dict() for i in reversed(await store.versions(name))]})


@router.post("/buckets/{bucket}/restore", response_model=m.ObjectInfoOut, name="restore")
async def restore(bucket: str, body: m.RestoreRequest, client: Client) -> JSONResponse:
    store = await open_bucket(client, bucket)
    return JSONResponse((await store.restore(body.name, body.revision)).to_dict())
