"""One S3 request, as the operations see it: who signed it, which bucket and key, its query.

Addressing is resolved here once: path-style (``/bucket/key``) and virtual-host-style
(``Host: bucket.<domain>``, where ``<domain>`` is ``localhost`` or a configured domain).
Object store bucket names hold no dots, so the first label of such a host is the bucket.
"""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request

from orlop.gateway.s3.sigv4 import Signed
from orlop.objects import Keyring, ObjectStoreClient

__all__ = ["S3Request", "split_target"]


@dataclass
class S3Request:
    request: Request
    client: ObjectStoreClient
    bucket: str
    key: str
    query: dict[str, str]
    signed: Signed
    request_id: str = field(default_factory=lambda: secrets.token_hex(8).upper())
    gateway_keys: Keyring | None = None  # the gateway's encryption_keys: other clients' objects read

    def header(self, name: str) -> str | None:
        return self.request.headers.get(name)

    @property
    def method(self) -> str:
        return self.request.method


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def split_target(host_header: str, raw_path: str, domains: tuple[str, ...]) -> tuple[str, str]:
    """``(bucket, key)`` of a request ("" when absent), from its Host and path."""
    host = host_header.rsplit(":", 1)[0] if not host_header.startswith("[") else host_header
    host = host.lower()
    path = unquote(raw_path)
    if not _is_ip(host):
        for domain in domains:
            if host.endswith("." + domain) and host != domain:
                bucket = host[: -len(domain) - 1]
                return bucket, path[1:] if path.startswith("/") else path
    trimmed = path[1:] if path.startswith("/") else path
    bucket, _, key = trimmed.partition("/")
    return bucket, key


def query_of(raw_query: str) -> dict[str, str]:
    return dict(parse_qsl(raw_query, keep_blank_values=True))
