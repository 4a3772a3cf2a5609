"""Encryption at rest for the file engine: an AEAD codec injected into one stream's files.

The file engine stays a plain record store; when a :class:`StoreCipher` is
given, it seals what could tell anything about the data and leaves the
structure readable:

* **Message records** keep their 44-byte header in clear (lengths, seq,
  timestamp, TTL: what recovery and accounting need, nothing a user wrote) and
  carry flag :data:`~orlop.store.records.F_SEALED`. Behind the header come two
  AEAD segments, each ``nonce(12) | ciphertext | tag(16)``: the subject, then
  the message headers and payload together. Both bind the record header as
  associated data, so a seq, timestamp or length cannot be changed without
  the record failing to open. Recovery opens only the small subject segment
  (it never reads payloads), a load opens both. The crc32 of the record still
  covers the stored bytes, so torn tails and damaged spans are found exactly
  as in plaintext.
* **Keys**: one random 32-byte stream key (the *seed*, kept wrapped by the
  server's key in the stream's ``meta.key``, see
  :mod:`orlop.server.jetstream.atrest`); from it HKDF-SHA256 derives a key per
  block file (and per segment kind) and a key per purpose for whole files
  (stream metadata, stream state, index files, consumer files). The server's
  key never encrypts data, so rotating it re-wraps 32 bytes per stream.
* **Nonces** are random (``os.urandom``): a block index can be reused after a
  purge of everything, and a crash can cut off a record whose seq is handed out
  again; counters would then repeat under the same key, random 96-bit nonces
  do not (per-block keys keep each key far below 2^32 messages).
* **Whole files** (:meth:`StoreCipher.seal_blob`) are ``"OEN1" | nonce |
  ciphertext | tag`` with the purpose (which file of which consumer) bound as
  associated data, so files cannot be swapped between purposes.

Ciphers: ``chachapoly`` (ChaCha20-Poly1305, nats-server's default) and
``aes`` (AES-256-GCM), both from the ``cryptography`` package.
"""

from __future__ import annotations

import os
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "BLOB_MAGIC",
    "CIPHERS",
    "NONCE",
    "SEAL_OVERHEAD",
    "TAG",
    "BlockKeys",
    "SealError",
    "StoreCipher",
    "aead",
    "derive_key",
    "is_sealed_blob",
]

NONCE: Final = 12
TAG: Final = 16
SEAL_OVERHEAD: Final = NONCE + TAG
"""Bytes one sealed segment adds to what it seals."""
BLOB_MAGIC: Final = b"OEN1"

CIPHERS: Final = {"chachapoly": 1, "aes": 2}
"""Cipher names as nats-server spells them, and the id recorded in a stream's key file."""

Aead = ChaCha20Poly1305 | AESGCM


class SealError(ValueError):
    """A sealed segment or file did not open: wrong key, or the bytes were changed."""


def aead(cipher: str, key: bytes) -> Aead:
    """The AEAD object of ``cipher`` (a :data:`CIPHERS` name) over a 32-byte key."""
    if cipher == "chachapoly":
        return ChaCha20Poly1305(key)
    if cipher == "aes":
        return AESGCM(key)
    raise ValueError(f"unknown cipher {cipher!r} (use chachapoly or aes)")


def derive_key(secret: bytes, info: bytes) -> bytes:
    """A 32-byte key for one use (``info``) from ``secret`` (HKDF-SHA256, no salt)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def is_sealed_blob(data: bytes) -> bool:
    """True when ``data`` looks like a file written by :meth:`StoreCipher.seal_blob`."""
    return data[:4] == BLOB_MAGIC


class BlockKeys:
    """The two AEADs of one block file: one for subjects, one for headers + payloads."""

    __slots__ = ("body", "subject")

    def __init__(self, subject: Aead, body: Aead) -> None:
        self.subject = subject
        self.body = body

    def seal_msg(self, aad: bytes, subject: bytes, hdr: bytes, data: bytes) -> tuple[bytes, bytes, bytes]:
        """(sealed subject segment, nonce, ciphertext) of one message record.

        The header+payload segment comes as its two parts so a big payload is not copied
        once more only to put 12 bytes in front of it (they are written with one pwritev).
        """
        n1, n2 = os.urandom(NONCE), os.urandom(NONCE)
        rest = hdr + data if hdr else data
        return n1 + self.subject.encrypt(n1, subject, aad), n2, self.body.encrypt(n2, rest, aad)

    def open_subject(self, aad: bytes, segment: bytes | memoryview) -> bytes:
        """The subject of a sealed record. Raises SealError."""
        return _open(self.subject, aad, segment)

    def open_body(self, aad: bytes, segment: bytes | memoryview) -> bytes:
        """Header block + payload of a sealed record. Raises SealError."""
        return _open(self.body, aad, segment)


def _open(box: Aead, aad: bytes, segment: bytes | memoryview) -> bytes:
    if len(segment) < SEAL_OVERHEAD:
        raise SealError("sealed segment too short")
    view = memoryview(segment)  # no copy of a big payload before it is decrypted
    try:
        return box.decrypt(view[:NONCE], view[NONCE:], aad)
    except InvalidTag as exc:
        raise SealError("sealed data did not authenticate (wrong key, or changed on disk)") from exc


class StoreCipher:
    """The keys of one stream's files, derived from its 32-byte ``seed``."""

    def __init__(self, cipher: str, seed: bytes) -> None:
        if cipher not in CIPHERS:
            raise ValueError(f"unknown cipher {cipher!r} (use chachapoly or aes)")
        if len(seed) != 32:
            raise ValueError("a stream key is 32 bytes")
        self.cipher = cipher
        self._seed = seed
        self._blocks: dict[int, BlockKeys] = {}
        self._blobs: dict[str, Aead] = {}

    def block(self, index: int) -> BlockKeys:
        """The keys of block file ``index`` (cached)."""
        keys = self._blocks.get(index)
        if keys is None:
            tag = index.to_bytes(8, "little")
            keys = BlockKeys(
                aead(self.cipher, derive_key(self._seed, b"orlop block subject " + tag)),
                aead(self.cipher, derive_key(self._seed, b"orlop block body " + tag)),
            )
            if len(self._blocks) > 4096:  # a long-lived stream walks through many blocks
                self._blocks.clear()
            self._blocks[index] = keys
        return keys

    def _blob_box(self, purpose: str) -> Aead:
        box = self._blobs.get(purpose)
        if box is None:
            box = aead(self.cipher, derive_key(self._seed, b"orlop file " + purpose.encode()))
            self._blobs[purpose] = box
        return box

    def seal_blob(self, purpose: str, data: bytes) -> bytes:
        """A whole file's contents sealed for ``purpose`` (e.g. ``"stream-meta"``)."""
        nonce = os.urandom(NONCE)
        aad = BLOB_MAGIC + purpose.encode()
        return BLOB_MAGIC + nonce + self._blob_box(purpose).encrypt(nonce, data, aad)

    def open_blob(self, purpose: str, data: bytes) -> bytes:
        """The contents of a file sealed by :meth:`seal_blob` for ``purpose``. Raises SealError."""
        if not is_sealed_blob(data):
            raise SealError("not a sealed file")
        return _open(self._blob_box(purpose), BLOB_MAGIC + purpose.encode(), memoryview(data)[4:])
