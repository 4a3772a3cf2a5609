"""Damage campaign: torn tails and flipped bytes in the files of a stopped server.

One round stores a stream of messages (some deleted) and a bucket of objects
(one deleted), stops the server cleanly, damages its files in one seeded way,
starts it again and reads everything back through a client:

* ``cut-boundary``: a block file cut at a record boundary;
* ``cut-mid``: a block file cut in the middle of a record;
* ``flip-block``: one to three bytes flipped somewhere in a block file;
* ``flip-index`` / ``drop-index``: index files (Orlop's ``.idx``, nats-server's
  ``index.db``) flipped or deleted;
* ``flip-state``: Orlop's ``stream.state`` (nats-server has none: its
  ``index.db`` is flipped instead).

The campaign parses the undamaged block files first (both servers' record
formats) so it knows which messages the damage touched. Then:

* the server must start and answer;
* a message that is served must be byte for byte what was published
  (otherwise *corrupt*); a message that is not served is *lost* unless the
  damage touched its record;
* an object that reads back must be intact; one that does not is *lost*
  unless the damage touched one of its chunks or its metadata;
* when something was dropped, the server's log must say so (Orlop; noted
  for nats-server);
* the next publish gets a sequence above every acknowledged one.
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

import nats
import nats.errors
import nats.js.errors

from campaigns.common import Outcome, digest, quiet, seeded_bytes
from orlop.errors import ObjectStoreError
from orlop.objects import ObjectStoreClient
from orlop.store.records import T_MSG, BlockScan
from orlop.testing import ServerProcess

__all__ = ["DAMAGES", "damage_round"]

DAMAGES = ("cut-boundary", "cut-mid", "flip-block", "flip-index", "drop-index", "flip-state")
LOG_WORDS = ("corrupt", "truncat", "unreadable", "lost", "skipped", "ignored", "rescanned", "rebuil")


@dataclass
class Record:
    offset: int
    length: int
    seq: int
    subject: str


@dataclass
class Expected:
    msgs: dict[int, str] = field(default_factory=dict)  # EVENTS seq -> digest of the payload
    objects: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (digest, nuid)
    last_seq: int = 0


def parse_orlop_block(path: Path) -> list[Record]:
    """Orlop's records, walked by its own scanner (it steps over the holes punched for deleted ones)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        scan = BlockScan(fd, os.fstat(fd).st_size, 0)
        return [Record(r.offset, r.header[1], r.header[7], r.subject.decode(errors="replace"))
                for r in scan if r.header[2] == T_MSG]  # fmt: skip
    finally:
        os.close(fd)


def parse_nats_block(path: Path) -> list[Record]:
    """nats-server's record: rl(4) seq(8) ts(8) slen(2) subject [hlen(4) hdr] msg hash(8)."""
    raw = path.read_bytes()
    out, off = [], 0
    while off + 22 <= len(raw):
        rl, seq, _, slen = struct.unpack_from("<IQqH", raw, off)
        length = rl & 0x7FFFFFFF
        if length < 30 or off + length > len(raw):
            break
        seq &= (1 << 62) - 1  # drop the erased/tombstone bits
        subject = raw[off + 22 : off + 22 + slen].decode(errors="replace")
        out.append(Record(off, length, seq, subject))
        off += length
    return out


def stream_dir(srv: ServerProcess, stream: str) -> Path:
    return Path(srv.store_dir) / "jetstream" / "$G" / "streams" / stream / "msgs"


def block_files(srv: ServerProcess, stream: str) -> list[Path]:
    files = stream_dir(srv, stream).glob("*.blk")
    return sorted(files, key=lambda p: int(p.stem) if p.stem.isdigit() else -1)


async def _store(srv: ServerProcess, rnd: random.Random, seed: int) -> Expected:
    exp = Expected()
    nc = await nats.connect(srv.url, allow_reconnect=False, error_cb=quiet)
    try:
        js = nc.jetstream(timeout=10)
        await js.add_stream(name="EVENTS", subjects=["events.>"])
        for i in range(rnd.randrange(100, 400)):
            data = seeded_bytes(seed * 1000 + i, rnd.choice((8, 100, 2000, 20000)))
            ack = await js.publish(f"events.{i % 5}", data)
            exp.msgs[ack.seq] = digest(data)
            exp.last_seq = ack.seq
        for seq in rnd.sample(sorted(exp.msgs), len(exp.msgs) // 10):
            await js.delete_msg("EVENTS", seq)
            del exp.msgs[seq]
        bucket = await ObjectStoreClient(nc, timeout=10).create_bucket("files")
        for i in range(rnd.randrange(3, 7)):
            data = seeded_bytes(seed * 1000 + 500 + i, rnd.choice((10_000, 150_000, 400_000)))
            info = await bucket.put(f"obj-{i}", data)
            exp.objects[f"obj-{i}"] = (digest(data), info.nuid)
        gone = rnd.choice(sorted(exp.objects))
        await bucket.delete(gone)
        del exp.objects[gone]
    finally:
        await nc.close()
    return exp


def _damage(
    srv: ServerProcess, exp: Expected, rnd: random.Random, how: str
) -> tuple[dict[str, list[Record]], dict[str, set[int]]]:
    """Damage one file; return every stream's records (undamaged) and the seqs the damage touched."""
    parse = parse_orlop_block if srv.kind == "orlop" else parse_nats_block
    records: dict[str, list[Record]] = {}
    files: list[tuple[str, Path, list[Record]]] = []
    for stream in ("EVENTS", "OBJ_files"):
        records[stream] = []
        for path in block_files(srv, stream):
            recs = parse(path)
            records[stream] += recs
            if recs:
                files.append((stream, path, recs))
    touched: dict[str, set[int]] = {"EVENTS": set(), "OBJ_files": set()}
    live = {"EVENTS": set(exp.msgs), "OBJ_files": {r.seq for r in records["OBJ_files"] if _owner(r, exp)}}
    stream, path, recs = rnd.choice(files)
    size = path.stat().st_size

    def hit(start: int, end: int) -> None:
        touched[stream].update(r.seq for r in recs if r.offset < end and start < r.offset + r.length)

    if how in ("cut-boundary", "cut-mid"):
        # Chosen among the live records, so both servers' stores are cut before the same message
        # (nats-server keeps deleted records in place; Orlop punches them out).
        r = rnd.choice([r for r in recs if r.seq in live[stream]] or recs)
        cut = r.offset if how == "cut-boundary" else r.offset + rnd.randrange(1, r.length)
        with open(path, "r+b") as f:
            f.truncate(cut)
        hit(cut, size)
    elif how == "flip-block":
        with open(path, "r+b") as f:
            for _ in range(rnd.randrange(1, 4)):
                at = rnd.randrange(size)
                f.seek(at)
                byte = f.read(1)[0]
                f.seek(at)
                f.write(bytes([byte ^ (1 << rnd.randrange(8))]))
                hit(at, at + 1)
    else:
        d = stream_dir(srv, stream)
        if srv.kind == "orlop":
            target = [d / "stream.state"] if how == "flip-state" else sorted(d.glob("*.idx"))
        else:
            target = [d / "index.db"]
        target = [p for p in target if p.exists()]
        if not target:
            return records, touched
        victim = rnd.choice(target)
        if how == "drop-index":
            victim.unlink()
        else:
            raw = bytearray(victim.read_bytes())
            for _ in range(rnd.randrange(1, 4)):
                raw[rnd.randrange(len(raw))] ^= 1 << rnd.randrange(8)
            victim.write_bytes(bytes(raw))
    return records, touched


async def _verify(
    srv: ServerProcess,
    exp: Expected,
    records: dict[str, list[Record]],
    touched: dict[str, set[int]],
    out: Outcome,
) -> int:
    """Read everything back; return how many acknowledged items were dropped with cause."""
    dropped = 0
    nc = await nats.connect(srv.url, allow_reconnect=False, error_cb=quiet)
    try:
        js = nc.jetstream(timeout=10)
        for seq, want in exp.msgs.items():
            try:
                msg = await js.get_msg("EVENTS", seq)
            except (nats.js.errors.NotFoundError, nats.js.errors.APIError):
                if seq in touched["EVENTS"]:
                    dropped += 1
                else:
                    out.lost += 1
                    out.fail(f"EVENTS seq {seq} not served, its record was not damaged")
                continue
            if digest(msg.data or b"") != want:
                out.corrupt += 1
                out.fail(f"EVENTS seq {seq} served with different bytes")
        bucket = await ObjectStoreClient(nc, timeout=10).bucket("files")
        for name, (want, _) in exp.objects.items():
            mine = {r.seq for r in records["OBJ_files"] if _owner(r, exp) == name}
            try:
                data = await bucket.get_bytes(name)
            except ObjectStoreError as exc:
                if mine & touched["OBJ_files"]:
                    dropped += 1
                else:
                    out.lost += 1
                    out.fail(f"object {name} unreadable ({exc!r}) though no record of it was damaged")
                continue
            if digest(data) != want:
                out.corrupt += 1
                out.fail(f"object {name} read back with different bytes")
        ack = await js.publish("events.next", b"after the damage")
        if ack.seq <= exp.last_seq:
            out.fail(f"seq {ack.seq} handed out again (last acknowledged was {exp.last_seq})")
    finally:
        await nc.close()
    return dropped


def _owner(r: Record, exp: Expected) -> str:
    """The live object a record of the bucket's stream belongs to (a chunk or its metadata), or ""."""
    for name, (_, nuid) in exp.objects.items():
        if r.subject.endswith(nuid) or r.subject.endswith(base64.urlsafe_b64encode(name.encode()).decode()):
            return name
    return ""


async def damage_round(kind: str, seed: int, workdir: Path) -> Outcome:
    """One seeded damage round (see module docstring)."""
    rnd = random.Random(seed)
    how = DAMAGES[seed % len(DAMAGES)]
    out = Outcome()
    store = workdir / "store"
    store.mkdir()
    srv = ServerProcess(kind=kind, store_dir=str(store))
    try:
        srv.start()
        exp = await _store(srv, rnd, seed)
        out.acked_msgs, out.acked_objects = len(exp.msgs), len(exp.objects)
        srv.stop()
        records, touched = _damage(srv, exp, rnd, how)
        out.note(how)
        try:
            srv.start(timeout=30)
        except RuntimeError as exc:
            out.fail(f"did not start after {how}: {str(exc)[-300:]}")
            return out
        dropped = await _verify(srv, exp, records, touched, out)
        if dropped:
            out.note("dropped with damaged records", dropped)
            said = any(w in srv.log().lower() for w in LOG_WORDS)
            if not said and kind == "orlop":
                out.fail(f"{dropped} items dropped after {how} and the log does not say so")
            elif not said:
                out.note("dropped without a log line")
    except (TimeoutError, nats.errors.Error, OSError) as exc:
        out.fail(f"{how}: {exc!r}")
    finally:
        with contextlib.suppress(Exception):
            srv.close()
    return out
