"""The monitoring port's HTTP/1.1: one GET (or HEAD) per connection, JSON or HTML back.

Why hand-rolled: a handful of GET endpoints returning JSON do not justify a web
framework dependency inside the NATS server. Each request gets one response and the
connection is closed (``Connection: close``), so there is no keep-alive, chunking or
pipelining to get wrong. An endpoint is a function of the query string registered in
``routes`` (path -> handler); :class:`orlop.server.monitor.MonitorServer` registers
nats-server's, and a new one (``/metrics``) is one more entry. A handler returns a dict
(JSON), a str (HTML) or :class:`Body` (any content type); it raises
:class:`HttpError` for an error status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from orlop import gojson

__all__ = ["Body", "Handler", "HttpEndpoints", "HttpError"]

log = logging.getLogger("orlop.server.monitor")

_MAX_REQUEST_HEAD = 16 * 1024
_READ_TIMEOUT = 10.0

Handler = Callable[[dict[str, str]], Any]


class HttpError(Exception):
    """An error status for the client (the body is ``{"error": body}``)."""

    def __init__(self, status: int, reason: str, body: str) -> None:
        super().__init__(body)
        self.status, self.reason, self.body = status, reason, body


@dataclass(frozen=True, slots=True)
class Body:
    """A response with its own content type (text exposition formats, files)."""

    content_type: str
    data: bytes


class HttpEndpoints:
    """Serves ``routes`` over HTTP/1.1 on one listening socket."""

    def __init__(self) -> None:
        self.port = 0
        self.requests: dict[str, int] = {}
        self.routes: dict[str, Handler] = {}
        self._listener: asyncio.Server | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, host: str, port: int, tls: ssl.SSLContext | None = None) -> int:
        """Listen on host:port (``-1`` or ``0``: a free port; HTTPS with ``tls``); return the port.

        OSError if busy.
        """
        self._listener = await asyncio.start_server(
            self._handle,
            host,
            0 if port < 0 else port,
            reuse_address=True,
            limit=_MAX_REQUEST_HEAD,
            ssl=tls,
            ssl_handshake_timeout=_READ_TIMEOUT if tls is not None else None,
        )
        self.port = int(self._listener.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        """Stop listening; requests in flight finish on their own (each is one short response)."""
        if self._listener is not None:
            self._listener.close()
            await self._listener.wait_closed()
            self._listener = None

    # -- HTTP ------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT)
            status, reason, ctype, body, method = self._respond(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            writer.close()
            return
        headers = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nAccess-Control-Allow-Origin: *\r\n"
            f"Connection: close\r\n\r\n"
        )
        try:
            writer.write(headers.encode("ascii") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    def _respond(self, head: bytes) -> tuple[int, str, str, bytes, str]:
        """(status, reason, content type, body, method) for one request head."""
        try:
            method, target, _version = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
        except ValueError:
            return 400, "Bad Request", "text/plain; charset=utf-8", b"400 bad request\n", "GET"
        if method not in ("GET", "HEAD"):
            return 405, "Method Not Allowed", "text/plain; charset=utf-8", b"405 method not allowed\n", method
        url = urlsplit(target)
        path = unquote(url.path).rstrip("/") or "/"
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        route = self.routes.get(path)
        if route is None:
            return 404, "Not Found", "text/plain; charset=utf-8", b"404 page not found\n", method
        self.requests[path] = self.requests.get(path, 0) + 1
        try:
            result = route(query)
        except HttpError as exc:
            body = json.dumps({"error": exc.body}).encode()
            return exc.status, exc.reason, "application/json", body, method
        except Exception as exc:  # a monitoring bug must never take the server down
            log.exception("monitoring %s failed", path)
            body = json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode()
            return 500, "Internal Server Error", "application/json", body, method
        if isinstance(result, Body):
            return 200, "OK", result.content_type, result.data, method
        if isinstance(result, str):
            return 200, "OK", "text/html; charset=utf-8", result.encode(), method
        return 200, "OK", "application/json", gojson.dumps(result, indent=2).encode(), method
