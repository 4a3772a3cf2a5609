"""One client connection: an ``asyncio.Protocol`` that feeds the sans-IO parser and dispatches.

Why this shape (throughput is the point of this module):

* ``data_received`` feeds the whole buffer to :class:`orlop.protocol.ServerParser`
  and handles every complete op before returning; nothing here awaits.
* Outbound frames are appended to ``self.out`` and written with a single
  ``transport.write`` per loop tick: the server keeps one list of dirty
  connections and one ``call_soon`` flush for all of them.
* MSG/HMSG frames are built with one ``%`` format from precomputed pieces
  (``Subscription.sid_part``); payloads up to 32 KiB are joined into the frame,
  larger ones are queued as separate pieces so only the final join copies them.
* Back-pressure: when a subscriber's transport is above its high-water mark,
  the producers that delivered to it stop reading (like nats-server's stall
  gate) until it drains or for at most ``STALL_MAX`` seconds; a subscriber whose
  pending bytes exceed ``max_pending`` is cut without a word, as nats-server does.

Behaviour copied from nats-server (observed on the wire): CONNECT defaults
``verbose``/``pedantic``/``echo`` to true; ``+OK`` precedes a verbose PUB's
deliveries; only fatal errors close; a duplicate SUB sid is ignored; HPUB from a
client that did not negotiate headers closes it silently; a slow consumer is
closed without ``-ERR``; ``UNSUB`` of an unknown sid is fine.

Attributes read by monitoring: ``cid, host, port, name, lang, version, account,
start_time_ns, last_activity_ns, in_msgs, out_msgs, in_bytes, out_bytes,
pending_bytes, subscriptions`` (sid -> Subscription with ``.subject``/``.queue``).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Sized
from typing import TYPE_CHECKING, Any, Protocol, cast

from orlop.errors import ProtocolError
from orlop.protocol import ServerParser, ops
from orlop.protocol.encode import wire_bytes
from orlop.protocol.parser import ERR_PARSER
from orlop.server.account import Account, Client, Subscription
from orlop.server.audit.trail import LIVE_PREFIX as AUDIT_LIVE_PREFIX
from orlop.server.audit.trail import AuditTrail, may_subscribe
from orlop.server.auth import Authenticator, Identity
from orlop.server.nkey import new_nonce
from orlop.server.options import ClientLimits, ServerOptions
from orlop.server.permissions import ConnPermissions
from orlop.server.tls import TlsLayer
from orlop.subjects import is_valid_publish, is_valid_subject

if TYPE_CHECKING:
    from orlop.server.peercert import PeerCert

__all__ = ["STALL_MAX", "Connection"]

log = logging.getLogger("orlop.server")

STALL_MAX = 0.05  # longest a producer is held while a subscriber drains (seconds)
_JOIN_MAX = 32 * 1024
_OK = b"+OK\r\n"
_PING = b"PING\r\n"
_PONG = b"PONG\r\n"
_CRLF = b"\r\n"

_Pub, _Sub, _Unsub, _Ping, _Pong, _Connect = ops.Pub, ops.Sub, ops.Unsub, ops.Ping, ops.Pong, ops.Connect


def err_frame(text: str) -> bytes:
    return b"-ERR '" + text.encode() + b"'\r\n"


def _pedantic_ok(subject: str) -> bool:
    if not is_valid_publish(subject):
        return False
    return "*" not in subject and ">" not in subject


class ConnectionHost(Protocol):
    """What a connection needs of its server (:class:`orlop.server.server.Server`)."""

    options: ServerOptions
    slow_consumers: int

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def default_account(self) -> Account: ...

    @property
    def closing(self) -> bool: ...

    @property
    def clients(self) -> Sized: ...

    @property
    def auth_timeout(self) -> float: ...

    @property
    def authenticator(self) -> Authenticator: ...

    @property
    def tls_context(self) -> ssl.SSLContext | None: ...

    def next_cid(self) -> int: ...

    def info_frame(self, conn: Connection, *, ldm: bool = False) -> bytes: ...

    def add_client(self, conn: Connection) -> None: ...

    def remove_client(self, conn: Connection) -> None: ...

    def lookup_account(self, name: str) -> Account: ...

    def mark_dirty(self, conn: Connection) -> None: ...

    def client_limits(self, name: str) -> ClientLimits | None: ...


class Connection(asyncio.Protocol):
    """A client connection; created by the listener, owned by :class:`Server`."""

    def __init__(self, server: ConnectionHost) -> None:
        self.server = server
        opts = server.options
        self.parser = ServerParser(max_payload=opts.max_payload, max_control_line=opts.max_control_line)
        self.peer_cert: PeerCert | None = None  # read when pinning or verify_and_map need it
        # Subscriptions this connection may hold; -1 unlimited (its account may lower it).
        self.max_subscriptions = opts.max_subscriptions if opts.max_subscriptions > 0 else -1
        self.account: Account = server.default_account
        self.cid = 0
        self.host = ""
        self.port = 0
        self.name = ""
        self.lang = ""
        self.version = ""
        self.start_time_ns = time.time_ns()
        self.last_activity_ns = self.start_time_ns
        self.in_msgs = self.out_msgs = self.in_bytes = self.out_bytes = 0
        self.subscriptions: dict[str, Subscription] = {}
        # CONNECT options, nats-server's defaults before CONNECT.
        self.verbose = self.pedantic = self.echo = True
        self.headers = self.no_responders = False
        self.protocol = 0  # CONNECT "protocol": 1 means the client takes INFO updates (lame duck mode)
        self.connected = False
        self.fast_pub = False  # no PUB check needed (see _dispatch, _pub_allowed)
        self.awaiting_auth = server.authenticator.required
        self.user = ""  # the authenticated user's name ('' without users)
        self.nonce = ""  # what an NKEY user signs (in this connection's INFO)
        self.credentials: dict[str, Any] = {}  # the CONNECT options, checked again on a config reload
        self._tls: TlsLayer | None = None  # set when the server requires TLS
        self._info_after_tls = False  # handshake_first: INFO only once TLS is up
        self._dropping = False  # a failed handshake: input is ignored until the close
        self.perms: ConnPermissions | None = None
        # Ops that arrived while a slow credential check (bcrypt) ran: run once it answered.
        self._held: list[Any] | None = None
        self.closing = False
        self.close_reason = ""
        self.transport: asyncio.Transport | None = None
        self.out: list[bytes] = []
        self.out_size = 0
        self.tbuf = 0  # transport buffer size at the last flush
        self.max_pending = opts.max_pending
        self.dirty = False
        self.write_paused = False
        self.read_paused = False
        self.blocked: list[Connection] = []
        self.pings_out = 0
        self._in_msgs_at_ping = 0
        self._timers: dict[str, asyncio.TimerHandle] = {}
        # The audit trail (None when off): told who publishes while this client's batch runs.
        self.audit: AuditTrail | None = getattr(server, "audit", None)

    def __repr__(self) -> str:
        return f"<Connection cid={self.cid} {self.host}:{self.port} {self.name!r}>"

    @property
    def pending_bytes(self) -> int:
        t = self.transport
        buffered = t.get_write_buffer_size() if t is not None and not t.is_closing() else 0
        return self.out_size + buffered

    # -- asyncio.Protocol -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it
        self.transport = transport
        server = self.server
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple):
            self.host, self.port = str(peer[0]), int(peer[1])
        high = max(64 * 1024, min(self.max_pending // 4, 4 * 1024 * 1024))
        transport.set_write_buffer_limits(high=high, low=high // 4)
        self.cid = server.next_cid()
        if self.awaiting_auth and server.authenticator.needs_nonce:
            self.nonce = new_nonce()
        tls = server.tls_context
        if tls is not None:
            # From the first byte, what the socket reads goes through TLS (see orlop.server.tls).
            self._tls = TlsLayer(tls)
            self._info_after_tls = server.options.tls is not None and server.options.tls.handshake_first
            seconds = server.options.tls.timeout if server.options.tls is not None else 2.0
            self._timers["tls"] = server.loop.call_later(seconds, self._tls_timeout)
        if not self._info_after_tls:
            self._send(server.info_frame(self))
            if tls is not None:
                self.flush()  # INFO goes out in plain text before the handshake
        if server.closing:
            self.close("Server Shutdown")
            return
        if len(server.clients) >= server.options.max_connections:
            self._fatal("maximum connections exceeded")
            return
        server.add_client(self)
        log.debug("%s:%d - cid:%d - Client connection created", self.host, self.port, self.cid)
        loop = server.loop
        if self.awaiting_auth:
            self._timers["auth"] = loop.call_later(server.auth_timeout, self._auth_timeout)
        self._timers["ping"] = loop.call_later(server.options.ping_interval, self._ping_tick)

    def _tls_timeout(self) -> None:
        # nats-server means to send "-ERR 'Secure Connection - TLS Required'" here, but its
        # connection is already a TLS one, so nothing legible reaches a plain client: it is
        # simply closed. Orlop does the same (a plain-text line would only be noise to TLS).
        self._timers.pop("tls", None)
        if self.closing or (self._tls is not None and self._tls.done):
            return
        log.debug("%s:%d - cid:%d - TLS handshake timeout", self.host, self.port, self.cid)
        self.close("TLS Handshake Error")

    def _tls_in(self, data: bytes) -> bytes | None:
        """Decrypt what the socket read (answering the handshake); None when the connection ended."""
        layer = self._tls
        assert layer is not None
        was_done = layer.done
        try:
            plain, reply = layer.feed(data)
        except ssl.SSLError as exc:
            log.debug("%s:%d - cid:%d - TLS handshake error: %s", self.host, self.port, self.cid, exc)
            t = self.transport
            if t is not None and layer.alert() and not t.is_closing():
                # The client learns why ("certificate required", "unknown CA"). Closing at once
                # with its next bytes unread would reset the connection and lose the alert:
                # end our side, drop what still comes, close a moment later.
                t.write(layer.alert())
                if t.can_write_eof():
                    t.write_eof()
                self._dropping = True
                self._timers["tls"] = self.server.loop.call_later(0.5, self.close, "TLS Handshake Error")
                return None
            self.close("TLS Handshake Error")
            return None
        if reply and self.transport is not None:
            self.transport.write(reply)
        if layer.done and not was_done:
            self._cancel_timer("tls")
            if not self._check_peer_cert(layer):
                return None
            if self._info_after_tls:
                self._send(self.server.info_frame(self))
                self.flush()
        if layer.closed:
            self.close("Client Closed")
            return None
        return plain

    def _check_peer_cert(self, layer: TlsLayer) -> bool:
        """Read the client's certificate where pinning or mapping needs it; False if it is not pinned."""
        tls = self.server.options.tls
        if tls is None or not (tls.pinned_certs or tls.verify_and_map):
            return True
        der = layer.peer_certificate()
        if der is not None:
            from orlop.server.peercert import PeerCert

            self.peer_cert = PeerCert.from_der(der)
        if tls.pinned_certs and (self.peer_cert is None or self.peer_cert.key_pin not in tls.pinned_certs):
            # As nats-server: the handshake succeeded, then the connection is closed unserved.
            log.error(
                "%s:%d - cid:%d - TLS handshake error: peer certificate not pinned (key id %s)",
                self.host,
                self.port,
                self.cid,
                self.peer_cert.key_pin if self.peer_cert else "none",
            )
            self.close("TLS Handshake Error")
            return False
        return True

    def data_received(self, data: bytes) -> None:
        if self.closing or self._dropping:
            return
        self.last_activity_ns = time.time_ns()
        if self._tls is not None:
            decrypted = self._tls_in(data)
            if not decrypted:
                return
            data = decrypted
        parser = self.parser
        try:
            if self._held is not None:  # a credential check is running: keep everything for later
                self._held += parser.feed(data)
                return
            try:
                batch = parser.feed(data)
            except ProtocolError as e:
                self._dispatch(parser.partial)
                if not self.closing:
                    # As nats-server: a violation is an error line naming the client.
                    log.error(
                        "%s:%d - cid:%d - Client protocol ERROR: %s: proto=%r",
                        self.host,
                        self.port,
                        self.cid,
                        e.text,
                        bytes(data[:32]),
                    )
                    self._protocol_error(e)
                return
            self._dispatch(batch)
        except Exception:  # a bug must cost one client, never the server
            log.exception("cid:%d - failed on client input; closing the connection", self.cid)
            self.close("Internal Error")

    def _dispatch(self, batch: list[Any]) -> None:
        # The hot loop. Every PUB is routed here and only here; one that needs checking first
        # (verbose, pedantic, not yet authenticated, headers not negotiated: ``fast_pub`` is
        # False, see _on_connect) passes _pub_allowed, the one place a publish can be refused.
        route = self.account.route
        msgs = size = 0
        ops_left = iter(batch)
        audit, outer = self.audit, None
        if audit is not None:  # once per batch: records made during it name this client
            outer, audit.client = audit.client, self
        try:
            for op in ops_left:
                if type(op) is _Pub:
                    if not self.fast_pub and not self._pub_allowed(op):
                        if self.closing:
                            return
                        continue
                    payload, hdr, reply = op.payload, op.hdr, op.reply
                    msgs += 1
                    size += len(payload) + len(hdr)
                    if not route(op.subject, reply, hdr, payload, self) and reply and self.no_responders:
                        self._no_responders(op.subject, reply)
                else:
                    self._on_other(op)
                    route = self.account.route  # CONNECT may have moved us to another account
                    if self._held is not None:  # CONNECT started a slow check: the rest waits
                        self._held += ops_left
                        return
                if self.closing:
                    return
        finally:
            self.in_msgs += msgs
            self.in_bytes += size
            if audit is not None:
                audit.client = outer

    def _protocol_error(self, e: ProtocolError) -> None:
        if e.text == ERR_PARSER:
            self.close("Protocol Violation")  # nats-server closes these without -ERR
        elif e.fatal:
            self._fatal(e.text)
        else:
            self._send(err_frame(e.text))

    def eof_received(self) -> bool | None:
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._cleanup("Client Closed" if exc is None else "Read Error")
        self.transport = None

    def pause_writing(self) -> None:
        self.write_paused = True
        deadline = self.server.options.write_deadline
        if deadline > 0 and "write" not in self._timers:
            self._timers["write"] = self.server.loop.call_later(deadline, self._write_deadline)

    def resume_writing(self) -> None:
        self.write_paused = False
        t = self.transport
        self.tbuf = t.get_write_buffer_size() if t is not None else 0
        self._cancel_timer("write")
        self._release_blocked()

    def _write_deadline(self) -> None:
        """Still backed up ``write_deadline`` after the buffer filled: nats-server cuts it."""
        self._timers.pop("write", None)
        if self.write_paused and not self.closing:
            log.info(
                "%s:%d - cid:%d - Slow Consumer Detected: WriteDeadline of %ss exceeded",
                self.host,
                self.port,
                self.cid,
                self.server.options.write_deadline,
            )
            self._slow_consumer(log_it=False)

    # -- ops -------------------------------------------------------------------------------

    def _pub_allowed(self, op: ops.Pub) -> bool:
        """The checks a PUB passes when ``fast_pub`` is off; False when it must not be routed."""
        if self.awaiting_auth:
            self._fatal("Authorization Violation")
            return False
        if op.hdr and not self.headers:
            self.close("Protocol Violation")  # nats-server: HPUB without headers support
            return False
        if self.pedantic and not _pedantic_ok(op.subject):
            self._send(err_frame("Invalid Publish Subject"))
            return False
        perms = self.perms
        forged = self.audit is not None and op.subject.startswith(AUDIT_LIVE_PREFIX)
        if forged or (perms is not None and perms.checks_pub and not perms.may_publish(op.subject)):
            log.error(
                "%s:%d - cid:%d - Publish Violation - User %r, Subject %r",
                self.host,
                self.port,
                self.cid,
                self.user,
                op.subject,
            )
            self._send(err_frame(f'Permissions Violation for Publish to "{op.subject}"'))
            if self.audit is not None:
                self.audit.denied_publish(self, op.subject, op.payload)
            return False
        if self.verbose:
            self._send(_OK)  # before any delivery, as nats-server
        return True

    def _on_other(self, op: Any) -> None:
        t = type(op)
        if t is _Connect:
            self._on_connect(op.options)
            return
        if self.awaiting_auth:
            self._fatal("Authorization Violation")
        elif t is _Ping:
            self._send(_PONG)
        elif t is _Pong:
            self.pings_out = 0
        elif t is _Sub:
            self._on_sub(op)
        elif t is _Unsub:
            self._on_unsub(op)
        else:
            self._fatal("Unknown Protocol Operation")

    def _on_connect(self, o: dict[str, Any]) -> None:
        if not _connect_types_ok(o):
            # nats-server cannot decode such a CONNECT into its struct and drops the client
            # without a word; a credential of the wrong type must never read as "none given".
            log.debug(
                "%s:%d - cid:%d - CONNECT with fields of the wrong type", self.host, self.port, self.cid
            )
            self.close("Protocol Violation")
            return
        self.credentials = o
        if self.awaiting_auth:
            auth = self.server.authenticator
            identity = auth.authenticate(o, self.nonce, self.peer_cert, self.host)
            if identity is None and auth.needs_slow_check(o, self.nonce):
                self._check_slowly(auth, o)
                return
            if identity is None:
                self._fatal("Authorization Violation")
                return
            self._admit(identity)
            if self.closing:
                return
        self._apply_connect(o)

    def _check_slowly(self, auth: Authenticator, o: dict[str, Any]) -> None:
        """Check a bcrypt password on a worker thread; what arrives meanwhile waits in ``_held``."""
        self._held = []
        if self.transport is not None:
            self.transport.pause_reading()
        loop = self.server.loop
        job = loop.run_in_executor(None, auth.check_slow, o, self.nonce)
        job.add_done_callback(lambda done: self._checked(o, done))

    def _checked(self, o: dict[str, Any], done: asyncio.Future[Identity | None]) -> None:
        held, self._held = self._held or [], None
        if self.closing:
            return
        identity = None if done.cancelled() or done.exception() else done.result()
        if identity is None:
            self._fatal("Authorization Violation")
            return
        self._admit(identity)
        if not self.closing:
            self._apply_connect(o)
        if self.closing:
            return
        if self.transport is not None and not self.read_paused:
            self.transport.resume_reading()
        if held:
            self._dispatch(held)
        if not self.closing and self.dirty:
            self.flush()

    def _admit(self, identity: Identity) -> None:
        self.awaiting_auth = False
        self._cancel_timer("auth")
        self.user = identity.user
        if identity.permissions is not None:
            self.perms = ConnPermissions(identity.permissions)
        account = self.server.lookup_account(identity.account)
        limits = self.server.client_limits(account.name)
        self.max_subscriptions = _tighter(self.max_subscriptions, identity.max_subscriptions)
        if identity.max_payload >= 0:
            self.parser.max_payload = min(self.parser.max_payload, identity.max_payload)
        if identity.expires > 0:
            delay = max(0.0, identity.expires - time.time())
            self._timers["expiry"] = self.server.loop.call_later(delay, self.kick, identity.expiry)
        if limits is not None:
            if 0 <= limits.max_connections <= len(account.clients):
                log.error(
                    "%s:%d - cid:%d - maximum account active connections exceeded (account %s)",
                    self.host,
                    self.port,
                    self.cid,
                    account.name,
                )
                self._fatal("maximum account active connections exceeded")
                return
            # The tighter of the account's and the server's limits, as nats-server applies them.
            self.max_subscriptions = _tighter(self.max_subscriptions, limits.max_subscriptions)
            if limits.max_payload >= 0:
                self.parser.max_payload = min(self.parser.max_payload, limits.max_payload)
        self._join(account)

    def reauthorize(self, auth: Authenticator) -> None:
        """Apply reloaded authorization: refused now means closed; permissions change in place.

        Subscriptions the new permissions forbid are removed, each with nats-server's
        ``-ERR 'Permissions Violation for Subscription to "x" (sid "n")'``.
        """
        if self.closing or not self.connected:
            return
        if auth.required:
            identity = auth.recheck(self.credentials, self.nonce, self.peer_cert, self.host)
        else:
            identity = Identity(self.account.name)
        if identity is None:
            # nats-server closes these without an -ERR; so does Orlop.
            log.info(
                "%s:%d - cid:%d - Authorization Violation after a reload", self.host, self.port, self.cid
            )
            self.close("Authentication Failure")
            return
        self.user = identity.user
        perms = ConnPermissions(identity.permissions) if identity.permissions is not None else None
        self.perms = perms
        self.fast_pub = self._fast_pub_ok()
        for sid, sub in list(self.subscriptions.items()):
            if perms is None:
                sub.deny_filter = False
                continue
            if perms.may_subscribe(sub.subject, sub.queue):
                sub.deny_filter = perms.filters_delivery(sub.subject, sub.queue)
                continue
            del self.subscriptions[sid]
            self.account.remove_client_sub(sub)
            log.info(
                "%s:%d - cid:%d - Removed sub %r (queue %r, sid %r) for %r - not authorized",
                self.host,
                self.port,
                self.cid,
                sub.subject,
                sub.queue,
                sid,
                self.user,
            )
            self._send(_sub_violation(sub.subject, sub.queue, f' (sid "{sid}")'))
        if self.dirty:
            self.flush()

    def _fast_pub_ok(self) -> bool:
        """Whether a PUB may skip :meth:`_pub_allowed` (nothing there to check for this client)."""
        perms = self.perms
        return self.headers and not (
            self.verbose
            or self.pedantic
            or self.awaiting_auth
            or (perms is not None and perms.checks_pub)
            or self.audit is not None  # no client may publish on the audit trail's live subjects
        )

    def _apply_connect(self, o: dict[str, Any]) -> None:
        self.verbose = bool(o.get("verbose", True))
        self.pedantic = bool(o.get("pedantic", True))
        self.echo = bool(o.get("echo", True))
        self.headers = bool(o.get("headers", False))
        self.no_responders = bool(o.get("no_responders", False))
        proto = o.get("protocol", 0)
        self.protocol = proto if isinstance(proto, int) and not isinstance(proto, bool) else 0
        if self.no_responders and not self.headers:
            self._fatal("no responders requires headers support")
            return
        self.name = str(o.get("name") or "")
        self.lang = str(o.get("lang") or "")
        self.version = str(o.get("version") or "")
        self.connected = True
        self.fast_pub = self._fast_pub_ok()
        if self.verbose:
            self._send(_OK)

    def _join(self, account: Account) -> None:
        """Move to ``account`` (before any subscription exists: nothing is allowed before CONNECT)."""
        if account is not self.account:
            self.account.clients.pop(self.cid, None)
            self.account = account
            account.clients[self.cid] = self

    def _on_sub(self, op: ops.Sub) -> None:
        subject, queue, sid = op.subject, op.queue, op.sid
        if not is_valid_subject(subject) or (queue and not _valid_queue(queue)):
            self._send(err_frame("Invalid Subject"))
            return
        limits = self.server.options
        if limits.max_sub_tokens > 0 and subject.count(".") >= limits.max_sub_tokens:
            log.error(
                "%s:%d - cid:%d - Subscription Violation Too Many Tokens - Subject %r, SID %s",
                self.host,
                self.port,
                self.cid,
                subject,
                sid,
            )
            self._send(err_frame(f'Permissions Violation for Subscription to "{subject}", too many tokens'))
            return
        perms = self.perms
        audit = self.audit
        refused = perms is not None and not perms.may_subscribe(subject, queue)
        if not refused and audit is not None and subject.startswith("$SYS.AUDIT."):
            # Audit records of another account are not this client's to read (docs/audit.md).
            refused = not may_subscribe(self.account.name, audit.system_account, subject)
        if refused:
            if audit is not None:
                audit.denied_subscribe(self, subject)
            log.error(
                "%s:%d - cid:%d - Subscription Violation - User %r, Subject %r, SID %s",
                self.host,
                self.port,
                self.cid,
                self.user,
                subject,
                sid,
            )
            self._send(_sub_violation(subject, queue))
            return
        if 0 <= self.max_subscriptions <= len(self.subscriptions):
            log.error("%s:%d - cid:%d - maximum subscriptions exceeded", self.host, self.port, self.cid)
            self._send(err_frame("maximum subscriptions exceeded"))
            return
        if sid not in self.subscriptions:  # nats-server ignores a duplicate sid
            sub = Subscription(subject, queue, sid, self)
            if perms is not None:
                sub.deny_filter = perms.filters_delivery(subject, queue)
            self.subscriptions[sid] = sub
            self.account.add_client_sub(sub)
        if self.verbose:
            self._send(_OK)

    def _on_unsub(self, op: ops.Unsub) -> None:
        sub = self.subscriptions.get(op.sid)
        if sub is not None:
            if op.max_msgs > 0 and sub.delivered < op.max_msgs:
                sub.max_msgs = op.max_msgs
            else:
                del self.subscriptions[op.sid]
                self.account.remove_client_sub(sub)
        if self.verbose:
            self._send(_OK)

    def auto_unsubscribe(self, sub: Subscription) -> None:
        """Called by routing when ``sub`` reached its ``UNSUB`` maximum."""
        if self.subscriptions.get(sub.sid) is sub:
            del self.subscriptions[sub.sid]
        self.account.remove_client_sub(sub)

    def _no_responders(self, subject: str, reply: str) -> None:
        """Send the 503 status (as nats-server words it) to our own subscription matching ``reply``.

        Like nats-server, only a plain (non-queue) subscription receives it.
        """
        for sub in self.account.sublist.match(reply).plain:
            if sub.conn is self and not sub.closed:
                hdr = b"NATS/1.0 503\r\nNats-Subject: " + wire_bytes(subject) + b"\r\n\r\n"
                self.send_msg(sub, reply, "", hdr, b"")
                return

    # -- outbound --------------------------------------------------------------------------

    def send_msg(self, sub: Subscription, subject: str, reply: str, hdr: bytes, payload: bytes) -> None:
        """Queue a MSG (or HMSG when ``hdr`` and the client negotiated headers) for ``sub``."""
        if self.closing:
            return
        perms = self.perms
        if perms is not None:
            if sub.deny_filter and perms.delivery_denied(subject, sub.queue):
                return
            if reply and perms.response is not None:
                perms.note_reply(reply)
        try:
            subj = subject.encode()
            rep = reply.encode()
        except UnicodeEncodeError:
            # Subjects are bytes on the wire; the parser keeps bytes that are not UTF-8
            # as surrogates, and they go back out as the same bytes (as nats-server does).
            subj, rep = wire_bytes(subject), wire_bytes(reply)
        plen = len(payload)
        if hdr and self.headers:
            self._send_hmsg(sub, subj, rep, hdr, payload)
            return
        if plen < _JOIN_MAX:  # one allocation for the whole frame
            if rep:
                frame = b"MSG %s%s%s %d\r\n%s\r\n" % (subj, sub.sid_part, rep, plen, payload)
            else:
                frame = b"MSG %s%s%d\r\n%s\r\n" % (subj, sub.sid_part, plen, payload)
            self.out.append(frame)
            self.out_size += len(frame)
        else:  # big payloads are copied once, by the flush's join
            rpart = rep + b" " if rep else b""
            head = b"MSG %s%s%s%d\r\n" % (subj, sub.sid_part, rpart, plen)
            self.out += (head, payload, _CRLF)
            self.out_size += len(head) + plen + 2
        self.out_msgs += 1
        self.out_bytes += plen
        if not self.dirty:
            self.dirty = True
            self.server.mark_dirty(self)
        if self.out_size + self.tbuf > self.max_pending:
            self._slow_consumer()

    def _send_hmsg(self, sub: Subscription, subj: bytes, rep: bytes, hdr: bytes, payload: bytes) -> None:
        hlen, plen = len(hdr), len(payload)
        rpart = rep + b" " if rep else b""
        head = b"HMSG %s%s%s%d %d\r\n" % (subj, sub.sid_part, rpart, hlen, hlen + plen)
        if plen < _JOIN_MAX:
            frame = head + hdr + payload + _CRLF
            self.out.append(frame)
            self.out_size += len(frame)
        else:
            self.out += (head, hdr, payload, _CRLF)
            self.out_size += len(head) + hlen + plen + 2
        self.out_msgs += 1
        self.out_bytes += hlen + plen
        if not self.dirty:
            self.dirty = True
            self.server.mark_dirty(self)
        if self.out_size + self.tbuf > self.max_pending:
            self._slow_consumer()

    def send_info(self, frame: bytes) -> None:
        """Queue an INFO update (the caller checks that the client takes them: ``protocol >= 1``)."""
        self._send(frame)

    def _send(self, data: bytes) -> None:
        if self.closing:
            return
        self.out.append(data)
        self.out_size += len(data)
        if not self.dirty:
            self.dirty = True
            self.server.mark_dirty(self)

    def flush(self) -> None:
        """Write everything queued (called once per loop tick by the server)."""
        self.dirty = False
        out = self.out
        t = self.transport
        if not out or t is None or t.is_closing():
            return
        self.out = []
        self.out_size = 0
        t.write(self._on_wire(out[0] if len(out) == 1 else b"".join(out)))
        self.tbuf = t.get_write_buffer_size()
        if self.tbuf > self.max_pending:
            self._slow_consumer()

    def _on_wire(self, data: bytes) -> bytes:
        """What goes on the socket for ``data``: TLS records once the handshake is done."""
        tls = self._tls
        return tls.encrypt(data) if tls is not None and tls.done else data

    def block_on(self, peer: Client) -> None:
        """Stop reading from this producer until ``peer`` drains (at most STALL_MAX seconds)."""
        t = self.transport
        if self.read_paused or self.closing or t is None:
            return
        t.pause_reading()
        self.read_paused = True
        cast(Connection, peer).blocked.append(self)  # routing only ever hands us connections
        self._timers["stall"] = self.server.loop.call_later(STALL_MAX, self.unblock)

    def unblock(self) -> None:
        self._cancel_timer("stall")
        if self.read_paused:
            self.read_paused = False
            t = self.transport
            if t is not None and not self.closing:
                t.resume_reading()

    def _release_blocked(self) -> None:
        blocked, self.blocked = self.blocked, []
        for producer in blocked:
            producer.unblock()

    # -- timers ----------------------------------------------------------------------------

    def _auth_timeout(self) -> None:
        self._timers.pop("auth", None)
        if self.awaiting_auth:
            self._fatal("Authentication Timeout")

    def _ping_tick(self) -> None:
        server = self.server
        if self.closing:
            return
        interval = server.options.ping_interval
        if self.in_msgs != self._in_msgs_at_ping:
            self._in_msgs_at_ping = self.in_msgs  # publishes since the last tick prove it alive
        elif self.pings_out + 1 > server.options.max_pings_out:
            self._fatal("Stale Connection")
            return
        else:
            self.pings_out += 1
            self._send(_PING)
        self._timers["ping"] = server.loop.call_later(interval, self._ping_tick)

    def _cancel_timer(self, name: str) -> None:
        handle = self._timers.pop(name, None)
        if handle is not None:
            handle.cancel()

    # -- closing ---------------------------------------------------------------------------

    def kick(self, text: str) -> None:
        """End this client's session with ``-ERR '<text>'`` (expired or revoked credentials, limits)."""
        if not self.closing:
            log.info("%s:%d - cid:%d - %s", self.host, self.port, self.cid, text)
            self._fatal(text)
            self.flush()

    def _fatal(self, text: str) -> None:
        """Send ``-ERR '<text>'`` and close after it is flushed."""
        self._send(err_frame(text))
        self.close(text)

    def _slow_consumer(self, log_it: bool = True) -> None:
        if log_it:
            log.info(
                "%s:%d - cid:%d - Slow Consumer Detected: MaxPending of %d Exceeded",
                self.host,
                self.port,
                self.cid,
                self.max_pending,
            )
        self.server.slow_consumers += 1
        self.out = []
        self.out_size = 0
        t = self.transport
        self._cleanup("Slow Consumer (Pending Bytes)")
        if t is not None:
            t.abort()

    def close(self, reason: str = "Client Closed") -> None:
        """Flush what is queued, then close the transport and forget the client."""
        if self.closing:
            return
        t = self.transport
        if t is not None and self.out and not t.is_closing():
            t.write(self._on_wire(b"".join(self.out)))
        self.out = []
        self.out_size = 0
        self._cleanup(reason)
        if t is not None:
            if self._tls is not None and not t.is_closing():
                t.write(self._tls.goodbye())
            t.close()

    def _cleanup(self, reason: str) -> None:
        if self.closing:
            return
        self.closing = True
        self.close_reason = reason
        log.debug("%s:%d - cid:%d - Client connection closed: %s", self.host, self.port, self.cid, reason)
        for name in list(self._timers):
            self._cancel_timer(name)
        self._release_blocked()
        self.unblock()
        subs = list(self.subscriptions.values())
        self.subscriptions.clear()
        account = self.account
        for sub in subs:
            account.remove_client_sub(sub, notify=False)
        for subject in {s.subject for s in subs}:
            account.notify_interest(subject)
        self.server.remove_client(self)


def _tighter(limit: int, other: int) -> int:
    """The tighter of two limits where -1 means none."""
    if limit < 0:
        return other
    return limit if other < 0 else min(limit, other)


def _sub_violation(subject: str, queue: str, tail: str = "") -> bytes:
    """nats-server's -ERR for a subscription its permissions refuse (``tail``: the sid on reload)."""
    using = f' using queue "{queue}"' if queue else ""
    return err_frame(f'Permissions Violation for Subscription to "{subject}"{using}{tail}')


_CONNECT_STRINGS = ("user", "pass", "auth_token", "nkey", "sig", "jwt", "name", "lang", "version")
_CONNECT_BOOLS = ("verbose", "pedantic", "echo", "headers", "no_responders", "tls_required")


def _connect_types_ok(o: dict[str, Any]) -> bool:
    """Whether CONNECT's fields have the JSON types nats-server decodes them as (null allowed)."""
    for key in _CONNECT_STRINGS:
        value = o.get(key)
        if value is not None and not isinstance(value, str):
            return False
    for key in _CONNECT_BOOLS:
        value = o.get(key)
        if value is not None and not isinstance(value, bool):
            return False
    return True


def _valid_queue(queue: str) -> bool:
    return not any(c in queue for c in " \t\r\n")
