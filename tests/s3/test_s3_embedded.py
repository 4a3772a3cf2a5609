"""``orlop serve --gateway ADDR --s3-listen ADDR``: the S3 API beside the embedded gateway, one command."""

from __future__ import annotations

import subprocess
import sys

import boto3
from botocore.config import Config
from tests.s3.s3helpers import free_port

from orlop.testing import ServerProcess


def test_serve_with_gateway_and_s3(server_factory: type[ServerProcess]) -> None:
    s3_port = free_port()
    args = ["--gateway", f"127.0.0.1:{free_port()}", "--s3-listen", f"127.0.0.1:{s3_port}"]
    args += ["--s3-access-key", "emb", "--s3-secret-key", "emb-secret"]
    srv = server_factory(kind="orlop", extra_args=args).start()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{s3_port}",
        region_name="us-east-1",
        aws_access_key_id="emb",
        aws_secret_access_key="emb-secret",
        config=Config(retries={"max_attempts": 10, "mode": "standard"}, connect_timeout=2),
    )
    client.create_bucket(Bucket="embedded")
    client.put_object(Bucket="embedded", Key="dir/one.txt", Body=b"one")
    assert client.get_object(Bucket="embedded", Key="dir/one.txt")["Body"].read() == b"one"
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="embedded")["Contents"]]
    assert keys == ["dir/one.txt"]
    assert "S3 API listening on" in srv.log()


def test_s3_listen_needs_the_gateway_and_a_key() -> None:
    base = [sys.executable, "-m", "orlop", "serve", "-a", "127.0.0.1", "-p", "-1"]
    alone = subprocess.run([*base, "--s3-listen", "127.0.0.1:1"], capture_output=True, text=True, timeout=30)
    assert alone.returncode != 0 and "give --gateway ADDR too" in alone.stderr
    keyless = [*base, "--gateway", "127.0.0.1:1", "--s3-listen", "127.0.0.1:2"]
    env = {"PATH": "/usr/bin:/bin"}
    got = subprocess.run(keyless, capture_output=True, text=True, timeout=30, env=env)
    assert got.returncode != 0 and "needs an access key" in got.stderr
