"""Connecting as nats-server's secured deployments require: NKEY users and TLS with client certificates.

NKEY logins and TLS run on both servers; operator-mode ``.creds`` on nats-server (Orlop's
server gains operator mode later in the Security I issue): the CLI logs in with an NKEY
seed file (``--nkey``), verifies the server with a CA and
presents a client certificate (``--tls-ca --tls-cert --tls-key``), and fails with one
clear line when either is missing.
"""

from __future__ import annotations

import os
from pathlib import Path

import nkeys
from clitools import Cli, error_line
from tests.natsjwt import operator_setup

from orlop.testing import ServerProcess, make_test_certificates


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


def test_tls_with_a_client_certificate(
    server: ServerProcess, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    files = make_test_certificates(str(tmp_path))
    conf = tmp_path / "tls.conf"
    conf.write_text(
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
        f"tls {{ cert_file: {files['server_cert']!r}, key_file: {files['server_key']!r},"
        f" ca_file: {files['ca']!r}, verify: true }}\n"
    )
    srv = server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    cli = Cli(srv.url)
    tls = ["--tls-ca", files["ca"], "--tls-cert", files["client_cert"], "--tls-key", files["client_key"]]
    made = cli(*tls, "add", "secure", "--json")
    assert made.returncode == 0, made.stderr
    data = os.urandom(3_000_000)  # many chunks, frames bigger than one TLS record
    cli_put = cli(*tls, "put", "secure", "--name", "x", stdin=data)
    assert cli_put.returncode == 0, cli_put.stderr
    assert cli(*tls, "get", "secure", "x", "-O", "-").stdout == data
    no_cert = cli("--tls-ca", files["ca"], "ls")
    # Refused by the server (exit 5, one line). Whether the client reads the server's
    # "certificate required" alert before the connection drops is a race in nats-py.
    assert no_cert.returncode == 5
    error_line(no_cert)
    untrusted = cli("--tls-cert", files["client_cert"], "--tls-key", files["client_key"], "ls")
    assert untrusted.returncode == 5 and "TLS" in error_line(untrusted)


def test_creds_file_in_operator_mode(
    server: ServerProcess, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    conf_text, creds = operator_setup(str(tmp_path / "js"))
    conf = tmp_path / "operator.conf"
    conf.write_text(conf_text)
    (tmp_path / "ann.creds").write_bytes(creds)
    srv = server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    cli = Cli(srv.url)
    made = cli("--creds", str(tmp_path / "ann.creds"), "add", "jwt-bucket", "--json")
    assert made.returncode == 0, made.stderr
    listed = cli("--creds", str(tmp_path / "ann.creds"), "ls", "-n")
    assert listed.stdout.decode().split() == ["jwt-bucket"], listed.stderr
    anonymous = cli("ls")
    assert anonymous.returncode == 6 and "refused the credentials" in error_line(anonymous)
