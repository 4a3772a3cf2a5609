"""The server: lifecycle, accounts, the client listener and the once-per-tick flush.

Why this shape: the server object is the one place that owns process-wide state
(accounts, the client table, counters, the listener, JetStream, monitoring) and
the lifecycle order, while connections (``connection.py``) own socket details
and accounts (``account.py``) own routing. Start order: bind the listener
without serving, start JetStream (so its API subscriptions exist before any
client can publish), start monitoring, serve, write the ports file. Shutdown
reverses it: stop accepting, flush and close clients, shut JetStream down, stop
monitoring, remove the ports file.

Outbound writes are batched: connections call :meth:`Server.mark_dirty` when
they queue bytes, and one ``loop.call_soon`` per tick flushes every dirty
connection with a single ``transport.write`` each.

Attributes read by monitoring (``orlop.server.monitor``): ``server_id``,
``name``, ``version`` (the nats-server version claimed, ``NATS_VERSION``),
``start_time_ns``, counters ``in_msgs, out_msgs, in_bytes, out_bytes,
slow_consumers, total_connections``, ``clients`` (cid -> Connection),
``accounts`` (name -> Account), ``options``, ``port``, ``monitor_port``,
``url``, ``jetstream``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import random
import secrets
import ssl
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orlop.errors import StartupError
from orlop.server.account import GLOBAL_ACCOUNT, Account
from orlop.server.audit import AuditTrail
from orlop.server.auth import AUTH_TIMEOUT, Authenticator
from orlop.server.connection import Connection
from orlop.server.imports import ImportRouter
from orlop.server.operator import AccountClaims, OperatorAuth, update_response
from orlop.server.options import AuthOptions, ClientLimits, ServerOptions, TLSOptions
from orlop.server.ports import client_host, ports_body, remove_ports_file, write_ports_file

if TYPE_CHECKING:
    from orlop.server.jetstream.service import JetStreamService
    from orlop.server.monitor import MonitorServer

__all__ = ["API_LEVEL", "AUTH_TIMEOUT", "NATS_VERSION", "Server"]

log = logging.getLogger("orlop.server")

NATS_VERSION = "2.14.0"  # the nats-server version whose client-visible behaviour we implement
API_LEVEL = 4
"""JetStream API level of nats-server 2.14 (batches, counters, schedules, priority groups). INFO
carries it as ``api_lvl`` (nats.js decides on fast-ingest object puts from it); the JetStream
service reports the same level in ``$JS.API.INFO``. tests/jetstream/test_js_version_claims.py
keeps the claim from running ahead of what is implemented."""
DEFAULT_PORT = 4222
_B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_server_id() -> str:
    """A 56-character id shaped like nats-server's (an 'N' and base32 characters)."""
    return "N" + "".join(secrets.choice(_B32) for _ in range(55))


class _Total:
    """A server-wide counter: closed clients' share plus the sum over live clients.

    Setting it (a monitoring reset) adjusts the closed clients' share.
    """

    def __init__(self, index: int, attr: str) -> None:
        self.index = index
        self.attr = attr

    def __get__(self, server: Server, owner: type | None = None) -> int:
        attr = self.attr
        live: int = sum(getattr(c, attr) for c in server.clients.values())
        return server.retired_totals[self.index] + live

    def __set__(self, server: Server, value: int) -> None:
        attr = self.attr
        server.retired_totals[self.index] = value - sum(getattr(c, attr) for c in server.clients.values())


class Server:
    """A NATS server on one listener. ``start()`` binds and serves; ``shutdown()`` stops.

    ``options.port == -1`` binds a free port (0 means 4222, as in nats-server); the
    bound one is ``self.port``.
    """

    def __init__(self, options: ServerOptions | None = None) -> None:
        self.options = options if options is not None else ServerOptions()
        self.server_id = new_server_id()
        self.name = self.options.server_name or self.server_id
        self.version = NATS_VERSION
        self.start_time_ns = time.time_ns()
        self.accounts: dict[str, Account] = {}
        self.jetstream: JetStreamService | None = None
        self.authenticator: Authenticator
        self.operator: OperatorAuth | None
        if self.options.operator is not None:
            self.authenticator = self.operator = OperatorAuth(self.options.operator)
            self.operator.on_update = self._account_updated
        else:
            tls_map = _tls_map(self.options)
            self.authenticator = Authenticator(self.options.auth, GLOBAL_ACCOUNT, tls_map=tls_map)
            self.operator = None
        self.audit: AuditTrail | None = None  # the object-store audit trail (docs/audit.md)
        if self.options.audit is not None:
            a = self.options.audit
            system = self.options.system_account or (
                self.options.operator.system_account if self.options.operator is not None else ""
            )
            self.audit = AuditTrail(self, a.file, a.max_size, a.max_files, system or "$SYS")
        self.imports = ImportRouter(self.lookup_account, lambda delay, fn: self.loop.call_later(delay, fn))
        self._activation_timers: dict[str, asyncio.TimerHandle] = {}
        self.default_account = self.lookup_account(GLOBAL_ACCOUNT)
        self.monitor: MonitorServer | None = None
        self.clients: dict[int, Connection] = {}
        self.retired_totals = [0, 0, 0, 0]  # in_msgs, out_msgs, in_bytes, out_bytes of closed clients
        self.slow_consumers = 0
        self.total_connections = 0
        self.port = 0
        self.monitor_port = 0
        self.url = ""
        self.closing = False
        self.ldm = False  # in lame duck mode (see lame_duck)
        self.started = False
        self.auth_timeout = self.options.auth.timeout
        if self.options.tls is not None:
            # As nats-server: with TLS the client has the handshake's time and a second more.
            self.auth_timeout = max(self.auth_timeout, self.options.tls.timeout + 1.0)
        self.tls_context: ssl.SSLContext | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Server | None = None
        self._ports_file: Path | None = None
        self._cid = 0
        self._dirty: list[Connection] = []
        self._flush_scheduled = False
        self._info_prefix = b""

    def __repr__(self) -> str:
        return f"<Server {self.name} {self.url or 'not started'} clients={len(self.clients)}>"

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop the server was started on (RuntimeError before ``start()``)."""
        if self._loop is None:
            raise RuntimeError("server not started")
        return self._loop

    def lookup_account(self, name: str) -> Account:
        """The account called ``name``, created on first use."""
        acc = self.accounts.get(name)
        if acc is None:
            acc = self.accounts[name] = Account(name, self)
            if self.operator is not None and self.operator.lookup(name) is not None:
                # An account of a JWT: its imports, as its claims and its exporters' allow.
                self._wire_jwt_imports(name)
            # An account born after JetStream started gets its own JetStream namespace too.
            if self.jetstream is not None and self.jetstream.started and self.jetstream_allowed(name):
                self.jetstream.enable_account(acc)
        return acc

    def jetstream_allowed(self, name: str) -> bool:
        """Whether account ``name`` has JetStream: every account without an ``accounts`` block;
        with one, those it enables (the global account then has none, as in nats-server); in
        operator mode, those whose JWT gives it memory or storage."""
        if self.operator is not None:
            return self.operator.jetstream_limits(name) is not None
        accounts = self.options.accounts
        return not accounts or accounts.get(name, False)

    def account_js_limits(self, name: str) -> dict[str, int | bool] | None:
        """The JetStream limits of account ``name`` (AccountLimits fields), None when it has none."""
        if self.operator is not None:
            return self.operator.jetstream_limits(name)
        return self.options.account_limits.get(name)

    def client_limits(self, name: str) -> ClientLimits | None:
        """Account ``name``'s limits on its clients (connections, subscriptions, payload)."""
        if self.operator is not None:
            return self.operator.client_limits(name)
        return self.options.account_client_limits.get(name)

    def _account_updated(self, claims: AccountClaims) -> None:
        """An account JWT changed at run time: its connected users and its JetStream follow."""
        account = self.accounts.get(claims.key)
        if account is None:
            return
        auth = self.authenticator
        assert isinstance(auth, OperatorAuth)
        clients = sorted(account.clients.values(), key=lambda c: c.cid)
        for conn in clients:
            if not isinstance(conn, Connection):
                continue
            if auth.revoked(conn.credentials, claims.key):
                conn.kick("User Authentication Revoked")
            elif auth.scope_altered(conn.credentials, claims.key):
                conn.close("Authentication Failure")  # no -ERR, as nats-server's eviction
            else:
                conn.reauthorize(auth)
        allowed = claims.limits.max_connections
        live = [c for c in clients if isinstance(c, Connection) and not c.closing]
        if allowed >= 0 and len(live) > allowed:
            for conn in live[allowed:]:  # the newest go, as in nats-server
                conn.kick("maximum account active connections exceeded")
        if self.jetstream is not None and self.jetstream.started:
            self.jetstream.update_account_limits(account, claims.jetstream)
        # Its imports, and those of every account that may import from it, follow the new JWT.
        for name in list(self.accounts):
            if self.operator is not None and self.operator.lookup(name) is not None:
                self._wire_jwt_imports(name)

    def _wire_jwt_imports(self, name: str) -> None:
        """Wire a JWT account's imports, and again when an activation token they use expires
        (the import it let in then goes, as nats-server's activation expiry timer does)."""
        assert self.operator is not None
        self.imports.wire_account(name, self.operator.imports_of(name))
        old = self._activation_timers.pop(name, None)
        if old is not None:
            old.cancel()
        expires = self.operator.activations_expire.get(name, 0)
        if expires and self._loop is not None and not self.closing:
            delay = max(0.0, expires - time.time()) + 0.05  # past it on the wall clock too
            self._activation_timers[name] = self._loop.call_later(delay, self._wire_jwt_imports, name)

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind, start JetStream and monitoring, serve clients and write the ports file.

        Raises StartupError (already logged) when a port cannot be bound or the store cannot be
        opened; whatever started is stopped again.
        """
        if self.started:
            raise RuntimeError("server already started")
        self.started = True
        self._loop = asyncio.get_running_loop()
        opts = self.options
        if opts.tls is not None:
            try:
                self.tls_context = server_tls_context(opts.tls)
            except (OSError, ssl.SSLError) as exc:
                problem = f"error parsing X509 certificate/key pair: {exc}"
                log.error("%s", problem)
                raise StartupError(problem) from exc
        try:
            self._listener = await self._loop.create_server(
                lambda: Connection(self),
                opts.host,
                {-1: 0, 0: DEFAULT_PORT}.get(opts.port, opts.port),
                reuse_address=True,
                start_serving=False,
                backlog=1024,
            )
        except OSError as exc:
            log.error("Error listening on port: %s:%s, %s", opts.host, opts.port, exc.strerror or exc)
            raise StartupError(f"cannot listen on {opts.host}:{opts.port}: {exc.strerror or exc}") from exc
        try:
            self.port = int(self._listener.sockets[0].getsockname()[1])
            scheme = "tls" if opts.tls is not None else "nats"  # as nats-server writes it
            self.url = f"{scheme}://{client_host(opts.host)}:{self.port}"
            self._info_prefix = self._build_info_prefix()
            self._start_audit()
            await self._start_services()
            self.imports.wire(opts)
            self._serve_claims_updates()
            await self._listener.start_serving()
            self._write_ports_file()
        except BaseException as exc:
            if isinstance(exc, StartupError):
                log.error("%s", exc)  # before shutdown's "Server Exiting..", as nats-server orders them
            await self.shutdown()
            raise
        log.info("Listening for client connections on %s:%d", opts.host, self.port)
        log.info("Server is ready")

    def _start_audit(self) -> None:
        """Open the audit file before JetStream starts (its streams wire the audit hooks in).

        Raises StartupError when the file cannot be opened."""
        if self.audit is None:
            return
        try:
            self.audit.start(self.loop)
        except OSError as exc:
            raise StartupError(f"Can't open the audit file {self.audit.path}: {exc.strerror or exc}") from exc
        log.info("Audit trail of object-store operations written to %s", self.audit.path)

    def _serve_claims_updates(self) -> None:
        """Operator mode: the system account's ``$SYS.REQ…CLAIMS.UPDATE`` (and LOOKUP) services."""
        op = self.operator
        if op is None or not op.op.system_account:
            return
        system = self.lookup_account(op.op.system_account)

        def update(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
            toks = subject.split(".")
            expected = toks[3] if len(toks) == 6 else ""
            token = payload.decode("ascii", "replace").strip()
            if not token:
                account, error = expected or "n/a", "jwt update error - request body is empty"
            else:
                account, error = op.update(token, expected)
            if error:
                log.warning("claims update for %s refused: %s", account, error)
            else:
                log.info("account %s: claims updated", account)
            if reply:
                system.publish(reply, "", b"", update_response(self.system_info(), account, error))

        def lookup(subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
            if reply:
                token = op.resolver.lookup(subject.split(".")[3]) or ""
                system.publish(reply, "", b"", token.encode())

        system.subscribe_internal("$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE", update)
        system.subscribe_internal("$SYS.ACCOUNT.*.CLAIMS.UPDATE", update)
        if op.op.resolver == "full":
            system.subscribe_internal("$SYS.REQ.CLAIMS.UPDATE", update)
            system.subscribe_internal("$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP", lookup)

    def system_info(self) -> dict[str, Any]:
        """The ``server`` object of system-account replies (nats-server's ServerInfo)."""
        return {
            "name": self.name,
            "host": self.options.host,
            "id": self.server_id,
            "ver": self.version,
            "jetstream": self.jetstream is not None,
            "flags": 0,
            "seq": 0,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z",
        }

    async def _start_services(self) -> None:
        """JetStream, then monitoring. Raises StartupError naming what failed, in nats-server's words."""
        opts = self.options
        if opts.jetstream:
            from orlop.server.jetstream.service import JetStreamService

            self.jetstream = JetStreamService(self)
            try:
                await self.jetstream.start()
            except OSError as exc:
                raise StartupError(f"Can't start JetStream: {storage_problem(opts.store_dir, exc)}") from exc
        if opts.http_port != 0 and opts.https_port != 0:
            raise StartupError(
                f"can't specify both HTTP ({opts.http_port}) and HTTPs ({opts.https_port}) ports"
            )
        port, secure = (opts.https_port, True) if opts.https_port != 0 else (opts.http_port, False)
        if port != 0:
            from orlop.server.monitor import MonitorServer

            tls = None
            if secure:
                if opts.tls is None:
                    raise StartupError("TLS cert and key required for HTTPS")
                # The client port's certificate; browsers and curl bring no client certificate.
                tls = server_tls_context(dataclasses.replace(opts.tls, verify=False, verify_and_map=False))
            self.monitor = MonitorServer(self)
            try:
                self.monitor_port = await self.monitor.start(opts.http_host, 0 if port == -1 else port, tls)
            except OSError as exc:
                raise StartupError(
                    f"Can't start monitoring: can't listen to the monitor port: "
                    f"{opts.http_host}:{port}: {exc.strerror or exc}"
                ) from exc

    async def lame_duck(self) -> None:
        """Lame duck mode, as nats-server enters it on SIGUSR2; ends with :meth:`shutdown`.

        The listener closes at once (new connections are refused) and JetStream
        shuts down: its API requests go unanswered and stream subjects lose
        their responders, as with nats-server. Clients that speak protocol 1
        get an INFO with ``"ldm": true``; nats-py, nats.go and nats.js call
        their lame duck callback on it, so an application can move elsewhere.
        After ``lame_duck_grace_period`` the clients are closed one at a time,
        spread over the rest of ``lame_duck_duration`` but never more than a
        second apart, and the server shuts down. With no client left it shuts
        down at once. Does nothing when already closing or in lame duck mode.
        """
        if self.closing or self.ldm or self._listener is None:
            return
        log.info("Entering lame duck mode, stop accepting new clients")
        self.ldm = True
        self._listener.close()
        if self.jetstream is not None:
            log.info("Initiating JetStream Shutdown...")
            await self.jetstream.shutdown(silence_api=True)
            log.info("JetStream Shutdown")
        clients = list(self.clients.values())
        if self.closing or not clients:
            await self.shutdown()
            return
        opts = self.options
        grace = opts.lame_duck_grace_period
        interval = min(max(opts.lame_duck_duration - grace, 1.0) / len(clients), 1.0)
        for conn in clients:
            if conn.protocol >= 1 and not conn.closing:
                conn.send_info(self.info_frame(conn, ldm=True))
        await asyncio.sleep(grace)
        if self.closing:
            return
        log.info("Closing existing clients")
        for i, conn in enumerate(clients):
            conn.close("Server Shutdown")
            if i < len(clients) - 1:
                # Randomly between half the interval and the interval, as nats-server does,
                # so clients of several servers in lame duck mode do not reconnect in step.
                await asyncio.sleep(random.uniform(interval / 2, interval))
                if self.closing:
                    return
        await self.shutdown()

    async def shutdown(self) -> None:
        """Stop accepting, flush and close every client, stop JetStream and monitoring.

        Safe to call more than once and after a failed ``start()``.
        """
        if self.closing:
            return
        self.closing = True
        if self._listener is not None:
            self._listener.close()
        for timer in self._activation_timers.values():
            timer.cancel()
        self._activation_timers.clear()
        conns = list(self.clients.values())
        for conn in conns:
            conn.close("Server Shutdown")
        await self._wait_closed(conns, timeout=2.0)
        try:
            if self.jetstream is not None:
                await self.jetstream.shutdown()
        finally:
            if self.audit is not None:
                self.audit.close()
            if self.monitor is not None:
                await self.monitor.close()
            self._remove_ports_file()
        log.info("Server Exiting..")

    @staticmethod
    async def _wait_closed(conns: list[Connection], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while any(c.transport is not None for c in conns) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    # -- clients ---------------------------------------------------------------------------

    def next_cid(self) -> int:
        self._cid += 1
        return self._cid

    def reload_auth(self, auth: AuthOptions) -> None:
        """Apply a reloaded ``authorization``: new rules for new clients, connected ones checked again."""
        if self.operator is not None:  # operator mode: the JWTs are the rules, and they did not change
            return
        fresh = Authenticator(auth, GLOBAL_ACCOUNT, tls_map=_tls_map(self.options))
        fresh.inherit(self.authenticator)
        self.options.auth = auth
        self.authenticator = fresh
        self.auth_timeout = max(auth.timeout, self.auth_timeout if self.options.tls is not None else 0.0)
        if self.port:
            self._info_prefix = self._build_info_prefix()  # auth_required may have changed
        for conn in list(self.clients.values()):
            conn.reauthorize(fresh)

    def add_client(self, conn: Connection) -> None:
        self.clients[conn.cid] = conn
        conn.account.clients[conn.cid] = conn
        self.total_connections += 1

    def remove_client(self, conn: Connection) -> None:
        if self.clients.pop(conn.cid, None) is not None:
            r = self.retired_totals
            r[0] += conn.in_msgs
            r[1] += conn.out_msgs
            r[2] += conn.in_bytes
            r[3] += conn.out_bytes
        conn.account.clients.pop(conn.cid, None)

    # Totals are summed on demand (see _Total) so the hot path updates only per-connection counters.
    in_msgs = _Total(0, "in_msgs")
    out_msgs = _Total(1, "out_msgs")
    in_bytes = _Total(2, "in_bytes")
    out_bytes = _Total(3, "out_bytes")

    def mark_dirty(self, conn: Connection) -> None:
        """Schedule ``conn.flush()`` for the end of this loop tick (one callback for all)."""
        self._dirty.append(conn)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush_dirty)

    def _flush_dirty(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for conn in dirty:
            conn.flush()

    # -- INFO ------------------------------------------------------------------------------

    def info(self) -> dict[str, Any]:
        """The INFO fields common to every client (nats-server's names and meanings)."""
        opts = self.options
        info: dict[str, Any] = {
            "server_id": self.server_id,
            "server_name": self.name,
            "version": self.version,
            "proto": 1,
            "host": opts.host,
            "port": self.port,
            "headers": True,
            "max_payload": opts.max_payload,
        }
        if self.authenticator.required:
            info["auth_required"] = True
        if opts.tls is not None:
            info["tls_required"] = True
            info["tls_verify"] = opts.tls.verify or opts.tls.verify_and_map
        if opts.jetstream:
            info["jetstream"] = True
        return info

    def _build_info_prefix(self) -> bytes:
        body = json.dumps(self.info(), separators=(",", ":"))
        return b"INFO " + body[:-1].encode() + b","

    def info_frame(self, conn: Connection, *, ldm: bool = False) -> bytes:
        """The INFO line for ``conn`` (with its client id and ip; ``"ldm": true`` in lame duck mode)."""
        extra: dict[str, Any] = {"client_id": conn.cid, "client_ip": conn.host}
        if conn.nonce and conn.awaiting_auth:
            extra["nonce"] = conn.nonce
        if ldm:
            extra["ldm"] = True
        extra["api_lvl"] = (
            API_LEVEL  # after ldm, as nats-server orders its INFO; sent with or without JetStream
        )
        tail = json.dumps(extra, separators=(",", ":"))[1:]
        return self._info_prefix + tail.encode() + b" \r\n"

    # -- ports file ------------------------------------------------------------------------

    def ports(self) -> dict[str, list[str]]:
        """The ports file body: ``{"nats": [url], "monitoring": [url]}`` (monitoring when on)."""
        monitor_url = ""
        if self.monitor is not None:
            scheme = "https" if self.options.https_port != 0 else "http"
            monitor_url = f"{scheme}://{client_host(self.options.http_host)}:{self.monitor_port}"
        return ports_body(self.url, monitor_url)

    def _write_ports_file(self) -> None:
        opts = self.options
        if opts.ports_file_dir:
            self._ports_file = write_ports_file(opts.ports_file_dir, opts.exe_name, self.ports())

    def _remove_ports_file(self) -> None:
        remove_ports_file(self._ports_file)
        self._ports_file = None


def _tls_map(options: ServerOptions) -> bool:
    return options.tls is not None and options.tls.verify_and_map


def server_tls_context(tls: TLSOptions) -> ssl.SSLContext:
    """The server side of TLS: our certificate, and the CAs client certificates must chain to."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # as nats-server
    ctx.load_cert_chain(tls.cert_file, tls.key_file)
    if tls.ca_file:
        ctx.load_verify_locations(cafile=tls.ca_file)
    ctx.verify_mode = ssl.CERT_REQUIRED if tls.verify or tls.verify_and_map else ssl.CERT_NONE
    return ctx


def storage_problem(store_dir: str, exc: OSError) -> str:
    """What is wrong with a store directory that JetStream could not open, as nats-server says it."""
    if isinstance(exc, NotADirectoryError | FileExistsError) or (
        os.path.exists(store_dir) and not os.path.isdir(store_dir)
    ):
        return f"storage directory is not a directory ({store_dir})"
    if isinstance(exc, PermissionError):
        return f"storage directory is not writable ({exc.filename or store_dir})"
    return f"could not create storage directory - {exc}"
