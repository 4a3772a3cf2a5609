"""``orlop gateway``: the Object Store over HTTP (JSON operations, streamed objects, events,
a web page and metrics), built on :mod:`orlop.objects` so it fronts ``orlop serve`` and a
nats-server cluster alike. See docs/gateway.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from orlop.gateway.config import Credentials, GatewayConfig, load_config, parse_listen
from orlop.gateway.listen import bind

__all__ = [
    "Credentials",
    "GatewayConfig",
    "bind",
    "create_app",
    "load_config",
    "parse_listen",
    "serve",
    "start_embedded",
]


def create_app(config: GatewayConfig) -> object:
    """The ASGI app (FastAPI) for ``config``; imported lazily (FastAPI costs a moment to load)."""
    from orlop.gateway.app import create_app as make

    return make(config)


def _uvicorn(config: GatewayConfig, *, signals: bool, metrics: Any = None) -> Any:
    import contextlib
    from collections.abc import Iterator

    import uvicorn

    from orlop.gateway.app import create_app as make
    from orlop.gateway.bodies import http_protocol

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # Embedded beside ``orlop serve``: the server owns SIGINT/SIGTERM and stops us.
            if signals:
                with super().capture_signals():
                    yield
            else:
                yield

    return Server(
        uvicorn.Config(
            make(config, metrics),
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            http=http_protocol(),  # bodies without uvicorn's two copies (orlop.gateway.bodies)
        )
    )


async def serve(config: GatewayConfig, announce: Callable[[], None] | None = None) -> None:
    """Run the gateway with uvicorn until SIGINT/SIGTERM (``orlop gateway``); the S3 API
    beside it when ``config.s3`` is set. Both addresses are bound first (ConfigError when
    one cannot be); a port 0 becomes the port bound, in ``config``, before ``announce()``."""
    sock = bind(config.host, config.port, "the gateway")
    config.port = sock.getsockname()[1]
    with sock:  # closed however serving ends (the S3 address may not bind)
        if config.s3 is not None:
            from orlop.gateway.metrics import GatewayMetrics
            from orlop.gateway.s3.serve import serve_with_s3

            metrics = GatewayMetrics()  # one /metrics for both APIs
            main = _uvicorn(config, signals=True, metrics=metrics)
            await serve_with_s3(config, main, sock, metrics, announce)
            return
        if announce is not None:
            announce()
        await _uvicorn(config, signals=True).serve(sockets=[sock])


async def start_embedded(config: GatewayConfig) -> Callable[[], Awaitable[None]]:
    """Start the gateway on the running loop (``orlop serve --gateway``), and the S3 API beside
    it when ``config.s3`` is set; returns ``stop()``.

    Raises ConfigError when an address cannot be bound (both are bound here; a port 0
    becomes the port bound, in ``config``).
    """
    import asyncio

    from orlop.gateway.metrics import GatewayMetrics

    sock = bind(config.host, config.port, "the gateway")
    config.port = sock.getsockname()[1]
    metrics = GatewayMetrics()  # one /metrics for both APIs
    stop_s3: Callable[[], Awaitable[None]] | None = None
    if config.s3 is not None:
        from orlop.gateway.s3.serve import start_s3

        try:
            stop_s3 = await start_s3(config, metrics)
        except BaseException:
            sock.close()
            raise
    server = _uvicorn(config, signals=False, metrics=metrics)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            if stop_s3 is not None:
                await stop_s3()
            sock.close()
            task.result()  # its error surfaces here
            raise OSError(f"the gateway could not start on {config.host}:{config.port}")
        await asyncio.sleep(0.02)

    async def stop() -> None:
        server.should_exit = True
        await task
        sock.close()
        if stop_s3 is not None:
            await stop_s3()

    return stop
