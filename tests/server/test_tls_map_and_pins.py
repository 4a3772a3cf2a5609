"""TLS ``verify_and_map`` and ``pinned_certs``, on Orlop and nats-server with the same files.

``verify_and_map``: the client certificate names the user (an e-mail SAN, or the subject as a
distinguished name), and that user's permissions apply; a certificate naming nobody is
refused with ``-ERR 'Authorization Violation'``. ``pinned_certs``: only certificates whose
public key (SHA-256 of the DER SubjectPublicKeyInfo) is listed are served, others are closed
right after the handshake (nats-server's TestTLSPinnedCertsClient).
"""

from __future__ import annotations

import hashlib
import json
import socket
import ssl
from pathlib import Path

import nats
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from nats.errors import Error as NatsError
from tests.server.rawclient import read_until, until_closed

from orlop.testing import KINDS, ServerProcess, make_test_certificates

Factory = type[ServerProcess]


def _tls_block(certs: dict[str, str], extra: str) -> str:
    return (
        f"tls {{\n  cert_file: {certs['server_cert']!r}\n  key_file: {certs['server_key']!r}\n"
        f"  ca_file: {certs['ca']!r}\n  {extra}\n}}\n"
    )


def _context(certs: dict[str, str], who: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=certs["ca"])
    if who is not None:
        ctx.load_cert_chain(certs[f"{who}_cert"], certs[f"{who}_key"])
    return ctx


def _tls_raw(url: str, ctx: ssl.SSLContext) -> tuple[ssl.SSLSocket, dict[str, object]]:
    """A raw client: INFO in plain text, then the handshake, as NATS clients do it."""
    host, port = url.split("://")[1].rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    info = json.loads(read_until(sock, b"\r\n").split(b" ", 1)[1])
    return ctx.wrap_socket(sock, server_hostname=host), info


MAP_USERS = """
authorization {
  users: [
    { user: "alice@example.com", permissions: { publish: "alice.>", subscribe: ["alice.>", "_INBOX.>"] } }
    { user: "CN=bob,OU=eng,O=Acme" }
  ]
}
"""


@pytest.mark.parametrize("kind", KINDS)
def test_verify_and_map_names_the_user_from_the_certificate(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    certs = make_test_certificates(str(tmp_path))
    conf = tmp_path / "map.conf"
    conf.write_text(_tls_block(certs, "verify_and_map: true") + MAP_USERS)
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()

    alice, info = _tls_raw(proc.url, _context(certs, "email"))
    assert (info["tls_required"], info["tls_verify"], info.get("auth_required")) == (True, True, True)
    # No user or password is sent: the certificate is the credential, and its permissions apply.
    alice.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nSUB alice.in 1\r\nSUB bob.in 2\r\nPING\r\n')
    assert read_until(alice, b"PONG\r\n") == (
        b"-ERR 'Permissions Violation for Subscription to \"bob.in\"'\r\nPONG\r\n"
    )
    alice.sendall(b"PUB alice.in 2\r\nhi\r\nPUB bob.in 2\r\nno\r\nPING\r\n")
    assert read_until(alice, b"PONG\r\n") == (
        b"MSG alice.in 1 2\r\nhi\r\n-ERR 'Permissions Violation for Publish to \"bob.in\"'\r\nPONG\r\n"
    )

    bob, _ = _tls_raw(proc.url, _context(certs, "dn"))  # mapped by its subject's attributes
    bob.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n')
    bob.sendall(b"SUB bob.in 1\r\nPUB bob.in 2\r\nok\r\nPING\r\n")
    assert read_until(bob, b"PONG\r\n") == b"MSG bob.in 1 2\r\nok\r\nPONG\r\n"

    nobody, _ = _tls_raw(proc.url, _context(certs, "client"))  # CN=client names no user
    nobody.sendall(b'CONNECT {"verbose":false,"pedantic":false,"user":"alice@example.com"}\r\nPING\r\n')
    assert until_closed(nobody).startswith(b"-ERR 'Authorization Violation'\r\n")
    for s in (alice, bob, nobody):
        s.close()
    # Without a certificate there is no handshake at all.
    host, port = proc.url.split("://")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as plain:
        read_until(plain, b"\r\n")
        # TLS 1.3 reports the refusal on the first read, not in the handshake.
        with (
            pytest.raises((ssl.SSLError, OSError)),
            _context(certs, None).wrap_socket(plain, server_hostname=host) as s,
        ):
            s.sendall(b"PING\r\n")
            s.recv(100)


def _pin(cert_file: str) -> str:
    cert = x509.load_pem_x509_certificate(Path(cert_file).read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).hexdigest()


@pytest.mark.parametrize("kind", KINDS)
async def test_pinned_certs_serve_only_the_pinned_keys(
    kind: str, server_factory: Factory, tmp_path: Path
) -> None:
    certs = make_test_certificates(str(tmp_path))
    pins = f'pinned_certs: ["{_pin(certs["client_cert"]).upper()}", "{_pin(certs["dn_cert"])}"]'
    conf = tmp_path / "pins.conf"
    conf.write_text(_tls_block(certs, "verify: true\n  " + pins))
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    for who in ("client", "dn"):
        nc = await nats.connect(proc.url, tls=_context(certs, who), allow_reconnect=False)
        sub = await nc.subscribe("pinned")
        await nc.publish("pinned", who.encode())
        assert (await sub.next_msg(timeout=5)).data == who.encode()
        await nc.close()
    # Signed by the same CA, but its key is not pinned: the handshake succeeds, then nothing.
    sock, _ = _tls_raw(proc.url, _context(certs, "email"))
    with sock:
        sock.sendall(b'CONNECT {"verbose":false}\r\nPING\r\n')
        assert b"PONG" not in until_closed(sock)
    # nats-py either fails in connect or returns from it (TLS 1.3 finishes on the client's side
    # first) and is cut off at once: a race of the client's, either way no usable connection.
    try:
        nc = await nats.connect(proc.url, tls=_context(certs, "email"), allow_reconnect=False)
    except (NatsError, OSError):
        return
    with pytest.raises(NatsError):
        await nc.flush(timeout=2)
    assert not nc.is_connected
    await nc.close()
