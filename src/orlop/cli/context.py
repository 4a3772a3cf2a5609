"""natscli's contexts, read from natscli's own files so an existing setup works unchanged.

natscli keeps one JSON file per context in ``~/.config/nats/context/NAME.json`` (under
``$XDG_CONFIG_HOME`` when that is set) and the selected context's name in
``~/.config/nats/context.txt``. A context is chosen by ``--context NAME`` (or
``NATS_CONTEXT``), else the selected one, else none. As in natscli, a flag given on the
command line (``NATS_URL`` counts as ``--server``) wins over the context's value.

Settings Orlop cannot honour (a SOCKS proxy, nsc lookups, a bare user JWT) are refused
with a clear message rather than ignored: connecting without them could reach the
wrong server or the wrong account.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

__all__ = ["ContextError", "NatsContext", "config_dir", "load_context"]

# Fields of natscli's context file this CLI uses; what a connection cannot do without.
_USED = {
    "url": "url",
    "user": "user",
    "password": "password",
    "token": "token",
    "creds": "creds",
    "nkey": "nkey",
    "cert": "cert",
    "key": "key",
    "ca": "ca",
    "jetstream_domain": "jetstream_domain",
    "jetstream_api_prefix": "jetstream_api_prefix",
    "inbox_prefix": "inbox_prefix",
}
_REFUSED = ("socks_proxy", "nsc", "user_jwt", "user_seed", "windows_cert_store")


class ContextError(ValueError):
    """A context that is missing, unreadable, or asks for what Orlop cannot do."""


@dataclass(frozen=True)
class NatsContext:
    """The connection settings of one natscli context ('' where the context sets nothing)."""

    name: str
    path: str
    url: str = ""
    user: str = ""
    password: str = ""
    token: str = ""
    creds: str = ""
    nkey: str = ""
    cert: str = ""
    key: str = ""
    ca: str = ""
    jetstream_domain: str = ""
    jetstream_api_prefix: str = ""
    inbox_prefix: str = ""
    tls_first: bool = False


def config_dir() -> str:
    """natscli's configuration folder: ``$XDG_CONFIG_HOME/nats`` or ``~/.config/nats``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "nats")


def _selected() -> str:
    """The context named in natscli's ``context.txt`` ('' when none is selected)."""
    try:
        with open(os.path.join(config_dir(), "context.txt"), encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def load_context(name: str | None) -> NatsContext | None:
    """The context ``name`` (a name, or a path to a context file), else the selected one, else None."""
    explicit = bool(name)
    name = name or _selected()
    if not name:
        return None
    if name.endswith(".json") and os.sep in name:
        path = os.path.expanduser(name)
    else:
        if os.sep in name or name in (".", ".."):
            raise ContextError(f"invalid context name {name!r}")
        path = os.path.join(config_dir(), "context", f"{name}.json")
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError:
        how = "" if explicit else f" (selected in {os.path.join(config_dir(), 'context.txt')})"
        raise ContextError(f"context {name!r}{how} not found: no {path}") from None
    except (OSError, ValueError) as exc:
        raise ContextError(f"cannot read context {name!r} from {path}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ContextError(f"context file {path} does not hold a JSON object")
    refused = [k for k in _REFUSED if doc.get(k)]
    if refused:
        raise ContextError(f"context {name!r} sets {', '.join(refused)}, which orlop does not support")
    values = {field: str(doc.get(key) or "") for key, field in _USED.items()}
    for field in ("creds", "nkey", "cert", "key", "ca"):
        if values[field]:
            values[field] = os.path.expanduser(values[field])
    return NatsContext(name=name, path=path, tls_first=bool(doc.get("tls_first")), **values)
