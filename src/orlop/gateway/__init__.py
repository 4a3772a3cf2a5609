"""``orlop gateway``: the Object Store over HTTP (JSON operations, streamed objects, events,
a web page and metrics), built on :mod:`orlop.objects` so it fronts ``orlop serve`` and a
nats-server cluster alike. See docs/gateway.md.
"""

from __future__ import annotations

from orlop.gateway.config import Credentials, GatewayConfig, load_config, parse_listen

__all__ = ["Credentials", "GatewayConfig", "create_app", "load_config", "parse_listen", "serve"]


def create_app(config: GatewayConfig) -> object:
    """The ASGI app (FastAPI) for ``config``; imported lazily (FastAPI costs a moment to load)."""
    from orlop.gateway.app import create_app as make

    return make(config)


async def serve(config: GatewayConfig) -> None:
    """Run the gateway with uvicorn until cancelled (or SIGINT/SIGTERM when run as a program)."""
    import uvicorn

    from orlop.gateway.app import create_app as make

    server = uvicorn.Server(
        uvicorn.Config(
            make(config),
            host=config.host,
            port=config.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
        )
    )
    await server.serve()
