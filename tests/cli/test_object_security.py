"""Connecting as nats-server's secured deployments require: NKEY users and TLS with client certificates.

NKEY logins run on both servers; TLS and operator-mode ``.creds`` on nats-server (Orlop's
server gains them with the rest of the Security I issue): the CLI logs in with an NKEY
seed file (``--nkey``), verifies the server with a CA and
presents a client certificate (``--tls-ca --tls-cert --tls-key``), and fails with one
clear line when either is missing.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import nkeys
from clitools import Cli, error_line
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from natsjwt import operator_setup

from orlop.testing import ServerProcess


def test_nkey_login(server: ServerProcess, server_factory: type[ServerProcess], tmp_path: Path) -> None:
    seed = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    public = nkeys.from_seed(seed).public_key.decode()
    (tmp_path / "user.nk").write_bytes(seed + b"\n")
    conf = tmp_path / "nkeys.conf"
    store = str(tmp_path / "js")
    users = f"authorization {{ users: [ {{nkey: {public}}} ] }}"
    conf.write_text(f"jetstream {{ store_dir: {store!r} }}\n{users}\n")
    srv = server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    cli = Cli(srv.url)
    ok = cli("--nkey", str(tmp_path / "user.nk"), "add", "signed", "--json")
    assert ok.returncode == 0, ok.stderr
    refused = cli("ls")
    assert refused.returncode == 6 and "refused the credentials" in error_line(refused)
    missing = cli("--nkey", str(tmp_path / "nope.nk"), "ls")
    assert missing.returncode == 1 and "no such file" in error_line(missing)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
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
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


def _write(
    path: Path, cert: x509.Certificate | None = None, key: ec.EllipticCurvePrivateKey | None = None
) -> str:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return str(path)


def test_tls_with_a_client_certificate(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    ca_key = _key()
    ca = _cert("Test CA", ca_key, None, ca=True)
    server_key, client_key = _key(), _key()
    files = {
        "ca": _write(tmp_path / "ca.pem", ca),
        "server_cert": _write(
            tmp_path / "server.pem", _cert("server", server_key, (ca, ca_key), server=True)
        ),
        "server_key": _write(tmp_path / "server-key.pem", key=server_key),
        "client_cert": _write(tmp_path / "client.pem", _cert("client", client_key, (ca, ca_key))),
        "client_key": _write(tmp_path / "client-key.pem", key=client_key),
    }
    conf = tmp_path / "tls.conf"
    conf.write_text(
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
        f"tls {{ cert_file: {files['server_cert']!r}, key_file: {files['server_key']!r},"
        f" ca_file: {files['ca']!r}, verify: true }}\n"
    )
    srv = server_factory(kind="nats-server", jetstream=False, extra_args=["-c", str(conf)]).start()
    cli = Cli(srv.url)
    tls = ["--tls-ca", files["ca"], "--tls-cert", files["client_cert"], "--tls-key", files["client_key"]]
    made = cli(*tls, "add", "secure", "--json")
    assert made.returncode == 0, made.stderr
    cli_put = cli(*tls, "put", "secure", "--name", "x", stdin=b"over TLS")
    assert cli_put.returncode == 0, cli_put.stderr
    assert cli(*tls, "get", "secure", "x", "-O", "-").stdout == b"over TLS"
    no_cert = cli("--tls-ca", files["ca"], "ls")
    assert no_cert.returncode == 5
    assert "certificate" in error_line(no_cert)
    untrusted = cli("--tls-cert", files["client_cert"], "--tls-key", files["client_key"], "ls")
    assert untrusted.returncode == 5 and "TLS" in error_line(untrusted)


def test_creds_file_in_operator_mode(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    conf_text, creds = operator_setup(str(tmp_path / "js"))
    conf = tmp_path / "operator.conf"
    conf.write_text(conf_text)
    (tmp_path / "ann.creds").write_bytes(creds)
    srv = server_factory(kind="nats-server", jetstream=False, extra_args=["-c", str(conf)]).start()
    cli = Cli(srv.url)
    made = cli("--creds", str(tmp_path / "ann.creds"), "add", "jwt-bucket", "--json")
    assert made.returncode == 0, made.stderr
    listed = cli("--creds", str(tmp_path / "ann.creds"), "ls", "-n")
    assert listed.stdout.decode().split() == ["jwt-bucket"], listed.stderr
    anonymous = cli("ls")
    assert anonymous.returncode == 6 and "refused the credentials" in error_line(anonymous)
