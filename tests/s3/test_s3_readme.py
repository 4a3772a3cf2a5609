"""The README's S3 example, run as written against a gateway started with the flags it shows."""

from __future__ import annotations

import contextlib
import io
import re
import shlex
from pathlib import Path

from tests.s3.s3helpers import free_port

from orlop.testing import GatewayProcess, ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_example(server: ServerProcess, tmp_path: Path) -> None:
    found = re.search(r"<!-- s3-example -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert found, "README.md lost its <!-- s3-example --> block"
    code = found.group(1)
    command = " ".join(line.lstrip("# ").rstrip("\\ ") for line in code.splitlines() if line.startswith("#"))
    args = shlex.split(command)
    assert args[:2] == ["orlop", "gateway"]
    port = free_port()
    args = [a.replace("127.0.0.1:9000", f"127.0.0.1:{port}") for a in args[2:]]
    i = args.index("-s")
    assert args[i + 1] == "nats://127.0.0.1:4222"
    del args[i : i + 2]  # GatewayProcess points it at this test's server
    process = GatewayProcess(server.url, args=args).start(tmp_path)
    try:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(code.replace("127.0.0.1:9000", f"127.0.0.1:{port}"), {})  # the README's own code
        assert out.getvalue().strip() == "['2026/cat.jpg']"
    finally:
        process.stop()
