"""The README's JetStream 2.14 example ("JetStream at nats-server 2.14's level") runs as written.

The block after ``<!-- jetstream-2.14-example -->`` is run by the venv's Python with the
server's URL put in place of the README's ``nats://127.0.0.1:4222``, on both servers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from orlop.testing import ServerProcess

ROOT = Path(__file__).resolve().parents[2]
_BLOCK = re.compile(r"<!-- jetstream-2.14-example -->\n```python\n(.*?)```", re.S)


def test_readme_jetstream_example(server: ServerProcess, tmp_path: Path) -> None:
    found = _BLOCK.search((ROOT / "README.md").read_text())
    assert found, "no <!-- jetstream-2.14-example --> block in README.md"
    script = found.group(1)
    assert "nats://127.0.0.1:4222" in script
    path = tmp_path / "example.py"
    path.write_text(script.replace("nats://127.0.0.1:4222", server.url))
    proc = subprocess.run([sys.executable, str(path)], capture_output=True, timeout=60, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.splitlines() == ["order-42 3", "3"]
