"""``orlop.auditlog`` without processes: the newest-first scan against a plain reading of
the same files, with blocks small enough that lines straddle them (and some are longer
than a block), and the follower's handling of torn lines and rotation."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import orlop.auditlog as auditlog
from orlop.auditlog import AuditFilter, Follower, audit_files, parse_since, read_lines, recent


def _line(rng: random.Random, i: int) -> bytes:
    rec = {
        "time": f"2026-12-03T09:45:{i % 60:02d}.000001Z",
        "bucket": rng.choice(["a", "b"]),
        "object": rng.choice(["x", "y", "ü/z", "long" * rng.choice([1, 50])]),
        "op": rng.choice(["put", "get"]),
        "n": i,
    }
    if rng.random() < 0.05:
        return b"{torn" + b"\n"
    return json.dumps(rec, ensure_ascii=rng.random() < 0.5).encode() + (
        b"\r\n" if rng.random() < 0.1 else b"\n"
    )


@pytest.mark.parametrize("block", [7, 64, 1000, 64 * 1024])
def test_recent_matches_a_plain_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(auditlog, "BLOCK", block)
    rng = random.Random(block)
    path = tmp_path / "audit.log"
    n = 0
    for suffix in (".2", ".1", ""):
        lines = [_line(rng, n + k) for k in range(150)]
        n += 150
        path.with_name("audit.log" + suffix).write_bytes(b"".join(lines))
    every = [ln.record for ln in read_lines(audit_files(path)) if ln.record is not None]
    for bucket in ("a", "b"):
        for name in ("x", "ü/z", "long" * 50, "nothing"):

            def wanted(r: dict[str, object], bucket: str = bucket, name: str = name) -> bool:
                return r["bucket"] == bucket and r["object"] == name

            expected = [r for r in reversed(every) if wanted(r)]
            got, more = recent(path, wanted, needle=name, limit=1000)
            assert got == expected and more is False
            got, more = recent(path, wanted, needle=name, limit=3)
            assert got == expected[:3] and more is (len(expected) >= 3)


def test_recent_stops_at_its_scan_budget(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    old = json.dumps({"time": "2026-12-03T09:45:00Z", "bucket": "b", "object": "x", "op": "put"}) + "\n"
    filler = json.dumps({"time": "2026-12-03T09:45:01Z", "bucket": "b", "object": "y", "op": "get"}) + "\n"
    path.write_text(old + filler * 20_000)
    found, more = recent(path, lambda r: r["object"] == "x", needle="x", limit=5, max_scan=64 * 1024)
    assert (found, more) == ([], True)
    found, more = recent(path, lambda r: r["object"] == "x", needle="x", limit=5)
    assert len(found) == 1 and more is False


def test_since() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    assert parse_since("90s", now) == now - timedelta(seconds=90)
    assert parse_since("1h30m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2026-12-03T09:00:00Z", now) == datetime(2026, 12, 3, 9, tzinfo=UTC)
    assert parse_since("2026-12-03T10:00:00+01:00", now) == datetime(2026, 12, 3, 9, tzinfo=UTC)
    for bad in ("", "10", "1x", "soon", "10m ago"):
        with pytest.raises(ValueError, match="--since"):
            parse_since(bad, now)
    f = AuditFilter(since=datetime(2026, 12, 3, 9, tzinfo=UTC))
    assert f({"time": "2026-12-03T09:00:00.000000001Z"}) and not f({"time": "2026-12-03T08:59:59.999Z"})


def test_follower_holds_torn_lines_and_survives_rotation(tmp_path: Path) -> None:
    path = tmp_path / "audit.log"
    rec = '{"time":"2026-12-03T09:45:00Z","bucket":"b","object":null,"op":"list"}'
    path.write_text(rec + "\n" + rec[:10])
    follower = Follower(path)
    try:
        assert [ln.number for ln in list(follower.poll())] == [1]
        assert list(follower.poll()) == []
        with path.open("a") as f:
            f.write(rec[10:] + "\n")
        (second,) = list(follower.poll())
        assert second.number == 2 and second.raw == rec.encode() and second.record is not None
        with path.open("a") as f:
            f.write(rec)  # the server died mid-line, then rotated: the line is kept whole
        path.rename(tmp_path / "audit.log.1")
        assert list(follower.poll()) == []  # no current file yet
        path.write_text("not json\n")
        got = list(follower.poll())
        assert [(ln.path.name, ln.number, ln.record is None) for ln in got] == [
            ("audit.log", 3, False),  # named as followed: the old file, now audit.log.1
            ("audit.log", 1, True),
        ]
        path.write_text("")  # cut shorter: read again from the start
        assert list(follower.poll()) == []
        path.write_text(rec + "\n")
        assert [ln.number for ln in list(follower.poll())] == [1]
    finally:
        follower.close()
