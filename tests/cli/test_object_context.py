"""natscli's context files choose the server and credentials, exactly where natscli keeps them.

A temporary HOME holds ``.config/nats/context/NAME.json`` and ``context.txt``; the CLI runs
with no ``-s`` and no credentials flags and must reach a server that requires a password.
"""

from __future__ import annotations

import json
from pathlib import Path

from clitools import Cli, error_line

from orlop.testing import ServerProcess


def _write_context(home: Path, name: str, settings: dict[str, object], *, select: bool) -> Path:
    folder = home / ".config" / "nats" / "context"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "description": "test",
                "url": "",
                "token": "",
                "user": "",
                "password": "",
                "creds": "",
                "nkey": "",
                "cert": "",
                "key": "",
                "ca": "",
                "nsc": "",
                "jetstream_domain": "",
                "jetstream_api_prefix": "",
                "jetstream_event_prefix": "",
                "inbox_prefix": "",
                "user_jwt": "",
                "color_scheme": "",
                "tls_first": False,
                **settings,
            }
        )
    )
    if select:
        (home / ".config" / "nats" / "context.txt").write_text(name)
    return path


def test_selected_and_named_contexts(
    server: ServerProcess, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    guarded = server_factory(kind=server.kind, extra_args=["--user", "ops", "--pass", "pw"]).start()
    home = tmp_path / "home"
    env = {"HOME": str(home), "XDG_CONFIG_HOME": ""}
    cli = Cli(guarded.url)

    _write_context(home, "prod", {"url": guarded.url, "user": "ops", "password": "pw"}, select=True)
    added = cli.at(None, "add", "via-context", "--json", env=env)
    assert added.returncode == 0, added.stderr
    assert cli.at(None, "ls", "-n", env=env).stdout.decode().split() == ["via-context"]

    # A named context wins over the selected one; a flag wins over the context.
    _write_context(home, "wrong", {"url": guarded.url, "user": "ops", "password": "nope"}, select=False)
    refused = cli.at(None, "--context", "wrong", "ls", env=env)
    assert refused.returncode == 6 and "refused the credentials" in error_line(refused)
    fixed = cli.at(None, "--context", "wrong", "--password", "pw", "ls", "-n", env=env)
    assert fixed.returncode == 0, fixed.stderr
    from_env = cli.at(None, "ls", env={**env, "NATS_CONTEXT": "wrong"})
    assert from_env.returncode == 6

    # A context file given by path, as natscli accepts it.
    elsewhere = tmp_path / "other.json"
    elsewhere.write_text(json.dumps({"url": guarded.url, "user": "ops", "password": "pw"}))
    assert cli.at(None, "--context", str(elsewhere), "ls", "-n", env=env).returncode == 0

    missing = cli.at(None, "--context", "nope", "ls", env=env)
    assert missing.returncode == 1 and "not found" in error_line(missing)
    # A setting the CLI cannot honour is refused, not silently dropped.
    _write_context(home, "proxy", {"url": guarded.url, "socks_proxy": "127.0.0.1:1080"}, select=False)
    proxied = cli.at(None, "--context", "proxy", "ls", env=env)
    assert proxied.returncode == 1 and "socks_proxy" in error_line(proxied)


def test_connection_flags_may_follow_the_command(server: ServerProcess, tmp_path: Path) -> None:
    """``orlop obj put B F -s URL`` as natscli takes it; a command's own ``--user`` (acl) stays its own."""
    cli = Cli(server.url)
    src = tmp_path / "f.txt"
    src.write_bytes(b"after the command")
    assert cli.at(None, "add", "late", "-s", server.url).returncode == 0
    put = cli.at(None, "put", "late", str(src), "-s", server.url, "--timeout", "10")
    assert put.returncode == 0, put.stderr.decode()
    got = cli.at(None, "get", "late", "f.txt", "-O", "-", f"--server={server.url}")
    assert got.stdout == b"after the command"
    acl = cli.at(
        None, "acl", "late", "--read-only", "--user", "team-b", "--password", "x", "--plain", "-s", server.url
    )
    assert acl.returncode == 0 and b"team-b" in acl.stdout, acl.stderr.decode()


def test_every_server_given_counts(server: ServerProcess, tmp_path: Path) -> None:
    """``-s A -s B`` (as ``-s A,B``): a server that is down is skipped for the next, none is dropped."""
    cli = Cli(server.url)
    down = "nats://127.0.0.1:1"
    for flags in (
        ["-s", down, "-s", server.url],
        ["-s", f"{down},{server.url}"],
        ["-s", server.url, "-s", down],
    ):
        listed = cli.at(None, *flags, "ls")
        assert listed.returncode == 0, (flags, listed.stderr.decode())
    alone = cli.at(None, "-s", down, "ls")
    assert alone.returncode != 0 and "127.0.0.1:1" in error_line(alone)
