"""Client-side object encryption: keys, keyrings and the per-chunk AEAD scheme.

Why this shape:

* **A data key per object.** Every put draws a fresh random 32-byte data key
  (DEK) and encrypts each stored chunk with an AEAD (AES-256-GCM by default,
  ChaCha20-Poly1305 on request). The DEK is stored *wrapped* (AEAD-encrypted)
  under the user's key (the KEK) in the object's headers, so rotating a key
  (:meth:`orlop.objects.Bucket.rekey`) rewrites one header in one conditional
  meta write and never touches the chunks.
* **Nonce = chunk index.** Chunk *i* is sealed with the 12-byte big-endian
  encoding of *i* as nonce. That is safe because no DEK is ever used for two
  objects: uniqueness of (key, nonce) follows from uniqueness of the index.
* **Associated data binds position and identity.** AAD of chunk *i* is
  ``b"orlop-obj-v1\\0" + nuid + i (8 bytes, big-endian) + final (1 byte)``.
  The ``nuid`` (the object's chunk subject token, kept by renames and
  ``update_meta``) stops chunks moving between objects, the index stops
  reordering, and the final flag (1 on the last chunk only) stops truncation:
  a reader that believes chunk *k* is the last opens it with final=1 and fails
  unless it really was. An encrypted object therefore always has at least one
  chunk: the empty object is one sealed empty chunk (16 bytes of tag), so
  "no chunks" can never pass for "empty". A read that reaches the end of the
  object always authenticates the final chunk (:class:`.reader.ObjectReader`),
  even when the (unauthenticated) size header claims it was not needed.
* **Wrapping.** ``Orlop-Wrapped-Key`` is base64 of ``nonce(12) || AEAD(KEK,
  DEK, aad=b"orlop-wrap-v1\\0" + scheme + "\\0" + nuid + "\\0" + key id)``
  with a random nonce. A passphrase KEK comes from scrypt (n=2**15, r=8, p=1:
  ~32 MiB and ~0.1 s once per salt); the salt is drawn once per
  :class:`Key` instance and recorded in ``Orlop-Key-Kdf`` (with the
  parameters, so they can grow later; readers refuse n above 2**20), and
  derived keys are cached per salt, so a process pays scrypt once per salt.
* **What the meta says** (the compression precedent, :mod:`.compression`):
  ``size``/``chunks``/``digest`` describe the *stored ciphertext*, because
  nats.go, nats.js and nats-py verify the digest and size of what they
  download; ``Orlop-Original-Size`` is the plaintext size and
  ``options.max_chunk_size`` the plaintext chunk size. No plaintext digest is
  recorded anywhere in clear (it would confirm a guessed plaintext); the AEAD
  tags and the final marker are the plaintext's integrity. With compression,
  each chunk is compressed first, then encrypted.
* **Headers**: ``Orlop-Encryption`` (the scheme), ``Orlop-Key-Id``,
  ``Orlop-Wrapped-Key``, for passphrase keys ``Orlop-Key-Kdf``. They live in
  the reserved ``Orlop-`` space: put refuses them from users, ``update_meta``
  keeps them. Official clients download the ciphertext (digest verifies) and
  see these headers.

A read given a key for an object that is not encrypted fails too (DecryptionFailed):
otherwise whoever can write the bucket could swap in a plaintext object and the
reader, expecting confidentiality and authenticity, would not notice.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import threading
from collections.abc import Iterable
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from orlop.errors import BadRequest, DecryptionFailed

__all__ = [
    "DEFAULT_SCHEME",
    "ENCRYPTION_HEADER",
    "HEADERS",
    "KDF_HEADER",
    "KEY_ID_HEADER",
    "SCHEMES",
    "TAG_SIZE",
    "WRAPPED_KEY_HEADER",
    "Key",
    "Keyring",
    "ObjectCipher",
    "as_keyring",
    "open_object",
    "rewrap",
    "seal_object",
]

ENCRYPTION_HEADER = "Orlop-Encryption"
KEY_ID_HEADER = "Orlop-Key-Id"
WRAPPED_KEY_HEADER = "Orlop-Wrapped-Key"
KDF_HEADER = "Orlop-Key-Kdf"
HEADERS = frozenset({ENCRYPTION_HEADER, KEY_ID_HEADER, WRAPPED_KEY_HEADER, KDF_HEADER})
SCHEMES: dict[str, Any] = {"aes-256-gcm": AESGCM, "chacha20-poly1305": ChaCha20Poly1305}
DEFAULT_SCHEME = "aes-256-gcm"
TAG_SIZE = 16
KEY_SIZE = 32
_NONCE = 12
_CHUNK_AAD = b"orlop-obj-v1\0"
_WRAP_AAD = b"orlop-wrap-v1\0"
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1
_SCRYPT_MAX_N = 2**20
_SALT = 16
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:")


def _check_scheme(scheme: str) -> str:
    if scheme not in SCHEMES:
        raise BadRequest(f"unsupported encryption scheme {scheme!r}: use one of {', '.join(SCHEMES)}")
    return scheme


def _check_id(key_id: str) -> str:
    if not isinstance(key_id, str) or not key_id or len(key_id) > 64 or not set(key_id) <= _ID_CHARS:
        raise BadRequest(f"invalid key id {key_id!r}: 1-64 letters, digits, '-', '_', '.', ':'")
    return key_id


def _decode_key_text(text: str) -> bytes | None:
    """32 bytes from 64 hex digits or base64 (standard or URL-safe), else None."""
    text = text.strip()
    if len(text) == 2 * KEY_SIZE:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        return None
    return raw if len(raw) == KEY_SIZE else None


def _kdf_header(salt: bytes, n: int, r: int, p: int) -> str:
    return f"scrypt;n={n};r={r};p={p};salt={base64.b64encode(salt).decode('ascii')}"


def _parse_kdf(value: str) -> tuple[bytes, int, int, int]:
    """``(salt, n, r, p)`` of an ``Orlop-Key-Kdf`` header; DecryptionFailed when unusable."""
    name, *pairs = value.split(";")
    fields = dict(p.split("=", 1) for p in pairs if "=" in p)
    try:
        n, r, p = int(fields["n"]), int(fields["r"]), int(fields["p"])
        salt = base64.b64decode(fields["salt"], validate=True)
    except (KeyError, ValueError, binascii.Error) as e:
        raise DecryptionFailed(f"unreadable {KDF_HEADER} header {value!r}") from e
    if name != "scrypt" or not 1 < n <= _SCRYPT_MAX_N or n & (n - 1) or not 0 < r <= 32 or not 0 < p <= 16:
        raise DecryptionFailed(f"unsupported key derivation {value!r}")
    return salt, n, r, p


class Key:
    """One key encryption key (KEK) with an id: raw 32 bytes, a passphrase, or a key file.

    ``Key(raw, id=...)``: 32 random bytes (``Key.generate()`` makes some).
    ``Key.from_passphrase(text)``: scrypt-derived, see the module docstring.
    ``Key.from_file(path)``: 32 raw bytes, or 64 hex digits / base64 of 32 bytes as text.
    ``id`` is stored in clear in each object's headers; readers pick the key by it.
    ``scheme`` is the AEAD of objects this key encrypts (any scheme is decrypted).
    Raises BadRequest for a malformed key, id or scheme.
    """

    def __init__(self, material: bytes, *, id: str = "default", scheme: str = DEFAULT_SCHEME) -> None:
        if not isinstance(material, bytes | bytearray) or len(material) != KEY_SIZE:
            raise BadRequest(
                f"an encryption key is exactly {KEY_SIZE} bytes (got a {type(material).__name__})"
            )
        self._material: bytes | None = bytes(material)
        self._passphrase: bytes | None = None
        self.id = _check_id(id)
        self.scheme = _check_scheme(scheme)
        self._salt: bytes | None = None
        self._derived: dict[tuple[bytes, int, int, int], bytes] = {}
        self._lock = threading.Lock()

    @classmethod
    def generate(cls, *, id: str = "default", scheme: str = DEFAULT_SCHEME) -> Key:
        """A new random key (keep ``key.material`` somewhere safe, e.g. a key file)."""
        return cls(secrets.token_bytes(KEY_SIZE), id=id, scheme=scheme)

    @classmethod
    def from_passphrase(
        cls, passphrase: str | bytes, *, id: str = "passphrase", scheme: str = DEFAULT_SCHEME
    ) -> Key:
        """A key derived with scrypt from ``passphrase`` (per-instance random salt, see module docs)."""
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
        if not secret:
            raise BadRequest("the passphrase is empty")
        key = cls(bytes(KEY_SIZE), id=id, scheme=scheme)
        key._material, key._passphrase = None, secret
        return key

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], *, id: str = "default", scheme: str = DEFAULT_SCHEME
    ) -> Key:
        """The key in ``path``: 32 raw bytes, or 64 hex digits or base64 of 32 bytes (one line)."""
        with open(path, "rb") as f:
            data = f.read(4096)
        if len(data) == KEY_SIZE:
            return cls(data, id=id, scheme=scheme)
        try:
            raw = _decode_key_text(data.decode("ascii"))
        except UnicodeDecodeError:
            raw = None
        if raw is None:
            raise BadRequest(
                f"{os.fspath(path)}: not a key (32 raw bytes, or 64 hex digits or base64 of 32 bytes)"
            )
        return cls(raw, id=id, scheme=scheme)

    @classmethod
    def from_text(cls, text: str, *, id: str = "default", scheme: str = DEFAULT_SCHEME) -> Key:
        """A raw key given as 64 hex digits or base64 of 32 bytes (BadRequest otherwise)."""
        raw = _decode_key_text(text)
        if raw is None:
            raise BadRequest("not a key: give 32 bytes as base64 or 64 hex digits")
        return cls(raw, id=id, scheme=scheme)

    @property
    def material(self) -> bytes:
        """The raw 32 bytes (BadRequest for a passphrase key: it has one per salt)."""
        if self._material is None:
            raise BadRequest("a passphrase key has no single key material")
        return self._material

    @property
    def is_passphrase(self) -> bool:
        return self._passphrase is not None

    def __repr__(self) -> str:
        kind = "passphrase" if self.is_passphrase else "raw"
        return f"Key(id={self.id!r}, {kind}, scheme={self.scheme!r})"

    def _derive(self, salt: bytes, n: int, r: int, p: int) -> bytes:
        assert self._passphrase is not None
        with self._lock:
            cached = self._derived.get((salt, n, r, p))
            if cached is None:
                cached = Scrypt(salt=salt, length=KEY_SIZE, n=n, r=r, p=p).derive(self._passphrase)
                self._derived[(salt, n, r, p)] = cached
            return cached

    def kek_for_write(self) -> tuple[bytes, str | None]:
        """``(KEK, Orlop-Key-Kdf value or None)`` to wrap a new data key with."""
        if self._material is not None:
            return self._material, None
        if self._salt is None:
            self._salt = secrets.token_bytes(_SALT)
        return self._derive(self._salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P), _kdf_header(
            self._salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P
        )

    def kek_for_read(self, kdf: str | None) -> bytes:
        """The KEK for an object whose ``Orlop-Key-Kdf`` is ``kdf``; DecryptionFailed on a kind mismatch."""
        if self._material is not None:
            if kdf:
                raise DecryptionFailed(
                    f"the object's key {self.id!r} is a passphrase key, a raw key was given"
                )
            return self._material
        if not kdf:
            raise DecryptionFailed(f"the object's key {self.id!r} is a raw key, a passphrase was given")
        return self._derive(*_parse_kdf(kdf))


class Keyring:
    """Keys by id: the first (primary) encrypts new objects, any of them decrypts by id.

    Rotation: put the new key first, keep the old ones for reading, and
    :meth:`orlop.objects.Bucket.rekey` objects until no object names an old id.
    Raises BadRequest when empty or when two keys share an id.
    """

    def __init__(self, keys: Iterable[Key]) -> None:
        self.keys = list(keys)
        if not self.keys:
            raise BadRequest("a keyring needs at least one key")
        self._by_id: dict[str, Key] = {}
        for key in self.keys:
            if not isinstance(key, Key):
                raise BadRequest(f"a keyring holds Key objects, not {type(key).__name__}")
            if key.id in self._by_id:
                raise BadRequest(f"two keys with the id {key.id!r}")
            self._by_id[key.id] = key

    @property
    def primary(self) -> Key:
        return self.keys[0]

    def get(self, key_id: str) -> Key | None:
        return self._by_id.get(key_id)

    def __repr__(self) -> str:
        return f"Keyring({', '.join(k.id for k in self.keys)})"


def as_keyring(encryption: object) -> Keyring | None:
    """Normalise an ``encryption=`` argument (None, a Key, a Keyring or a list of Keys)."""
    if encryption is None or isinstance(encryption, Keyring):
        return encryption
    if isinstance(encryption, Key):
        return Keyring([encryption])
    if isinstance(encryption, list | tuple):
        return Keyring(encryption)
    raise BadRequest(f"encryption must be a Key or a Keyring, not {type(encryption).__name__}")


def _wrap_aad(scheme: str, nuid: str, key_id: str) -> bytes:
    return b"".join((_WRAP_AAD, scheme.encode(), b"\0", nuid.encode(), b"\0", key_id.encode()))


class ObjectCipher:
    """The AEAD of one object's chunks under its data key (see the module docstring)."""

    __slots__ = ("_aead", "_prefix", "dek", "scheme")

    def __init__(self, scheme: str, dek: bytes, nuid: str) -> None:
        self.scheme, self.dek = scheme, dek
        self._aead = SCHEMES[scheme](dek)
        self._prefix = _CHUNK_AAD + nuid.encode("ascii")

    def _aad(self, index: int, final: bool) -> bytes:
        return self._prefix + index.to_bytes(8, "big") + (b"\x01" if final else b"\x00")

    def seal(self, index: int, data: Any, final: bool) -> bytes:
        """Chunk ``index`` encrypted (ciphertext || 16-byte tag)."""
        out: bytes = self._aead.encrypt(index.to_bytes(_NONCE, "big"), data, self._aad(index, final))
        return out

    def open(self, index: int, data: bytes, final: bool) -> bytes:
        """Chunk ``index`` decrypted; DecryptionFailed when it does not authenticate as such."""
        try:
            out: bytes = self._aead.decrypt(index.to_bytes(_NONCE, "big"), data, self._aad(index, final))
        except InvalidTag as e:
            where = "the last chunk" if final else "not the last chunk"
            raise DecryptionFailed(
                f"chunk {index} ({where}) fails authentication: tampered, reordered, swapped or truncated"
            ) from e
        return out


def _wrap(key: Key, scheme: str, dek: bytes, nuid: str) -> dict[str, list[str]]:
    kek, kdf = key.kek_for_write()
    nonce = secrets.token_bytes(_NONCE)
    wrapped = nonce + SCHEMES[scheme](kek).encrypt(nonce, dek, _wrap_aad(scheme, nuid, key.id))
    headers = {
        ENCRYPTION_HEADER: [scheme],
        KEY_ID_HEADER: [key.id],
        WRAPPED_KEY_HEADER: [base64.b64encode(wrapped).decode("ascii")],
    }
    if kdf:
        headers[KDF_HEADER] = [kdf]
    return headers


def seal_object(keyring: Keyring, nuid: str) -> tuple[ObjectCipher, dict[str, list[str]]]:
    """A fresh data key for object ``nuid``: its cipher and the headers that record it."""
    key = keyring.primary
    dek = secrets.token_bytes(KEY_SIZE)
    return ObjectCipher(key.scheme, dek, nuid), _wrap(key, key.scheme, dek, nuid)


def _header(headers: dict[str, list[str]], name: str) -> str | None:
    low = name.lower()
    for k, values in headers.items():
        if k.lower() == low and values:
            return values[-1]
    return None


def _unwrap(headers: dict[str, list[str]], nuid: str, keyring: Keyring | None, what: str) -> ObjectCipher:
    scheme = _header(headers, ENCRYPTION_HEADER)
    key_id = _header(headers, KEY_ID_HEADER) or ""
    wrapped_text = _header(headers, WRAPPED_KEY_HEADER) or ""
    if scheme is None:
        if keyring is not None:
            raise DecryptionFailed(f"{what} is not encrypted: read it without a key")
        raise AssertionError("not encrypted")  # callers check first
    if keyring is None:
        raise DecryptionFailed(f"{what} is encrypted ({scheme}, key id {key_id!r}): a key is needed")
    if scheme not in SCHEMES:
        raise DecryptionFailed(f"{what} uses the unknown encryption scheme {scheme!r}")
    key = keyring.get(key_id)
    if key is None:
        raise DecryptionFailed(
            f"{what} is encrypted with key id {key_id!r}, which is not among the keys given"
        )
    try:
        wrapped = base64.b64decode(wrapped_text, validate=True)
    except (ValueError, binascii.Error) as e:
        raise DecryptionFailed(f"{what} has an unreadable {WRAPPED_KEY_HEADER} header") from e
    kek = key.kek_for_read(_header(headers, KDF_HEADER))
    try:
        dek = SCHEMES[scheme](kek).decrypt(
            wrapped[:_NONCE], wrapped[_NONCE:], _wrap_aad(scheme, nuid, key_id)
        )
    except (InvalidTag, ValueError) as e:
        raise DecryptionFailed(f"wrong key for {what} (key id {key_id!r})") from e
    if len(dek) != KEY_SIZE:
        raise DecryptionFailed(f"{what} has a malformed wrapped key")
    return ObjectCipher(scheme, dek, nuid)


def open_object(info: Any, keyring: Keyring | None) -> ObjectCipher | None:
    """The cipher to read ``info`` (an ObjectInfo) with, None for a plaintext object read without a key.

    Raises DecryptionFailed: encrypted and no key / no key with its id / a wrong
    key / an unknown scheme, a key given for a plaintext object, or an encrypted
    object without chunks (it always has at least one: see the module docstring).
    """
    what = f"object {info.name!r}"
    if _header(info.headers, ENCRYPTION_HEADER) is None:
        if keyring is not None:
            raise DecryptionFailed(f"{what} is not encrypted: read it without a key")
        return None
    cipher = _unwrap(info.headers, info.nuid, keyring, what)
    if info.chunks < 1:
        raise DecryptionFailed(f"{what} is encrypted but has no chunks: truncated")
    return cipher


def rewrap(info: Any, old: Keyring, new: Keyring) -> dict[str, list[str]]:
    """``info``'s headers with its data key wrapped under ``new``'s primary key instead.

    The scheme of the chunks stays; raises DecryptionFailed when ``old`` cannot unwrap it.
    """
    what = f"object {info.name!r}"
    if _header(info.headers, ENCRYPTION_HEADER) is None:
        raise DecryptionFailed(f"{what} is not encrypted: nothing to rekey")
    cipher = _unwrap(info.headers, info.nuid, old, what)
    drop = {h.lower() for h in HEADERS}
    headers = {k: v for k, v in info.headers.items() if k.lower() not in drop}
    headers.update(_wrap(new.primary, cipher.scheme, cipher.dek, info.nuid))
    return headers
