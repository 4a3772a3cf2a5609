"""Encryption at rest: the server's key, the stream keys it wraps, rotation and conversion.

``jetstream { cipher: chachapoly|aes, key: "…", prev_key: "…" }`` as nats-server
spells it. The server's key never encrypts data. Each file stream has its own
random 32-byte key (the *seed* of :class:`~orlop.store.cipher.StoreCipher`),
kept in ``<stream dir>/meta.key`` wrapped by a key-encryption key that HKDF
derives from the server's key and the stream's account and name::

    meta.key = "OKY1" | cipher id (1) | nonce (12) | AEAD(kek, seed)
    (associated data: "OKY1" | cipher id | "account/stream")

Everything under the stream directory is then sealed with keys derived from
the seed: message records, index files and the state file by the file engine,
``meta.json`` and each consumer's ``meta.json``/``state.json`` here
(:func:`read_sealed`/:func:`write_sealed`). Stream, consumer and account
*names* still name directories, as in nats-server.

Before any stream opens, :func:`prepare` checks every stream's key file
(read only): a stream whose key file does not open with ``key`` nor
``prev_key``, or an encrypted stream when no key is configured, stops the
server with a message naming it, and no file has been touched. Then:

* **rotation** happens at once: a key file that opened only with ``prev_key``
  is re-wrapped with ``key`` (one atomic 45-byte write per stream; the data
  keys do not change, so no block is rewritten), after which ``prev_key`` can
  be dropped from the configuration;
* **conversion** of a plaintext stream (encryption newly turned on): a
  ``converting`` marker, a new key file, every block rewritten sealed (each
  through a complete, fsynced copy), index files dropped (rebuilt sealed),
  then the state, consumer and stream metadata files sealed, and the marker
  removed. A crash part way leaves the marker, and the next start finishes the
  job (sealed records are copied as they are).

A stream keeps the cipher it was created (or converted) with, recorded in its
key file; ``cipher`` chooses it for new streams. Decrypting a store back to
plaintext is not supported: an encrypted store needs its key.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag

from orlop.errors import StartupError
from orlop.store import fsio
from orlop.store.cipher import CIPHERS, NONCE, SealError, StoreCipher, aead, derive_key, is_sealed_blob
from orlop.store.records import F_SEALED, HEADER_SIZE, T_MSG, BlockScan, encode_sealed_msg
from orlop.store.statefile import read_state, write_state

__all__ = [
    "KEY_FILE",
    "AtRestKeys",
    "new_stream_cipher",
    "open_stream_cipher",
    "prepare",
    "read_sealed",
    "write_sealed",
]

log = logging.getLogger("orlop.jetstream")

KEY_FILE = "meta.key"
_MAGIC = b"OKY1"
_MARKER = "converting"
_CIPHER_NAMES = {v: k for k, v in CIPHERS.items()}


@dataclass(frozen=True)
class AtRestKeys:
    """The configured ``cipher`` (for new streams), ``key`` and ``prev_key`` (text, as configured)."""

    cipher: str
    key: str
    prev_key: str = ""


class _Rejected(Exception):
    """A key file that opens with none of the configured keys."""


def _context(sdir: Path) -> bytes:
    """``account/stream`` of a stream directory ``<root>/<account>/streams/<stream>``."""
    return f"{sdir.parent.parent.name}/{sdir.name}".encode()


def _wrap(key: str, cipher: str, seed: bytes, context: bytes) -> bytes:
    head = _MAGIC + bytes([CIPHERS[cipher]])
    nonce = os.urandom(NONCE)
    box = aead(cipher, derive_key(key.encode(), b"orlop stream key " + context))
    return head + nonce + box.encrypt(nonce, seed, head + context)


def _unwrap(keys: AtRestKeys, data: bytes, context: bytes) -> tuple[str, bytes, bool]:
    """(cipher, seed, opened only with prev_key). Raises _Rejected."""
    if len(data) < 5 + NONCE + 16 or data[:4] != _MAGIC or data[4] not in _CIPHER_NAMES:
        raise _Rejected("not a stream key file")
    cipher, head = _CIPHER_NAMES[data[4]], data[:5]
    for key, old in ((keys.key, False), (keys.prev_key, True)):
        if not key:
            continue
        box = aead(cipher, derive_key(key.encode(), b"orlop stream key " + context))
        try:
            seed = box.decrypt(data[5 : 5 + NONCE], data[5 + NONCE :], head + context)
        except InvalidTag:
            continue
        return cipher, seed, old
    raise _Rejected("the configured key does not open it" + (" (nor does prev_key)" if keys.prev_key else ""))


def _stream_dirs(store_root: Path) -> list[Path]:
    dirs: list[Path] = []
    if not store_root.is_dir():
        return dirs
    for account in sorted(store_root.iterdir()):
        streams = account / "streams"
        if streams.is_dir():
            dirs += sorted(d for d in streams.iterdir() if d.is_dir())
    return dirs


def prepare(keys: AtRestKeys | None, store_root: Path) -> None:
    """Check every stream's key before anything opens, then rotate and convert (see module doc).

    Raises StartupError naming the first stream that cannot be opened; nothing is written then.
    """
    plan: list[tuple[Path, str, bytes, bool]] = []  # (dir, cipher, seed, rewrap)
    plain: list[Path] = []
    for sdir in _stream_dirs(store_root):
        name = f"'{sdir.parent.parent.name} > {sdir.name}'"
        key_file = sdir / KEY_FILE
        if not key_file.is_file():
            if keys is not None and (sdir / "meta.json").is_file():
                plain.append(sdir)
            elif keys is None and _looks_sealed(sdir):
                raise StartupError(f"stream {name} is encrypted but its key file is missing ({key_file})")
            continue
        if keys is None:
            raise StartupError(
                f"stream {name} is encrypted at rest but no jetstream key is configured "
                "(set jetstream { key: ... }); no file was changed"
            )
        try:
            cipher, seed, old = _unwrap(keys, key_file.read_bytes(), _context(sdir))
        except (_Rejected, OSError) as exc:
            raise StartupError(
                f"cannot open encrypted stream {name}: {exc} (wrong jetstream key?); no file was changed"
            ) from exc
        plan.append((sdir, cipher, seed, old))
    for sdir, cipher, seed, old in plan:
        if old and keys is not None:
            fsio.atomic_write(sdir / KEY_FILE, _wrap(keys.key, cipher, seed, _context(sdir)))
            log.info("stream %s: key re-wrapped with the new jetstream key", sdir.name)
        if (sdir / _MARKER).exists():
            _convert(sdir, StoreCipher(cipher, seed))
    for sdir in plain:
        assert keys is not None
        _start_conversion(sdir, keys)


def _looks_sealed(sdir: Path) -> bool:
    try:
        return is_sealed_blob((sdir / "meta.json").read_bytes()[:4])
    except OSError:
        return False


def new_stream_cipher(keys: AtRestKeys, sdir: Path) -> StoreCipher:
    """A fresh stream key for a new stream directory, its key file written (durably) first. Raises OSError."""
    seed = os.urandom(32)
    sdir.mkdir(parents=True, exist_ok=True)
    fsio.atomic_write(sdir / KEY_FILE, _wrap(keys.key, keys.cipher, seed, _context(sdir)))
    return StoreCipher(keys.cipher, seed)


def open_stream_cipher(keys: AtRestKeys | None, sdir: Path) -> StoreCipher | None:
    """The cipher of an existing stream directory (None when it is plaintext). Raises ValueError."""
    key_file = sdir / KEY_FILE
    if keys is None or not key_file.is_file():
        return None
    try:
        cipher, seed, _ = _unwrap(keys, key_file.read_bytes(), _context(sdir))
    except _Rejected as exc:
        raise ValueError(f"{key_file}: {exc}") from exc
    return StoreCipher(cipher, seed)


def read_sealed(path: Path, purpose: str, cipher: StoreCipher | None) -> bytes:
    """A metadata file's contents, opened when sealed. Raises OSError, or ValueError when it does not open.

    A plaintext file in an encrypted stream is returned as it is (a conversion not yet finished).
    """
    data = path.read_bytes()
    if is_sealed_blob(data):
        if cipher is None:
            raise ValueError(f"{path} is encrypted but its stream has no key")
        try:
            return cipher.open_blob(purpose, data)
        except SealError as exc:
            raise ValueError(f"{path}: {exc}") from exc
    return data


def write_sealed(
    path: Path, purpose: str, cipher: StoreCipher | None, data: bytes, *, sync: bool = True
) -> None:
    """Replace ``path`` atomically by ``data`` (sealed for ``purpose`` with ``cipher``). Raises OSError."""
    fsio.atomic_write(path, data if cipher is None else cipher.seal_blob(purpose, data), sync=sync)


# --------------------------------------------------------------------------- conversion


def _start_conversion(sdir: Path, keys: AtRestKeys) -> None:
    marker = sdir / _MARKER
    marker.touch()
    fsio.fsync_dir(sdir)
    cipher = new_stream_cipher(keys, sdir)
    log.info("stream %s: encrypting its files at rest (%s)", sdir.name, keys.cipher)
    _convert(sdir, cipher)


def _convert(sdir: Path, cipher: StoreCipher) -> None:
    """Seal every file of a stream directory whose key file exists (idempotent)."""
    msgs = sdir / "msgs"
    if msgs.is_dir():
        for idx in msgs.glob("*.idx"):
            idx.unlink()  # caches, and their subjects may be plaintext: rebuilt sealed at open
        for blk in sorted(msgs.glob("*.blk")):
            if blk.stem.isdigit():
                _convert_block(blk, int(blk.stem), cipher)
        try:
            state = read_state(msgs, cipher)
        except ValueError:
            state = None
        if state is not None:
            write_state(msgs, state, cipher)
        fsio.fsync_dir(msgs)
    obs = sdir / "obs"
    if obs.is_dir():
        for cdir in sorted(d for d in obs.iterdir() if d.is_dir()):
            for fname, purpose in (("meta.json", "consumer meta "), ("state.json", "consumer state ")):
                path = cdir / fname
                if path.is_file():
                    data = read_sealed(path, purpose + cdir.name, cipher)
                    write_sealed(path, purpose + cdir.name, cipher, data)
    meta = sdir / "meta.json"
    if meta.is_file():
        write_sealed(meta, "stream meta", cipher, read_sealed(meta, "stream meta", cipher))
    (sdir / _MARKER).unlink(missing_ok=True)
    fsio.fsync_dir(sdir)


def _convert_block(path: Path, index: int, cipher: StoreCipher) -> None:
    """Rewrite one block with its plaintext message records sealed (through a complete, synced copy)."""
    data = path.read_bytes()
    keys = cipher.block(index)
    out: list[bytes] = []
    changed = dropped = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        scan = BlockScan(fd, len(data), len(data))
        for r in scan:
            _, total, rtype, flags, slen, hlen, dlen, seq, ts, ttl = r.header
            record = data[r.offset : r.offset + total]
            if not r.ok:
                dropped += 1  # dead (punched) or damaged: it could not be served anyway
                changed += 1
                continue
            if rtype == T_MSG and not flags & F_SEALED:
                s = HEADER_SIZE
                subject, hdr = record[s : s + slen], record[s + slen : s + slen + hlen]
                body = record[s + slen + hlen :]
                parts, _ = encode_sealed_msg(keys, seq, ts, subject, hdr, body, flags, dlen, ttl)
                record = b"".join(parts)
                changed += 1
            out.append(record)
        if scan.end < len(data):
            changed += 1  # a torn tail: cut, as the next open would
    finally:
        os.close(fd)
    if not changed:
        return
    if dropped:
        log.warning("%s: %d unreadable records dropped while encrypting", path, dropped)
    tmp = path.with_suffix(".tmp")
    tfd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fsio.pwrite_all(tfd, b"".join(out), 0)
        os.fsync(tfd)
    except OSError:
        os.close(tfd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(tfd)
    os.replace(tmp, path)
