"""The ports file: how test harnesses and scripts learn the ports a server really bound.

nats-server writes ``<ports_file_dir>/<exe>_<pid>.ports`` holding
``{"nats":["nats://HOST:PORT"],"monitoring":["http://HOST:MPORT"]}`` once it
listens (``monitoring`` only when monitoring is on) and removes it on shutdown;
we write exactly that, atomically (a temporary file renamed into place), so a
reader polling the directory never sees half a file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["client_host", "ports_body", "remove_ports_file", "write_ports_file"]


def client_host(host: str) -> str:
    """The address a local client dials for a listener bound to ``host``."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


def ports_body(nats_url: str, monitor_url: str = "") -> dict[str, list[str]]:
    """The JSON object of a ports file."""
    body = {"nats": [nats_url]}
    if monitor_url:
        body["monitoring"] = [monitor_url]
    return body


def write_ports_file(directory: str, exe_name: str, body: dict[str, list[str]]) -> Path:
    """Write ``<directory>/<exe_name>_<pid>.ports``; returns its path. Raises OSError."""
    path = Path(directory) / f"{exe_name}_{os.getpid()}.ports"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, separators=(",", ":")))
    os.replace(tmp, path)
    return path


def remove_ports_file(path: Path | None) -> None:
    if path is not None:
        path.unlink(missing_ok=True)
