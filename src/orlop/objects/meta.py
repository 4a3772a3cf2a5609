"""ObjectInfo: the meta message of an object, in nats.go's JSON shape (ADR-20).

The meta payload is what every client reads, so we write exactly what
nats.go writes (key order ``name, description, headers, metadata, options,
bucket, nuid, size, mtime, chunks, digest, deleted``, empty values omitted,
headers as ``map[string][]string``) and read everything the other clients
write (nats.py's ``{"k": "v"}`` headers and ``"mtime": ""``, nats.js links
without ``nuid``/``size``, its stray ``revision`` key).

Fields that are not in the JSON come from the message that carried it:
``revision`` is the stream sequence of the meta message, ``modified_ns`` its
server timestamp, ``ttl`` its ``Nats-TTL`` header. ``created_ns`` is the
stored ``mtime`` (we write the put time there; Go ignores the stored value
and readers fall back to ``modified_ns`` when it is the zero time).
Orlop's own per-object settings travel in the object's headers under the
``Orlop-`` prefix (see :mod:`orlop.objects.compression`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from orlop.errors import BadRequest, ObjectStoreError
from orlop.jsapi.timefmt import ZERO_TIME, format_ts, parse_ts

__all__ = [
    "BULK_CHUNK_SIZE",
    "BULK_THRESHOLD",
    "DEFAULT_CHUNK_SIZE",
    "EMPTY_DIGEST",
    "ObjectInfo",
    "ObjectLink",
    "chunk_subject",
    "digest_string",
    "encode_name",
    "meta_filter",
    "meta_subject",
    "normalize_headers",
    "normalize_metadata",
    "validate_bucket_name",
    "validate_object_name",
]

# ADR-20's chunk size: what every official client writes, and what we assume for a
# foreign object whose meta does not say.
DEFAULT_CHUNK_SIZE = 128 * 1024
# Objects of BULK_THRESHOLD bytes or more (and sources of unknown size) are written in
# BULK_CHUNK_SIZE chunks, clamped to the server's max_payload: see orlop.objects.put.
BULK_CHUNK_SIZE = 1024 * 1024
BULK_THRESHOLD = 8 * 1024 * 1024
EMPTY_DIGEST = "SHA-256=47DEQpj8HBSa-_TImW-5JCeuQeRkm5NMpJWZG3hSuFU="
ORLOP_HEADER_PREFIX = "orlop-"

_BUCKET_RE = re.compile(r"[a-zA-Z0-9_-]+")
_HEADER_KEY_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def validate_bucket_name(bucket: object) -> str:
    """The bucket name, or BadRequest unless it matches ``^[a-zA-Z0-9_-]+$``."""
    if not isinstance(bucket, str) or not _BUCKET_RE.fullmatch(bucket):
        raise BadRequest(f"invalid bucket name {bucket!r}: use letters, digits, '-' and '_'")
    return bucket


def validate_object_name(name: object) -> str:
    """The object name, or BadRequest when it is not a non-empty string."""
    if not isinstance(name, str) or not name:
        raise BadRequest("object name must be a non-empty string")
    return name


def encode_name(name: str) -> str:
    """URL-safe base64 with padding of the UTF-8 name (the meta subject token)."""
    return base64.urlsafe_b64encode(name.encode("utf-8")).decode("ascii")


def meta_subject(bucket: str, name: str) -> str:
    return f"$O.{bucket}.M.{encode_name(name)}"


def meta_filter(bucket: str) -> str:
    return f"$O.{bucket}.M.>"


def chunk_subject(bucket: str, nuid: str) -> str:
    return f"$O.{bucket}.C.{nuid}"


def digest_string(digest: bytes) -> str:
    """``SHA-256=`` + padded URL-safe base64 of a 32-byte SHA-256 digest."""
    return "SHA-256=" + base64.urlsafe_b64encode(digest).decode("ascii")


def digest_bytes(text: str) -> bytes | None:
    """The 32 raw bytes named by a digest string (any base64 flavour or hex), None if unreadable."""
    if "=" not in text:
        return None
    algo, _, value = text.partition("=")
    if algo.upper() != "SHA-256":
        return None
    if len(value) == 64 and all(c in "0123456789abcdefABCDEF" for c in value):
        return bytes.fromhex(value)
    value = value.replace("+", "-").replace("/", "_").rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except ValueError:
        return None
    return raw if len(raw) == hashlib.sha256().digest_size else None


def normalize_headers(headers: object) -> dict[str, list[str]]:
    """User headers ``{key: str | [str]}`` in Go's ``map[string][]string`` shape.

    Raises BadRequest for non-string keys or values, keys that are not header
    tokens, values with CR/LF, and keys in Orlop's reserved ``Orlop-`` space.
    """
    if headers is None:
        return {}
    if not isinstance(headers, dict):
        raise BadRequest("headers must be a dict of str -> str | list[str]")
    out: dict[str, list[str]] = {}
    for key, value in headers.items():
        if not isinstance(key, str) or not _HEADER_KEY_RE.fullmatch(key):
            raise BadRequest(f"invalid header name {key!r}")
        if key.lower().startswith(ORLOP_HEADER_PREFIX):
            raise BadRequest(f"header {key!r} is reserved for Orlop")
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if not isinstance(v, str):
                raise BadRequest(f"header {key!r} has a non-string value {v!r}")
            if "\r" in v or "\n" in v:
                raise BadRequest(f"header {key!r} value contains a line break")
        out.setdefault(key, []).extend(values)
    return out


def normalize_metadata(metadata: object) -> dict[str, str]:
    """User metadata as ``{str: str}``; BadRequest for anything else."""
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
    ):
        raise BadRequest("metadata must be a dict of str -> str")
    return dict(metadata)


@dataclass(frozen=True)
class ObjectLink:
    """A link target: an object (``name`` set) or a whole bucket (``name`` None)."""

    bucket: str
    name: str | None = None

    @property
    def is_bucket_link(self) -> bool:
        return not self.name

    def to_dict(self) -> dict[str, str]:
        out = {"bucket": self.bucket}
        if self.name:
            out["name"] = self.name
        return out


def _read_headers(raw: object) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        return {}
    out: dict[str, list[str]] = {}
    for k, v in raw.items():
        if isinstance(v, list):
            out[str(k)] = [str(x) for x in v]
        elif v is not None:
            out[str(k)] = [str(v)]
    return out


@dataclass
class ObjectInfo:
    """One revision of an object as stored in its meta message.

    ``size``/``chunks``/``digest`` describe the stored chunk payloads (what
    every client downloads and verifies); for a compressed object
    ``original_size`` is the size after decoding.
    """

    name: str
    bucket: str
    nuid: str = ""
    size: int = 0
    chunks: int = 0
    digest: str = ""
    deleted: bool = False
    description: str = ""
    headers: dict[str, list[str]] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    max_chunk_size: int | None = None
    link: ObjectLink | None = None
    mtime: str = ZERO_TIME
    revision: int = 0
    modified_ns: int = 0
    ttl: int | None = None

    # -- derived views -------------------------------------------------
    @property
    def is_link(self) -> bool:
        return self.link is not None

    @property
    def created_ns(self) -> int:
        """The put time stored in ``mtime``, or the meta timestamp when none was stored."""
        try:
            ns = parse_ts(self.mtime) if self.mtime else 0
        except ValueError:
            ns = 0
        return ns or self.modified_ns

    @property
    def created(self) -> datetime:
        return datetime.fromtimestamp(self.created_ns / 1e9, UTC)

    @property
    def modified(self) -> datetime:
        return datetime.fromtimestamp(self.modified_ns / 1e9, UTC)

    def header(self, key: str) -> str | None:
        """Last value of a header, case-insensitively."""
        low = key.lower()
        for k, values in self.headers.items():
            if k.lower() == low and values:
                return values[-1]
        return None

    @property
    def compression(self) -> str | None:
        """``"s2"`` when Orlop compressed the chunks (header ``Orlop-Compression``)."""
        value = self.header("Orlop-Compression")
        return value.lower() if value else None

    @property
    def encryption(self) -> str | None:
        """The AEAD scheme when the chunks are encrypted client-side (header ``Orlop-Encryption``)."""
        value = self.header("Orlop-Encryption")
        return value.lower() if value else None

    @property
    def key_id(self) -> str | None:
        """The id of the key that wraps an encrypted object's data key (header ``Orlop-Key-Id``)."""
        return self.header("Orlop-Key-Id") if self.encryption else None

    @property
    def original_size(self) -> int:
        """Size of the data as the user put it (decoded, decrypted), known from ``Orlop-Original-Size``."""
        value = self.header("Orlop-Original-Size")
        if value and value.isdigit():
            return int(value)
        return self.size

    def evolve(self, **changes: Any) -> ObjectInfo:
        return replace(self, **changes)

    # -- wire ------------------------------------------------------------
    def to_wire(self) -> dict[str, Any]:
        """The meta payload as a dict in nats.go's key order with its omitempty rules."""
        out: dict[str, Any] = {"name": self.name}
        if self.description:
            out["description"] = self.description
        if self.headers:
            out["headers"] = self.headers
        if self.metadata:
            out["metadata"] = self.metadata
        options: dict[str, Any] = {}
        if self.link is not None:
            options["link"] = self.link.to_dict()
        if self.max_chunk_size:
            options["max_chunk_size"] = self.max_chunk_size
        if options:
            out["options"] = options
        out.update(bucket=self.bucket, nuid=self.nuid, size=self.size, mtime=self.mtime or ZERO_TIME)
        out["chunks"] = self.chunks
        if self.digest:
            out["digest"] = self.digest
        if self.deleted:
            out["deleted"] = True
        return out

    def to_json(self) -> bytes:
        return json.dumps(self.to_wire(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @classmethod
    def from_json(
        cls, payload: bytes, *, revision: int = 0, modified_ns: int = 0, ttl: int | None = None
    ) -> ObjectInfo:
        """Decode any client's meta payload; raises ObjectStoreError when it is not an ObjectInfo."""
        try:
            raw = json.loads(payload)
        except ValueError as e:
            raise ObjectStoreError("object meta is not valid JSON") from e
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise ObjectStoreError("object meta has no name")
        opts_raw = raw.get("options")
        opts: dict[str, Any] = opts_raw if isinstance(opts_raw, dict) else {}
        link_raw = opts.get("link")
        link = None
        if isinstance(link_raw, dict) and link_raw.get("bucket"):
            link = ObjectLink(str(link_raw["bucket"]), link_raw.get("name") or None)
        mtime = raw.get("mtime")
        return cls(
            name=raw["name"],
            bucket=str(raw.get("bucket") or ""),
            nuid=str(raw.get("nuid") or ""),
            size=int(raw.get("size") or 0),
            chunks=int(raw.get("chunks") or 0),
            digest=str(raw.get("digest") or ""),
            deleted=bool(raw.get("deleted") or False),
            description=str(raw.get("description") or ""),
            headers=_read_headers(raw.get("headers")),
            metadata={str(k): str(v) for k, v in (raw.get("metadata") or {}).items()},
            max_chunk_size=int(opts["max_chunk_size"]) if opts.get("max_chunk_size") else None,
            link=link,
            mtime=mtime if isinstance(mtime, str) and mtime else ZERO_TIME,
            revision=revision,
            modified_ns=modified_ns,
            ttl=ttl,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for CLIs and gateways (wire fields plus revision and times)."""
        out = self.to_wire()
        out["deleted"] = self.deleted
        out["revision"] = self.revision
        out["created"] = format_ts(self.created_ns)
        out["modified"] = format_ts(self.modified_ns)
        if self.ttl is not None:
            out["ttl"] = self.ttl
        if self.compression:
            out["compression"] = self.compression
        if self.encryption:
            out["encryption"] = self.encryption
            out["key_id"] = self.key_id
        if self.compression or self.encryption:
            out["original_size"] = self.original_size
        return out
