"""The S3 API as its own ASGI application (Starlette): one catch-all route, S3's dispatch.

S3 chooses the operation from the method, whether a bucket and a key are addressed, and
sub-resource query parameters (``?location``, ``?delete``, ``?list-type=2``, ``?uploads``…),
not from path templates, so one route hands every request to :func:`_dispatch`.
Every request is signed (SigV4, :mod:`.sigv4`); its access key selects NATS credentials
and so a pooled NATS connection (:class:`~orlop.gateway.pool.ClientPool`), and the NATS
server's permissions decide. Anything not built answers NotImplemented, never a guess.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from orlop.errors import AuthError, ObjectStoreError
from orlop.gateway.config import Credentials, GatewayConfig
from orlop.gateway.metrics import GatewayMetrics, MeasureRequests
from orlop.gateway.pool import ClientPool
from orlop.gateway.s3 import (
    bucket_ops,
    copy_ops,
    multipart,
    multipart_list,
    object_ops,
    sigv4,
    versions,
)
from orlop.gateway.s3.config import S3Config
from orlop.gateway.s3.context import S3Request, query_of, split_target
from orlop.gateway.s3.errors import S3Error, from_object_store
from orlop.gateway.s3.sweeper import run_sweeper
from orlop.gateway.s3.xmlio import error_document
from orlop.gateway.state import CREDENTIAL_KEYS
from orlop.objects import Keyring, ObjectStoreClient

__all__ = ["create_s3_app"]

log = logging.getLogger("orlop.gateway.s3")

# Sub-resources S3 defines that this gateway does not serve yet (docs/s3.md lists them).
UNSUPPORTED = frozenset(
    {
        *("accelerate", "acl", "analytics", "attributes", "cors", "encryption", "intelligent-tiering"),
        *("inventory", "legal-hold", "lifecycle", "logging", "metrics", "notification", "object-lock"),
        *("ownershipControls", "policy", "policyStatus", "publicAccessBlock", "replication"),
        *("requestPayment", "restore", "retention", "select", "tagging", "torrent"),
        "website",
    }
)
Handler = Callable[[S3Request], Awaitable[Response]]


def _not_implemented(what: str) -> S3Error:
    return S3Error("NotImplemented", f"{what} is not implemented by the Orlop gateway (yet)")


def _route(ctx: S3Request) -> Awaitable[Response]:
    """The operation for this request (raises NotImplemented / MethodNotAllowed)."""
    method, query = ctx.method, ctx.query
    unsupported = sorted(UNSUPPORTED & set(query))
    if unsupported:
        raise _not_implemented(f"the ?{unsupported[0]} sub-resource")
    if not ctx.bucket:
        if method == "GET":
            return bucket_ops.list_buckets(ctx)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.")
    if not ctx.key:
        bucket_handlers: dict[str, Handler] = {
            "PUT": bucket_ops.create_bucket,
            "HEAD": bucket_ops.head_bucket,
            "DELETE": bucket_ops.delete_bucket,
        }
        if "versioning" in query and method in ("GET", "PUT"):
            return versions.get_versioning(ctx) if method == "GET" else versions.put_versioning(ctx)
        if method == "GET":
            if "versions" in query:
                return versions.list_versions(ctx)
            if "uploads" in query:
                return multipart_list.list_uploads(ctx)
            return bucket_ops.get_location(ctx) if "location" in query else bucket_ops.list_objects(ctx)
        if method == "POST" and "delete" in query:
            return object_ops.delete_objects(ctx)
        if method in bucket_handlers:
            return bucket_handlers[method](ctx)
        raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.")
    if "uploadId" in query:
        return _route_upload(ctx)
    if method in ("GET", "HEAD"):
        return object_ops.get_object(ctx)
    if method == "PUT":
        if ctx.header("x-amz-copy-source"):
            return copy_ops.copy_object(ctx)
        return object_ops.put_object(ctx)
    if method == "DELETE":
        return object_ops.delete_object(ctx)
    if method == "POST":
        if "uploads" in query:
            return multipart.create_upload(ctx)
        raise _not_implemented("POST on an object without ?uploads (POST policy uploads)")
    raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.")


def _route_upload(ctx: S3Request) -> Awaitable[Response]:
    """The operations on one multipart upload (``?uploadId=…`` on a key)."""
    method = ctx.method
    if method == "PUT":
        if ctx.header("x-amz-copy-source"):
            return multipart.upload_part_copy(ctx)
        return multipart.upload_part(ctx)
    if method == "POST":
        return multipart.complete_upload(ctx)
    if method == "GET":
        return multipart_list.list_parts(ctx)
    if method == "DELETE":
        return multipart.abort_upload(ctx)
    raise S3Error("MethodNotAllowed", "The specified method is not allowed against this resource.")


class _S3:
    def __init__(self, config: GatewayConfig, s3: S3Config) -> None:
        timeout, prefix = config.request_timeout, config.api_prefix
        stripped = {k: v for k, v in config.nats_options.items() if k not in CREDENTIAL_KEYS}
        self.mapped = ClientPool(
            config.servers, stripped, size=config.pool_size, timeout=timeout, api_prefix=prefix
        )
        self.own = ClientPool(
            config.servers, dict(config.nats_options), size=1, timeout=timeout, api_prefix=prefix
        )
        self.s3 = s3
        keys = list(config.encryption_keys.values())
        self.gateway_keys = Keyring(keys) if keys else None
        self.secrets = {k.access_key: k.secret_key for k in s3.keys}
        self.keys = {k.access_key: k for k in s3.keys}

    async def own_client(self) -> ObjectStoreClient:
        """A connection with the gateway's own NATS identity (the upload sweeper's)."""
        return await self.own.get(Credentials())

    async def close(self) -> None:
        await self.mapped.close()
        await self.own.close()

    async def handle(self, request: Request) -> Response:
        raw_path = request.scope.get("raw_path", b"").decode("latin-1") or request.url.path
        raw_query = request.scope.get("query_string", b"").decode("latin-1")
        resource = raw_path
        request_id = ""
        try:
            headers: dict[str, list[str]] = {}
            for name, value in request.headers.items():
                headers.setdefault(name.lower(), []).append(value)
            signed = sigv4.verify(
                method=request.method,
                raw_path=raw_path,
                raw_query=raw_query,
                headers=headers,
                secrets=self.secrets,
            )
            key = self.keys[signed.access_key]
            pool = self.mapped if key.credentials is not None else self.own
            client = await pool.get(key.credentials or Credentials())
            bucket, name = split_target(request.headers.get("host", ""), raw_path, self.s3.domains)
            ctx = S3Request(request, client, bucket, name, query_of(raw_query), signed)
            ctx.gateway_keys = self.gateway_keys
            request_id = ctx.request_id
            resource = f"/{bucket}/{name}" if bucket else "/"
            operation = _route(ctx)
            # In the gateway's metrics as s3_<handler>: s3_put_object, s3_list_objects, ...
            request.state.operation = "s3_" + getattr(operation, "__name__", "other")
            response = await operation
        except S3Error as exc:
            return _error(request, exc, resource, request_id)
        except (ObjectStoreError, AuthError) as exc:
            return _error(request, from_object_store(exc), resource, request_id)
        except Exception:
            log.exception("S3 request failed: %s %s", request.method, raw_path)
            return _error(request, from_object_store(RuntimeError()), resource, request_id)
        response.headers["x-amz-request-id"] = request_id
        return response


def _error(request: Request, exc: S3Error, resource: str, request_id: str) -> Response:
    request.state.err_code = exc.code  # the metrics' error label: NoSuchKey, AccessDenied, ...
    if not getattr(request.state, "operation", None):
        request.state.operation = "s3_refused"  # before an operation was chosen (auth, routing)
    request_id = request_id or "0"
    headers = {**exc.headers, "x-amz-request-id": request_id}
    if request.method in ("PUT", "POST"):
        # The body may be unread (refused before it was needed): never parse it as the next request.
        headers["Connection"] = "close"
    if request.method == "HEAD":  # no body, but the status says it (boto3 maps 404 to NoSuchKey/NotFound)
        return Response(status_code=exc.status, headers=headers)
    body = error_document(exc.code, exc.message, resource, request_id)
    return Response(body, status_code=exc.status, headers=headers, media_type="application/xml")


def create_s3_app(config: GatewayConfig, s3: S3Config, metrics: GatewayMetrics | None = None) -> Starlette:
    """The S3 API for ``config`` (its NATS servers and options) and ``s3`` (listen address, keys);
    its requests counted in ``metrics`` (the JSON API's, so its ``/metrics`` shows both)."""
    service = _S3(config, s3)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        swept = None
        if s3.upload_expiry > 0:
            own = service.own_client
            swept = asyncio.get_running_loop().create_task(run_sweeper(own, s3.upload_expiry, s3.sweep_every))
        try:
            yield
        finally:
            if swept is not None:
                swept.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await swept
            await service.close()

    methods = ["GET", "HEAD", "PUT", "POST", "DELETE"]
    routes = [Route("/{path:path}", service.handle, methods=methods)]
    middleware = [Middleware(MeasureRequests, metrics=metrics or GatewayMetrics(), count_bytes=True)]
    app = Starlette(routes=routes, lifespan=lifespan, middleware=middleware)
    app.state.s3 = service
    return app
