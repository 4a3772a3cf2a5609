"""The gateway's settings: where it listens, which NATS servers it uses, and who may use it.

From the command line (``orlop gateway --listen … -s …`` plus the CLI's credential flags,
which become ``nats_options``) and optionally a TOML file (``-c gateway.toml``)::

    listen = "0.0.0.0:8080"
    servers = ["nats://10.0.0.5:4222"]
    auth = "passthrough"            # or "tokens"; "none" only on loopback
    cors_origins = ["https://ops.example.com"]
    max_json_body = "64MiB"
    audit_file = "/var/log/orlop/audit.log"   # the server's audit trail: object history
    audit_accounts = { ci = "CI" }  # NATS user -> account, to show only that account's records
    encryption_keys = { "2026" = "/etc/orlop/2026.key" }   # id -> key file (client-side encryption)

    [tokens.ci-token]               # bearer token -> NATS credentials
    user = "ci"
    password = "s3cret"             # or creds = "/path/ci.creds", or token = "…"

    [s3]                            # the S3 API: listen, domain, [[s3.keys]] (see docs/s3.md)
    listen = "127.0.0.1:9000"

Authentication is off only when the gateway listens on loopback without a config file;
otherwise every request must bring credentials (see docs/gateway.md).
"""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orlop.errors import ConfigError

__all__ = ["Credentials", "GatewayConfig", "load_config", "parse_listen"]

_SIZE_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
               "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Credentials:
    """NATS credentials of one gateway user (the pool keeps one connection per distinct value)."""

    user: str = ""
    password: str = ""
    token: str = ""
    creds: str = ""

    def nats_options(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.user:
            out["user"], out["password"] = self.user, self.password
        if self.token:
            out["token"] = self.token
        if self.creds:
            out["user_credentials"] = self.creds
        return out

    @property
    def label(self) -> str:
        return self.user or ("token" if self.token else "creds" if self.creds else "anonymous")


@dataclass
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    servers: list[str] = field(default_factory=lambda: ["nats://127.0.0.1:4222"])
    nats_options: dict[str, Any] = field(default_factory=dict)  # TLS, the gateway's own credentials
    auth: str = ""  # "none", "passthrough" or "tokens"; "" decides from listen and config
    tokens: dict[str, Credentials] = field(default_factory=dict)
    cors_origins: list[str] = field(default_factory=list)
    max_json_body: int = 64 << 20  # a JSON put carries base64: 64 MiB of it by default
    config_file: str = ""
    pool_size: int = 256  # NATS connections kept for distinct users
    request_timeout: float = 10.0
    api_prefix: str = "$JS.API"
    audit_file: str = ""  # the server's audit trail, read for objects' history ("" = none)
    audit_accounts: dict[str, str] = field(default_factory=dict)  # NATS user -> account
    s3: Any = None  # the [s3] table, then the S3Config that orlop.gateway.s3.config makes of it
    encryption_keys: dict[str, Any] = field(default_factory=dict)  # key id -> orlop.objects.Key

    def resolved_auth(self) -> str:
        """The authentication mode in force (see the module docstring)."""
        if self.auth:
            if self.auth == "none" and not is_loopback(self.host):
                raise ConfigError("auth = 'none' is only allowed when the gateway listens on loopback")
            return self.auth
        if self.config_file or not is_loopback(self.host):
            return "tokens" if self.tokens else "passthrough"
        return "none"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (where auth may be off)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_listen(text: str) -> tuple[str, int]:
    """``host:port``, ``:port`` or ``port``."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"listen address {text!r}: expected host:port") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"listen address {text!r}: port out of range")
    return host.strip("[]") or "127.0.0.1", number


def _size(value: Any, key: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyz")
        unit = text[len(digits) :].strip()
        if digits.strip().isdigit() and unit in _SIZE_UNITS:
            return int(digits) * _SIZE_UNITS[unit]
    raise ConfigError(f"{key}: expected a size such as 64MiB, got {value!r}")


def load_config(path: str, config: GatewayConfig) -> GatewayConfig:
    """Apply a TOML config file to ``config`` (flags given on the command line win later)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config.config_file = path
    for key, value in data.items():
        if key == "listen":
            config.host, config.port = parse_listen(str(value))
        elif key == "servers":
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(s, str) for s in items):
                raise ConfigError(f"{path}: servers: expected a URL or a list of URLs")
            config.servers = list(items)
        elif key == "auth":
            if value not in ("none", "passthrough", "tokens"):
                raise ConfigError(f"{path}: auth: expected none, passthrough or tokens, got {value!r}")
            config.auth = value
        elif key == "cors_origins":
            if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
                raise ConfigError(f"{path}: cors_origins: expected a list of origins")
            config.cors_origins = list(value)
        elif key == "max_json_body":
            config.max_json_body = _size(value, f"{path}: max_json_body")
        elif key == "tokens":
            config.tokens = _tokens(path, value)
        elif key == "audit_file":
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}: audit_file: expected the path of the server's audit file")
            config.audit_file = value
        elif key == "audit_accounts":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise ConfigError(f'{path}: audit_accounts: expected a table of user = "account"')
            config.audit_accounts = dict(value)
        elif key == "encryption_keys":
            config.encryption_keys = _encryption_keys(path, value)
        elif key == "s3":  # the S3 API's table, read by orlop.gateway.s3.config (docs/s3.md)
            if not isinstance(value, dict):
                raise ConfigError(f"{path}: s3: expected a table")
            config.s3 = value
        else:
            raise ConfigError(f"{path}: unknown setting {key!r}")
    if config.auth == "tokens" and not config.tokens:
        raise ConfigError(f"{path}: auth = 'tokens' needs a [tokens] table")
    return config


def _encryption_keys(path: str, table: Any) -> dict[str, Any]:
    """``{id: key file}`` as ``{id: Key}`` (client-side encryption, see orlop.gateway.encryption)."""
    from orlop.errors import BadRequest
    from orlop.objects import Key

    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ConfigError(f'{path}: encryption_keys: expected a table of id = "key file"')
    keys = {}
    for key_id, file in table.items():
        try:
            keys[key_id] = Key.from_file(file, id=key_id)
        except (OSError, BadRequest) as exc:
            raise ConfigError(f"{path}: encryption_keys: {key_id}: {exc}") from None
    return keys


def _tokens(path: str, table: Any) -> dict[str, Credentials]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: tokens: expected a table of [tokens.<token>] entries")
    out = {}
    for token, entry in table.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: tokens.{token}: expected a table (user/password, token or creds)")
        unknown = set(entry) - {"user", "password", "token", "creds"}
        if unknown:
            raise ConfigError(f"{path}: tokens.{token}: unknown setting(s) {', '.join(sorted(unknown))}")
        out[token] = Credentials(**{k: str(v) for k, v in entry.items()})
    return out
