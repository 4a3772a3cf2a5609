"""The ``tls`` block: encrypted client connections, and its relatives (OCSP, proxies).

As nats-server reads it: ``cert_file`` and ``key_file`` (PEM), ``ca_file`` (the CAs client
certificates must chain to), ``verify`` (require a client certificate), ``verify_and_map``
(require one, and let it name the user: see orlop.server.peercert), ``pinned_certs`` (only
certificates whose public key hashes to one of these), ``timeout`` (seconds or a duration,
for the handshake), ``handshake_first`` (TLS before INFO). Keys Orlop does not implement
(cipher and curve choices, certificate stores, OCSP, proxies) are refused: a server that ignored them
would be more open than the file asks for.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from orlop.errors import ConfigError
from orlop.server.config.values import Setter, as_bool, as_seconds, as_str, bad, refuse, where
from orlop.server.options import ServerOptions, TLSOptions

__all__ = ["KEYS", "set_tls"]


def set_tls(conf: Mapping[str, Any], key: str, o: ServerOptions) -> None:
    block = conf[key]
    if not isinstance(block, Mapping):
        raise bad(conf, key, "a map { cert_file, key_file, ca_file, verify, timeout }")
    tls = TLSOptions()
    for sub in block:
        low = sub.lower()
        if low == "cert_file":
            tls.cert_file = as_str(block, sub)
        elif low == "key_file":
            tls.key_file = as_str(block, sub)
        elif low == "ca_file":
            tls.ca_file = as_str(block, sub)
        elif low == "verify":
            tls.verify = as_bool(block, sub)
        elif low == "verify_and_map":
            tls.verify_and_map = as_bool(block, sub)
        elif low == "pinned_certs":
            tls.pinned_certs = _pins(block, sub)
        elif low == "timeout":
            tls.timeout = as_seconds(block, sub)
        elif low in ("handshake_first", "first", "immediate"):
            value = block[sub]
            if isinstance(value, str) and value.lower() in ("true", "on"):
                value = True
            elif isinstance(value, str) and value.lower() in ("false", "off"):
                value = False
            if not isinstance(value, bool):
                raise ConfigError(
                    f"{where(block, sub)}: tls.{sub} {value!r} is not supported by Orlop (true or false;"
                    " no fallback delay)"
                )
            tls.handshake_first = value
        else:
            raise ConfigError(
                f"{where(block, sub)}: tls.{sub} is not supported by Orlop yet; refusing to start"
                " without the protection it configures"
            )
    o.tls = tls


_PIN = re.compile(r"[A-Fa-f0-9]{64}")


def _pins(block: Mapping[str, Any], key: str) -> frozenset[str]:
    pins = block[key]
    if not isinstance(pins, list):
        raise ConfigError(
            f"{where(block, key)}: error parsing tls config, expected 'pinned_certs' to be a list of"
            " hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"
        )
    out = set()
    for pin in pins:
        entry = str(pin).lower()
        if not _PIN.fullmatch(entry):
            raise ConfigError(
                f"{where(block, key)}: error parsing tls config, 'pinned_certs' key {entry} does not look"
                " like hex-encoded sha256 of DER encoded SubjectPublicKeyInfo"
            )
        out.add(entry)
    return frozenset(out)


KEYS: dict[str, Setter] = {
    "tls": set_tls,
    **{key: refuse for key in ("ocsp", "ocsp_cache", "proxies", "allow_non_tls")},
}
