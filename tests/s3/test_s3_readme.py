"""The README's S3 examples, run as written against a gateway started with the flags they show:
the boto3 block (Python, ``exec``), and the AWS CLI and rclone block (``bash -e``)."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.s3.s3helpers import free_port, make_client

from orlop.testing import GatewayProcess, ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"
README_ADDRESS = "127.0.0.1:9000"


def _block(marker: str, language: str) -> str:
    found = re.search(rf"<!-- {marker} -->\n```{language}\n(.*?)```", README.read_text(), re.S)
    assert found, f"README.md lost its <!-- {marker} --> block"
    return found.group(1)


@pytest.fixture
def readme_gateway(server: ServerProcess, tmp_path: Path) -> Iterator[str]:
    """The gateway the boto3 block's comment starts, in front of this test's server; yields the
    address to put in place of the README's ``127.0.0.1:9000``."""
    code = _block("s3-example", "python")
    command = " ".join(line.lstrip("# ").rstrip("\\ ") for line in code.splitlines() if line.startswith("#"))
    args = shlex.split(command)
    assert args[:2] == ["orlop", "gateway"]
    address = f"127.0.0.1:{free_port()}"
    args = [a.replace(README_ADDRESS, address) for a in args[2:]]
    i = args.index("-s")
    assert args[i + 1] == "nats://127.0.0.1:4222"
    del args[i : i + 2]  # GatewayProcess points it at this test's server
    process = GatewayProcess(server.url, args=args).start(tmp_path)
    try:
        yield address
    finally:
        process.stop()


def test_readme_example(readme_gateway: str) -> None:
    code = _block("s3-example", "python")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(code.replace(README_ADDRESS, readme_gateway), {})  # the README's own code
    assert out.getvalue().strip() == "['2026/cat.jpg']"


def test_readme_tools_example(readme_gateway: str, tmp_path: Path) -> None:
    if shutil.which("rclone") is None:
        pytest.fail("rclone is not installed: `make install` adds Debian's")
    script = _block("s3-tools-example", "sh").replace(README_ADDRESS, readme_gateway)
    files = {
        "index.html": b"<h1>hello</h1>\n",
        "css/site.css": b"body { margin: 0 }\n",
        "img/big.bin": os.urandom(9 << 20),  # above 8 MiB: the AWS CLI's multipart upload
        "img/small.png": os.urandom(3000),
    }
    for rel, data in files.items():
        (tmp_path / "site" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "site" / rel).write_bytes(data)
    home = tmp_path / "home"
    home.mkdir()
    env = {  # only what keeps the tools away from this machine's own configuration
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        "RCLONE_CONFIG": str(tmp_path / "rclone.conf"),
    }
    done = subprocess.run(
        ["bash", "-e", "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    listed = re.findall(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d +\d+ (.+)$", done.stdout, re.M)
    assert sorted(listed) == sorted(f"v1/{rel}" for rel in files)  # `aws s3 ls --recursive`
    s3 = make_client(f"http://{readme_gateway}", access_key="demo", secret_key="demo-secret")
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket="site")
        for o in page["Contents"]
    ]
    assert sorted(keys) == sorted(f"{v}/{rel}" for v in ("v1", "v2") for rel in files)
    assert s3.head_object(Bucket="site", Key="v1/img/big.bin")["ETag"].endswith('-2"')
    restored = {
        p.relative_to(tmp_path / "restored").as_posix(): p.read_bytes()
        for p in (tmp_path / "restored").rglob("*")
        if p.is_file()
    }
    assert restored == files
