"""Client-side encryption: round trips, range reads, tampering, keys, rekey, what other clients see.

Tampering is done as an attacker with write access to the bucket would: raw
chunk messages read and republished with nats-py, and the meta rewritten so
its size, chunk count and digest match the tampered chunks (the AEAD, not the
digest, has to catch it).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import nats
import nats.js.errors
import pytest

from orlop.errors import BadRequest, DecryptionFailed, RevisionMismatch
from orlop.objects import Bucket, Key, Keyring, ObjectInfo, ObjectStoreClient
from orlop.objects import sync as osync
from orlop.objects.meta import chunk_subject, digest_string, meta_subject
from orlop.testing import ServerProcess

KEY = Key(bytes(range(32)), id="k1")
OTHER = Key(bytes(range(1, 33)), id="k1")  # same id, different key: a wrong key
CHUNK = 1000


@pytest.fixture
async def js(server: ServerProcess) -> AsyncIterator[Any]:
    nc = await nats.connect(server.url)
    try:
        yield nc.jetstream(timeout=20)
    finally:
        await nc.close()


async def raw_chunks(js: Any, info: ObjectInfo) -> list[tuple[int, bytes]]:
    """``(stream sequence, payload)`` of every chunk message of ``info``, read with nats-py."""
    subject, seq, out = chunk_subject(info.bucket, info.nuid), 1, []
    while True:
        try:
            msg = await js.get_msg(f"OBJ_{info.bucket}", seq=seq, subject=subject, next=True)
        except nats.js.errors.NotFoundError:
            return out
        out.append((msg.seq, msg.data or b""))
        seq = msg.seq + 1


async def forge(js: Any, info: ObjectInfo, payloads: list[bytes], **meta: Any) -> None:
    """Replace ``info``'s chunks with ``payloads`` and publish a consistent meta (size, chunks, digest)."""
    subject = chunk_subject(info.bucket, info.nuid)
    await js.purge_stream(f"OBJ_{info.bucket}", subject=subject)
    for p in payloads:
        await js.publish(subject, p)
    joined = b"".join(payloads)
    forged = info.evolve(
        size=len(joined), chunks=len(payloads), digest=digest_string(hashlib.sha256(joined).digest()), **meta
    )
    await js.publish(meta_subject(info.bucket, info.name), forged.to_json(), headers={"Nats-Rollup": "sub"})


@pytest.mark.parametrize("compression", [None, "s2"])
@pytest.mark.parametrize("size", [0, 1, CHUNK, CHUNK + 1, 5 * CHUNK + 7])
async def test_round_trip_sizes(bucket: Bucket, js: Any, size: int, compression: str | None) -> None:
    data = os.urandom(size // 2) + b"a" * (size - size // 2)  # half compressible
    info = await bucket.put("obj", data, chunk_size=CHUNK, compression=compression, encryption=KEY)
    assert info.encryption == "aes-256-gcm" and info.key_id == "k1"
    assert info.original_size == size
    assert info.chunks == max(1, -(-size // CHUNK))  # an empty object is one sealed chunk
    stored = await raw_chunks(js, info)
    assert len(stored) == info.chunks
    assert info.size == sum(len(p) for _, p in stored)
    assert info.digest == digest_string(hashlib.sha256(b"".join(p for _, p in stored)).digest())
    assert await bucket.get_bytes("obj", encryption=KEY) == data
    fetched = await bucket.info("obj")
    assert fetched.original_size == size and fetched.to_dict()["encryption"] == "aes-256-gcm"


async def test_default_chunks_streamed_and_chacha(bucket: Bucket, tmp_path: Path) -> None:
    """A 20 MiB object with default (1 MiB class) chunks: downloads stream it through the consumer."""
    data = os.urandom(20 << 20)
    key = Key(os.urandom(32), id="chacha", scheme="chacha20-poly1305")
    info = await bucket.put("big", data, encryption=key)
    assert info.encryption == "chacha20-poly1305"
    assert info.max_chunk_size is not None and info.max_chunk_size + 16 <= bucket.max_payload
    await bucket.download("big", tmp_path / "big", encryption=key)
    assert (tmp_path / "big").read_bytes() == data
    # And from a file source of unknown length (an iterator of pieces).
    await bucket.put("iter", (data[i : i + 77_777] for i in range(0, len(data), 77_777)), encryption=key)
    assert await bucket.get_bytes("iter", encryption=key) == data


async def test_stored_payloads_hold_no_plaintext(bucket: Bucket, js: Any) -> None:
    marker = b"PLAINTEXT-MARKER-0123456789"
    data = marker * 2000
    for compression in (None, "s2"):
        info = await bucket.put(
            f"m-{compression}", data, compression=compression, chunk_size=4096, encryption=KEY
        )
        for _, payload in await raw_chunks(js, info):
            assert marker[:12] not in payload
        meta = await js.get_msg(
            f"OBJ_{bucket.name}", subject=meta_subject(bucket.name, info.name), seq=1, next=True
        )
        assert marker[:12] not in meta.data and hashlib.sha256(data).hexdigest() not in meta.data.decode()


async def test_range_reads_decrypt_only_needed_chunks(bucket: Bucket) -> None:
    data = os.urandom(300 * CHUNK + 11)
    await bucket.put("r", data, chunk_size=CHUNK, encryption=KEY)
    for offset, length in [(0, 10), (999, 2), (150_500, 3_000), (len(data) - 5, 100), (len(data), 5)]:
        got = await bucket.read_range("r", offset, length, encryption=KEY)
        assert got == data[offset : offset + length], (offset, length)
    reader = await bucket.get("r", encryption=KEY)
    await reader.seek(123_456)
    assert await reader.read(1500) == data[123_456:124_956]
    assert reader.bytes_fetched <= 3 * (CHUNK + 16)  # two chunks needed, not the object
    await reader.aclose()


async def test_wrong_key_no_key_and_key_for_plaintext(bucket: Bucket, tmp_path: Path) -> None:
    await bucket.put("secret", b"s" * 5000, chunk_size=CHUNK, encryption=KEY)
    await bucket.put("plain", b"p" * 10)
    with pytest.raises(DecryptionFailed, match="a key is needed") as no_key:
        await bucket.get_bytes("secret")
    assert no_key.value.code == 422 and no_key.value.err_code == 10422
    with pytest.raises(DecryptionFailed, match="wrong key"):
        await bucket.get_bytes("secret", encryption=OTHER)
    with pytest.raises(DecryptionFailed, match="not among the keys"):
        await bucket.read_range("secret", 0, 10, encryption=Key(os.urandom(32), id="k2"))
    with pytest.raises(DecryptionFailed, match="passphrase"):
        await bucket.get_bytes("secret", encryption=Key.from_passphrase("pw", id="k1"))
    with pytest.raises(DecryptionFailed, match="not encrypted"):
        await bucket.get_bytes("plain", encryption=KEY)
    with pytest.raises(DecryptionFailed):
        await bucket.download("secret", tmp_path / "out", encryption=OTHER)
    assert not list(tmp_path.iterdir())  # no file, no partial file
    assert await bucket.get_bytes("plain") == b"p" * 10


async def _tampered(bucket: Bucket, js: Any, name: str, change: Callable[[list[bytes]], list[bytes]]) -> None:
    info = await bucket.info(name)
    payloads = [p for _, p in await raw_chunks(js, info)]
    await forge(js, info, change(payloads))


def _flip(payloads: list[bytes]) -> list[bytes]:
    p = bytearray(payloads[1])
    p[5] ^= 1
    return [payloads[0], bytes(p), *payloads[2:]]


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(_flip, id="flip-byte"),
        pytest.param(lambda p: [p[1], p[0], *p[2:]], id="swap-two"),
        pytest.param(lambda p: p[:-1], id="drop-last"),
        pytest.param(lambda p: [], id="drop-all"),
    ],
)
async def test_tampering_is_detected(bucket: Bucket, js: Any, change: Any) -> None:
    await bucket.put("t", os.urandom(4 * CHUNK + 3), chunk_size=CHUNK, encryption=KEY)
    await _tampered(bucket, js, "t", change)
    with pytest.raises(DecryptionFailed):
        await bucket.get_bytes("t", encryption=KEY)


async def test_tampering_of_small_objects_and_sizes(bucket: Bucket, js: Any) -> None:
    # An empty object and a one-chunk object cannot be emptied by dropping their chunk.
    for name, data in (("empty", b""), ("one", b"x" * 10)):
        await bucket.put(name, data, encryption=KEY)
        await _tampered(bucket, js, name, lambda p: [])
        with pytest.raises(DecryptionFailed, match="no chunks"):
            await bucket.get_bytes(name, encryption=KEY)
    # A size header cut short cannot hide the chunks after it.
    data = os.urandom(4 * CHUNK)
    info = await bucket.put("cut", data, chunk_size=CHUNK, encryption=KEY)
    headers = {**info.headers, "Orlop-Original-Size": [str(2 * CHUNK)]}
    await forge(js, info, [p for _, p in await raw_chunks(js, info)], headers=headers)
    with pytest.raises(DecryptionFailed):
        await bucket.get_bytes("cut", encryption=KEY)
    with pytest.raises(DecryptionFailed):
        await bucket.read_range("cut", CHUNK, 10 * CHUNK, encryption=KEY)
    # ... nor can it be made larger.
    info = await bucket.put("grow", data, chunk_size=CHUNK, encryption=KEY)
    headers = {**info.headers, "Orlop-Original-Size": [str(4 * CHUNK + 10)]}
    await forge(js, info, [p for _, p in await raw_chunks(js, info)], headers=headers)
    with pytest.raises(DecryptionFailed):
        await bucket.get_bytes("grow", encryption=KEY)


async def test_chunks_swapped_between_objects(bucket: Bucket, js: Any) -> None:
    a, b = os.urandom(3 * CHUNK), os.urandom(3 * CHUNK)
    await bucket.put("a", a, chunk_size=CHUNK, encryption=KEY)
    info_b = await bucket.put("b", b, chunk_size=CHUNK, encryption=KEY)
    chunks_b = [p for _, p in await raw_chunks(js, info_b)]
    await _tampered(bucket, js, "a", lambda p: [p[0], chunks_b[1], p[2]])
    with pytest.raises(DecryptionFailed):
        await bucket.get_bytes("a", encryption=KEY)
    # The wrapped key of one object does not open another (it is bound to the nuid).
    info_a = await bucket.info("a")
    stolen = {**info_a.headers, "Orlop-Wrapped-Key": info_b.headers["Orlop-Wrapped-Key"]}
    await forge(js, info_a, [p for _, p in await raw_chunks(js, info_a)], headers=stolen)
    with pytest.raises(DecryptionFailed, match="wrong key"):
        await bucket.get_bytes("a", encryption=KEY)
    assert await bucket.get_bytes("b", encryption=KEY) == b


async def test_rekey_rewrites_only_the_wrapped_key(bucket: Bucket, js: Any) -> None:
    data = os.urandom(5 * CHUNK)
    info = await bucket.put("r", data, chunk_size=CHUNK, encryption=KEY)
    before = await raw_chunks(js, info)
    new = Key(os.urandom(32), id="k2")
    rekeyed = await bucket.rekey("r", old=KEY, new=new)
    assert rekeyed.key_id == "k2" and rekeyed.nuid == info.nuid and rekeyed.revision > info.revision
    assert rekeyed.headers["Orlop-Wrapped-Key"] != info.headers["Orlop-Wrapped-Key"]
    assert await raw_chunks(js, rekeyed) == before  # same sequences, same bytes
    assert await bucket.get_bytes("r", encryption=new) == data
    with pytest.raises(DecryptionFailed, match="not among the keys"):
        await bucket.get_bytes("r", encryption=KEY)
    with pytest.raises(DecryptionFailed, match="wrong key"):
        await bucket.rekey("r", old=Key(os.urandom(32), id="k2"), new=KEY)
    # To a passphrase and back, with a keyring; rekeying a plaintext object is refused.
    pw = Key.from_passphrase("correct horse", id="pw")
    await bucket.rekey("r", old=Keyring([KEY, new]), new=pw)
    assert await bucket.get_bytes("r", encryption=Key.from_passphrase("correct horse", id="pw")) == data
    await bucket.put("plain", b"x")
    with pytest.raises(DecryptionFailed, match="not encrypted"):
        await bucket.rekey("plain", old=KEY, new=new)


async def test_rekey_is_conditional(
    bucket: Bucket, client: ObjectStoreClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    await bucket.put("c", b"c" * 10, encryption=KEY)
    other = await client.bucket(bucket.name)
    real = bucket.info

    async def stale(name: str, **kw: Any) -> ObjectInfo:
        info = await real(name, **kw)
        await other.update_meta(name, description="changed meanwhile")
        return info

    monkeypatch.setattr(bucket, "info", stale)
    with pytest.raises(RevisionMismatch):
        await bucket.rekey("c", old=KEY, new=Key(os.urandom(32), id="k9"))


async def test_keyring_passphrase_key_file_and_rename(bucket: Bucket, tmp_path: Path) -> None:
    old, new = Key(os.urandom(32), id="2025"), Key(os.urandom(32), id="2026")
    await bucket.put("old", b"old data", encryption=old)
    ring = Keyring([new, old])
    info = await bucket.put("new", b"new data", encryption=ring)
    assert info.key_id == "2026"
    assert await bucket.get_bytes("old", encryption=ring) == b"old data"
    assert await bucket.get_bytes("new", encryption=ring) == b"new data"

    pw = Key.from_passphrase("s3cret pass", id="pw")
    info = await bucket.put("pw", b"by passphrase", encryption=pw)
    assert info.header(
        "Orlop-Key-Kdf",
    ).startswith("scrypt;n=32768;r=8;p=1;salt=")  # type: ignore[union-attr]
    fresh = Key.from_passphrase("s3cret pass", id="pw")  # another process: derives from the stored salt
    assert await bucket.get_bytes("pw", encryption=fresh) == b"by passphrase"
    with pytest.raises(DecryptionFailed, match="wrong key"):
        await bucket.get_bytes("pw", encryption=Key.from_passphrase("guess", id="pw"))

    raw = os.urandom(32)
    (tmp_path / "k.bin").write_bytes(raw)
    (tmp_path / "k.txt").write_text(base64.b64encode(raw).decode() + "\n")
    (tmp_path / "k.hex").write_text(raw.hex())
    await bucket.put("f", b"by key file", encryption=Key.from_file(tmp_path / "k.bin"))
    for name in ("k.txt", "k.hex"):
        assert await bucket.get_bytes("f", encryption=Key.from_file(tmp_path / name)) == b"by key file"
    (tmp_path / "bad").write_text("not a key")
    with pytest.raises(BadRequest):
        Key.from_file(tmp_path / "bad")
    with pytest.raises(BadRequest):
        Key(b"short")
    with pytest.raises(BadRequest):
        Keyring([old, Key(os.urandom(32), id="2025")])

    # A rename keeps the nuid the chunks are bound to; users cannot forge Orlop- headers.
    await bucket.update_meta("f", name="g", headers={"X-A": "1"})
    assert await bucket.get_bytes("g", encryption=Key.from_file(tmp_path / "k.bin")) == b"by key file"
    with pytest.raises(BadRequest, match="reserved"):
        await bucket.put("h", b"x", headers={"Orlop-Encryption": "none"})


async def test_copy_encrypted(bucket: Bucket) -> None:
    data = os.urandom(3 * CHUNK)
    await bucket.put("src", data, chunk_size=CHUNK, encryption=KEY)
    copied = await bucket.copy("src", "dst", encryption=KEY)
    assert copied.encryption and copied.nuid != (await bucket.info("src")).nuid
    assert await bucket.get_bytes("dst", encryption=KEY) == data
    plain = await bucket.copy("src", "plain", encryption=KEY, to_encryption=None)
    assert plain.encryption is None and await bucket.get_bytes("plain") == data


async def test_history_revisions_and_links(client: ObjectStoreClient) -> None:
    b = await client.create_bucket("hist", history=5)
    await b.put("v", b"one", encryption=KEY)
    await b.put("v", b"two", encryption=KEY)
    revs = await b.versions("v")
    assert [await b.get_bytes("v", revision=r.revision, encryption=KEY) for r in revs] == [b"one", b"two"]
    await b.add_link("l", await b.info("v"))
    assert await b.get_bytes("l", encryption=KEY) == b"two"


def test_sync_twin(server: ServerProcess, tmp_path: Path) -> None:
    with osync.connect(server.url) as c:
        b = c.create_bucket("synced")
        b.put("s", b"sync data" * 500, chunk_size=CHUNK, encryption=KEY)
        assert b.get_bytes("s", encryption=KEY) == b"sync data" * 500
        assert b.read_range("s", 1000, 9, encryption=KEY) == (b"sync data" * 500)[1000:1009]
        with b.get("s", encryption=KEY) as reader:
            assert reader.read(9) == b"sync data"
        b.download("s", tmp_path / "s", encryption=KEY)
        assert (tmp_path / "s").read_bytes() == b"sync data" * 500
        new = Key(os.urandom(32), id="n")
        b.rekey("s", old=KEY, new=new)
        assert b.get_bytes("s", encryption=new) == b"sync data" * 500
        with pytest.raises(DecryptionFailed):
            b.get_bytes("s")


def _pattern(i: int) -> bytes:
    return hashlib.sha256(i.to_bytes(8, "big")).digest() * (1 << 15)  # 1 MiB, cheap to regenerate


async def test_300_mib_round_trip(orlop_server: ServerProcess, tmp_path: Path) -> None:
    """300 MiB streamed in and out (constant memory), compared by SHA-256."""
    from orlop.objects import connect

    mib = 300
    want = hashlib.sha256()
    for i in range(mib):
        want.update(_pattern(i))

    async def source() -> AsyncIterator[bytes]:
        for i in range(mib):
            yield _pattern(i)

    async with connect(orlop_server.url) as c:
        b = await c.create_bucket("huge")
        info = await b.put("big", source(), encryption=KEY)
        assert info.original_size == mib << 20 and info.size > info.original_size
        await b.download("big", tmp_path / "big", encryption=KEY)
    got = hashlib.sha256()
    with open(tmp_path / "big", "rb") as f:
        while block := f.read(1 << 22):
            got.update(block)
    assert got.digest() == want.digest()
