"""The ``tls`` block and its relatives (OCSP, proxies): encrypted client connections.

TLS comes with the security work. Until then these keys are refused: a server that
ignored ``tls`` would accept plaintext where the file asks for encryption.
"""

from __future__ import annotations

from orlop.server.config.values import Setter, refuse

__all__ = ["KEYS"]

KEYS: dict[str, Setter] = {key: refuse for key in ("tls", "ocsp", "ocsp_cache", "proxies")}
