"""The S3 API's settings: where it listens, its access keys, and the NATS identity of each.

From the command line (``--s3-listen HOST:PORT --s3-access-key KEY --s3-secret-key
SECRET``) or the gateway's TOML file::

    [s3]
    listen = "127.0.0.1:9000"
    domain = "s3.example.com"       # optional: virtual-host addressing (bucket.s3.example.com)

    upload_expiry = "24h"           # abandoned multipart uploads removed after this (0: never)
    upload_sweep_interval = "1h"    # how often the gateway looks for them (default: expiry / 4, at most 1 h)

    [[s3.keys]]                     # one per access key
    access_key = "ci"
    secret_key = "…"
    user = "ci"                     # its NATS credentials: user/password, token or creds
    password = "…"

A key is mapped to NATS credentials as the JSON API's ``[tokens]`` are, so the NATS
server's permissions decide what it may do. A key without NATS credentials (the
command-line key, or a table without them) acts as the gateway's own NATS identity;
like ``auth = "none"`` on the JSON API, that is allowed only on a loopback listener.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any

from orlop.errors import ConfigError
from orlop.gateway.config import Credentials, is_loopback, parse_listen

__all__ = ["EXPIRY_ENV", "S3Config", "S3Key", "parse_s3_table", "parse_seconds"]

_CREDENTIAL_FIELDS = ("user", "password", "token", "creds")
EXPIRY_ENV = "ORLOP_S3_UPLOAD_EXPIRY"  # upload_expiry from the environment (wins over the file)


@dataclass(frozen=True)
class S3Key:
    access_key: str
    secret_key: str
    credentials: Credentials | None = None  # None: the gateway's own NATS identity


@dataclass
class S3Config:
    host: str = "127.0.0.1"
    port: int = 9000
    keys: list[S3Key] = field(default_factory=list)
    domain: str = ""
    upload_expiry: float = 24 * 3600.0  # seconds; 0: abandoned uploads are kept
    upload_sweep_interval: float = 0.0  # seconds; 0: derived from upload_expiry

    @property
    def sweep_every(self) -> float:
        """Seconds between two sweeps for abandoned uploads."""
        if self.upload_sweep_interval > 0:
            return self.upload_sweep_interval
        return min(3600.0, max(1.0, self.upload_expiry / 4))

    @property
    def domains(self) -> tuple[str, ...]:
        """Host suffixes under which the first label names a bucket (virtual-host style)."""
        return ("localhost", self.domain.lower()) if self.domain else ("localhost",)

    def check(self) -> None:
        """ConfigError unless the settings are usable (keys given, own-identity keys on loopback only)."""
        if not self.keys:
            raise ConfigError(
                "the S3 API needs an access key: --s3-access-key and --s3-secret-key, or [[s3.keys]]"
            )
        seen: set[str] = set()
        for key in self.keys:
            if not key.access_key or not key.secret_key:
                raise ConfigError("an S3 key needs both access_key and secret_key")
            if key.access_key in seen:
                raise ConfigError(f"S3 access key {key.access_key!r} is given twice")
            seen.add(key.access_key)
            if key.credentials is None and not is_loopback(self.host):
                raise ConfigError(
                    f"S3 key {key.access_key!r} has no NATS credentials of its own: allowed only when"
                    " the S3 API listens on loopback (give user/password, token or creds)"
                )


def parse_s3_table(path: str, table: Any, config: S3Config) -> S3Config:
    """Apply the ``[s3]`` table of the gateway's config file to ``config``."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: s3: expected a table")
    for key, value in table.items():
        if key == "listen":
            config.host, config.port = parse_listen(str(value))
        elif key == "domain":
            if not isinstance(value, str):
                raise ConfigError(f"{path}: s3.domain: expected a host name")
            config.domain = value.strip(".")
        elif key in ("upload_expiry", "upload_sweep_interval"):
            setattr(config, key, parse_seconds(f"{path}: s3.{key}", value))
        elif key == "keys":
            if not isinstance(value, list):
                raise ConfigError(f"{path}: s3.keys: expected [[s3.keys]] entries")
            config.keys = [_key(path, i, entry) for i, entry in enumerate(value)]
        else:
            raise ConfigError(f"{path}: s3: unknown setting {key!r}")
    return config


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


def parse_seconds(where: str, value: Any) -> float:
    """Seconds from a number or a duration (``90s``, ``30m``, ``24h``, ``7d``, ``1h30m``); ConfigError."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    text = str(value).strip()
    parts = _DURATION.findall(text)
    if isinstance(value, str) and parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _UNITS[u] for n, u in parts)
    raise ConfigError(f"{where}: expected seconds or a duration like 30m, 24h, 7d (got {value!r})")


def _key(path: str, index: int, entry: Any) -> S3Key:
    where = f"{path}: s3.keys[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = set(entry) - {"access_key", "secret_key", *_CREDENTIAL_FIELDS}
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
    if not isinstance(entry.get("access_key"), str) or not isinstance(entry.get("secret_key"), str):
        raise ConfigError(f"{where}: access_key and secret_key are required strings")
    creds = {k: str(entry[k]) for k in _CREDENTIAL_FIELDS if k in entry}
    return S3Key(entry["access_key"], entry["secret_key"], Credentials(**creds) if creds else None)


def apply_flags(
    current: S3Config | dict[str, Any] | None,
    listen: str | None,
    access_key: str | None,
    secret_key: str | None,
    *,
    source: str = "config",
    upload_expiry: str | None = None,
) -> S3Config | None:
    """The S3 settings from the config file's ``[s3]`` table (as read: a dict, named ``source``
    in errors) or an S3Config, then ``--s3-listen`` / ``--s3-access-key`` / ``--s3-secret-key``
    (flags win), checked; None when the S3 API is not asked for. Raises ConfigError."""
    if current is None and not (listen or access_key or secret_key):
        return None
    if isinstance(current, dict):
        current = parse_s3_table(source, current, S3Config())
    config = current or S3Config()
    if listen:
        config.host, config.port = parse_listen(listen)
    if upload_expiry:  # --s3-upload-expiry, or ORLOP_S3_UPLOAD_EXPIRY through it
        config.upload_expiry = parse_seconds("--s3-upload-expiry", upload_expiry)
    elif os.environ.get(EXPIRY_ENV):
        config.upload_expiry = parse_seconds(EXPIRY_ENV, os.environ[EXPIRY_ENV])
    if access_key or secret_key:
        if not (access_key and secret_key):
            raise ConfigError("--s3-access-key and --s3-secret-key go together")
        config.keys = [k for k in config.keys if k.access_key != access_key]
        config.keys.insert(0, S3Key(access_key, secret_key))
    config.check()
    return config
