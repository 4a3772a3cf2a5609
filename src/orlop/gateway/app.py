"""The gateway as an ASGI application: routes, authentication, metrics, the web page.

:func:`create_app` builds a FastAPI app from a :class:`GatewayConfig`. A small ASGI
middleware (not Starlette's BaseHTTPMiddleware, which buffers streamed bodies) times
every request, counts the object bytes in and out and the errors by err_code, labelled
with the operation the route names. The page is package data (``static/``), served as
files: no build step, nothing fetched at run time.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orlop import __version__
from orlop.gateway import history, routes, streaming
from orlop.gateway.config import Credentials, GatewayConfig
from orlop.gateway.errors import error_body, install_handlers
from orlop.gateway.metrics import GatewayMetrics, MeasureRequests
from orlop.gateway.pool import ClientPool
from orlop.gateway.state import CREDENTIAL_KEYS, Gateway

__all__ = ["create_app"]

STATIC = resources.files("orlop.gateway") / "static"

DESCRIPTION = """The NATS JetStream Object Store over HTTP: the seed's JSON operations, objects
streamed as raw bodies (ranges, conditional requests), changes as Server-Sent Events.
Errors are always `{"error": {"code", "err_code", "description"}}`. See docs/gateway.md."""


class _JsonBodies:
    """ASGI middleware for the JSON operations' bodies (POST and PATCH under ``/api/v1``).

    They are JSON whatever Content-Type says: ``curl -d '{...}'`` sends
    ``application/x-www-form-urlencoded``, and the seed's operations only take JSON (bad
    JSON is still a 400). And they are bounded (``max_json_body``): a JSON body is read
    whole, so a larger one is refused with 413 as soon as it is known to be larger, by its
    ``Content-Length`` or while it arrives. Raw object uploads (PUT) are streamed and not
    bounded here.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] in ("POST", "PATCH")
            and scope["path"].startswith("/api/v1/")
        ):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.limit:
            await self._too_large(send)
            return
        # In place: the outer middleware reads the route the router records in this scope.
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
        scope["headers"] = [*headers, (b"content-type", b"application/json")]
        # Read it here, bounded (the handler would read it whole anyway), then hand it on.
        parts: list[bytes] = []
        seen = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            parts.append(message.get("body", b""))
            seen += len(parts[-1])
            if seen > self.limit:
                await self._too_large(send)
                return
            if not message.get("more_body", False):
                break
        body = b"".join(parts)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _too_large(self, send: Send) -> None:
        body = json.dumps(
            error_body(413, 10413, f"request body larger than the gateway's limit of {self.limit} bytes")
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def create_app(config: GatewayConfig, metrics: GatewayMetrics | None = None) -> FastAPI:
    """The gateway for ``config`` (connections open on first use, close at shutdown);
    ``metrics`` shared with the S3 API beside it, so one ``/metrics`` counts both."""
    auth = config.resolved_auth()
    base = dict(config.nats_options)
    if auth != "none":  # each request brings its own credentials
        for key in CREDENTIAL_KEYS:
            base.pop(key, None)
    timeout, prefix = config.request_timeout, config.api_prefix
    pool = ClientPool(config.servers, base, size=config.pool_size, timeout=timeout, api_prefix=prefix)
    # Bucket metrics are read with the gateway's own credentials: without auth, the one pool.
    if auth == "none":
        own = pool
    else:
        own = ClientPool(
            config.servers, dict(config.nats_options), size=1, timeout=timeout, api_prefix=prefix
        )
    metrics = metrics or GatewayMetrics()
    gateway = Gateway(config, auth, pool, metrics)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await pool.close()
        if own is not pool:
            await own.close()

    app = FastAPI(
        title="Orlop gateway",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.gateway = gateway
    install_handlers(app)
    app.include_router(routes.router)
    app.include_router(streaming.router)
    app.include_router(history.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.get("/", include_in_schema=False, name="page")
    async def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), media_type="text/html")

    @app.get("/healthz", name="health", tags=["operations"])
    async def health() -> JSONResponse:
        """200 while the gateway runs (it does not ask NATS: a load balancer's liveness check)."""
        return JSONResponse({"status": "ok", "auth": auth})

    @app.get("/metrics", name="metrics", tags=["operations"], response_class=Response)
    async def prometheus(request: Request) -> Response:
        """Prometheus metrics (text format): requests, latency, bytes, errors, buckets, watchers."""

        async def statuses() -> list[dict[str, Any]]:
            client = await own.get(Credentials())
            out = []
            for name in await client.buckets():
                out.append((await (await client.bucket(name)).status()).to_dict())
            return out

        # The gateway's own credentials may see nothing: the request metrics still count.
        with contextlib.suppress(Exception):
            await metrics.refresh_buckets(statuses)
        return Response(metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    app.add_middleware(_JsonBodies, limit=config.max_json_body)
    app.add_middleware(MeasureRequests, metrics=metrics)
    if config.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=config.cors_origins,
            allow_methods=["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"],
            allow_headers=["*"],
            expose_headers=["ETag", "Content-Range", "X-Object-Revision"],
        )
    return app
