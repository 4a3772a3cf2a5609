"""The object-store audit trail, end to end: real servers, nats-py's object store, raw files.

Audit is an Orlop-only feature (nats-server has no audit trail), so unlike most
behavioural tests these run against Orlop only. Two users in two accounts put, get
and delete objects and are denied (publish to ``$O.b.>`` denied; bucket create
denied); the audit file and the live subject ``$SYS.AUDIT.OBJ.<account>.<bucket>``
carry exactly the expected records; a third account may not subscribe to another
account's records; the file rotates at ``max_size``; a SIGKILL right after the
operations loses none of their records; bad ``audit`` blocks stop the server.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client as NATS
from nats.errors import Error as NatsError
from tests.jetstream.test_node_object_store import SIZE, run_node

from orlop.objects import connect
from orlop.testing import ServerProcess

CONFIG = """
server_name: audit-test
jetstream { store_dir: %(store)r }
audit { file: %(audit)r, max_size: %(max_size)s, max_files: %(max_files)s }
system_account: SYS
accounts {
  A: { jetstream: enabled, users: [
    { user: alice, password: pw }
    { user: amy, password: pw, permissions: { publish: { deny: ["$O.b.>"] } } }
  ] }
  B: { jetstream: enabled, users: [
    { user: bob, password: pw }
    { user: ben, password: pw, permissions: { publish: { deny: ["$JS.API.STREAM.CREATE.OBJ_b"] } } }
  ] }
  C: { jetstream: enabled, users: [ { user: carl, password: pw } ] }
  SYS: { users: [ { user: sys, password: pw } ] }
}
"""

Row = tuple[str, str | None, str, str | None, str, str]


def _start(
    factory: type[ServerProcess], tmp_path: Path, max_size: str = "10MB", max_files: int = 5
) -> ServerProcess:
    conf = tmp_path / "audit.conf"
    values = {"store": str(tmp_path / "js"), "audit": str(tmp_path / "audit.log")}
    conf.write_text(CONFIG % {**values, "max_size": max_size, "max_files": max_files})
    return factory(kind="orlop", jetstream=False, extra_args=["-c", str(conf)]).start()


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _rows(records: list[dict[str, Any]]) -> list[Row]:
    return [(r["account"], r["user"], r["bucket"], r["object"], r["op"], r["result"]) for r in records]


async def _user(proc: ServerProcess, name: str, errors: list[str] | None = None) -> NATS:
    async def on_error(e: Exception) -> None:
        if errors is not None:
            errors.append(str(e))

    return await nats.connect(proc.url, user=name, password="pw", error_cb=on_error)


async def _drain(sub: Any, timeout: float = 0.3) -> list[dict[str, Any]]:
    out = []
    while True:
        try:
            msg = await sub.next_msg(timeout=timeout)
        except nats.errors.TimeoutError:
            return out
        out.append(json.loads(msg.data))


async def _wait_lines(path: Path, n: int, timeout: float = 5.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if path.exists() and len(path.read_text().splitlines()) >= n:
            return
        await asyncio.sleep(0.02)


async def test_two_accounts_put_get_delete_and_denials_are_recorded_in_the_file_and_live(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    proc = _start(server_factory, tmp_path)
    alice, amy, bob, ben, sys = [await _user(proc, n) for n in ("alice", "amy", "bob", "ben", "sys")]
    try:
        live_a = await alice.subscribe("$SYS.AUDIT.OBJ.A.>")
        live_sys = await sys.subscribe("$SYS.AUDIT.OBJ.>")
        await alice.flush()
        await sys.flush()

        obs = await alice.jetstream().create_object_store("b")
        await obs.put("dir/x.bin", b"x" * 300_000)
        assert len((await obs.get("dir/x.bin")).data) == 300_000
        await obs.delete("dir/x.bin")

        bobs = await bob.jetstream().create_object_store("b")
        await bobs.put("y", b"hello")
        assert (await bobs.get("y")).data == b"hello"

        amys = await amy.jetstream(timeout=0.5).object_store("b")
        with pytest.raises(NatsError):
            await amys.put("z", b"zz")
        with pytest.raises(NatsError):
            await ben.jetstream(timeout=0.5).create_object_store("b")
        for nc in (alice, amy, bob, ben):
            await nc.flush()
        await _wait_lines(tmp_path / "audit.log", 20)

        records = _records(tmp_path / "audit.log")
        assert _rows(records) == [
            ("A", "alice", "b", None, "create_bucket", "ok"),
            ("A", "alice", "b", "dir/x.bin", "info", "error"),  # the put's "does it exist" read
            ("A", "alice", "b", "dir/x.bin", "put", "ok"),
            ("A", "alice", "b", "dir/x.bin", "info", "ok"),  # a get starts with an info
            ("A", "alice", "b", "dir/x.bin", "get", "ok"),
            ("A", "alice", "b", "dir/x.bin", "info", "ok"),
            ("A", "alice", "b", "dir/x.bin", "delete", "ok"),
            ("A", "alice", "b", "dir/x.bin", "purge", "ok"),  # the deleted object's chunks
            ("B", "bob", "b", None, "create_bucket", "ok"),
            ("B", "bob", "b", "y", "info", "error"),
            ("B", "bob", "b", "y", "put", "ok"),
            ("B", "bob", "b", "y", "info", "ok"),
            ("B", "bob", "b", "y", "get", "ok"),
            ("A", "amy", "b", "z", "info", "error"),
            ("A", "amy", "b", None, "put", "denied"),  # the first chunk publish was refused
            ("A", "amy", "b", None, "purge", "ok"),  # nats-py cleans up the refused put's chunks
            ("B", "ben", "b", None, "create_bucket", "denied"),
        ]
        by_op = {(r["user"], r["op"], r["result"]): r for r in records}
        put = by_op[("alice", "put", "ok")]
        assert (put["bytes"], put["revision"]) == (300_000, 4)  # 3 chunks, then the meta
        get = by_op[("alice", "get", "ok")]
        assert (get["bytes"], get["revision"]) == (300_000, 4)
        deleted = by_op[("alice", "delete", "ok")]
        assert (deleted["bytes"], deleted["revision"]) == (300_000, 5)
        miss = records[1]
        assert (miss["err_code"], miss["error"]) == (10037, "no message found")
        assert (by_op[("bob", "put", "ok")]["bytes"], by_op[("bob", "put", "ok")]["revision"]) == (5, 2)
        for r in records:
            assert r["server"] == "audit-test"
            assert isinstance(r["client_id"], int) and r["client_addr"].startswith("127.0.0.1:")
            assert r["time"].endswith("Z") and len(r["time"]) == len("2026-12-03T09:45:00.123456Z")
            assert list(r) == [
                "time", "server", "account", "user", "client_id", "client_addr", "bucket",
                "object", "op", "bytes", "revision", "result", "err_code", "error",
            ]  # fmt: skip
        denied = by_op[("ben", "create_bucket", "denied")]
        assert (denied["err_code"], denied["error"]) == (None, "permissions violation")

        # Live: the owning account gets its own records, the system account all of them.
        assert await _drain(live_a) == [r for r in records if r["account"] == "A"]
        assert await _drain(live_sys) == records
    finally:
        for nc in (alice, amy, bob, ben, sys):
            await nc.close()


async def test_a_third_account_may_not_subscribe_to_another_accounts_records(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    proc = _start(server_factory, tmp_path)
    errors: list[str] = []
    carl = await _user(proc, "carl", errors)
    alice = await _user(proc, "alice")
    try:
        theirs = await carl.subscribe("$SYS.AUDIT.OBJ.A.>")
        exact = await carl.subscribe("$SYS.AUDIT.OBJ.A.b")
        everything = await carl.subscribe("$SYS.AUDIT.OBJ.>")  # allowed: it only ever sees C's own
        await carl.flush()
        await asyncio.sleep(0.2)
        said = " ".join(errors)  # nats-py lower-cases the server's -ERR text
        assert 'permissions violation for subscription to "$sys.audit.obj.a.>"' in said
        assert 'permissions violation for subscription to "$sys.audit.obj.a.b"' in said
        assert "$sys.audit.obj.>" not in said
        obs = await alice.jetstream().create_object_store("b")
        await obs.put("secret", b"s")
        await alice.flush()
        for sub in (theirs, exact, everything):
            assert await _drain(sub) == []
        assert carl.is_connected  # a permissions violation does not close the connection
    finally:
        await carl.close()
        await alice.close()


async def test_no_client_may_publish_a_forged_record(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """Only the server writes on the live subjects: a client's publish there is a violation."""
    proc = _start(server_factory, tmp_path)
    errors: list[str] = []
    alice = await _user(proc, "alice", errors)
    listener = await _user(proc, "alice")
    try:
        live = await listener.subscribe("$SYS.AUDIT.OBJ.A.>")
        await listener.flush()
        await alice.publish("$SYS.AUDIT.OBJ.A.b", b'{"op":"delete","user":"bob"}')
        await alice.flush()
        await asyncio.sleep(0.2)
        assert 'permissions violation for publish to "$sys.audit.obj.a.b"' in " ".join(errors)
        assert await _drain(live) == []
    finally:
        await alice.close()
        await listener.close()


async def test_records_survive_a_sigkill_right_after_the_operations(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    proc = _start(server_factory, tmp_path)
    alice = await _user(proc, "alice")
    try:
        obs = await alice.jetstream().create_object_store("b")
        for i in range(20):
            await obs.put(f"o{i}", b"data" * i)
        await obs.delete("o3")
    finally:
        await alice.close()
    proc.kill()  # SIGKILL, no shutdown: only what reached the file descriptor counts
    ops = [(r["object"], r["op"], r["result"]) for r in _records(tmp_path / "audit.log")]
    puts = [o for o, op, res in ops if op == "put" and res == "ok"]
    assert puts == [f"o{i}" for i in range(20)]
    assert ops[-2:] == [("o3", "delete", "ok"), ("o3", "purge", "ok")]


async def test_the_file_rotates_at_max_size_keeping_max_files(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    proc = _start(server_factory, tmp_path, max_size="2KB", max_files=3)
    alice = await _user(proc, "alice")
    try:
        obs = await alice.jetstream().create_object_store("b")
        await obs.put("o", b"x")
        for _ in range(40):
            await obs.get_info("o")  # one info record each, ~270 bytes
        await alice.flush()
    finally:
        await alice.close()
    proc.stop()
    base = tmp_path / "audit.log"
    files = sorted(p.name for p in tmp_path.glob("audit.log*"))
    assert files == ["audit.log", "audit.log.1", "audit.log.2"]
    for p in (base, tmp_path / "audit.log.1", tmp_path / "audit.log.2"):
        assert 0 < p.stat().st_size <= 2048  # size strings are nats-server's: 2KB = 2048
        _records(p)  # whole lines only
    kept = _records(tmp_path / "audit.log.2") + _records(tmp_path / "audit.log.1") + _records(base)
    times = [r["time"] for r in kept]
    assert times == sorted(times)
    assert kept[-1]["op"] == "info" and len(kept) < 43  # the oldest file was dropped


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("audit { file: a.log, max_files: 0 }", "audit.max_files must be at least 1"),
        ("audit { max_size: 1MB }", 'audit needs a "file"'),
        ("audit { file: a.log, rotate: true }", 'unknown field "rotate" parsing audit'),
        ("audit { file: a.log, max_size: lots }", "max_size: expected an integer"),
        ("audit: true", "audit: expected a map"),
    ],
)
def test_bad_audit_blocks_stop_the_server(
    block: str, message: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(block + "\n")
    with pytest.raises(RuntimeError, match="exited") as err:
        server_factory(kind="orlop", jetstream=False, extra_args=["-c", str(conf)]).start()
    assert message in str(err.value)


async def test_orlop_objects_reads_and_renames_are_recorded(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """orlop.objects reads small objects with direct gets and renames with update_meta."""
    proc = _start(server_factory, tmp_path)
    async with connect(proc.url, user="alice", password="pw") as store:
        bucket = await store.create_bucket("b")
        await bucket.put("a.txt", b"abc")
        assert await (await bucket.get("a.txt")).read() == b"abc"
        await bucket.update_meta("a.txt", name="b.txt")
    await _wait_lines(tmp_path / "audit.log", 5)
    rows = [(r["object"], r["op"], r["result"]) for r in _records(tmp_path / "audit.log")]
    assert ("a.txt", "put", "ok") in rows
    assert ("a.txt", "get", "ok") in rows
    assert ("b.txt", "update_meta", "ok") in rows
    assert rows.count(("a.txt", "get", "ok")) == 1


async def test_bucket_operations_links_and_a_watch_are_recorded(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    proc = _start(server_factory, tmp_path)
    async with connect(proc.url, user="alice", password="pw") as store:
        bucket = await store.create_bucket("b")
        target = await bucket.put("t.bin", b"target")
        await bucket.add_link("l.bin", target)
        await store.update_bucket("b", description="changed")
        nc = await _user(proc, "alice")
        watcher = await (await nc.jetstream().object_store("b")).watch(include_history=True)
        await watcher.stop()
        await nc.close()
        await bucket.seal()
        await store.delete_bucket("b")
        with pytest.raises(Exception):  # noqa: B017 - whichever error the library raises
            await store.bucket("gone")
    await _wait_lines(tmp_path / "audit.log", 6)
    rows = [(r["object"], r["op"], r["result"]) for r in _records(tmp_path / "audit.log")]
    assert [row for row in rows if row[1] != "info"] == [
        (None, "create_bucket", "ok"),
        ("t.bin", "put", "ok"),
        ("l.bin", "link", "ok"),
        (None, "update_bucket", "ok"),
        (None, "watch", "ok"),  # nats-py watch(include_history=True): deliver_policy all
        (None, "seal", "ok"),
        (None, "delete_bucket", "ok"),
    ]


async def test_the_node_clients_object_store_is_recorded(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """nats.js 2.29 (the nats.deno code): legacy consumer creates, links without nuid, watch."""
    conf = tmp_path / "node.conf"
    conf.write_text(f"audit {{ file: {str(tmp_path / 'audit.log')!r} }}\n")
    proc = server_factory(kind="orlop", extra_args=["-c", str(conf)]).start()
    r = await run_node(proc.url)
    assert r["get"]["size"] == SIZE
    await _wait_lines(tmp_path / "audit.log", 20)
    records = _records(tmp_path / "audit.log")
    rows = [(r["object"], r["op"], r["result"]) for r in records if r["op"] != "info"]
    assert rows == [
        (None, "create_bucket", "ok"),
        ("big.bin", "put", "ok"),
        ("empty", "put", "ok"),
        ("big.bin", "get", "ok"),  # the empty object is not read: size 0 needs no consumer
        ("link.bin", "link", "ok"),
        ("big.bin", "get", "ok"),  # through the link
        (None, "list", "ok"),
        (None, "list", "ok"),  # watch({includeHistory: true}) is last_per_subject too
        ("late.txt", "put", "ok"),
        ("big.bin", "delete", "ok"),
        ("big.bin", "purge", "ok"),
        (None, "list", "ok"),
    ]
    assert {r["user"] for r in records} == {None} and {r["account"] for r in records} == {"$G"}
    big = next(r for r in records if r["op"] == "put" and r["object"] == "big.bin")
    assert big["bytes"] == SIZE and big["revision"] == 130  # 129 chunks, then the meta


async def test_fast_ingest_puts_of_the_node_v3_client_are_recorded(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """@nats-io/obj 3.4 puts through fast ingest: the meta arrives as the batch's commit (a
    ``.$FI`` reply), and is recorded as a put like any other, with its size and revision."""
    from tests.jetstream.test_node_fast_ingest import SIZES
    from tests.jetstream.test_node_fast_ingest import run_node as run_node_v3

    conf = tmp_path / "node.conf"
    conf.write_text(f"audit {{ file: {str(tmp_path / 'audit.log')!r} }}\n")
    proc = server_factory(kind="orlop", extra_args=["-c", str(conf)]).start()
    r = await run_node_v3(proc.url, "fa")
    assert r["allow_batched"] is True
    await _wait_lines(tmp_path / "audit.log", 4)
    puts = [rec for rec in _records(tmp_path / "audit.log") if rec["op"] == "put" and rec["bucket"] == "fa"]
    assert [(p["object"], p["bytes"], p["result"]) for p in puts] == [(f"obj-{n}", n, "ok") for n in SIZES]


@pytest.mark.parametrize(
    ("doc_path", "marker"), [("docs/audit.md", "## Example"), ("README.md", "<!-- audit-example -->")]
)
def test_the_docs_example_runs(
    server_factory: type[ServerProcess], tmp_path: Path, doc_path: str, marker: str
) -> None:
    """docs/audit.md's and the README's example, as written: the config file and the CLI commands."""
    doc = (Path(__file__).resolve().parents[2] / doc_path).read_text()
    example = doc[doc.index(marker) :]
    example = example[: example.index("```", example.index("```") + 3)]
    config = re.search(r"\$ cat orlop.conf\n(.*?)\n\$ orlop serve", example, re.S)
    assert config is not None
    (tmp_path / "orlop.conf").write_text(config.group(1).replace('"./', f'"{tmp_path}/') + "\n")
    (tmp_path / "x.bin").write_bytes(b"x" * 123)
    proc = server_factory(kind="orlop", jetstream=False, extra_args=["-c", str(tmp_path / "orlop.conf")])
    proc.start()
    for line in re.findall(r"^\$ (orlop object .*)$", example, re.M):
        args = [*line.split()[1:], "-s", proc.url]
        subprocess.run([sys.executable, "-m", "orlop", *args], cwd=tmp_path, check=True, capture_output=True)
    records = _records(tmp_path / "audit.log")
    shown = [json.loads(line) for line in re.findall(r"^(\{.*\})$", example, re.M)]
    strip = ("time", "client_id", "client_addr")
    assert [{k: v for k, v in r.items() if k not in strip} for r in records[-2:]] == [
        {k: v for k, v in r.items() if k not in strip} for r in shown
    ]
    for line in re.findall(r"^\$ (orlop audit [^#]*)", example, re.M):  # the reader, where shown
        out = subprocess.run(
            [sys.executable, "-m", "orlop", *line.split()[1:]],
            cwd=tmp_path,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        assert [row.split()[3] for row in out.splitlines()] == ["put"] and "b/dir/x.bin" in out, out
