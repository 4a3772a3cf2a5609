"""One NATS connection per gateway user, kept open and shared by that user's requests.

A request's credentials select its connection, so the NATS server's permissions decide
what each person may do. Connecting costs a round trip or two (and a bcrypt check on the
server), so connections are reused; the least recently used is closed past ``size``.
Refused credentials are remembered briefly, so a client hammering with a wrong password
does not make the gateway open a connection per request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from typing import Any

import nats.errors

from orlop.errors import AuthError, ObjectStoreUnavailable
from orlop.gateway.config import Credentials
from orlop.objects import ObjectStoreClient, connect

__all__ = ["ClientPool"]

log = logging.getLogger("orlop.gateway")

_REFUSED_FOR = 5.0  # seconds a refused login is answered from memory


class ClientPool:
    def __init__(
        self,
        servers: list[str],
        base_options: dict[str, Any],
        *,
        size: int,
        timeout: float,
        api_prefix: str = "$JS.API",
    ) -> None:
        self._servers = servers
        self._api_prefix = api_prefix
        self._base = base_options
        self._size = size
        self._timeout = timeout
        self._clients: OrderedDict[Credentials, ObjectStoreClient] = OrderedDict()
        self._locks: dict[Credentials, asyncio.Lock] = {}
        self._refused: dict[Credentials, float] = {}

    async def get(self, creds: Credentials) -> ObjectStoreClient:
        """The connection for ``creds``; AuthError when the server refuses them, else
        ObjectStoreUnavailable when no server answers."""
        client = self._clients.get(creds)
        if client is not None and not client.nc.is_closed:
            self._clients.move_to_end(creds)
            return client
        refused_at = self._refused.get(creds)
        if refused_at is not None and time.monotonic() - refused_at < _REFUSED_FOR:
            raise AuthError("the NATS server refused the credentials")
        lock = self._locks.setdefault(creds, asyncio.Lock())
        async with lock:
            client = self._clients.get(creds)
            if client is not None and not client.nc.is_closed:
                return client
            client = await self._connect(creds)
            self._clients[creds] = client
            self._refused.pop(creds, None)
        await self._trim()
        return client

    async def _connect(self, creds: Credentials) -> ObjectStoreClient:
        options = {**self._base, **creds.nats_options()}
        seen: list[str] = []

        async def noted(exc: Exception) -> None:
            seen.append(str(exc).lower())
            log.debug("nats: %s", exc)

        try:
            # No reconnecting: a refused login fails now, and a connection that drops is
            # replaced by the next request (get() sees it closed).
            opening = connect(
                self._servers,
                request_timeout=self._timeout,
                api_prefix=self._api_prefix,
                connect_timeout=min(self._timeout, 5.0),
                allow_reconnect=False,
                # nats-py retries even an initial connect (60 times by default, 2 s apart;
                # 0 means forever): a server that is down must be a 503 now, not in minutes.
                max_reconnect_attempts=1,
                error_cb=noted,
                **options,
            )
            return await asyncio.wait_for(opening.open(), self._timeout + 5)
        except AuthError:
            self._refused[creds] = time.monotonic()
            raise
        except (TimeoutError, nats.errors.Error, OSError) as exc:
            text = " ".join([str(exc).lower(), *seen])
            if "authorization" in text or "authentication" in text:
                self._refused[creds] = time.monotonic()
                raise AuthError("the NATS server refused the credentials") from exc
            raise ObjectStoreUnavailable(f"cannot reach the NATS server: {exc}") from exc

    async def _trim(self) -> None:
        while len(self._clients) > self._size:
            _, oldest = self._clients.popitem(last=False)
            await oldest.close()

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), OrderedDict()
        for client in clients:
            await client.close()
