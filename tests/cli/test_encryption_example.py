"""The client-side encryption example (README "Client-side encryption") runs as written, on both servers.

The block after ``<!-- encryption-example -->`` is taken from README.md once it has
one, else from docs/encryption-client.md (where the section was drafted), and run by
bash (``set -e``) in an empty folder with ``NATS_URL`` set and the installed ``orlop``
first on PATH.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from orlop.testing import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"<!-- encryption-example -->\n```sh\n(.*?)```", re.S)


def _example() -> str:
    for doc in (ROOT / "README.md", ROOT / "docs" / "encryption-client.md"):
        found = _BLOCK.search(doc.read_text())
        if found:
            return found.group(1)
    raise AssertionError("no <!-- encryption-example --> block in README.md or docs/encryption-client.md")


def test_encryption_example(server: ServerProcess, tmp_path: Path) -> None:
    script = _example()
    assert "--encrypt-key-file" in script and "--passphrase-env" in script and "rekey" in script
    assert "object cp" in script
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_CONTEXT", "VAULT_PASS")}
    env["NATS_URL"] = server.url
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-x", "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr.decode()[-3000:]
    assert (tmp_path / "report-back.txt").read_text() == "quarterly numbers\n"
    assert proc.stdout.decode().count("quarterly numbers") == 4  # three greps of stdout, one of the file
