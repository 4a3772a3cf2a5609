"""Progress bars on a terminal, and none in a pipe.

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


def _on_pty(args: list[str], cwd: Path, timeout: float = 120) -> tuple[int, str]:
    """Run with stdin, stdout and stderr on a new pseudo-terminal; (exit code, all it wrote)."""
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
