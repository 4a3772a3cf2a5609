"""Server options: the one object the CLI and the config file fill, and the server reads.

Field names follow nats-server's configuration keys where one exists, so a
reader who knows nats-server knows these. Sizes are bytes, intervals seconds.
Defaults are those of ``orlop serve`` with no arguments (JetStream on, data in
``./orlop-data``, monitoring on 8222); the embedding helper and the test
harness override them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from orlop.errors import ConfigError
from orlop.jsapi.timefmt import format_go_duration
from orlop.server.permissions import Permissions

__all__ = [
    "DEFAULT_MAX_PAYLOAD",
    "AuditOptions",
    "AuthOptions",
    "ClientLimits",
    "Export",
    "Import",
    "OperatorOptions",
    "ServerOptions",
    "TLSOptions",
    "User",
    "check_options",
    "go_duration_text",
]

DEFAULT_MAX_PAYLOAD = 1024 * 1024


@dataclass(frozen=True, slots=True)
class User:
    """One entry of ``authorization { users: [...] }``: a name and a password (plain or bcrypt),
    or an NKEY public key (``nkey``; then ``name`` is that key too), and its permissions."""

    name: str
    password: str = ""
    permissions: Permissions | None = None
    nkey: str = ""
    account: str = ""  # the account it belongs to ('' : the global account $G)


@dataclass(slots=True)
class AuthOptions:
    """``authorization { user, password, token, users, default_permissions, timeout }``, ``no_auth_user``.

    Empty strings mean "not set"; ``users`` None means no users list. A single
    user may carry ``permissions`` too (nats-server ignores them there; Orlop honours them).
    """

    user: str = ""
    password: str = ""
    token: str = ""
    permissions: Permissions | None = None  # the block's permissions: the default of every user
    users: list[User] | None = None
    no_auth_user: str = ""
    timeout: float = 2.0  # seconds a client has to send CONNECT (nats-server's default)

    @property
    def required(self) -> bool:
        return bool(self.user or self.token or self.users)


@dataclass(slots=True)
class TLSOptions:
    """``tls { cert_file, key_file, ca_file, verify, verify_and_map, pinned_certs, timeout,
    handshake_first }`` (or the --tls flags)."""

    cert_file: str = ""
    key_file: str = ""
    ca_file: str = ""
    verify: bool = False  # require and verify a client certificate (against ca_file)
    timeout: float = 2.0  # seconds for the handshake (nats-server's TLS_TIMEOUT)
    handshake_first: bool = False  # TLS before INFO, as nats-server's handshake_first
    verify_and_map: bool = False  # verify, and the certificate names the user (no password)
    # Hex SHA-256 of the SubjectPublicKeyInfo of each client certificate allowed (empty: any).
    pinned_certs: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Export:
    """What an account offers others: ``{stream: S}`` or ``{service: S, response, threshold}``."""

    kind: str  # "stream" or "service"
    subject: str
    accounts: tuple[str, ...] = ()  # who may import it; empty: every account (public)
    response: str = "singleton"  # service responses: "singleton", "stream" or "chunked"
    threshold: float = 120.0  # seconds a streamed/chunked response mapping lives unused
    token_position: int = 0  # 1-based token of the subject that must be the importer's name
    # Operator mode: importers need an activation token (``nsc add export --private``), and
    # those issued to an account at or before its time here are revoked.
    token_req: bool = False
    revocations: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Import:
    """What an account takes from another: ``{stream|service: {account, subject}, to|prefix}``."""

    kind: str  # "stream" or "service"
    account: str  # the exporting account
    subject: str  # the subject in the exporting account
    to: str = ""  # stream: the subject delivered under; service: the local request subject
    prefix: str = ""  # stream only: delivered under "<prefix>.<subject>"
    share: bool = False  # service: tell the exporter who asked (accepted; Orlop shares the account)
    token: str = ""  # operator mode: the exporter's activation token (JWT) for a private export


@dataclass(slots=True)
class OperatorOptions:
    """Operator mode (decentralised auth, as ``nsc`` sets it up): trusted operators and a resolver."""

    operators: tuple[str, ...] = ()  # operator JWTs
    resolver: str = ""  # "memory" or "full"
    resolver_dir: str = ""  # the full resolver's directory of <account>.jwt files
    preload: dict[str, str] = field(default_factory=dict)  # account public key -> account JWT
    allow_delete: bool = False
    system_account: str = ""  # the system account's public key (from the config or the operator)


@dataclass(slots=True)
class ClientLimits:
    """An account's limits on its clients; -1 is unlimited."""

    max_connections: int = -1  # the account's connections together
    max_subscriptions: int = -1  # per connection
    max_payload: int = -1  # per message


@dataclass(slots=True)
class AuditOptions:
    """``audit { file, max_size, max_files }``: the object-store audit trail (docs/audit.md)."""

    file: str
    max_size: int  # bytes before the file rotates; 0 never rotates
    max_files: int  # files kept, the active one included


@dataclass(slots=True)
class ServerOptions:
    host: str = "127.0.0.1"
    port: int = 4222  # -1 picks a free port
    server_name: str = ""
    http_host: str = "127.0.0.1"
    http_port: int = 8222  # 0 disables monitoring, -1 picks a free port
    https_port: int = 0  # monitoring over TLS (the tls block's certificate) instead; -1 a free port
    max_payload: int = DEFAULT_MAX_PAYLOAD
    max_control_line: int = 4096
    max_connections: int = 64 * 1024
    max_pending: int = 64 * 1024 * 1024  # outbound bytes buffered per client before slow consumer
    max_subscriptions: int = 0  # per connection; 0 = unlimited
    max_sub_tokens: int = 0  # tokens in a subscription's subject; 0 = unlimited
    ping_interval: float = 120.0
    max_pings_out: int = 2
    write_deadline: float = 10.0
    auth: AuthOptions = field(default_factory=AuthOptions)
    tls: TLSOptions | None = None
    # ``accounts { NAME: { users, jetstream } }``: account name -> JetStream enabled for it.
    # Empty: only the global account exists and it has JetStream (when the server has).
    accounts: dict[str, bool] = field(default_factory=dict)
    # Account JetStream limits given in ``jetstream: { max_streams, ... }`` (AccountLimits fields).
    account_limits: dict[str, dict[str, int | bool]] = field(default_factory=dict)
    # An account's ``limits { max_connections, max_subscriptions, max_payload }``: account name
    # -> those three, -1 where unlimited (0 is a limit: nothing allowed), as nats-server reads them.
    account_client_limits: dict[str, ClientLimits] = field(default_factory=dict)
    # An account's ``exports`` and ``imports`` (checked against each other when read).
    operator: OperatorOptions | None = None
    system_account: str = ""
    exports: dict[str, tuple[Export, ...]] = field(default_factory=dict)
    imports: dict[str, tuple[Import, ...]] = field(default_factory=dict)
    jetstream: bool = True
    store_dir: str = "./orlop-data"
    max_memory_store: int = -1  # -1: derive from the machine
    max_file_store: int = -1
    store_reserve: int = -1  # free bytes kept on the store's disk; -1: 2% of it, 1 MiB..256 MiB
    sync_always: bool = False
    # Encryption at rest (jetstream { cipher, key, prev_key }): no key = plaintext store.
    jetstream_cipher: str = "chachapoly"
    jetstream_key: str = ""
    jetstream_prev_key: str = ""
    sync_interval: float = 120.0
    # jetstream { limits { batch { ... } } } (ADR-50); 0 / -1: nats-server's defaults.
    batch_max_msgs: int = 0
    batch_max_inflight_per_stream: int = 0
    batch_max_inflight_total: int = 0
    batch_timeout: float = 0.0
    ports_file_dir: str = ""
    exe_name: str = "orlop"  # names the ports file: <exe_name>_<pid>.ports
    log_file: str = ""
    debug: bool = False
    trace: bool = False
    lame_duck_duration: float = 120.0  # SIGUSR2: clients are closed over this long, then the server exits
    lame_duck_grace_period: float = 10.0  # ... starting this long after the signal
    config_file: str = ""
    audit: AuditOptions | None = None  # the object-store audit trail; None: off


def go_duration_text(seconds: float) -> str:
    """``seconds`` as Go prints a duration (:func:`orlop.jsapi.timefmt.format_go_duration`)."""
    return format_go_duration(round(seconds * 1e9))


def check_options(options: ServerOptions) -> None:
    """Check options from flags and the config file together (what neither can check alone).

    Port 0 becomes nats-server's default 4222 (-1 means a free port). Raises ConfigError
    for a port out of range, a user and a token together, a password without a user, a
    lame duck grace period not shorter than the duration.
    """
    if options.port == 0:
        options.port = 4222
    for label, port in (("port", options.port), ("http_port", options.http_port)):
        if port < -1 or port > 65535:
            raise ConfigError(f"invalid {label} {port}: must be -1 (random), 0..65535")
    tls = options.tls
    if tls is not None:
        if not tls.key_file:
            raise ConfigError("missing 'key_file' in TLS configuration")
        if not tls.cert_file:
            raise ConfigError("missing 'cert_file' in TLS configuration")
        if tls.verify and not tls.ca_file:
            raise ConfigError("TLS verify needs a 'ca_file' to check client certificates against")
    if options.jetstream_prev_key and not options.jetstream_key:
        raise ConfigError("jetstream prev_key needs the new key (jetstream key) to rotate to")
    auth = options.auth
    if auth.token and auth.user:
        raise ConfigError("cannot have a user/password and a token at the same time")
    if auth.password and not auth.user:
        raise ConfigError("a password needs a user")
    if auth.users is not None:
        if auth.user:
            raise ConfigError("Can not have a single user/pass and a users array")
        if auth.token:
            raise ConfigError("Can not have a token and a users array")
        names = [u.name for u in auth.users]
        for user in auth.users:
            if names.count(user.name) > 1:
                raise ConfigError(f'Duplicate {"nkey" if user.nkey else "user"} "{user.name}" detected')
    if auth.no_auth_user:
        if auth.users is None:
            raise ConfigError(f'no_auth_user: "{auth.no_auth_user}" present, but users/nkeys are not defined')
        if auth.no_auth_user not in {u.name for u in auth.users}:
            raise ConfigError(
                f'no_auth_user: "{auth.no_auth_user}" not present as user or nkey in authorization block'
                " or account configuration"
            )
    if options.lame_duck_duration > 0 and options.lame_duck_grace_period >= options.lame_duck_duration:
        raise ConfigError(
            f"lame duck grace period ({go_duration_text(options.lame_duck_grace_period)}) should be strictly"
            f" lower than lame duck duration ({go_duration_text(options.lame_duck_duration)})"
        )
