"""Encryption at rest (``jetstream { key, prev_key, cipher }``), on both servers where both do it.

Known random plaintext goes into streams, a KV bucket and an object store
(subjects, payloads, headers, object names, metadata); every byte of the
JetStream store directory is then scanned for it. Restart with the right key
brings everything back; rotation (``key`` new + ``prev_key`` old, then the old
key dropped) and conversion of a plaintext store work on both servers.

Orlop-only, and said so: a wrong or missing key stops Orlop at start with the
stream named and every file unchanged (nats-server logs a warning and starts
without the stream), and the key files are re-wrapped at once on rotation.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest

from orlop.testing import KINDS, ServerProcess

pytestmark = pytest.mark.timeout(120)


class Secrets:
    """Random words that must never appear in a store file, and the data that carries them."""

    def __init__(self) -> None:
        self.words = {
            k: "zq" + secrets.token_hex(8) for k in ("subj", "payload", "hdr", "key", "value", "obj", "meta")
        }
        self.object_name = f"dir/{self.words['obj']}.bin"
        self.object_data = (self.words["payload"].encode() + secrets.token_bytes(50)) * 40_000  # ~2.8 MB

    def needles(self) -> list[bytes]:
        out = [w.encode() for w in self.words.values()]
        # A meta subject carries the object name in base64url; a KV subject the key as it is.
        out.append(base64.urlsafe_b64encode(self.object_name.encode()).rstrip(b"="))
        return out


def conf(path: Path, body: str) -> list[str]:
    path.write_text(body)
    return ["-c", str(path)]


def store_files(server: ServerProcess) -> dict[str, str]:
    """SHA-256 of every file under the JetStream store directory."""
    root = Path(server.store_dir) / "jetstream"
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def plaintext_found(server: ServerProcess, needles: list[bytes]) -> list[tuple[str, bytes]]:
    found = []
    for p in (Path(server.store_dir) / "jetstream").rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            found += [(str(p), n) for n in needles if n in data]
    return found


async def write_everything(url: str, s: Secrets) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=10)
        await js.add_stream(name="EVENTS", subjects=["ev.>"])
        for i in range(200):
            payload = s.words["payload"].encode() + b"-%d" % i
            await js.publish(f"ev.{s.words['subj']}.{i}", payload, headers={"X-Secret": s.words["hdr"]})
        sub = await js.pull_subscribe("ev.>", durable="reader")
        for m in await sub.fetch(5, timeout=5):
            await m.ack()
        kv = await js.create_key_value(bucket="settings")
        await kv.put(f"k.{s.words['key']}", s.words["value"].encode())
        obs = await js.create_object_store("files")
        await obs.put(s.object_name, s.object_data, meta=_meta(s))
    finally:
        await nc.close()


def _meta(s: Secrets) -> Any:
    from nats.js.api import ObjectMeta

    return ObjectMeta(name=s.object_name, description=s.words["meta"])


async def read_everything(url: str, s: Secrets, *, consumer: bool = True) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream(timeout=10)
        info = await js.stream_info("EVENTS")
        assert info.state.messages == 200
        msg = await js.get_msg("EVENTS", 7)
        assert msg.data == s.words["payload"].encode() + b"-6"
        assert msg.subject == f"ev.{s.words['subj']}.6"
        assert msg.headers is not None and msg.headers["X-Secret"] == s.words["hdr"]
        if consumer:
            ci = await js.consumer_info("EVENTS", "reader")
            assert ci.ack_floor.stream_seq == 5
        kv = await js.key_value("settings")
        assert (await kv.get(f"k.{s.words['key']}")).value == s.words["value"].encode()
        obs = await js.object_store("files")
        got = await obs.get(s.object_name)
        assert got.data == s.object_data
        assert got.info.description == s.words["meta"]
    finally:
        await nc.close()


@pytest.mark.parametrize("cipher", ["chachapoly", "aes"])
@pytest.mark.parametrize("kind", KINDS)
async def test_no_plaintext_in_any_store_file(
    kind: str, cipher: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    s = Secrets()
    args = conf(tmp_path / "s.conf", f'jetstream {{ cipher: {cipher}, key: "{secrets.token_hex(16)}" }}\n')
    srv = server_factory(kind=kind, extra_args=args).start()
    await write_everything(srv.url, s)
    srv.stop()  # a clean stop writes the index, state and consumer files too
    assert plaintext_found(srv, s.needles()) == []
    srv.start()
    await read_everything(srv.url, s)
    srv.stop()
    assert plaintext_found(srv, s.needles()) == []


async def test_same_store_without_key_shows_plaintext(server_factory: type[ServerProcess]) -> None:
    """The scan above can find what it looks for: a plaintext store gives every word away."""
    s = Secrets()
    srv = server_factory(kind="orlop").start()
    await write_everything(srv.url, s)
    srv.stop()
    found = {n for _, n in plaintext_found(srv, s.needles())}
    assert found == set(s.needles())


@pytest.mark.parametrize("kind", KINDS)
async def test_key_rotation_then_old_key_dropped(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    s = Secrets()
    srv = server_factory(
        kind=kind, extra_args=conf(tmp_path / "a.conf", 'jetstream { key: "old-key-1" }\n')
    ).start()
    await write_everything(srv.url, s)
    srv.stop()
    srv.extra_args = conf(tmp_path / "b.conf", 'jetstream { key: "new-key-2", prev_key: "old-key-1" }\n')
    srv.start()
    # nats-server 2.15 drops durable consumers here ("Error adding consumer '$G > EVENTS > reader':
    # error creating store for consumer: cipher: message authentication failed"); Orlop keeps them.
    keeps_consumers = kind == "orlop"
    await read_everything(srv.url, s, consumer=keeps_consumers)
    srv.stop()
    if not keeps_consumers:
        assert "Error adding consumer" in srv.log()
    srv.extra_args = conf(tmp_path / "c.conf", 'jetstream { key: "new-key-2" }\n')
    srv.start()
    await read_everything(srv.url, s, consumer=keeps_consumers)
    srv.stop()
    assert plaintext_found(srv, s.needles()) == []


@pytest.mark.parametrize("kind", KINDS)
async def test_plaintext_store_is_converted(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    s = Secrets()
    srv = server_factory(kind=kind).start()
    await write_everything(srv.url, s)
    srv.stop()
    assert plaintext_found(srv, s.needles())
    srv.extra_args = conf(tmp_path / "k.conf", 'jetstream { key: "turned-on-later" }\n')
    srv.start()
    await read_everything(srv.url, s)
    srv.stop()
    if kind == "orlop":  # nats-server converts its message blocks as it rewrites them, not at once
        assert plaintext_found(srv, s.needles()) == []
    srv.start()
    await read_everything(srv.url, s)


async def test_interrupted_conversion_finishes_at_the_next_start(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """Orlop-only: a crash while a plaintext stream was being sealed leaves its marker; the next start
    (same key) finishes the job, whatever was already sealed."""
    from orlop.server.jetstream.atrest import AtRestKeys, new_stream_cipher, write_sealed

    s = Secrets()
    srv = server_factory(kind="orlop").start()
    await write_everything(srv.url, s)
    srv.stop()
    sdir = Path(srv.store_dir) / "jetstream" / "$G" / "streams" / "EVENTS"
    (sdir / "converting").touch()
    c = new_stream_cipher(AtRestKeys("chachapoly", "resume-key"), sdir)
    state = sdir / "obs" / "reader" / "state.json"
    write_sealed(state, "consumer state reader", c, state.read_bytes())  # one file got done
    srv.extra_args = conf(tmp_path / "k.conf", 'jetstream { key: "resume-key" }\n')
    srv.start()
    await read_everything(srv.url, s)
    srv.stop()
    assert not (sdir / "converting").exists()
    assert plaintext_found(srv, s.needles()) == []


async def test_rotation_rewraps_every_key_file_at_start(
    server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """Orlop-only: the data keys stay, each stream's key file is rewritten under the new key at once."""
    s = Secrets()
    srv = server_factory(
        kind="orlop", extra_args=conf(tmp_path / "a.conf", 'jetstream { key: "k-one" }\n')
    ).start()
    await write_everything(srv.url, s)
    srv.stop()
    before = store_files(srv)
    srv.extra_args = conf(tmp_path / "b.conf", 'jetstream { key: "k-two", prev_key: "k-one" }\n')
    srv.start()
    srv.kill()  # nothing but the start-up work has happened
    after = store_files(srv)
    changed = {name for name in before if before[name] != after.get(name)}
    assert {n for n in changed if n.endswith("meta.key")} == {n for n in before if n.endswith("meta.key")}
    assert not {n for n in changed if n.endswith(".blk")}  # no data rewritten


@pytest.mark.parametrize("wrong", ["other-key", None])
async def test_wrong_or_missing_key_refuses_to_start_and_changes_nothing(
    wrong: str | None, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """Orlop-only (nats-server starts and leaves the stream out): the server stops, naming the stream."""
    s = Secrets()
    srv = server_factory(
        kind="orlop", extra_args=conf(tmp_path / "a.conf", 'jetstream { key: "right-key" }\n')
    ).start()
    await write_everything(srv.url, s)
    srv.stop()
    before = store_files(srv)
    srv.extra_args = conf(tmp_path / "b.conf", f'jetstream {{ key: "{wrong}" }}\n') if wrong else []
    with pytest.raises(RuntimeError) as failed:
        srv.start(timeout=15)
    text = str(failed.value)
    assert "EVENTS" in text or "KV_settings" in text or "OBJ_files" in text
    assert ("wrong jetstream key" in text) if wrong else ("no jetstream key is configured" in text)
    assert store_files(srv) == before
    srv.extra_args = conf(tmp_path / "c.conf", 'jetstream { key: "right-key" }\n')
    srv.start()
    await read_everything(srv.url, s)


async def test_config_errors(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    for body, expected in (
        ('jetstream { cipher: rot13, key: "k" }\n', 'Unknown cipher type: "rot13"'),
        ('jetstream { prev_key: "k" }\n', "prev_key needs the new key"),
        ('jetstream { key: "" }\n', "is empty"),
    ):
        srv = server_factory(kind="orlop", extra_args=conf(tmp_path / "x.conf", body))
        with pytest.raises(RuntimeError, match=expected.replace("(", r"\(")):
            srv.start(timeout=15)


async def test_key_from_environment_variable(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    s = Secrets()
    args = conf(tmp_path / "e.conf", "jetstream { key: $ORLOP_TEST_JS_KEY }\n")
    srv = server_factory(kind="orlop", extra_args=args, env={"ORLOP_TEST_JS_KEY": "from-the-env"}).start()
    await write_everything(srv.url, s)
    srv.stop()
    assert plaintext_found(srv, s.needles()) == []
    srv.env = {"ORLOP_TEST_JS_KEY": "another-value"}
    with pytest.raises(RuntimeError, match="wrong jetstream key"):
        srv.start(timeout=15)


async def test_tampered_record_is_not_served(server_factory: type[ServerProcess], tmp_path: Path) -> None:
    """Orlop-only file format: a sealed record changed on disk (crc fixed up) fails its AEAD tag."""
    import struct
    import zlib

    srv = server_factory(
        kind="orlop", extra_args=conf(tmp_path / "a.conf", 'jetstream { key: "k" }\n')
    ).start()
    nc = await nats.connect(srv.url)
    js = nc.jetstream()
    await js.add_stream(name="T", subjects=["t"])
    for i in range(3):
        await js.publish("t", b"x" * 1000 + bytes([i]))
    await nc.close()
    srv.stop()
    blk = next((Path(srv.store_dir) / "jetstream" / "$G" / "streams" / "T" / "msgs").glob("*.blk"))
    data = bytearray(blk.read_bytes())
    total = struct.unpack_from("<I", data, 4)[0]
    second = total  # the second record starts where the first ends
    data[second + 400] ^= 0x01
    length = struct.unpack_from("<I", data, second + 4)[0]
    struct.pack_into("<I", data, second, zlib.crc32(bytes(data[second + 4 : second + length])))
    blk.write_bytes(bytes(data))
    for idx in blk.parent.glob("*.idx"):
        idx.unlink()
    srv.start()
    nc = await nats.connect(srv.url)
    try:
        js = nc.jetstream()
        assert (await js.get_msg("T", 1)).data == b"x" * 1000 + b"\x00"
        with pytest.raises(nats.js.errors.NotFoundError):
            await js.get_msg("T", 2)
        assert (await js.get_msg("T", 3)).data == b"x" * 1000 + b"\x02"
    finally:
        await nc.close()
    assert "did not open" in srv.log()


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_example() -> str:
    import re

    found = re.search(r"<!-- at-rest-example -->\n```\n(.*?)```", README.read_text(), re.S)
    assert found, "README.md lost its <!-- at-rest-example --> block"
    return found.group(1)


@pytest.mark.parametrize("kind", KINDS)
async def test_readme_example_as_written(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """The README's configuration, started as written (store_dir pointed at a temporary folder)."""
    from orlop.objects import connect

    store = tmp_path / "data"
    text = _readme_example().replace('"./orlop-data"', f'"{store}"')
    conf = tmp_path / "orlop.conf"
    conf.write_text(text)
    srv = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)])
    srv.env = {"ORLOP_STORE_KEY": "a-long-random-secret"}
    srv.start()
    async with connect(srv.url) as client:
        bucket = await client.create_bucket("reports")
        await bucket.put("q3/zqsecretname.pdf", b"zqsecretcontent" * 1000)
    srv.stop()
    raw = b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())
    assert b"zqsecretcontent" not in raw and b"zqsecretname" not in raw
    assert base64.urlsafe_b64encode(b"q3/zqsecretname.pdf").rstrip(b"=") not in raw
    srv.start()
    async with connect(srv.url) as client:
        bucket = await client.bucket("reports")
        assert await bucket.get_bytes("q3/zqsecretname.pdf") == b"zqsecretcontent" * 1000
