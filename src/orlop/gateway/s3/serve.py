"""Running the S3 API beside the JSON API: a second uvicorn server on the same event loop.

S3 clients address buckets from the root of their endpoint (``/bucket/key``), so the S3
API cannot live under the JSON API's paths: it gets its own listener and ASGI app. The
JSON API's server owns the signals; when it stops, the S3 server is told to stop too.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from orlop.errors import ConfigError
from orlop.gateway.bodies import http_protocol
from orlop.gateway.config import GatewayConfig
from orlop.gateway.listen import bind
from orlop.gateway.metrics import GatewayMetrics
from orlop.gateway.s3.app import create_s3_app

__all__ = ["serve_with_s3", "start_s3"]


class _Quiet(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # the JSON API's server handles SIGINT/SIGTERM and stops this one


async def start_s3(config: GatewayConfig, metrics: GatewayMetrics | None = None) -> Any:
    """Bind and start the S3 API's server on the running loop; returns ``stop()`` (a coroutine
    function). Raises ConfigError when the S3 address cannot be bound. Requests are counted in
    ``metrics`` (the JSON API's)."""
    s3 = config.s3
    assert s3 is not None
    sock = bind(s3.host, s3.port, "the S3 API")
    s3.port = sock.getsockname()[1]  # the port bound (port 0 asks for any free one)
    server = _Quiet(
        uvicorn.Config(
            create_s3_app(config, s3, metrics),
            host=s3.host,
            port=s3.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            http=http_protocol(),  # bodies without uvicorn's two copies (orlop.gateway.bodies)
        )
    )
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()  # its error surfaces here
            raise ConfigError(f"the S3 API could not start on {s3.host}:{s3.port}")
        await asyncio.sleep(0.02)

    async def stop() -> None:
        server.should_exit = True
        await task

    return stop


async def serve_with_s3(
    config: GatewayConfig,
    main: Any,
    sock: socket.socket,
    metrics: GatewayMetrics | None = None,
    announce: Callable[[], None] | None = None,
) -> None:
    """Serve ``main`` (the JSON API's uvicorn server, on ``sock``) and the S3 API until ``main``
    stops; ``announce()`` is called once both listen.

    Raises ConfigError when the S3 address cannot be bound (bound here, before uvicorn,
    whose own bind failure exits the process from inside a task).
    """
    stop = await start_s3(config, metrics)
    try:
        if announce is not None:
            announce()
        await main.serve(sockets=[sock])
    finally:
        await stop()
