"""TLS on the client port, on Orlop and nats-server with the same configuration.

Certificates are made in the test run (``orlop.testing.make_test_certificates``). The
checks follow nats-server's TestTLSVerifyClientCertificate and TestTLSClientHandshakeFirst:
INFO announces TLS, clients that verify the server and present a certificate work, the
others are refused, a plain client is closed without being served (nats-server 2.15 sends
it nothing legible either, though its source means to send ``Secure Connection - TLS
Required``).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from pathlib import Path

import nats
import pytest
from nats.errors import Error as NatsError

from orlop.testing import KINDS, ServerProcess, make_test_certificates

Factory = type[ServerProcess]


def _start(
    factory: Factory, kind: str, tmp_path: Path, *, verify: bool, first: bool = False
) -> tuple[ServerProcess, dict[str, str]]:
    certs = make_test_certificates(str(tmp_path))
    lines = [
        f"cert_file: {certs['server_cert']!r}",
        f"key_file: {certs['server_key']!r}",
        f"ca_file: {certs['ca']!r}",
    ]
    if verify:
        lines.append("verify: true")
    if first:
        lines.append("handshake_first: true")
    conf = tmp_path / "tls.conf"
    conf.write_text("tls {\n  " + "\n  ".join(lines) + "\n}\n")
    return factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start(), certs


def _client_context(certs: dict[str, str], *, ca: str = "ca", with_cert: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certs[ca])
    if with_cert:
        ctx.load_cert_chain(certs["client_cert"], certs["client_key"])
    return ctx


async def _round_trip(url: str, ctx: ssl.SSLContext, **options: object) -> bytes:
    nc = await nats.connect(url, tls=ctx, allow_reconnect=False, max_reconnect_attempts=0, **options)  # type: ignore[arg-type]
    try:
        sub = await nc.subscribe("tls.check")
        await nc.publish("tls.check", b"over TLS")
        return (await sub.next_msg(timeout=5)).data
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_client_certificates_verified(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    proc, certs = _start(server_factory, kind, tmp_path, verify=True)
    host, port = proc.url.split("://")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        info = json.loads(sock.recv(4096).split(b" ", 1)[1])
        assert (info["tls_required"], info["tls_verify"]) == (True, True)
    assert proc.url.startswith("tls://")  # the ports file names the scheme, as nats-server writes it
    assert await _round_trip(proc.url, _client_context(certs)) == b"over TLS"
    for ctx in (_client_context(certs, with_cert=False), _client_context(certs, ca="other_ca")):
        with pytest.raises((NatsError, OSError, ssl.SSLError)):
            await _round_trip(proc.url, ctx)
    # A plain client is not served: nothing is answered in plain text.
    with pytest.raises((NatsError, OSError)):
        await nats.connect(proc.url, allow_reconnect=False, max_reconnect_attempts=0, connect_timeout=2)


@pytest.mark.parametrize("kind", KINDS)
async def test_without_verify_any_client_that_trusts_the_server(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    proc, certs = _start(server_factory, kind, tmp_path, verify=False)
    assert await _round_trip(proc.url, _client_context(certs, with_cert=False)) == b"over TLS"


@pytest.mark.parametrize("kind", KINDS)
async def test_handshake_first(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    proc, certs = _start(server_factory, kind, tmp_path, verify=False, first=True)
    assert (
        await _round_trip(proc.url, _client_context(certs, with_cert=False), tls_handshake_first=True)
        == b"over TLS"
    )


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("sends", [b"", b'CONNECT {"verbose":false}\r\nPING\r\n'])
def test_a_plain_client_is_closed_unserved(
    kind: str, sends: bytes, server_factory: Factory, tmp_path: Path
) -> None:
    """Silence past the TLS timeout, or plain-text protocol: closed, nothing served in plain text."""
    proc, _ = _start(server_factory, kind, tmp_path, verify=False)
    host, port = proc.url.split("://")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        assert sock.recv(4096).startswith(b"INFO ")
        sock.sendall(sends)
        data = b""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    assert b"PONG" not in data and b"+OK" not in data


@pytest.mark.parametrize("kind", KINDS)
def test_https_monitoring(kind: str, server_factory: Factory, tmp_path: Path) -> None:
    """``https_port``: monitoring over TLS with the client port's certificate, no client certificate asked."""
    import urllib.request

    certs = make_test_certificates(str(tmp_path))
    conf = tmp_path / "https.conf"
    conf.write_text(
        f"tls {{ cert_file: {certs['server_cert']!r}, key_file: {certs['server_key']!r},"
        f" ca_file: {certs['ca']!r}, verify: true }}\nhttps_port: -1\n"
    )
    proc = server_factory(kind=kind, jetstream=False, monitor=False, extra_args=["-c", str(conf)]).start()
    assert proc.monitor_url.startswith("https://127.0.0.1:")
    ctx = ssl.create_default_context(cafile=certs["ca"])
    with urllib.request.urlopen(proc.monitor_url + "/varz", context=ctx, timeout=5) as r:
        varz = json.loads(r.read())
    assert varz["https_port"] == -1 and varz["tls_required"] is True
    plain = proc.monitor_url.replace("https://", "http://") + "/varz"
    with pytest.raises(OSError):
        urllib.request.urlopen(plain, timeout=5).read()


@pytest.mark.parametrize("kind", KINDS)
def test_https_needs_a_certificate_and_excludes_http(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    certs = make_test_certificates(str(tmp_path))
    tls = f"tls {{ cert_file: {certs['server_cert']!r}, key_file: {certs['server_key']!r} }}\n"
    for i, (text, message) in enumerate(
        [
            ("https_port: -1\n", "TLS cert and key required for HTTPS"),
            (tls + "https_port: -1\nhttp_port: -1\n", "can't specify both HTTP"),
        ]
    ):
        conf = tmp_path / f"bad{i}.conf"
        conf.write_text(text)
        proc = server_factory(kind=kind, jetstream=False, monitor=False, extra_args=["-c", str(conf)])
        with pytest.raises(RuntimeError, match=message):
            proc.start(timeout=10)
