"""The README's ``orlop object`` session runs as written, line by line, on both servers.

The block after ``<!-- cli-example -->`` is run by bash (``set -e``: every line must
succeed) in an empty folder with ``NATS_URL`` pointing at the test's server and the
installed ``orlop`` first on PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from orlop.testing import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    text = README.read_text()
    found = re.search(r"<!-- cli-example -->\n```sh\n(.*?)```", text, re.S)
    assert found, "README.md lost its <!-- cli-example --> block"
    return found.group(1)


def test_readme_cli_session(server: ServerProcess, tmp_path: Path) -> None:
    script = _example()
    assert "orlop object put" in script and "orlop object restore" in script
    env = {k: v for k, v in os.environ.items() if k != "NATS_CONTEXT"}
    env["NATS_URL"] = server.url
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", "-e", "-x", "-c", script], cwd=tmp_path, env=env, capture_output=True, timeout=180
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert (tmp_path / "notes-back.txt").read_text() == "first draft\n"
    out = proc.stdout.decode()
    assert "Information for Object Store Bucket docs" in out and "notes.txt" in out
