"""``orlop object presign``: URLs for the gateway's S3 API, fetched with httpx against a running
``orlop gateway --s3-listen`` (GET, PUT, a version, an expired one). The CLI only signs, so
one server kind is enough: the S3 API itself is tested on both in tests/s3."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from clitools import Cli
from tests.s3.s3helpers import ACCESS_KEY, SECRET_KEY, make_client

from orlop.gateway.s3.sigv4 import presign_url
from orlop.testing import GatewayProcess, ServerProcess


@pytest.fixture
def s3_url(orlop_server: ServerProcess, tmp_path: Path) -> Iterator[str]:
    args = ["--s3-listen", "127.0.0.1:0", "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY]
    process = GatewayProcess(orlop_server.url, args=args).start(tmp_path)
    try:
        yield f"http://127.0.0.1:{process.s3_port}"
    finally:
        process.stop()


def _presign(cli: Cli, url: str, *args: str, env: dict[str, str] | None = None) -> str:
    flags = ["--s3-endpoint", url, "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY]
    proc = cli.at(None, "presign", *args, *([] if env else flags), env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().strip()


def test_presigned_get_and_put(s3_url: str, tmp_path: Path) -> None:
    cli = Cli("")
    s3: Any = make_client(s3_url)
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="dir/report 1.txt", Body=b"quarterly numbers")

    url = _presign(cli, s3_url, "shared", "dir/report 1.txt", "--expires", "1h")
    assert "X-Amz-Expires=3600" in url and url.startswith(f"{s3_url}/shared/dir/report%201.txt?")
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == b"quarterly numbers"

    env = {"ORLOP_S3_ENDPOINT": s3_url, "ORLOP_S3_ACCESS_KEY": ACCESS_KEY, "ORLOP_S3_SECRET_KEY": SECRET_KEY}
    upload = _presign(cli, s3_url, "shared", "incoming.bin", "--method", "PUT", "--expires", "15m", env=env)
    put = httpx.put(upload, content=b"\x00uploaded\xff" * 1000)
    assert put.status_code == 200, put.text
    assert s3.get_object(Bucket="shared", Key="incoming.bin")["Body"].read() == b"\x00uploaded\xff" * 1000
    assert httpx.get(upload).status_code == 403  # signed for PUT: a GET does not match

    # A URL for one version of an object.
    s3.create_bucket(Bucket="kept")
    s3.put_bucket_versioning(Bucket="kept", VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket="kept", Key="k", Body=b"first")["VersionId"]
    s3.put_object(Bucket="kept", Key="k", Body=b"second")
    old = _presign(cli, s3_url, "kept", "k", "--version-id", first)
    assert httpx.get(old).content == b"first"


def test_expired_and_bad_flags(s3_url: str) -> None:
    cli = Cli("")
    s3: Any = make_client(s3_url)
    s3.create_bucket(Bucket="old")
    s3.put_object(Bucket="old", Key="k", Body=b"x")
    # Signed two hours ago for one hour (the CLI's signing, with the clock given instead of slept).
    expired = presign_url(
        "GET",
        s3_url,
        "old",
        "k",
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        expires=3600,
        now=datetime.now(UTC) - timedelta(hours=2),
    )
    answer = httpx.get(expired)
    assert answer.status_code == 403 and "AccessDenied" in answer.text and "expired" in answer.text
    wrong = _presign(cli, s3_url, "old", "k").replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(wrong).status_code == 403

    too_long = cli.at(None, "presign", "old", "k", "--expires", "8d", "--s3-endpoint", s3_url,
                      "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY)  # fmt: skip
    assert too_long.returncode != 0 and "7 days" in too_long.stderr.decode()
    bare = cli.at(None, "presign", "old", "k", env={"AWS_ACCESS_KEY_ID": "", "ORLOP_S3_ENDPOINT": ""})
    assert bare.returncode != 0 and "--s3-endpoint" in bare.stderr.decode()
