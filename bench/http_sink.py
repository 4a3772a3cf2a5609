"""An HTTP server that receives request bodies and drops them: uvicorn as the gateway runs it.

``python -m bench.http_sink`` listens on a free port of 127.0.0.1, prints the port on its
first line, and answers every request with ``204`` once its whole body has arrived. It
runs uvicorn exactly as ``orlop gateway`` does (uvloop, httptools, the gateway's
:func:`orlop.gateway.bodies.http_protocol`), with an ASGI app that does nothing with the
body: the CPU it spends on a PUT is what receiving that PUT costs the gateway's one
thread before the gateway does anything with it (``bench_gateway`` measures it beside
the gateway's and the library's puts).
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
import uvloop

from orlop.gateway.bodies import http_protocol

__all__ = ["main"]


async def _drop_bodies(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect" or not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


def main() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(
        _drop_bodies, log_level="warning", access_log=False, lifespan="off", http=http_protocol()
    )
    uvloop.run(uvicorn.Server(config).serve(sockets=[sock]))


if __name__ == "__main__":
    main()
