"""``orlop audit``: reading, filtering and following the server's audit file, as a user runs it.

Every test runs the real command as a subprocess over audit files written here in the
server's fixed record format (one JSON object per line; rotated files ``<file>.1`` newest
… ``<file>.N`` oldest). No server is needed: the command only reads files.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

ORLOP = [sys.executable, "-m", "orlop", "audit"]


def record(
    when: datetime | str,
    op: str,
    *,
    bucket: str = "docs",
    name: str | None = "a.txt",
    user: str | None = "alice",
    account: str = "A",
    **extra: Any,
) -> dict[str, Any]:
    text = when if isinstance(when, str) else when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    rec: dict[str, Any] = {
        "time": text,
        "server": "s1",
        "account": account,
        "user": user,
        "client_id": 5,
        "client_addr": "127.0.0.1:53422",
        "bucket": bucket,
        "object": name,
        "op": op,
        "bytes": 123,
        "revision": 45,
        "result": "ok",
        "err_code": None,
        "error": None,
    }
    rec.update(extra)
    return rec


def line(rec: dict[str, Any]) -> str:
    return json.dumps(rec, separators=(",", ":")) + "\n"


def write(path: Path, *recs: dict[str, Any]) -> list[str]:
    lines = [line(r) for r in recs]
    path.write_text("".join(lines), encoding="utf-8")
    return lines


def audit(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ORLOP, *map(str, args)], capture_output=True, text=True, timeout=60, encoding="utf-8"
    )


T0 = datetime(2026, 12, 3, 9, 45, tzinfo=UTC)


@pytest.fixture
def trail(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    write(
        path,
        record(T0, "create_bucket", name=None, bytes=None, revision=None),
        record(T0 + timedelta(seconds=1), "put", revision=2),
        record(T0 + timedelta(seconds=2), "get", user="bob", bytes=5_000_000, revision=2),
        record(T0 + timedelta(seconds=3), "put", bucket="photos", name="cat.jpg", user="bob", account="B"),
        record(
            T0 + timedelta(seconds=4),
            "delete",
            user=None,
            result="denied",
            err_code=10403,
            error="permissions violation",
            bytes=None,
            revision=None,
        ),
        record(T0 + timedelta(seconds=5), "update_meta", name="dir/b.txt"),
    )
    return path


def test_one_aligned_line_per_record(trail: Path) -> None:
    done = audit(trail)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 6
    assert lines[0].startswith("2026-12-03 09:45:00.000Z  A/alice ")
    assert "create_bucket" in lines[0] and " docs " in lines[0]
    assert (
        "docs/a.txt" in lines[1] and "123 B" in lines[1] and "rev 2" in lines[1] and lines[1].endswith(" ok")
    )
    assert "A/bob" in lines[2] and "4.8 MiB" in lines[2]
    assert lines[4].endswith("denied 10403 permissions violation") and "A/-" in lines[4]
    # Aligned: the op and bucket/object columns start at the same place on every line.
    ops_at = {ln.index(f" {ln.split()[3]} ") for ln in lines}
    targets_at = {ln.index(f" {ln.split()[4]} ", min(ops_at) + 2) for ln in lines}
    assert len(ops_at) == 1 and len(targets_at) == 1, lines


def test_filters(trail: Path) -> None:
    def ops(*args: str) -> list[str]:
        done = audit(trail, "--json", *args)
        assert done.returncode == 0, done.stderr
        return [json.loads(x)["op"] for x in done.stdout.splitlines()]

    assert ops("--bucket", "photos") == ["put"]
    assert ops("--bucket", "photos", "--bucket", "docs") == ops()
    assert ops("--user", "bob") == ["get", "put"]
    assert ops("--account", "B") == ["put"]
    assert ops("--op", "put,get") == ["put", "get", "put"]
    assert ops("--op", "put", "--op", "delete") == ["put", "put", "delete"]
    assert ops("--op", "put", "--user", "alice") == ["put"]
    assert ops("--object", "dir/*") == ["update_meta"]
    assert ops("--object", "a.txt", "--bucket", "docs") == ["put", "get", "delete"]
    unknown = audit(trail, "--op", "steal")
    assert unknown.returncode == 1 and "unknown op steal" in unknown.stderr


def test_rotated_files_are_read_oldest_first(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    expected = []
    for n, suffix in enumerate((".3", ".2", ".1", "")):
        expected += write(path.with_name("audit.log" + suffix), record(T0 + timedelta(minutes=n), "put"))
    (tmp_path / "audit.log.bak").write_text(line(record(T0, "purge")))  # not one of the rotated files
    (tmp_path / "other.log.1").write_text(line(record(T0, "purge")))
    done = audit(path, "--json")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(expected)
    # Only rotated files present (the current one not yet re-created): still read.
    path.unlink()
    assert audit(path, "--json").stdout == "".join(expected[:-1])


def test_since_takes_durations_and_times(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    path = tmp_path / "audit.log"
    write(
        path,
        record(now - timedelta(days=2), "create_bucket", name=None),
        record(now - timedelta(hours=3), "put"),
        record(now - timedelta(minutes=90), "get"),
        record(now - timedelta(minutes=5), "info"),
    )

    def ops(since: str) -> list[str]:
        done = audit(path, "--json", "--since", since)
        assert done.returncode == 0, done.stderr
        return [json.loads(x)["op"] for x in done.stdout.splitlines()]

    assert ops("10m") == ["info"]
    assert ops("2h") == ["get", "info"]
    assert ops("1h30m5s") == ["get", "info"]
    assert ops("1d") == ["put", "get", "info"]
    assert ops("3d") == ["create_bucket", "put", "get", "info"]
    middle = (now - timedelta(minutes=90)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert ops(middle) == ["get", "info"]
    offset = (now - timedelta(minutes=90)).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert ops(offset) == ["get", "info"]
    bad = audit(path, "--since", "yesterday")
    assert bad.returncode == 1 and "--since" in bad.stderr and "RFC 3339" in bad.stderr


def test_json_prints_the_lines_exactly(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    odd = [
        '{"time": "2026-12-03T09:45:00.123456Z", "bucket": "docs", "object": "ü/名前.txt", "op": "put",'
        ' "user": "alice", "extra": {"new": [1, 2]}}\n',  # spaced, unescaped UTF-8, an unknown key
        '{"op":"get","bucket":"docs","object":"x","time":"2026-12-03T09:45:01.123456789Z"}\r\n',  # CRLF, ns
        '{"time":"2026-12-03T09:45:02Z","bucket":"docs","object":"\\u00fc","op":"get","user":"bob"}\n',
    ]
    path.write_bytes("".join(odd).encode())
    done = subprocess.run([*ORLOP, str(path), "--json"], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == odd[0] + odd[1].replace("\r\n", "\n") + odd[2]
    only_bob = subprocess.run([*ORLOP, str(path), "--json", "--user", "bob"], capture_output=True, timeout=60)
    assert only_bob.stdout.decode() == odd[2]


def test_a_malformed_line_is_reported_and_skipped(trail: Path) -> None:
    good = trail.read_text().splitlines(keepends=True)
    trail.write_text(good[0] + "{not json\n" + good[1] + '["a list"]\n' + '{"op":"put"}\n' + "\n" + good[2])
    done = audit(trail, "--json")
    assert done.returncode == 7
    assert done.stdout == good[0] + good[1] + good[2]
    errors = done.stderr.splitlines()
    assert errors[0].startswith(f"orlop audit: {trail}:2: malformed record (not JSON")
    assert errors[1] == f"orlop audit: {trail}:4: malformed record (not a JSON object)"
    assert errors[2].startswith(f"orlop audit: {trail}:5: malformed record (time ")
    assert errors[3] == "orlop audit: 3 malformed line(s) skipped"


def test_files_and_configuration(trail: Path, tmp_path: Path) -> None:
    missing = audit(tmp_path / "nowhere.log")
    assert missing.returncode == 1 and "does not exist" in missing.stderr
    usage = audit()
    assert usage.returncode == 1 and "-c server.conf" in usage.stderr
    conf = tmp_path / "server.conf"
    conf.write_text(f'port: 4222\naudit {{\n  file: "{trail}"\n  max_size: 10MB\n}}\n')
    done = audit("-c", conf, "--op", "delete", "--json")
    assert done.returncode == 0, done.stderr
    assert [json.loads(x)["op"] for x in done.stdout.splitlines()] == ["delete"]
    conf.write_text("port: 4222\n")
    assert "no audit" in audit("-c", conf).stderr
    conf.write_text("audit { max_size: 1MB }\n")  # the server's parser refuses it: so does the command
    refused = audit("-c", conf)
    assert refused.returncode == 1 and 'audit needs a "file"' in refused.stderr


# ---- --follow ------------------------------------------------------------------------


class Follower:
    """``orlop audit --follow`` in the background, its stdout lines in a queue (a context
    manager: the process is killed, if still running, and its pipes closed on exit)."""

    def __init__(self, *args: str | Path) -> None:
        self.proc = subprocess.Popen(
            [*ORLOP, *map(str, args), "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
        )
        self.lines: queue.Queue[str] = queue.Queue()
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        self.reader = threading.Thread(target=lambda: [self.lines.put(x) for x in stdout], daemon=True)
        self.reader.start()

    def __enter__(self) -> Follower:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(15)
        self.reader.join(15)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()

    def take(self, n: int, timeout: float = 15) -> list[str]:
        deadline = time.monotonic() + timeout
        out = []
        while len(out) < n:
            try:
                out.append(self.lines.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError(f"got {out} of {n} lines") from None
        return out

    def quiet(self, seconds: float = 1.0) -> None:
        time.sleep(seconds)
        assert self.lines.empty(), self.lines.get()

    def stop(self, signum: int) -> tuple[int, str]:
        """Send ``signum``; the exit code and everything the command said on stderr."""
        self.proc.send_signal(signum)
        code = self.proc.wait(15)
        return code, self.proc.stderr.read() if self.proc.stderr else ""


def append(path: Path, text: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(text)


def test_follow_prints_new_records_across_rotations(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    first = write(path.with_name("audit.log.1"), record(T0, "create_bucket", name=None))
    current = write(path, record(T0 + timedelta(seconds=1), "put"))
    with Follower(path, "--json", "--bucket", "docs") as follow:
        assert follow.take(2) == first + current  # what is there, oldest first
        new = line(record(T0 + timedelta(seconds=2), "get"))
        append(path, new)
        assert follow.take(1) == [new]
        append(path, line(record(T0 + timedelta(seconds=3), "put", bucket="photos")))  # filtered out
        # A line written in two pieces is printed once, whole.
        torn = line(record(T0 + timedelta(seconds=4), "info"))
        append(path, torn[:40])
        follow.quiet(0.6)
        append(path, torn[40:])
        assert follow.take(1) == [torn]
        # Rotation, as the server does it: a last record, rename to .1, a new file.
        last_old = line(record(T0 + timedelta(seconds=5), "update_meta"))
        append(path, last_old)
        path.with_name("audit.log.1").rename(path.with_name("audit.log.2"))
        path.rename(path.with_name("audit.log.1"))
        time.sleep(0.5)  # a moment with no current file at all
        first_new = line(record(T0 + timedelta(seconds=6), "delete"))
        path.write_text(first_new, encoding="utf-8")
        assert follow.take(2) == [last_old, first_new]
        again = line(record(T0 + timedelta(seconds=7), "put"))
        append(path, again)
        assert follow.take(1) == [again]
        follow.quiet(0.5)  # nothing printed twice
        code, err = follow.stop(signal.SIGINT)
        assert code == 0, err
        assert "Traceback" not in err


def test_follow_waits_for_the_file_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    with Follower(path) as follow:
        time.sleep(0.5)
        write(path, record(T0, "put"))
        (shown,) = follow.take(1)
        assert "docs/a.txt" in shown and shown.rstrip().endswith("ok")
        code, err = follow.stop(signal.SIGTERM)
        assert code == 0, err
        assert "does not exist yet" in err


def test_follow_stops_cleanly_while_reading_a_backlog(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    path.write_text("".join(line(record(T0, "get", name=f"o{i}")) for i in range(5000)))
    with Follower(path, "--json") as follow:
        follow.take(1)
        code, err = follow.stop(signal.SIGINT)
        assert code == 0, err
    assert os.path.exists(path)


# ---- end to end ----------------------------------------------------------------------


def test_records_written_by_the_server(tmp_path: Path) -> None:
    """``orlop serve`` with ``audit { file }`` and its embedded gateway: a put and a get
    through ``orlop.objects`` are in the file as ``orlop audit`` reads it (from ``-c`` too),
    and in the object's history, which the gateway beside the server finds by itself."""
    import socket

    import httpx

    from orlop.objects import sync
    from orlop.testing import ServerProcess

    trail = tmp_path / "logs" / "audit.log"
    conf = tmp_path / "server.conf"
    conf.write_text(f'audit {{ file: "{trail}" }}\n')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (tmp_path / "js").mkdir()
    args = ["-c", str(conf), "--gateway", f"127.0.0.1:{port}"]
    with ServerProcess(kind="orlop", store_dir=str(tmp_path / "js"), extra_args=args) as server:
        with sync.connect(server.url) as client:
            bucket = client.create_bucket("e2e")
            bucket.put("dir/x.bin", b"hello audit")
            assert bucket.get_bytes("dir/x.bin") == b"hello audit"
        deadline = time.monotonic() + 10
        while True:
            done = audit(trail, "--json", "--bucket", "e2e", "--op", "put,get")
            records = [json.loads(x) for x in done.stdout.splitlines()]
            if len(records) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert done.returncode == 0, done.stderr
        assert [(r["op"], r["object"], r["bytes"], r["result"]) for r in records] == [
            ("put", "dir/x.bin", 11, "ok"),
            ("get", "dir/x.bin", 11, "ok"),
        ]
        assert records[0]["account"] == "$G" and records[0]["revision"] == records[1]["revision"]
        assert audit("-c", conf, "--json", "--bucket", "e2e", "--op", "put,get").stdout == done.stdout
        history = f"http://127.0.0.1:{port}/api/v1/buckets/e2e/history/dir/x.bin"
        while True:
            try:
                got = httpx.get(history, timeout=30)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the embedded gateway did not answer"
                time.sleep(0.2)
        assert got.status_code == 200, got.text
        assert [r["op"] for r in got.json()["records"]][:3] == ["get", "info", "put"]
