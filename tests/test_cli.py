"""The ``orlop`` command line: nats-server's flags, defaults, errors, logging, multi-call name."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nats
import pytest

from orlop import __version__
from orlop.cli import build_options
from orlop.errors import ConfigError

ORLOP = [sys.executable, "-m", "orlop"]
LOG_LINE = re.compile(r"^\[(\d+)\] \d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6} \[(INF|DBG|TRC|WRN|ERR|FTL)\] .+")


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ORLOP, *args], capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_ports_file(directory: Path, proc: subprocess.Popen[str], prefix: str) -> dict[str, list[str]]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        path = directory / f"{prefix}_{proc.pid}.ports"
        if path.exists():
            try:
                return dict(json.loads(path.read_text()))
            except json.JSONDecodeError:
                pass
        time.sleep(0.05)
    raise AssertionError("no ports file")


# --- flags -> options (no server) ------------------------------------------------------------------


def test_bare_serve_is_the_just_works_mode() -> None:
    o, _ = build_options([])
    assert (o.host, o.port, o.http_host, o.http_port) == ("127.0.0.1", 4222, "127.0.0.1", 8222)
    assert o.jetstream and o.store_dir == "./orlop-data"


def test_any_argument_switches_to_nats_server_defaults() -> None:
    o, _ = build_options(["-p", "-1"])
    assert o.port == -1
    assert not o.jetstream and o.http_port == 0
    o, _ = build_options(["-sd", "/tmp/x"])
    assert not o.jetstream and o.store_dir == "/tmp/x"  # -sd alone does not enable JetStream


def test_harness_flags() -> None:
    o, _ = build_options(
        [
            "-a",
            "127.0.0.1",
            "-p",
            "-1",
            "-js",
            "-sd",
            "/d",
            "-m",
            "-1",
            "--ports_file_dir",
            "/p",
            "-n",
            "edge",
            "--sync-always",
        ]
    )
    assert (o.host, o.port, o.jetstream, o.store_dir, o.http_port) == ("127.0.0.1", -1, True, "/d", -1)
    assert (o.ports_file_dir, o.server_name, o.sync_always) == ("/p", "edge", True)


@pytest.mark.parametrize(
    ("flags", "debug", "trace"),
    [
        (["-D"], True, False),
        (["-V"], False, True),
        (["-DV"], True, True),
        (["--debug", "--trace"], True, True),
        (["-DVV"], True, True),
        (["-p", "1"], False, False),
    ],
)
def test_debug_and_trace_flags(flags: list[str], debug: bool, trace: bool) -> None:
    o, _ = build_options(flags)
    assert (o.debug, o.trace) == (debug, trace)


@pytest.mark.parametrize(
    "flags",
    [
        ["--addr", "127.0.0.2", "--port", "5"],
        ["--net", "127.0.0.2", "-port", "5"],
        ["-addr=127.0.0.2", "-p=5"],
    ],
)
def test_long_and_go_style_spellings(flags: list[str]) -> None:
    o, _ = build_options(flags)
    assert (o.host, o.port) == ("127.0.0.2", 5)


def test_monitoring_follows_the_client_host() -> None:
    o, _ = build_options(["-a", "127.0.0.3", "-m", "8333"])
    assert (o.http_host, o.http_port) == ("127.0.0.3", 8333)


def test_auth_flags() -> None:
    o, _ = build_options(["--user", "u", "--pass", "p"])
    assert (o.auth.user, o.auth.password, o.auth.token) == ("u", "p", "")
    o, _ = build_options(["--auth", "t0k"])
    assert o.auth.token == "t0k"
    with pytest.raises(ConfigError):
        build_options(["--user", "u", "--auth", "t"])


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    conf = tmp_path / "o.conf"
    conf.write_text("port: 4333\nserver_name: from-file\ndebug: true\njetstream { store_dir: /from/file }\n")
    o, _ = build_options(["-c", str(conf), "-p", "4444", "-sd", "/from/flag"])
    assert (o.port, o.server_name, o.debug) == (4444, "from-file", True)
    assert o.jetstream and o.store_dir == "/from/flag"  # the config's jetstream block enables it
    assert o.config_file == str(conf)


def test_multi_call_name_uses_nats_server_defaults() -> None:
    o, _ = build_options([], exe_name="nats-server")
    assert o.exe_name == "nats-server" and not o.jetstream and o.http_port == 0


def test_port_zero_means_the_default_port_as_nats_server() -> None:
    assert build_options(["-p", "0"])[0].port == 4222


def test_invalid_port_is_rejected() -> None:
    with pytest.raises(ConfigError, match="invalid port"):
        build_options(["-p", "70000"])


# --- the command as a process ----------------------------------------------------------------------


def test_version() -> None:
    out = run_cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"orlop {__version__}"


def test_serve_help_lists_nats_server_flags() -> None:
    out = run_cli("serve", "--help")
    assert out.returncode == 0
    for flag in ("-js", "-sd", "--store_dir", "-DV", "--ports_file_dir", "--sync-always", "--auth"):
        assert flag in out.stdout


def test_top_level_help_lists_commands() -> None:
    out = run_cli("--help")
    assert out.returncode == 0 and "serve" in out.stdout


def test_bad_flag_exits_1_with_a_message() -> None:
    out = run_cli("serve", "--no-such-flag")
    assert out.returncode == 1
    assert "unrecognized arguments: --no-such-flag" in out.stderr
    out = run_cli("serve", "-p", "abc")
    assert out.returncode == 1 and "invalid int value" in out.stderr


def test_subcommands_can_be_named_lazily() -> None:
    from orlop.cli import Subcommand, serve

    assert Subcommand("serve", "", "orlop.cli:serve").resolve() is serve
    assert Subcommand("serve", "", serve).resolve() is serve


def test_unknown_command_exits_1() -> None:
    out = run_cli("frobnicate")
    assert out.returncode == 1 and "unknown command" in out.stderr


def test_bad_config_exits_1_naming_file_and_line(tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text("port: 4222\nmax_payload: [\n")
    out = run_cli("serve", "-c", str(conf))
    assert out.returncode == 1
    assert f"{conf}:3:" in out.stderr and "missing ']'" in out.stderr


def test_test_config_flag(tmp_path: Path) -> None:
    conf = tmp_path / "good.conf"
    conf.write_text("port: 4222\n")
    out = run_cli("serve", "-c", str(conf), "-t")
    assert out.returncode == 0 and "is valid" in out.stdout


def test_serve_prints_how_to_connect_logs_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    log_file = tmp_path / "orlop.log"
    pid_file = tmp_path / "orlop.pid"
    proc = subprocess.Popen(
        [
            *ORLOP,
            "serve",
            "-a",
            "127.0.0.1",
            "-p",
            str(port),
            "-D",
            "-l",
            str(log_file),
            "-P",
            str(pid_file),
            "--ports_file_dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ports = wait_for_ports_file(tmp_path, proc, "orlop")
        assert ports["nats"] == [f"nats://127.0.0.1:{port}"]
        assert "monitoring" not in ports  # no -m: no monitoring, as nats-server
        assert pid_file.read_text() == str(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert f"nats://127.0.0.1:{port}" in out and "nats.connect(" in out
    lines = log_file.read_text().splitlines()
    assert lines and all(LOG_LINE.match(line) for line in lines if not line.startswith((" ", "\t")))
    assert any("[DBG]" in line for line in lines) or any("[INF]" in line for line in lines)
    assert int(LOG_LINE.match(lines[0]).group(1)) == proc.pid  # type: ignore[union-attr]
    assert not pid_file.exists()


def test_port_in_use_gives_the_error_and_no_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli("serve", "-a", "127.0.0.1", "-p", str(port), "--ports_file_dir", str(tmp_path))
    assert out.returncode == 1
    assert "Error listening on port" in out.stdout + out.stderr
    assert "nats.connect(" not in out.stdout  # the how-to-connect banner is for a server that listens


async def test_multi_call_nats_server_name(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "orlop"
    if not script.exists():
        pytest.fail(f"the orlop console script is not installed next to {sys.executable}")
    link = tmp_path / "nats-server"
    link.symlink_to(script)
    proc = subprocess.Popen(
        [str(link), "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ports = wait_for_ports_file(tmp_path, proc, "nats-server")
        nc = await nats.connect(ports["nats"][0])
        try:
            with pytest.raises(nats.errors.NoRespondersError):  # no -js: no JetStream, as nats-server
                await nc.request("$JS.API.INFO", b"", timeout=5)
            sub = await nc.subscribe("multi.call")
            await nc.publish("multi.call", b"ok")
            msg = await sub.next_msg(timeout=5)
            assert msg.data == b"ok"
        finally:
            await nc.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert "Orlop" not in _out  # no banner under the nats-server name
