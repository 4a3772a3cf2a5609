"""A per-message TTL shorter than the stream's ``subject_delete_marker_ttl`` is raised to it.

nats-server rewrites the header to ``Nats-TTL: <whole seconds>`` at the end of
the block, leaves longer TTLs and ``never`` alone, and does not raise TTLs on
``max_msgs_per_subject: 1`` streams. Checked byte for byte on both servers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import nats
import pytest

from orlop.testing import ServerProcess

CASES = [
    ("k.a", {"Nats-TTL": "1s"}, b"NATS/1.0\r\nNats-TTL: 5\r\n\r\n"),
    ("k.b", {"A": "1", "Nats-TTL": "2", "B": "2"}, b"NATS/1.0\r\nA: 1\r\nB: 2\r\nNats-TTL: 5\r\n\r\n"),
    ("k.c", {"Nats-TTL": "5s"}, b"NATS/1.0\r\nNats-TTL: 5s\r\n\r\n"),
    ("k.d", {"Nats-TTL": "never"}, b"NATS/1.0\r\nNats-TTL: never\r\n\r\n"),
    ("k.e", {"Nats-TTL": "1m"}, b"NATS/1.0\r\nNats-TTL: 1m\r\n\r\n"),
    ("k.f", {"Nats-TTL": "1500ms"}, b"NATS/1.0\r\nNats-TTL: 5\r\n\r\n"),
    ("p.a", {"Nats-TTL": "1s"}, b"NATS/1.0\r\nNats-TTL: 1s\r\n\r\n"),
]


async def api(nc: Any, subject: str, body: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        (await nc.request("$JS.API." + subject, json.dumps(body).encode())).data
    )
    return result


@pytest.mark.parametrize(("subject", "hdrs", "stored"), CASES)
async def test_short_ttl_raised_to_marker_ttl(
    server: ServerProcess, subject: str, hdrs: dict[str, str], stored: bytes
) -> None:
    nc = await nats.connect(server.url)
    try:
        for name, extra in (("K", {}), ("P", {"max_msgs_per_subject": 1})):
            cfg = {"name": name, "subjects": [name.lower() + ".*"], "allow_msg_ttl": True,
                   "subject_delete_marker_ttl": 5_000_000_000, **extra}  # fmt: skip
            assert "error" not in await api(nc, f"STREAM.CREATE.{name}", cfg)
        ack = json.loads((await nc.request(subject, b"x", headers=hdrs)).data)
        assert "error" not in ack
        stream = subject.split(".")[0].upper()
        msg = (await api(nc, f"STREAM.MSG.GET.{stream}", {"last_by_subj": subject}))["message"]
        assert base64.b64decode(msg["hdrs"]) == stored
    finally:
        await nc.close()
