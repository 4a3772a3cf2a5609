"""Progress bars, tables and questions on a terminal; none of them in a pipe.

The CLI runs on a pseudo-terminal (as a person runs it) for a 64 MiB put and get: rich
draws a bar with bytes, rate and time left on stderr. The same commands piped print no
bar and no ANSI escape codes; ``--no-progress`` hides the bar on a terminal too.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

from clitools import Cli

from orlop.testing import ServerProcess

SIZE = 64 * 1024 * 1024


def _on_pty(
    args: list[str], cwd: Path, timeout: float = 120, answers: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a new pseudo-terminal; (exit code, all it wrote).

    ``answers``: when the output shows a question (the key), type the answer (the value).
    """
    pending = dict(answers or {})
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "NATS_CONTEXT")}
    env.update(COLUMNS="120", LINES="40", TERM="xterm-256color")
    env.pop("NO_COLOR", None)
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env, close_fds=True)
    os.close(slave)
    out = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                for question, answer in list(pending.items()):
                    if question in out.decode(errors="replace"):
                        os.write(master, answer.encode())
                        del pending[question]
            elif proc.poll() is not None:
                break
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return code, out.decode(errors="replace")


def test_progress_on_a_terminal_and_not_in_a_pipe(server: ServerProcess, cli: Cli, tmp_path: Path) -> None:
    data = os.urandom(SIZE)
    (tmp_path / "big.bin").write_bytes(data)
    cli.ok("add", "bars")
    base = [sys.executable, "-m", "orlop", "object", "-s", server.url]

    code, shown = _on_pty([*base, "put", "bars", "big.bin"], tmp_path)
    assert code == 0, shown
    assert "\x1b[" in shown  # drawn, with terminal control codes
    assert "64.0/64.0 MiB" in shown and "bars > big.bin" in shown and "/s" in shown, shown[-2000:]
    assert "Object information for bars > big.bin" in shown

    code, shown = _on_pty([*base, "get", "bars", "big.bin", "-O", "copy.bin"], tmp_path)
    assert code == 0, shown
    assert "64.0/64.0 MiB" in shown and "Wrote: 64.0 MiB to copy.bin" in shown, shown[-2000:]
    assert (tmp_path / "copy.bin").read_bytes() == data

    code, quiet = _on_pty([*base, "get", "bars", "big.bin", "-O", "again.bin", "--no-progress"], tmp_path)
    assert code == 0 and "MiB/s" not in quiet.split("Wrote:")[0] and "64.0/64.0" not in quiet, quiet

    piped_put = cli.ok("put", "bars", str(tmp_path / "big.bin"), "--name", "piped.bin", cwd=tmp_path)
    piped_get = cli.ok("get", "bars", "piped.bin", "-O", str(tmp_path / "piped.bin"))
    for proc in (piped_put, piped_get):
        for stream in (proc.stdout, proc.stderr):
            assert b"\x1b" not in stream and b"64.0/64.0" not in stream
    assert (tmp_path / "piped.bin").read_bytes() == data


def test_questions_and_tables_on_a_terminal(server: ServerProcess, cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_bytes(b"first")
    cli.ok("add", "asked")
    cli.ok("put", "asked", str(tmp_path / "a.txt"))
    (tmp_path / "a.txt").write_bytes(b"second")
    base = [sys.executable, "-m", "orlop", "object", "-s", server.url]

    code, shown = _on_pty(
        [*base, "put", "asked", "a.txt"], tmp_path, answers={"Replace existing file": "y\n"}
    )
    assert code == 0, shown
    assert "Object information for asked > a.txt" in shown and "Replace existing file asked > a.txt" in shown
    assert cli.ok("get", "asked", "a.txt", "-O", "-").stdout == b"second"

    code, shown = _on_pty([*base, "rm", "asked", "a.txt"], tmp_path, answers={"Delete ": "n\n"})
    assert code == 1 and "Delete 6 B byte file asked > a.txt?" in shown, shown
    assert cli.ok("get", "asked", "a.txt", "-O", "-").stdout == b"second"  # still there

    code, shown = _on_pty([*base, "ls", "asked"], tmp_path)
    assert code == 0 and "Bucket Contents of asked" in shown and "a.txt" in shown
    assert any(box in shown for box in "┃│┏━"), shown  # a drawn table, not tab-separated text
