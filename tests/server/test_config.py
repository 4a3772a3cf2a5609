"""The nats-server configuration syntax and its mapping onto ServerOptions.

Pure tests feed text to ``parse_config``; the last tests start nats-server and Orlop
with the same file and check that both listen and authenticate as the file says.
"""

from __future__ import annotations

import datetime
import json
import logging
import subprocess
import sys
import urllib.request
from pathlib import Path

import nats
import pytest

from orlop.errors import ConfigError
from orlop.server.config import (
    go_duration_text,
    load_config,
    options_from_config,
    parse_config,
    parse_duration,
    parse_size,
)
from orlop.server.options import ServerOptions
from orlop.testing import KINDS


def conf(text: str, **env: str) -> dict[str, object]:
    return dict(parse_config(text, env=env))


# --- key/value separators, comments, blocks -------------------------------------------------


@pytest.mark.parametrize("line", ["port: 4333", "port = 4333", "port 4333", "port:4333", "  port\t=\t4333  "])
def test_separators(line: str) -> None:
    assert conf(line) == {"port": 4333}


def test_comments_hash_and_slash() -> None:
    text = "# a comment\n// another\nport: 1 # trailing\nhost: a // trailing too\n"
    assert conf(text) == {"port": 1, "host": "a"}


def test_semicolons_and_commas_end_values() -> None:
    assert conf("a: 1; b: 2, c: 3") == {"a": 1, "b": 2, "c": 3}


def test_nested_maps_with_and_without_separator() -> None:
    text = "jetstream {\n  store_dir: /data\n  limits: { max: 1 }\n}\nauth = { user: u }\n"
    assert conf(text) == {"jetstream": {"store_dir": "/data", "limits": {"max": 1}}, "auth": {"user": "u"}}


def test_arrays_multiline_and_mixed() -> None:
    text = 'xs: [1, "two", three, [4], {five: 5}]\nys: [\n  a\n  b, # c\n]\n'
    assert conf(text) == {"xs": [1, "two", "three", [4], {"five": 5}], "ys": ["a", "b"]}


def test_braces_around_whole_file() -> None:
    assert conf("{\n port: 4333\n}\n") == {"port": 4333}


def test_quoted_keys() -> None:
    assert conf("\"my key\": 1\n'other': 2") == {"my key": 1, "other": 2}


def test_last_assignment_wins() -> None:
    assert conf("port: 1\nport: 2") == {"port": 2}


# --- strings ---------------------------------------------------------------------------------


def test_double_quoted_escapes() -> None:
    assert conf(r'''s: "tab\tnl\nq\"b\\x\x41"''') == {"s": 'tab\tnl\nq"b\\xA'}


def test_single_quoted_is_raw() -> None:
    assert conf(r"s: 'no\tescape # not a comment'") == {"s": r"no\tescape # not a comment"}


def test_bare_strings_and_host_ports() -> None:
    assert conf("a: localhost:4222\nb: 127.0.0.1:-1\nc: 0.0.0.0\nd: /var/lib/nats") == {
        "a": "localhost:4222",
        "b": "127.0.0.1:-1",
        "c": "0.0.0.0",
        "d": "/var/lib/nats",
    }


def test_block_string() -> None:
    assert conf("b (\nline one\nline two\n)\n") == {"b": "\nline one\nline two"}


def test_invalid_escape_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"<config>:1: invalid escape"):
        conf(r's: "\q"')


# --- numbers, sizes, booleans, datetimes ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1k", 1000),
        ("1K", 1000),
        ("1kb", 1024),
        ("1KB", 1024),
        ("1ki", 1024),
        ("1KiB", 1024),
        ("512MB", 512 * 1024**2),
        ("2m", 2_000_000),
        ("1G", 10**9),
        ("1GB", 1024**3),
        ("1gib", 1024**3),
        ("1T", 10**12),
        ("1TB", 1024**4),
        ("-1", -1),
        ("0", 0),
        ("9223372036854775807", 2**63 - 1),
    ],
)
def test_integers_and_size_suffixes(text: str, value: int) -> None:
    assert conf(f"v: {text}") == {"v": value}


def test_unit_words_that_are_not_sizes_are_strings() -> None:
    assert conf("a: 30s\nb: 1h30m\nc: 10ms\nd: 4222abc") == {
        "a": "30s",
        "b": "1h30m",
        "c": "10ms",
        "d": "4222abc",
    }


def test_floats() -> None:
    assert conf("a: 1.5\nb: -0.25") == {"a": 1.5, "b": -0.25}


def test_integer_out_of_range() -> None:
    with pytest.raises(ConfigError, match="out of range"):
        conf("v: 9223372036854775808")


def test_unknown_size_suffix_is_an_error() -> None:
    with pytest.raises(ConfigError, match="unknown size suffix"):
        conf("v: 1kbb")


@pytest.mark.parametrize(
    ("word", "value"),
    [
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("false", False),
        ("No", False),
        ("off", False),
    ],
)
def test_booleans(word: str, value: bool) -> None:
    assert conf(f"v: {word}") == {"v": value}


def test_quoted_boolean_word_stays_a_string() -> None:
    assert conf('v: "true"') == {"v": "true"}


def test_zulu_datetime() -> None:
    assert conf("t: 2024-01-02T03:04:05Z") == {
        "t": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    }


# --- variables and includes --------------------------------------------------------------------


def test_variables_from_the_file_are_scoped() -> None:
    text = "PASS: outer\nauthorization {\n  PASS: inner\n  password: $PASS\n}\ntoken: $PASS\n"
    c = conf(text)
    assert c["authorization"] == {"PASS": "inner", "password": "inner"}
    assert c["token"] == "outer"


def test_variables_from_the_environment_are_parsed_as_values() -> None:
    assert conf("port: $P\nname: $N\nsize: $S", P="4333", N="edge", S="1KB") == {
        "port": 4333,
        "name": "edge",
        "size": 1024,
    }


def test_file_variables_shadow_the_environment() -> None:
    assert conf("P: 1\nport: $P", P="2")["port"] == 1


def test_missing_variable_reports_the_line() -> None:
    with pytest.raises(ConfigError, match=r"<config>:3: variable reference \$NOPE"):
        conf("a: 1\n\nb: $NOPE\n")


def test_bcrypt_hash_is_not_a_variable() -> None:
    assert conf("p: $2a$11$abcdef")["p"] == "$2a$11$abcdef"


def test_include_is_relative_to_the_including_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "auth.conf").write_text('include "more.conf"\nuser: alice\n')
    (tmp_path / "sub" / "more.conf").write_text("password: secret\n")
    main = tmp_path / "main.conf"
    main.write_text("port: 4333\nauthorization {\n  include 'sub/auth.conf'\n}\n")
    c = load_config(str(main))
    assert c == {"port": 4333, "authorization": {"password": "secret", "user": "alice"}}


def test_include_errors_name_the_included_file(tmp_path: Path) -> None:
    (tmp_path / "bad.conf").write_text("ok: 1\nbroken: [1, 2\n")
    main = tmp_path / "main.conf"
    main.write_text("include bad.conf\n")
    with pytest.raises(ConfigError, match=r"bad\.conf:\d+: unexpected end of file inside an array"):
        load_config(str(main))


def test_include_cycle_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("include b.conf\n")
    (tmp_path / "b.conf").write_text("include a.conf\n")
    with pytest.raises(ConfigError, match="nested deeper"):
        load_config(str(tmp_path / "a.conf"))


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read configuration file"):
        load_config(str(tmp_path / "nope.conf"))


# --- syntax errors carry file:line -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("a: 1\nb: {\n c: 1\n", 4, "missing '}'"),
        ("a: 1\nb: [1,,2]\n", 2, "unexpected ','"),
        ("a: 1\nb:\n", 2, "expected a value"),
        ("a: 1 2\n", 1, "expected a new line"),
        ('a: "open\n', 2, "unterminated string"),
        ("a: .5\n", 1, "floats must start with a digit"),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        conf(text)
    assert str(info.value).startswith(f"<config>:{line}:")
    assert message in str(info.value)


def test_load_config_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.conf"
    path.write_text("port: 1\nport: [\n")
    with pytest.raises(ConfigError, match=rf"{path}:\d+:"):
        load_config(str(path))


# --- conversions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2m", 120.0),
        ("30s", 30.0),
        ("1h30m", 5400.0),
        ("500ms", 0.5),
        ("1.5s", 1.5),
        ("0", 0.0),
        ("-1s", -1.0),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "2", "2x", "m", "1h 2m"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_size() -> None:
    assert parse_size("1GB") == 1024**3
    assert parse_size("10k") == 10_000
    with pytest.raises(ValueError):
        parse_size("lots")


# --- mapping onto ServerOptions ------------------------------------------------------------------


FULL = """
listen: 127.0.0.2:4333
server_name: edge-1
http: "127.0.0.3:-1"
max_payload: 2MB
max_connections: 100
ping_interval: "30s"
ping_max: 5
ports_file_dir: /tmp/ports
debug: true
trace: false
logfile: /tmp/orlop.log
authorization { user: alice, password: "s3cret" }
jetstream {
  store_dir: "/srv/js"
  max_memory_store: 1GB
  max_file_store: 10G
  sync_interval: "1m"
}
"""


def test_options_from_a_full_config() -> None:
    o = options_from_config(parse_config(FULL), ServerOptions(jetstream=False))
    assert (o.host, o.port, o.http_host, o.http_port) == ("127.0.0.2", 4333, "127.0.0.3", -1)
    assert (o.server_name, o.max_payload, o.max_connections) == ("edge-1", 2 * 1024**2, 100)
    assert (o.ping_interval, o.max_pings_out, o.ports_file_dir) == (30.0, 5, "/tmp/ports")
    assert (o.debug, o.trace, o.log_file) == (True, False, "/tmp/orlop.log")
    assert (o.auth.user, o.auth.password, o.auth.token) == ("alice", "s3cret", "")
    assert o.jetstream and o.store_dir == "/srv/js"
    assert (o.max_memory_store, o.max_file_store, o.sync_interval) == (1024**3, 10**9 * 10, 60.0)
    assert not o.sync_always


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("jetstream: true", True),
        ("jetstream: enabled", True),
        ("jetstream: disabled", False),
        ("jetstream: false", False),
        ("jetstream {}", True),
        ("jetstream { enabled: false }", False),
    ],
)
def test_jetstream_forms(text: str, enabled: bool) -> None:
    assert options_from_config(parse_config(text), ServerOptions(jetstream=not enabled)).jetstream is enabled


def test_sync_interval_always() -> None:
    o = options_from_config(parse_config("jetstream { sync_interval: always }"), ServerOptions())
    assert o.sync_always


def test_keys_are_case_insensitive_and_aliases_work() -> None:
    o = options_from_config(
        parse_config("PORT: 1\nNet: 127.0.0.9\nmonitor_port: 8333\nmax_conn: 7"), ServerOptions()
    )
    assert (o.port, o.host, o.http_host) == (1, "127.0.0.9", "127.0.0.9")
    assert (o.http_port, o.max_connections) == (8333, 7)


def test_http_host_follows_the_client_host_unless_given() -> None:
    o = options_from_config(parse_config("listen: 127.0.0.5:1\nhttp_port: 2"), ServerOptions())
    assert (o.http_host, o.http_port) == ("127.0.0.5", 2)
    o = options_from_config(parse_config("listen: 127.0.0.5:1\nhttp: 127.0.0.6:2"), ServerOptions())
    assert (o.http_host, o.http_port) == ("127.0.0.6", 2)


def test_token_authorization_and_integer_durations() -> None:
    o = options_from_config(parse_config("authorization { token: t0k }\nping_interval: 5"), ServerOptions())
    assert (o.auth.token, o.ping_interval) == ("t0k", 5.0)


def test_wrong_type_names_file_line_and_key() -> None:
    with pytest.raises(ConfigError, match=r"<config>:2: port: expected an integer"):
        options_from_config(parse_config("a_var: 1\nport: [1]"), ServerOptions())
    with pytest.raises(ConfigError, match=r"<config>:1: ping_interval: expected a duration"):
        options_from_config(parse_config('ping_interval: "soon"'), ServerOptions())
    with pytest.raises(ConfigError, match=r"debug: expected true or false"):
        options_from_config(parse_config("debug: 3"), ServerOptions())


def test_unknown_and_unsupported_keys_warn(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="orlop.server.config"):
        o = options_from_config(
            parse_config("cluster { port: 1 }\nfoo: 1\nPORT_VAR: 9\nport: $PORT_VAR"), ServerOptions()
        )
    assert o.port == 9
    text = caplog.text
    assert "'cluster' is not supported" in text
    assert "unknown configuration key 'foo'" in text
    assert "PORT_VAR" not in text  # used as a variable: not a stray key


@pytest.mark.parametrize(
    "text",
    [
        "accounts { A { users: [{user: a, password: b}], exports: [ { service: x, latency: y.z } ] } }",
        "accounts { A { jetstream: { cluster_traffic: owner } } }",
        "tls { cert_file: x.pem, key_file: y.pem, cipher_suites: [TLS_AES_128_GCM_SHA256] }",
        "tls { cert_file: x.pem, key_file: y.pem, cert_store: WindowsCurrentUser }",
        "authorization { users: [{user: a, password: b, proxy_required: true}] }",
        "authorization { users: [{user: a, password: b, allowed_connection_types: [STANDARD]}] }",
        "authorization { auth_callout { issuer: x } }",
        "jetstream { tpm { keys_file: x } }",
        "jetstream { limits { max_ack_pending: 100 } }",
        "ocsp { mode: always }",
        "default_sentinel: abc",
        "resolver_tls { cert_file: x }",
        "proxies { trusted: [] }",
    ],
)
def test_security_settings_orlop_lacks_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match=r"<config>:1: .*not supported by Orlop"):
        options_from_config(parse_config(text), ServerOptions())


@pytest.mark.parametrize(
    ("text", "cipher", "key", "prev"),
    [
        ('jetstream { cipher: chachapoly, key: "s3cret" }', "chachapoly", "s3cret", ""),
        ('jetstream { cipher: ChaCha, ek: "s3cret" }', "chachapoly", "s3cret", ""),
        ('jetstream { cipher: AES, encryption_key: "new", prev_ek: "old" }', "aes", "new", "old"),
        ('jetstream { key: "new", prev_encryption_key: "old" }', "chachapoly", "new", "old"),
        ('jetstream { key: "new", prev_key: "old" }', "chachapoly", "new", "old"),
    ],
)
def test_encryption_at_rest_settings_in_every_spelling(text: str, cipher: str, key: str, prev: str) -> None:
    o = options_from_config(parse_config(text), ServerOptions())
    assert (o.jetstream_cipher, o.jetstream_key, o.jetstream_prev_key) == (cipher, key, prev)


def test_tls_block_as_nats_server_reads_it() -> None:
    from orlop.server.options import check_options

    o = options_from_config(
        parse_config(
            'tls { cert_file: "s.pem", key_file: "k.pem", ca_file: "ca.pem", verify: true, timeout: 3 }'
        ),
        ServerOptions(),
    )
    assert o.tls is not None and (o.tls.cert_file, o.tls.verify, o.tls.timeout) == ("s.pem", True, 3.0)
    missing = options_from_config(parse_config('tls { cert_file: "s.pem" }'), ServerOptions())
    with pytest.raises(ConfigError, match="missing 'key_file' in TLS configuration"):
        check_options(missing)


def test_nkey_user_entries_are_checked() -> None:
    with pytest.raises(ConfigError, match="Not a valid public nkey for a user"):
        options_from_config(parse_config("authorization { users: [{nkey: UABC}] }"), ServerOptions())
    import os

    import nkeys

    public = nkeys.from_seed(nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)).public_key.decode()
    with pytest.raises(ConfigError, match="Nkey users do not take usernames or passwords"):
        options_from_config(
            parse_config(f"authorization {{ users: [{{nkey: {public}, user: x}}] }}"), ServerOptions()
        )
    o = options_from_config(parse_config(f"authorization {{ users: [{{nkey: {public}}}] }}"), ServerOptions())
    assert o.auth.users is not None and o.auth.users[0].nkey == public


def test_users_and_permissions_are_read_as_nats_server_reads_them() -> None:
    from orlop.server.permissions import ResponsePermission, SubjectPermission

    o = options_from_config(
        parse_config(
            "authorization {\n"
            '  permissions: { publish: "_INBOX.>" }\n'
            "  users: [\n"
            "    { user: a, password: b,\n"
            '      permissions: { pub: ["x", "y.>"], sub: { allow: "z", deny: ["z.q q1"] } } }\n'
            "    { user: c, password: d }\n"
            '    { user: e, password: f, permissions: { allow_responses: { max: 3, expires: "5s" } } }\n'
            "  ]\n"
            "}\n"
            "no_auth_user: c\n"
        ),
        ServerOptions(),
    )
    users = {u.name: u for u in o.auth.users or []}
    assert o.auth.required and o.auth.no_auth_user == "c"
    a = users["a"].permissions
    assert a is not None and a.publish == SubjectPermission(allow=("x", "y.>"))
    assert a.subscribe == SubjectPermission(allow=("z",), deny=("z.q q1",))
    c = users["c"].permissions  # the block's permissions are the default
    assert c is not None and c.publish == SubjectPermission(allow=("_INBOX.>",))
    e = users["e"].permissions  # responses only: the blanket publish allow is off
    assert (
        e is not None
        and e.response == ResponsePermission(3, 5.0)
        and e.publish == SubjectPermission(allow=())
    )


def test_tpm_encryption_is_refused_by_the_server_not_ignored(tmp_path: Path) -> None:
    """A store the operator believes encrypted is never written in plaintext: the server does not start."""
    conf = tmp_path / "enc.conf"
    conf.write_text(f'jetstream {{ store_dir: "{tmp_path / "data"}", tpm {{ keys_file: "k" }} }}\n')
    out = subprocess.run(
        [sys.executable, "-m", "orlop", "serve", "-c", str(conf), "-p", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 1
    assert "jetstream.tpm (encryption at rest with a TPM) is not supported" in out.stderr
    assert not (tmp_path / "data").exists()


def test_protective_limits_are_read() -> None:
    o = options_from_config(
        parse_config(
            "max_subscriptions: 3\nmax_sub_tokens: 4\nauthorization { token: t, timeout: 0.5 }\n"
            "jetstream { store_reserve: 64MB }"
        ),
        ServerOptions(),
    )
    assert (o.max_subscriptions, o.max_sub_tokens, o.auth.timeout) == (3, 4, 0.5)
    assert o.store_reserve == 64 * 1024 * 1024
    o = options_from_config(parse_config("max_subs: 7\nmax_subscription_tokens: 2"), ServerOptions())
    assert (o.max_subscriptions, o.max_sub_tokens) == (7, 2)


# --- both servers read the same file -------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
async def test_both_servers_listen_and_authenticate_as_the_file_says(
    kind: str, tmp_path: Path, server_factory: type
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    conf_file = tmp_path / "server.conf"
    conf_file.write_text(
        "# the same file for nats-server and Orlop\n"
        "listen: 127.0.0.1:-1\n"
        f"ports_file_dir: '{data}'\n"
        'http: "127.0.0.1:-1"\n'
        "SECRET: pa55\n"
        "authorization {\n  user: cfguser\n  password: $SECRET\n}\n"
    )

    class FileOnly(server_factory):  # type: ignore[misc,valid-type]
        def command(self) -> list[str]:
            # Only the executable and -c: no -a/-p/--ports_file_dir, everything comes from the file.
            full: list[str] = super().command()
            return [*full[: full.index("-a")], "-c", str(conf_file)]

    proc = FileOnly(kind=kind, store_dir=str(data), jetstream=False, monitor=False)
    proc.start()
    host_port = proc.url.removeprefix("nats://")
    assert host_port.startswith("127.0.0.1:") and int(host_port.rsplit(":", 1)[1]) > 0
    assert proc.monitor_url.startswith("http://127.0.0.1:")
    nc = await nats.connect(f"nats://cfguser:pa55@{host_port}", allow_reconnect=False)
    try:
        assert nc.is_connected
    finally:
        await nc.close()
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(f"nats://cfguser:wrong@{host_port}", allow_reconnect=False, connect_timeout=2)


@pytest.mark.parametrize("kind", KINDS)
async def test_flags_override_the_file_and_file_limits_reach_clients(
    kind: str, tmp_path: Path, server_factory: type
) -> None:
    conf_file = tmp_path / "limits.conf"
    # port 1 would fail to bind: the harness's "-p -1" flag must win over the file.
    conf_file.write_text("listen: 127.0.0.1:1\nmax_payload: 512KB\nserver_name: from-file\n")
    proc = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf_file)]).start()
    assert int(proc.url.rsplit(":", 1)[1]) != 1
    nc = await nats.connect(proc.url)
    try:
        assert nc.max_payload == 512 * 1024
    finally:
        await nc.close()
    with urllib.request.urlopen(proc.monitor_url + "/varz", timeout=10) as resp:
        assert json.loads(resp.read())["server_name"] == "from-file"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (30, "30s"), (40, "40s"), (120, "2m0s"), (3725, "1h2m5s"), (1.5, "1.5s"), (0.25, "250ms")],
)
def test_go_duration_text_as_go_prints_it(seconds: float, text: str) -> None:
    assert go_duration_text(seconds) == text


def test_lame_duck_settings() -> None:
    opts = options_from_config(conf('lame_duck_duration: "1m"\nlame_duck_grace_period: 5'), ServerOptions())
    assert (opts.lame_duck_duration, opts.lame_duck_grace_period) == (60.0, 5.0)
    defaults = ServerOptions()
    assert (defaults.lame_duck_duration, defaults.lame_duck_grace_period) == (120.0, 10.0)  # nats-server's
    with pytest.raises(ConfigError, match="minimum is 30 seconds"):
        options_from_config(conf("lame_duck_duration: 29"), ServerOptions())
