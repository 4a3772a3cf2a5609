"""The S3 API's configuration: ``[s3]`` in the gateway's TOML, each access key mapped to NATS
credentials so the NATS server's permissions decide (a refusal is AccessDenied), and the
rule that keys acting as the gateway's own NATS identity need a loopback listener."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from tests.s3.s3helpers import free_port, make_client

from orlop.errors import ConfigError
from orlop.gateway import GatewayConfig, load_config
from orlop.gateway.s3.config import apply_flags
from orlop.objects.roles import role_permissions
from orlop.testing import KINDS, GatewayProcess, ServerProcess


def test_toml_keys_and_flags(tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    conf.write_text(
        '[s3]\nlisten = "127.0.0.1:9100"\ndomain = "s3.example.test"\n'
        '[[s3.keys]]\naccess_key = "ci"\nsecret_key = "cs"\nuser = "ci"\npassword = "pw"\n'
        '[[s3.keys]]\naccess_key = "tok"\nsecret_key = "ts"\ntoken = "t0k"\n'
    )
    config = load_config(str(conf), GatewayConfig())
    s3 = apply_flags(config.s3, None, None, None, source=str(conf))
    assert s3 is not None and (s3.host, s3.port) == ("127.0.0.1", 9100)
    assert s3.domains == ("localhost", "s3.example.test")
    assert [(k.access_key, k.credentials and k.credentials.user) for k in s3.keys] == [
        ("ci", "ci"),
        ("tok", ""),
    ]
    again = apply_flags(s3, "127.0.0.1:9200", "cli", "clisecret")
    assert again is not None and again.port == 9200 and again.keys[0].credentials is None
    assert apply_flags(None, None, None, None) is None


@pytest.mark.parametrize(
    ("toml", "flags", "message"),
    [
        ("", ("127.0.0.1:9000", None, None), "needs an access key"),
        ("", ("127.0.0.1:9000", "key", None), "go together"),
        ("", ("10.1.2.3:9000", "key", "secret"), "only when the S3 API listens on loopback"),
        (
            '[s3]\nlisten = "10.1.2.3:9000"\n[[s3.keys]]\naccess_key = "a"\nsecret_key = "b"\n',
            (None, None, None),
            "loopback",
        ),
        ('[s3]\nlisten = "127.0.0.1:9000"\nkeys = [{access_key = "a"}]\n', (None, None, None), "required"),
        ('[s3]\nlisten = "127.0.0.1:9000"\nport = 3\n', (None, None, None), "unknown setting"),
    ],
)
def test_bad_configurations(tmp_path: Path, toml: str, flags: tuple[Any, Any, Any], message: str) -> None:
    config = GatewayConfig()
    with pytest.raises(ConfigError, match=message):
        if toml:
            conf = tmp_path / "gw.toml"
            conf.write_text(toml)
            load_config(str(conf), config)
        apply_flags(config.s3, *flags, source=config.config_file)


@pytest.fixture(params=KINDS)
def secured(
    request: pytest.FixtureRequest, server_factory: type[ServerProcess], tmp_path: Path
) -> ServerProcess:
    admin = json.dumps(role_permissions("admin", "*"))
    reader = json.dumps(role_permissions("read-only", "docs"))
    conf = tmp_path / "users.conf"
    conf.write_text(
        f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n"
        "authorization { users: [\n"
        f"  {{ user: admin, password: adminpw, permissions: {admin} }}\n"
        f"  {{ user: reader, password: readpw, permissions: {reader} }}\n"
        "] }\n"
    )
    return server_factory(kind=request.param, jetstream=False, extra_args=["-c", str(conf)]).start()


def test_keys_map_to_nats_users(secured: ServerProcess, tmp_path: Path) -> None:
    conf = tmp_path / "gw.toml"
    keys = [
        ("admin-key", "admin-secret", "admin", "adminpw"),
        ("reader-key", "reader-secret", "reader", "readpw"),
    ]
    keys.append(("stale-key", "stale-secret", "admin", "old"))
    conf.write_text(
        'auth = "passthrough"\n[s3]\nlisten = "127.0.0.1:0"\n'
        + "".join(
            f'[[s3.keys]]\naccess_key = "{a}"\nsecret_key = "{s}"\nuser = "{u}"\npassword = "{p}"\n'
            for a, s, u, p in keys
        )
    )
    gw = GatewayProcess(secured.url, args=["-c", str(conf)]).start(tmp_path)
    try:
        url = f"http://127.0.0.1:{gw.s3_port}"
        admin = make_client(url, "admin-key", "admin-secret")
        reader = make_client(url, "reader-key", "reader-secret")
        admin.create_bucket(Bucket="docs")
        admin.put_object(Bucket="docs", Key="plan.txt", Body=b"plans")
        assert reader.get_object(Bucket="docs", Key="plan.txt")["Body"].read() == b"plans"
        for refused in (
            lambda: reader.put_object(Bucket="docs", Key="plan.txt", Body=b"mine now"),
            lambda: reader.delete_object(Bucket="docs", Key="plan.txt"),
            lambda: reader.create_bucket(Bucket="other"),
            lambda: make_client(url, "stale-key", "stale-secret").list_buckets(),
        ):
            with pytest.raises(ClientError) as denied:
                refused()
            assert denied.value.response["Error"]["Code"] == "AccessDenied"
            assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert admin.get_object(Bucket="docs", Key="plan.txt")["Body"].read() == b"plans"
    finally:
        gw.stop()


def test_cli_refuses_an_s3_api_without_a_key(capsys: pytest.CaptureFixture[str]) -> None:
    from orlop.cli.gateway import run

    assert run(["--s3-listen", "127.0.0.1:9000", "-s", "nats://127.0.0.1:4222"], "orlop") == 1
    assert "needs an access key" in capsys.readouterr().err


def test_cli_reports_an_s3_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    from orlop.cli.gateway import run

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        args = ["--listen", f"127.0.0.1:{free_port()}", "-s", "nats://127.0.0.1:4222"]
        args += ["--s3-listen", f"127.0.0.1:{port}", "--s3-access-key", "k", "--s3-secret-key", "s"]
        assert run(args, "orlop") == 1
    assert f"the S3 API cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_upload_expiry_from_the_flag_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--s3-upload-expiry`` (or ORLOP_S3_UPLOAD_EXPIRY) sets how long abandoned uploads are kept."""
    config = apply_flags(None, "127.0.0.1:9000", "k", "s", upload_expiry="90m")
    assert config is not None and config.upload_expiry == 90 * 60
    monkeypatch.setenv("ORLOP_S3_UPLOAD_EXPIRY", "2h")
    config = apply_flags(None, "127.0.0.1:9000", "k", "s")
    assert config is not None and config.upload_expiry == 2 * 3600
    with pytest.raises(ConfigError):
        apply_flags(None, "127.0.0.1:9000", "k", "s", upload_expiry="soon")


def test_cli_refuses_a_bad_upload_expiry(capsys: pytest.CaptureFixture[str]) -> None:
    from orlop.cli.gateway import run

    args = ["-s", "nats://127.0.0.1:4222", "--s3-listen", "127.0.0.1:9000"]
    args += ["--s3-access-key", "k", "--s3-secret-key", "s", "--s3-upload-expiry", "soon"]
    assert run(args, "orlop") == 1
    assert "--s3-upload-expiry" in capsys.readouterr().err
