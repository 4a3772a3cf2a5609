"""Fixtures for the gateway: a real ``orlop gateway`` process in front of a real server.

``gateway`` runs against each server kind (``server`` is parametrised over Orlop and
nats-server); ``gateway_factory`` starts gateways with other flags (auth configs).
Tests speak HTTP to it with httpx, as any client would.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from orlop.testing import ServerProcess

ORLOP = str(Path(sys.executable).with_name("orlop"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class GatewayProcess:
    nats_url: str
    args: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> GatewayProcess:
        self.port = self.port or free_port()
        self.log = log_dir / f"gateway-{self.port}.log"
        cmd = [ORLOP, "gateway", "--listen", f"127.0.0.1:{self.port}", "-s", self.nats_url, *self.args]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway did not start: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def gateway_factory(tmp_path: Path) -> Iterator[type[GatewayProcess]]:
    made: list[GatewayProcess] = []

    class Factory(GatewayProcess):
        def start(self, log_dir: Path = tmp_path) -> GatewayProcess:
            made.append(self)
            return super().start(log_dir)

    try:
        yield Factory
    finally:
        for g in made:
            g.stop()


@pytest.fixture
def gateway(server: ServerProcess, gateway_factory: type[GatewayProcess]) -> GatewayProcess:
    """A gateway without auth (loopback) in front of each kind of server."""
    return gateway_factory(server.url).start()


@pytest.fixture
async def http(gateway: GatewayProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=gateway.url + "/api/v1", timeout=30) as client:
        yield client
