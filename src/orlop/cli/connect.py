"""How the client commands reach a server: URLs, credentials, TLS, natscli contexts, timeout.

The commands connect through :func:`orlop.objects.sync.connect`, so they work the same
against ``orlop serve`` and a nats-server cluster. Settings come from the flags, then
the natscli context (:mod:`orlop.cli.context`), then the defaults. When nothing answers,
the error names the URL tried and how to start a server; refused credentials and
denied subjects become :class:`orlop.errors.AuthError` (exit code 6).
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import click

from orlop.cli.context import ContextError, load_context
from orlop.cli.output import Refused

__all__ = ["DEFAULT_URL", "Connection", "connection_options", "resolve_connection"]

DEFAULT_URL = "nats://127.0.0.1:4222"
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Connection:
    """The resolved connection settings of one command."""

    servers: str = DEFAULT_URL
    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds: str | None = None
    nkey: str | None = None
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_first: bool = False
    inbox_prefix: str | None = None
    api_prefix: str = "$JS.API"
    timeout: float = 5.0
    context: str = ""
    # Permission errors the server sent on this connection (it keeps the connection open).
    denied: list[str] = field(default_factory=list)

    def nats_options(self) -> dict[str, Any]:
        """The keyword arguments for ``nats.connect``."""

        async def on_error(exc: Exception) -> None:
            """nats-py reports connection trouble here; the command says it once, its own way."""
            if "permissions violation" in str(exc).lower():
                self.denied.append(str(exc).removeprefix("nats: "))

        options: dict[str, Any] = {
            "connect_timeout": min(self.timeout, 5.0),
            "allow_reconnect": False,
            "error_cb": on_error,
        }
        for key, value in (
            ("user", self.user),
            ("password", self.password),
            ("token", self.token),
            ("user_credentials", self.creds),
            ("nkeys_seed", self.nkey),
            ("inbox_prefix", self.inbox_prefix),
        ):
            if value:
                options[key] = value
        for path in (self.creds, self.nkey, self.tls_ca, self.tls_cert, self.tls_key):
            if path and not os.path.isfile(path):
                raise Refused(f"no such file: {path}")
        if self.tls_key and not self.tls_cert:
            raise Refused("--tls-key needs --tls-cert (the certificate it belongs to)")
        if self.tls_ca or self.tls_cert or self.tls_first or self.servers.startswith("tls://"):
            tls = ssl.create_default_context(cafile=self.tls_ca or None)
            if self.tls_cert:
                tls.load_cert_chain(self.tls_cert, self.tls_key or None)
            options["tls"] = tls
            options["tls_handshake_first"] = self.tls_first
        return options

    def open(self) -> Any:
        """A connected :class:`orlop.objects.sync.ObjectStoreClient`; ConnectionError naming the URL."""
        from orlop.objects import sync

        options = self.nats_options()
        urls = [u.strip() for u in self.servers.split(",") if u.strip()]
        for url in urls:
            scheme = urlsplit(url).scheme if "://" in url else "nats"
            if scheme not in ("nats", "tls"):
                raise Refused(f"{url}: only nats:// and tls:// URLs are supported (not {scheme}://)")
        if not any(_reachable(u, min(self.timeout, 2.0)) for u in urls):
            # nats-py keeps retrying an initial connect nobody answers: say so at once instead.
            raise ConnectionError(f"no NATS server answered at {self.servers} (start one with 'orlop serve')")
        try:
            return sync.connect(urls, request_timeout=self.timeout, api_prefix=self.api_prefix, **options)
        except Exception as exc:  # nats-py raises several types for "nobody there"
            text = str(exc).lower()
            if "authorization" in text or "authentication" in text:
                from orlop.errors import AuthError

                raise AuthError(f"the server at {self.servers} refused the credentials") from exc
            if isinstance(exc, ssl.SSLError | ssl.CertificateError) or "tls" in text or "ssl" in text:
                raise ConnectionError(f"TLS with {self.servers} failed: {exc}") from exc
            if type(exc).__module__.startswith("nkeys") or "seed" in text or "creds" in text:
                raise Refused(f"cannot use the credentials file: {exc or type(exc).__name__}") from exc
            # Something accepted the connection (checked above) but the NATS handshake failed.
            raise ConnectionError(
                f"connecting to {self.servers} failed: {exc or type(exc).__name__}"
            ) from exc


def _reachable(url: str, timeout: float) -> bool:
    """Whether something accepts TCP connections at the URL's host and port."""
    parts = urlsplit(url if "://" in url else f"nats://{url}")
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 4222), timeout=timeout):
            return True
    except OSError:
        return False


def resolve_connection(flags: dict[str, Any]) -> Connection:
    """Flags first, then the natscli context, then the defaults."""
    try:
        ctx = load_context(flags.get("context") or os.environ.get("NATS_CONTEXT"))
    except ContextError as exc:
        raise Refused(str(exc)) from exc

    def pick(flag: str, ctx_value: str) -> str | None:
        given = flags.get(flag)
        return given if given is not None else (ctx_value or None)

    servers = flags.get("servers") or os.environ.get("NATS_URL") or (ctx.url if ctx else "") or DEFAULT_URL
    if ctx is None:
        return Connection(
            servers=servers,
            user=flags.get("user"),
            password=flags.get("password"),
            token=flags.get("token"),
            creds=flags.get("creds"),
            nkey=flags.get("nkey"),
            tls_ca=flags.get("tls_ca"),
            tls_cert=flags.get("tls_cert"),
            tls_key=flags.get("tls_key"),
            timeout=float(flags.get("timeout") or 5.0),
        )
    api_prefix = ctx.jetstream_api_prefix or (
        f"$JS.{ctx.jetstream_domain}.API" if ctx.jetstream_domain else "$JS.API"
    )
    return Connection(
        servers=servers,
        user=pick("user", ctx.user),
        password=pick("password", ctx.password),
        token=pick("token", ctx.token),
        creds=pick("creds", ctx.creds),
        nkey=pick("nkey", ctx.nkey),
        tls_ca=pick("tls_ca", ctx.ca),
        tls_cert=pick("tls_cert", ctx.cert),
        tls_key=pick("tls_key", ctx.key),
        tls_first=ctx.tls_first,
        inbox_prefix=ctx.inbox_prefix or None,
        api_prefix=api_prefix,
        timeout=float(flags.get("timeout") or 5.0),
        context=ctx.name,
    )


def connection_options(fn: F) -> F:
    """The connection flags every client command takes."""
    options = [
        click.option(
            "-s",
            "--server",
            "servers",
            multiple=True,
            # Repeated (-s a -s b) or comma separated: every URL counts, none is silently dropped.
            callback=lambda _ctx, _param, values: ",".join(values) if values else None,
            help=(
                "server URL(s), comma separated or repeated"
                f" [default: NATS_URL, the context's, else {DEFAULT_URL}]"
            ),
        ),
        click.option(
            "--context", default=None, help="natscli context to use [default: NATS_CONTEXT, the selected]"
        ),
        click.option("--user", default=None, help="user name"),
        click.option("--password", default=None, help="password"),
        click.option("--token", default=None, help="token"),
        click.option("--creds", default=None, help="user credentials file (JWT and NKEY seed)"),
        click.option("--nkey", default=None, help="NKEY seed file"),
        click.option("--tls-ca", default=None, help="CA certificates to verify the server with"),
        click.option("--tls-cert", default=None, help="client certificate (PEM)"),
        click.option("--tls-key", default=None, help="client certificate's private key (PEM)"),
        click.option(
            "--timeout", default=5.0, show_default=True, type=float, help="seconds to wait for a reply"
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn
