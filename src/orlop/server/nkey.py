"""NKEY users: public keys in the configuration, a nonce in INFO, a signature in CONNECT.

An NKEY public key is base32 (no padding) of a prefix byte (``U`` keys: users), the
32-byte ed25519 public key and a CRC-16 of both (little endian). A client proves it
holds the seed by signing the nonce of its INFO; CONNECT carries ``nkey`` and ``sig``
(the signature in URL-safe base64 without padding; standard base64 is accepted too,
as nats-server does). The encoding helpers and the ed25519 check come from the
``nkeys`` package and PyNaCl (which nkeys is built on): no cryptography by hand.
"""

from __future__ import annotations

import base64
import binascii
import secrets

import nacl.exceptions
import nacl.signing
import nkeys

__all__ = ["decode_signature", "is_user_key", "new_nonce", "raw_key", "signed_by", "verify"]

_NONCE_RAW = 11  # nats-server's nonceRawLen: 11 random bytes, 15 characters encoded


def new_nonce() -> str:
    """A fresh nonce for one connection's INFO."""
    return base64.urlsafe_b64encode(secrets.token_bytes(_NONCE_RAW)).decode().rstrip("=")


def raw_key(public: str, prefix: int) -> bytes | None:
    """The 32-byte ed25519 key of an NKEY public key with that prefix byte; None when it is not one."""
    try:
        data = base64.b32decode(public + "=" * (-len(public) % 8))
    except (binascii.Error, ValueError):
        return None
    if len(data) != 35 or data[0] != prefix:
        return None
    body, crc = data[:-2], data[-2:]
    if nkeys.crc16_checksum(body) != crc:
        return None
    return bytes(body[1:])


def is_user_key(public: str) -> bool:
    """Whether ``public`` is a valid NKEY user public key (``U…``)."""
    return raw_key(public, nkeys.PREFIX_BYTE_USER) is not None


def decode_signature(sig: str) -> bytes | None:
    """A signature as CONNECT carries it: URL-safe base64 without padding, or standard base64."""
    try:
        return base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except (binascii.Error, ValueError):
        try:
            return base64.b64decode(sig)
        except (binascii.Error, ValueError):
            return None


def signed_by(raw: bytes, data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is the ed25519 signature of ``data`` by the 32-byte key ``raw``."""
    try:
        nacl.signing.VerifyKey(raw).verify(data, signature)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError):
        return False
    return True


def verify(public: str, nonce: str, sig: str) -> bool:
    """Whether ``sig`` is the user key's signature of ``nonce``."""
    raw = raw_key(public, nkeys.PREFIX_BYTE_USER)
    if raw is None or not nonce or not sig:
        return False
    signature = decode_signature(sig)
    return signature is not None and signed_by(raw, nonce.encode(), signature)
