"""Running ``orlop object`` as a user does: a subprocess, its output, its exit code.

``Cli(url)(*args, stdin=b"", cwd=None, env=None)`` runs ``python -m orlop object -s <url> …``;
``cli.at(url, …)`` runs it against another URL (or none: ``url=None`` leaves ``-s`` out).
``error_line(proc)`` asserts the one-line error a failing command must print and returns it.
(A module of its own, not conftest.py: test modules import it, and ``conftest`` is taken.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

Proc = subprocess.CompletedProcess[bytes]


class Cli:
    def __init__(self, url: str) -> None:
        self.url = url

    def at(
        self,
        url: str | None,
        *args: str,
        stdin: bytes = b"",
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float = 120,
    ) -> Proc:
        server = ["-s", url] if url else []
        environ = {k: v for k, v in os.environ.items() if k not in ("NATS_URL", "NATS_CONTEXT")}
        environ.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "orlop", "object", *server, *args],
            input=stdin,
            capture_output=True,
            timeout=timeout,
            cwd=cwd,
            env=environ,
        )

    def __call__(
        self, *args: str, stdin: bytes = b"", cwd: Path | None = None, env: Mapping[str, str] | None = None
    ) -> Proc:
        return self.at(self.url, *args, stdin=stdin, cwd=cwd, env=env)

    def ok(self, *args: str, stdin: bytes = b"", cwd: Path | None = None) -> Proc:
        """Run and insist on success (the failure shows the command's stderr)."""
        proc = self(*args, stdin=stdin, cwd=cwd)
        assert proc.returncode == 0, f"orlop object {' '.join(args)}: {proc.stderr.decode()}"
        return proc


def error_line(proc: Proc) -> str:
    """The single ``orlop: …`` line a failed command prints (never a traceback)."""
    err = proc.stderr.decode()
    assert proc.returncode != 0, "the command succeeded"
    assert err.startswith("orlop: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    return err.strip()
