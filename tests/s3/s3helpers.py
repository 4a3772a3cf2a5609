"""What the S3 tests share besides fixtures: the gateway's test key, boto3 clients, free ports."""

from __future__ import annotations

import hashlib
import hmac
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.config import Config

from orlop.testing import GatewayProcess

ACCESS_KEY = "orlop-test"
SECRET_KEY = "s3cret-key/with+chars"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class S3Gateway:
    process: GatewayProcess
    port: int
    nats_url: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def make_client(url: str, access_key: str = ACCESS_KEY, secret_key: str = SECRET_KEY, **config: Any) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(**{"retries": {"max_attempts": 1}, "s3": {"addressing_style": "path"}, **config}),
    )


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def sign_v4(
    method: str, url: str, path: str, payload: str, headers: dict[str, str] | None = None, query: str = ""
) -> dict[str, str]:
    """Headers of a SigV4-signed request, computed here from AWS's spec (not by the gateway's
    code), for requests boto3 will not make: ``payload`` is x-amz-content-sha256's value;
    ``path`` and ``query`` must already be in canonical (encoded, sorted) form."""
    now = datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = {k.lower(): v for k, v in (headers or {}).items()}
    signed.update({"host": urlsplit(url).netloc, "x-amz-content-sha256": payload, "x-amz-date": amz_date})
    names = sorted(signed)
    canonical = "\n".join(
        [method, path, query, "".join(f"{n}:{signed[n]}\n" for n in names), ";".join(names), payload]
    )
    scope = f"{day}/us-east-1/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key = _hmac(key, part)
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={_hmac(key, to_sign).hex()}"
    )
    del signed["host"]
    return signed


def streaming_put(
    url: str,
    path: str,
    data: bytes,
    chunk: int,
    *,
    break_chunk: int = -1,
    query: str = "",
    trailer: dict[str, str] | None = None,
    trailer_signature: str | None = None,
) -> httpx.Response:
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD upload, signed here from the spec (not by the gateway's
    code); ``query`` in canonical form (an UploadPart's ``partNumber=1&uploadId=…``).

    With ``trailer`` ({"x-amz-checksum-crc32": "..."}) it is a STREAMING-AWS4-HMAC-SHA256-
    PAYLOAD-TRAILER upload: the trailer follows the last chunk with its signature
    (``trailer_signature`` sends another one instead)."""
    now = datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    host = urlsplit(url).netloc
    scope = f"{day}/us-east-1/s3/aws4_request"
    payload = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer is not None else "")
    headers = {
        "content-encoding": "aws-chunked",
        "host": host,
        "x-amz-content-sha256": payload,
        "x-amz-date": amz_date,
        "x-amz-decoded-content-length": str(len(data)),
    }
    if trailer is not None:
        headers["x-amz-trailer"] = ",".join(trailer)
    names = sorted(headers)
    canonical = "\n".join(
        [
            "PUT",
            path,
            query,
            "".join(f"{n}:{headers[n]}\n" for n in names),
            ";".join(names),
            headers["x-amz-content-sha256"],
        ]
    )
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + SECRET_KEY).encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = _hmac(key, to_sign).hex()
    body, previous = b"", signature
    pieces = [data[i : i + chunk] for i in range(0, len(data), chunk)] + [b""]
    for n, piece in enumerate(pieces):
        text = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous,
             hashlib.sha256(b"").hexdigest(), hashlib.sha256(piece).hexdigest()]
        )  # fmt: skip
        previous = _hmac(key, text).hex()
        sent = "0" * 64 if n == break_chunk else previous
        body += f"{len(piece):x};chunk-signature={sent}\r\n".encode() + piece
        body += b"\r\n" if piece or trailer is None else b""
    if trailer is not None:  # the trailing headers, then their signature chained to the last chunk's
        lines = "".join(f"{k}:{v}\n" for k, v in trailer.items())
        text = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                amz_date,
                scope,
                previous,
                hashlib.sha256(lines.encode()).hexdigest(),
            ]
        )
        signed = trailer_signature if trailer_signature is not None else _hmac(key, text).hex()
        body += lines.replace("\n", "\r\n").encode() + f"x-amz-trailer-signature:{signed}\r\n\r\n".encode()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    del headers["host"]
    return httpx.put(url + path + (f"?{query}" if query else ""), content=body, headers=headers)
