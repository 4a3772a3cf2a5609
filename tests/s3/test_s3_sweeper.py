"""Abandoned multipart uploads: removed by the gateway's sweeper once older than
``upload_expiry`` (the ``[s3]`` setting or ORLOP_S3_UPLOAD_EXPIRY), at start and periodically.
The sweep is driven with a given clock where it can be, and end to end with a 1-second
setting against a real gateway in front of both servers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from tests.s3.s3helpers import ACCESS_KEY, SECRET_KEY, S3Gateway, make_client

from orlop.errors import ConfigError
from orlop.gateway import GatewayConfig, load_config
from orlop.gateway.s3.config import EXPIRY_ENV, apply_flags
from orlop.gateway.s3.listing import HIDDEN_PREFIX
from orlop.gateway.s3.sweeper import expired_uploads, sweep
from orlop.objects import connect
from orlop.testing import GatewayProcess, ServerProcess

HOUR_NS = 3600 * 10**9


def test_expired_uploads_from_names_only() -> None:
    old, new = f"{1_000:016x}{'a' * 16}", f"{5_000:016x}{'b' * 16}"
    names = sorted(
        [
            "a-key",
            HIDDEN_PREFIX + old,
            HIDDEN_PREFIX + old + "/00001",
            HIDDEN_PREFIX + new,
            HIDDEN_PREFIX + "f" * 16 + "c" * 16 + "/00002",  # a part without a record: its name says its age
            HIDDEN_PREFIX + "not-an-upload",
        ]
    )
    assert expired_uploads(names, 2_000) == [old]
    assert expired_uploads(names, 2**64) == sorted([old, new, "f" * 16 + "c" * 16])


def test_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text('[s3]\nupload_expiry = "2h30m"\nupload_sweep_interval = 90\n')
    config = load_config(str(conf), GatewayConfig())
    s3 = apply_flags(config.s3, "127.0.0.1:9000", "k", "s")
    assert s3 is not None and (s3.upload_expiry, s3.sweep_every) == (9000.0, 90.0)
    default = apply_flags(None, "127.0.0.1:9000", "k", "s")
    assert default is not None and (default.upload_expiry, default.sweep_every) == (86400.0, 3600.0)
    monkeypatch.setenv(EXPIRY_ENV, "10s")
    from_env = apply_flags(None, "127.0.0.1:9000", "k", "s")
    assert from_env is not None and (from_env.upload_expiry, from_env.sweep_every) == (10.0, 2.5)
    monkeypatch.setenv(EXPIRY_ENV, "soon")
    with pytest.raises(ConfigError, match=EXPIRY_ENV):
        apply_flags(None, "127.0.0.1:9000", "k", "s")


async def _hidden(url: str, bucket: str) -> list[str]:
    async with connect(url) as client:
        b = await client.bucket(bucket)
        return [i.name for i in await b.list() if i.name.startswith(HIDDEN_PREFIX)]


async def _sweep(url: str, now_ns: int) -> int:
    async with connect(url) as client:
        return await sweep(client, 24 * 3600.0, now_ns)


def test_sweep_with_a_given_clock(s3: Any, s3gw: S3Gateway) -> None:
    s3.create_bucket(Bucket="sw")
    s3.put_object(Bucket="sw", Key="kept", Body=b"an object is never swept")
    upload = s3.create_multipart_upload(Bucket="sw", Key="big")["UploadId"]
    s3.upload_part(Bucket="sw", Key="big", UploadId=upload, PartNumber=1, Body=b"part")
    assert asyncio.run(_sweep(s3gw.nats_url, time.time_ns())) == 0  # a fresh upload stays
    assert len(asyncio.run(_hidden(s3gw.nats_url, "sw"))) == 2
    assert asyncio.run(_sweep(s3gw.nats_url, time.time_ns() + 25 * HOUR_NS)) == 1
    assert asyncio.run(_hidden(s3gw.nats_url, "sw")) == []
    assert s3.list_multipart_uploads(Bucket="sw").get("Uploads", []) == []
    assert s3.get_object(Bucket="sw", Key="kept")["Body"].read() == b"an object is never swept"


def test_gateway_sweeps_with_a_short_setting(server: ServerProcess, tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text(
        '[s3]\nlisten = "127.0.0.1:0"\nupload_expiry = 1\nupload_sweep_interval = 0.25\n'
        f'[[s3.keys]]\naccess_key = "{ACCESS_KEY}"\nsecret_key = "{SECRET_KEY}"\n'
    )
    gateway = GatewayProcess(server.url, args=["-c", str(conf)]).start(tmp_path)
    try:
        s3 = make_client(f"http://127.0.0.1:{gateway.s3_port}")
        s3.create_bucket(Bucket="short")
        upload = s3.create_multipart_upload(Bucket="short", Key="k")["UploadId"]
        s3.upload_part(Bucket="short", Key="k", UploadId=upload, PartNumber=1, Body=b"x" * 1000)
        deadline = time.monotonic() + 15
        while s3.list_multipart_uploads(Bucket="short").get("Uploads") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert s3.list_multipart_uploads(Bucket="short").get("Uploads", []) == []
        assert asyncio.run(_hidden(server.url, "short")) == []  # the part went too
    finally:
        gateway.stop()
