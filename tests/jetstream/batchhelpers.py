"""Helpers shared by the atomic-batch and fast-ingest tests: servers with batch limits, raw API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orlop.testing import ServerProcess


def start_with_limits(factory: type[ServerProcess], kind: str, tmp: Path, **batch: Any) -> ServerProcess:
    """A server of ``kind`` whose config sets ``jetstream { limits { batch { ... } } }``."""
    lines = []
    for key, value in batch.items():
        lines.append(f"{key}: {json.dumps(value) if isinstance(value, str) else value}")
    conf = tmp / f"{kind}-batch.conf"
    conf.write_text(
        "jetstream {\n  limits {\n    batch {\n      " + "\n      ".join(lines) + "\n    }\n  }\n}\n"
    )
    return factory(kind=kind, extra_args=["-c", str(conf)]).start()


async def api(nc: Any, subject: str, body: Any = b"") -> dict[str, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, raw, timeout=5)).data)
    return result


def ack_error(stream: str, code: int, err_code: int, description: str) -> bytes:
    body = {
        "error": {"code": code, "err_code": err_code, "description": description},
        "stream": stream,
        "seq": 0,
    }
    return json.dumps(body, separators=(",", ":")).encode()
