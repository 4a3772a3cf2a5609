"""The request and response bodies, as the seed writes them (they make the OpenAPI document).

Requests refuse unknown fields (a misspelt ``descripton`` is a 400, not silently nothing).
Responses are documented loosely (``extra`` allowed): they are ``orlop.objects``' own
``to_dict()`` views, which may grow fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "BucketConfig",
    "BucketEdit",
    "BucketList",
    "BucketStatusOut",
    "DeleteRequest",
    "GetRequest",
    "GetResponse",
    "ListRequest",
    "ObjectInfoOut",
    "ObjectList",
    "ObjectPage",
    "PutRequest",
    "RestoreRequest",
    "UpdateRequest",
    "VersionList",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


Headers = dict[str, str | list[str]]


class Placement(_In):
    cluster: str | None = None
    tags: list[str] | None = None


class BucketConfig(_In):
    """The seed's basic and advanced object store configuration."""

    bucket: str = Field(min_length=1, examples=["documents"])
    description: str | None = None
    max_object_size: int | None = Field(default=None, ge=-1)
    storage: Literal["file", "memory"] = "file"
    num_replicas: int = Field(default=1, ge=1, le=5)
    ttl: int = Field(default=0, ge=0, description="nanoseconds; 0: objects never expire")
    compression: Literal["s2", "none", ""] | bool | None = None
    placement: Placement | None = None
    metadata: dict[str, str] | None = None
    max_bytes: int | None = Field(default=None, ge=-1)
    history: int | None = Field(default=None, ge=1, le=64)


class BucketEdit(_In):
    description: str | None = None
    max_object_size: int | None = Field(default=None, ge=-1)
    num_replicas: int | None = Field(default=None, ge=1, le=5)
    ttl: int | None = Field(default=None, ge=0, description="nanoseconds")
    compression: Literal["s2", "none", ""] | bool | None = None
    placement: Placement | None = None
    metadata: dict[str, str] | None = None
    max_bytes: int | None = Field(default=None, ge=-1)
    history: int | None = Field(default=None, ge=1, le=64)


class PutOptions(_In):
    max_chunk_size: int | None = Field(default=None, ge=1)
    ttl: int | None = Field(default=None, ge=0, description="nanoseconds")
    compression: Literal["s2", "none", ""] | None = None


class PutRequest(_In):
    name: str = Field(min_length=1, examples=["report.json"])
    description: str | None = None
    data: str = Field(description="the object's bytes, base64")
    headers: Headers | None = None
    metadata: dict[str, str] | None = None
    options: PutOptions | None = None


class GetRequest(_In):
    name: str = Field(min_length=1)
    info_only: bool = False
    revision: int | None = Field(default=None, ge=1)


class UpdateRequest(_In):
    name: str = Field(min_length=1)
    description: str | None = None
    headers: Headers | None = None
    metadata: dict[str, str] | None = None


class DeleteRequest(_In):
    name: str = Field(min_length=1)
    purge: bool = False


class ListRequest(_In):
    filter: str | None = Field(default=None, examples=["*.json"])
    include_deleted: bool = False


class RestoreRequest(_In):
    name: str = Field(min_length=1)
    revision: int = Field(ge=1)


class ObjectInfoOut(_Out):
    name: str
    bucket: str
    nuid: str
    size: int
    chunks: int
    digest: str
    deleted: bool
    revision: int
    created: str
    modified: str


class GetResponse(_Out):
    info: ObjectInfoOut
    data: str | None = Field(default=None, description="base64; absent with info_only")


class ObjectList(_Out):
    objects: list[ObjectInfoOut]


class ObjectPage(_Out):
    objects: list[ObjectInfoOut]
    total: int
    offset: int
    limit: int


class VersionList(_Out):
    versions: list[ObjectInfoOut]


class BucketStatusOut(_Out):
    bucket: str
    description: str
    storage: str
    replicas: int
    sealed: bool
    size: int
    object_count: int


class BucketList(_Out):
    buckets: list[BucketStatusOut]
