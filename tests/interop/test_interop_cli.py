"""The CLI and the official clients share objects both ways, on both servers.

An object put with ``orlop object put`` is read by nats-py's object store and by the Node
client's (``js.views.os``); objects they put are read back with ``orlop object get``,
byte for byte, and ``orlop object ls``/``info`` see them as their writers described them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats

from orlop.testing import ServerProcess

BIG = 3 * 1024 * 1024 + 17  # 25 chunks of 128 KiB


def _cli(url: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run(
        [sys.executable, "-m", "orlop", "object", "-s", url, *args], capture_output=True, timeout=120
    )
    assert proc.returncode == 0, f"orlop object {' '.join(args)}: {proc.stderr.decode()}"
    return proc


async def test_cli_objects_read_by_nats_py_and_node(
    server: ServerProcess, run_node_steps: Any, tmp_path: Path
) -> None:
    data = os.urandom(BIG)
    (tmp_path / "from-cli.bin").write_bytes(data)
    _cli(server.url, "add", "shared")
    put = json.loads(_cli(server.url, "put", "shared", str(tmp_path / "from-cli.bin"), "--json").stdout)

    nc = await nats.connect(server.url)
    try:
        store = await nc.jetstream(timeout=20).object_store("shared")
        result = await store.get("from-cli.bin")
        assert result.data == data
        assert result.info.digest == put["digest"] and result.info.size == BIG
    finally:
        await nc.close()

    steps = [{"op": "get", "bucket": "shared", "name": "from-cli.bin"}]
    (got,) = await run_node_steps(server.url, steps)
    assert got["ok"], got
    assert got["value"] == {"size": BIG, "sha256": hashlib.sha256(data).hexdigest()}


async def test_nats_py_and_node_objects_read_by_the_cli(
    server: ServerProcess, run_node_steps: Any, tmp_path: Path
) -> None:
    py_data, node_data = os.urandom(BIG), os.urandom(200_000)
    (tmp_path / "node.bin").write_bytes(node_data)
    nc = await nats.connect(server.url)
    try:
        js = nc.jetstream(timeout=20)
        store = await js.create_object_store("foreign")
        await store.put("from-py.bin", py_data)
    finally:
        await nc.close()
    (put,) = await run_node_steps(
        server.url,
        [{"op": "put", "bucket": "foreign", "name": "from-node.bin", "file": str(tmp_path / "node.bin")}],
    )
    assert put["ok"], put

    listed = json.loads(_cli(server.url, "ls", "foreign", "--json").stdout)
    assert [(o["name"], o["size"]) for o in listed] == [("from-node.bin", 200_000), ("from-py.bin", BIG)]
    _cli(server.url, "get", "foreign", "from-py.bin", "-O", str(tmp_path / "py.out"))
    _cli(server.url, "get", "foreign", "from-node.bin", "-O", str(tmp_path / "node.out"))
    assert (tmp_path / "py.out").read_bytes() == py_data
    assert (tmp_path / "node.out").read_bytes() == node_data
    info = _cli(server.url, "info", "foreign", "from-node.bin").stdout.decode()
    assert f"Digest: SHA-256 {hashlib.sha256(node_data).hexdigest()}" in info
    bucket = _cli(server.url, "info", "foreign").stdout.decode()
    assert "Objects: 2" in bucket and "JetStream Stream: OBJ_foreign" in bucket
