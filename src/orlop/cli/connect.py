"""How the client commands reach a server: ``-s/--server`` (or ``NATS_URL``), credentials, timeout.

The commands connect through :func:`orlop.objects.sync.connect`, so they work the same
against ``orlop serve`` and a nats-server cluster. When nothing answers, the error names
the URL tried and how to start a server.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

__all__ = ["DEFAULT_URL", "Connection", "connection_options"]

DEFAULT_URL = "nats://127.0.0.1:4222"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Connection:
    """The connection options of one command."""

    servers: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    timeout: float = 5.0

    def open(self) -> Any:
        """A connected :class:`orlop.objects.sync.ObjectStoreClient`; ConnectionError naming the URL."""
        from orlop.objects import sync

        async def quiet(exc: Exception) -> None:
            """nats-py reports connection trouble here; the command says it once, its own way."""

        options: dict[str, Any] = {
            "connect_timeout": min(self.timeout, 5.0),
            "allow_reconnect": False,
            "error_cb": quiet,
        }
        if self.user is not None:
            options["user"] = self.user
        if self.password is not None:
            options["password"] = self.password
        if self.token is not None:
            options["token"] = self.token
        urls = [u.strip() for u in self.servers.split(",") if u.strip()]
        if not any(_reachable(u, min(self.timeout, 2.0)) for u in urls):
            # nats-py keeps retrying an initial connect nobody answers: say so at once instead.
            raise ConnectionError(f"no NATS server answered at {self.servers} (start one with 'orlop serve')")
        try:
            return sync.connect(urls, request_timeout=self.timeout, **options)
        except Exception as exc:  # nats-py raises several types for "nobody there"
            text = str(exc)
            if "Authorization" in text or "authorization" in text:
                from orlop.errors import AuthError

                raise AuthError(f"the server at {self.servers} refused the credentials") from exc
            raise ConnectionError(
                f"no NATS server answered at {self.servers} (start one with 'orlop serve')"
            ) from exc


def _reachable(url: str, timeout: float) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=timeout):
            return True
    except OSError:
        return False


def connection_options(fn: F) -> F:
    """The connection flags every client command takes."""
    options = [
        click.option(
            "-s",
            "--server",
            "servers",
            default=lambda: os.environ.get("NATS_URL", DEFAULT_URL),
            show_default="NATS_URL, else " + DEFAULT_URL,
            help="server URL(s), comma separated",
        ),
        click.option("--user", default=None, help="user name"),
        click.option("--password", default=None, help="password"),
        click.option("--token", default=None, help="token"),
        click.option(
            "--timeout", default=5.0, show_default=True, type=float, help="seconds to wait for a reply"
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn
