"""Orlop-only: a full disk refuses publishes with 10077 and loses nothing acknowledged.

The server runs with ``RLIMIT_FSIZE`` (SIGXFSZ ignored), so block files cannot
grow past 1 MiB and the kernel answers EFBIG, which the store treats like
ENOSPC. Every publish is either acknowledged and kept, or refused with a 503
PubAck; after a restart without the limit all acknowledged messages are intact.
"""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from typing import Any

import nats

from orlop.testing import ServerProcess

LIMIT = 1024 * 1024
LAUNCH = (
    "import os, resource, signal, sys; "
    "signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
    "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), int(sys.argv[1]))); "
    "os.execv(sys.executable, [sys.executable, '-m', 'orlop', 'serve'] + sys.argv[2:])"
)


class LimitedOrlop(ServerProcess):
    """Orlop started through a launcher that caps the size of any file it writes."""

    limited: bool = True

    def command(self) -> list[str]:
        cmd = super().command()
        if not self.limited:
            return cmd
        return [sys.executable, "-c", LAUNCH, str(LIMIT), *cmd[4:]]


async def api(nc: Any, subject: str, body: bytes = b"") -> dict[str, Any]:
    result: dict[str, Any] = json.loads((await nc.request("$JS.API." + subject, body, timeout=10)).data)
    return result


async def test_full_disk_refuses_and_keeps_acknowledged(tmp_path: Any) -> None:
    server = LimitedOrlop(kind="orlop", store_dir=str(tmp_path))
    server.start()
    try:
        nc = await nats.connect(server.url)
        await api(nc, "STREAM.CREATE.FULL", b'{"name":"FULL","subjects":["full"]}')
        kept: dict[int, str] = {}
        refused = []
        for i in range(40):
            data = hashlib.sha256(b"%d" % i).digest() * 2048  # 64 KiB
            ack = json.loads((await nc.request("full", data, timeout=10)).data)
            if "error" in ack:
                refused.append(ack)
            else:
                kept[ack["seq"]] = hashlib.sha256(data).hexdigest()
        assert kept and refused
        assert all(r["error"]["code"] == 503 and r["error"]["err_code"] == 10077 for r in refused)
        assert all(r["seq"] == 0 and r["stream"] == "FULL" for r in refused)
        assert sorted(kept) == list(range(1, len(kept) + 1))
        info = await api(nc, "STREAM.INFO.FULL")
        assert info["state"]["messages"] == len(kept)
        await nc.close()

        server.stop()
        server.limited = False
        server.start()
        nc = await nats.connect(server.url)
        try:
            for seq, digest in kept.items():
                got = await nc.request("$JS.API.STREAM.MSG.GET.FULL", b'{"seq":%d}' % seq, timeout=10)
                msg = json.loads(got.data)["message"]
                assert hashlib.sha256(base64.b64decode(msg["data"])).hexdigest() == digest
            ack = json.loads((await nc.request("full", b"room again", timeout=10)).data)
            assert ack == {"stream": "FULL", "seq": len(kept) + 1}
        finally:
            await nc.close()
    finally:
        server.close()
