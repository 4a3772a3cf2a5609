"""``orlop serve``: nats-server's command line, then the server.

``orlop serve`` must accept nats-server's flags exactly (single-dash multi-letter
flags such as ``-js``/``-sd``/``-DV`` included), so the test harness and people's
scripts can start Orlop where they started nats-server. Under the name
``nats-server`` (a link or a copy of the script) the ``orlop`` command behaves as
``orlop serve`` with nats-server's defaults.

JetStream and monitoring defaults, precisely:

* ``orlop serve`` with no argument at all is the "just works" mode: JetStream on,
  data in ``./orlop-data``, clients on 127.0.0.1:4222, monitoring on 127.0.0.1:8222.
* with any argument (or under the name ``nats-server``) the defaults are nats-server's:
  JetStream is on only with ``-js``/``--jetstream`` or a ``jetstream`` block in the
  config file, monitoring only with ``-m`` or an ``http``/``http_port`` config key.
  ``-sd`` alone does not enable JetStream (as in nats-server).
* flags override the config file; the result is checked by
  :func:`orlop.server.options.check_options`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from orlop import __version__
from orlop.cli.base import MULTI_CALL_NAMES, Parser, UsageError
from orlop.errors import ConfigError
from orlop.server.logging import configure_logging
from orlop.server.options import ServerOptions, TLSOptions, check_options

if TYPE_CHECKING:
    from orlop.server.server import Server

__all__ = ["MULTI_CALL_NAMES", "build_options", "serve"]


def _serve_parser(prog: str) -> Parser:
    p = Parser(
        prog=prog,
        description="Run a NATS server with JetStream (nats-server's flags).",
        epilog="With no argument at all: 127.0.0.1:4222, JetStream in ./orlop-data, "
        "monitoring on 127.0.0.1:8222. With arguments, JetStream and monitoring "
        "are on only when asked for (-js, -m or the config file), as in nats-server.",
    )
    add = p.add_argument
    add("-a", "--addr", "--net", "-addr", "-net", dest="host", metavar="HOST", help="bind to host address")
    add("-p", "--port", "-port", dest="port", type=int, metavar="PORT", help="client port (-1: random)")
    add(
        "-n",
        "--name",
        "--server_name",
        "-name",
        "-server_name",
        dest="server_name",
        metavar="NAME",
        help="server name",
    )
    add(
        "-m",
        "--http_port",
        "-http_port",
        dest="http_port",
        type=int,
        metavar="PORT",
        help="HTTP monitoring port (-1: random)",
    )
    add(
        "-ms",
        "--https_port",
        "-https_port",
        dest="https_port",
        type=int,
        metavar="PORT",
        help="HTTPS monitoring port (-1: random; needs the TLS certificate)",
    )
    add(
        "--gateway",
        dest="gateway",
        metavar="ADDR",
        help="also serve the HTTP gateway (JSON API, web page, metrics) on ADDR, e.g. 127.0.0.1:8080",
    )
    add("--s3-listen", dest="s3_listen", metavar="ADDR", help="with --gateway: also serve the S3 API on ADDR")
    add("--s3-access-key", dest="s3_access_key", metavar="KEY", help="S3 access key (or ORLOP_S3_ACCESS_KEY)")
    add("--s3-secret-key", dest="s3_secret_key", metavar="SECRET", help="its secret (or ORLOP_S3_SECRET_KEY)")
    add("-c", "--config", "-config", dest="config", metavar="FILE", help="configuration file")
    add("-t", dest="test_config", action="store_true", help="test the configuration and exit")
    add("-P", "--pid", "-pid", dest="pid_file", metavar="FILE", help="file to store the PID")
    add(
        "-sl",
        "--signal",
        "-signal",
        dest="signal",
        metavar="SIGNAL[=PID]",
        help="send a signal to a running server: stop, quit, term, reopen, reload, ldm (PID or -P FILE)",
    )
    add(
        "--ports_file_dir",
        "-ports_file_dir",
        dest="ports_file_dir",
        metavar="DIR",
        help="write <executable_name>_<pid>.ports in DIR",
    )
    add("-l", "--log", "-log", dest="log_file", metavar="FILE", help="log to FILE instead of stderr")
    add("-D", "--debug", "-debug", dest="debug", action="store_true", default=None, help="debug output")
    add(
        "-V",
        "--trace",
        "-trace",
        "-VV",
        dest="trace",
        action="store_true",
        default=None,
        help="trace the protocol",
    )
    add("-DV", "-DVV", dest="debug_trace", action="store_true", help="debug and trace")
    add(
        "-js",
        "--jetstream",
        "-jetstream",
        dest="jetstream",
        action="store_true",
        default=None,
        help="enable JetStream",
    )
    add(
        "-sd",
        "--store_dir",
        "-store_dir",
        dest="store_dir",
        metavar="DIR",
        help="JetStream storage directory",
    )
    add(
        "--sync-always",
        "--sync_always",
        dest="sync_always",
        action="store_true",
        default=None,
        help="fsync every JetStream write before acknowledging it",
    )
    add("--user", "-user", dest="user", metavar="USER", help="user required for connections")
    add("--pass", "-pass", dest="password", metavar="PASSWORD", help="password required for connections")
    add("--auth", "-auth", dest="token", metavar="TOKEN", help="token required for connections")
    add(
        "--tls",
        "-tls",
        dest="tls",
        action="store_true",
        default=None,
        help="enable TLS, do not verify clients",
    )
    add("--tlscert", "-tlscert", dest="tlscert", metavar="FILE", help="server certificate file")
    add("--tlskey", "-tlskey", dest="tlskey", metavar="FILE", help="private key for the server certificate")
    add(
        "--tlsverify",
        "-tlsverify",
        dest="tlsverify",
        action="store_true",
        default=None,
        help="verify clients",
    )
    add("--tlscacert", "-tlscacert", dest="tlscacert", metavar="FILE", help="CA certificates for clients")
    add("-v", "--version", "-version", action="version", version=f"{prog}: v{__version__}")
    return p


def build_options(
    argv: Sequence[str], *, exe_name: str = "orlop"
) -> tuple[ServerOptions, argparse.Namespace]:
    """Turn serve flags (and the config file they name) into ServerOptions.

    Raises UsageError for bad flags, ConfigError for a bad configuration file.
    """
    args = _serve_parser(exe_name if exe_name in MULTI_CALL_NAMES else f"{exe_name} serve").parse_args(argv)
    options = ServerOptions(exe_name=exe_name)
    if argv or exe_name in MULTI_CALL_NAMES:
        # nats-server's defaults: JetStream and monitoring only when asked for.
        options.jetstream = False
        options.http_port = 0
    if args.config:
        from orlop.server.config import load_config, options_from_config

        conf = load_config(args.config)
        options = options_from_config(conf, options)
        options.config_file = os.path.abspath(args.config)
    http_follows_host = options.http_host == options.host
    _apply_flags(options, args)
    if http_follows_host:
        options.http_host = options.host  # nats-server: monitoring binds the client host by default
    check_options(options)
    return options, args


def _apply_flags(options: ServerOptions, args: argparse.Namespace) -> None:
    simple = (
        "host",
        "port",
        "server_name",
        "http_port",
        "https_port",
        "ports_file_dir",
        "log_file",
        "store_dir",
        "debug",
        "trace",
        "jetstream",
        "sync_always",
    )
    for name in simple:
        value = getattr(args, name)
        if value is not None:
            setattr(options, name, value)
    if args.debug_trace:
        options.debug = options.trace = True
    if args.user is not None:
        options.auth.user = args.user
    if args.password is not None:
        options.auth.password = args.password
    if args.token is not None:
        options.auth.token = args.token
    if args.tls or args.tlsverify or args.tlscert or args.tlskey or args.tlscacert:
        tls = options.tls or TLSOptions()
        tls.cert_file = args.tlscert or tls.cert_file
        tls.key_file = args.tlskey or tls.key_file
        tls.ca_file = args.tlscacert or tls.ca_file
        if args.tlsverify:
            tls.verify = True
        options.tls = tls


def _banner(options: ServerOptions, port: int) -> str:
    host = "127.0.0.1" if options.host in ("0.0.0.0", "::", "") else options.host
    url = f"nats://{host}:{port}"
    js = (
        f", JetStream in {os.path.abspath(options.store_dir)}"
        if options.jetstream
        else ", JetStream is off (use -js)"
    )
    lines = [f"Orlop {__version__}: NATS server on {url}{js}"]
    if options.http_port > 0:
        lines.append(f"Monitoring: http://{options.http_host}:{options.http_port}/varz")
    elif options.https_port > 0:
        lines.append(f"Monitoring: https://{options.http_host}:{options.https_port}/varz")
    lines += [
        "Connect with nats-py:",
        "    import asyncio, nats",
        "    async def main():",
        f"        nc = await nats.connect({url!r})",
        "        await nc.publish('hello', b'world')",
        "        await nc.drain()",
        "    asyncio.run(main())",
        f"or the nats CLI: nats --server {url} pub hello world",
        "",
    ]
    return "\n".join(lines)


# nats-server's --signal commands and the signals they send.
_SIGNALS = {
    "stop": signal.SIGKILL,
    "quit": signal.SIGINT,
    "term": signal.SIGTERM,
    "reopen": signal.SIGUSR1,
    "reload": signal.SIGHUP,
    "ldm": signal.SIGUSR2,
}


def send_signal(spec: str, pid_file: str | None) -> int:
    """``--signal CMD[=PID]``: signal a running server (its pid given, or read from ``-P FILE``)."""
    command, _, pid_text = spec.partition("=")
    sig = _SIGNALS.get(command.lower())
    if sig is None:
        raise UsageError(f"unknown signal {command!r} (one of {', '.join(_SIGNALS)})")
    if not pid_text and pid_file:
        try:
            with open(pid_file, encoding="ascii") as f:
                pid_text = f.read().strip()
        except OSError as exc:
            raise UsageError(f"cannot read pid file {pid_file!r}: {exc.strerror}") from exc
    if not pid_text:
        raise UsageError("which server? give its pid (--signal reload=PID) or its pid file (-P FILE)")
    if not pid_text.isdigit():
        raise UsageError(f"invalid pid: {pid_text}")
    try:
        os.kill(int(pid_text), sig)
    except ProcessLookupError as exc:
        raise UsageError(f"no process with pid {pid_text}") from exc
    except PermissionError as exc:
        raise UsageError(f"not allowed to signal pid {pid_text}") from exc
    return 0


async def _start_gateway(
    listen: str, server: Server, started: list[Callable[[], Awaitable[None]]], s3: tuple[str, str, str] | None
) -> None:
    """``--gateway ADDR``: the gateway on the server's loop, in front of this server.

    Without authorization on the server, a gateway on loopback needs none either; a server
    that asks for credentials gets a gateway that passes each request's own through.
    """
    from orlop.gateway import GatewayConfig, parse_listen, start_embedded

    log = logging.getLogger("orlop.gateway")
    try:
        config = GatewayConfig(servers=[server.url])
        config.host, config.port = parse_listen(listen)
        if server.authenticator.required:
            config.auth = "passthrough"
        audit = server.options.audit
        if audit is not None and server.options.operator is None:
            # Beside its server, the gateway can read the audit file: objects' history on the page,
            # each user seeing its own account's records (JWT users are not known here: no history).
            config.audit_file = audit.file
            config.audit_accounts = {u.name: u.account or "$G" for u in server.options.auth.users or []}
        if server.options.tls is not None:
            import ssl

            config.nats_options["tls"] = ssl.create_default_context(cafile=server.options.tls.ca_file or None)
        if s3 is not None:  # --s3-listen: the key acts as the gateway's own NATS identity
            from orlop.gateway.s3.config import apply_flags

            config.s3 = apply_flags(None, *s3, source="flags")
        started.append(await start_embedded(config))
    except (ConfigError, OSError) as exc:
        log.error("the gateway did not start: %s", exc)
        return
    log.info(
        "Gateway listening on http://%s:%d/ (auth: %s)", config.host, config.port, config.resolved_auth()
    )
    sys.stderr.write(f"Gateway: http://{config.host}:{config.port}/\n")
    if config.s3 is not None:
        log.info("S3 API listening on http://%s:%d/", config.s3.host, config.s3.port)
        sys.stderr.write(f"S3 API: http://{config.s3.host}:{config.s3.port}/\n")


def _s3_flags(args: argparse.Namespace) -> tuple[str, str, str] | None:
    """``--s3-listen`` with its key (flags, else ORLOP_S3_ACCESS_KEY / ORLOP_S3_SECRET_KEY); None
    without ``--s3-listen``. UsageError when it comes without ``--gateway`` or without a key."""
    key = args.s3_access_key or os.environ.get("ORLOP_S3_ACCESS_KEY", "")
    secret = args.s3_secret_key or os.environ.get("ORLOP_S3_SECRET_KEY", "")
    if not args.s3_listen:
        if args.s3_access_key or args.s3_secret_key:
            raise UsageError("--s3-access-key / --s3-secret-key need --s3-listen")
        return None
    if not args.gateway:
        raise UsageError("--s3-listen serves the S3 API beside the gateway: give --gateway ADDR too")
    if not (key and secret):
        raise UsageError("--s3-listen needs an access key: --s3-access-key and --s3-secret-key")
    return args.s3_listen, key, secret


def serve(argv: list[str], prog: str = "orlop") -> int:
    """``orlop serve [nats-server flags]``: run until SIGTERM/SIGINT; return the exit code."""
    configure_logging(ServerOptions())  # so configuration warnings are formatted like the rest
    options, args = build_options(argv, exe_name=prog)
    if args.signal:
        return send_signal(args.signal, args.pid_file)
    if args.test_config:
        print(f"{prog}: configuration file {args.config or '(none)'} is valid")
        return 0
    configure_logging(options)
    if args.pid_file:
        try:
            with open(args.pid_file, "w", encoding="ascii") as f:
                f.write(str(os.getpid()))
        except OSError as exc:
            raise ConfigError(f"cannot write pid file {args.pid_file!r}: {exc.strerror}") from exc
    from orlop.server import run  # lazy: the server is heavy and `orlop --help` must not need it

    def on_ready(server: Server) -> None:
        # Only once the port is bound: a port in use gives the error alone, no banner.
        if prog not in MULTI_CALL_NAMES and options.port > 0:
            sys.stdout.write(_banner(options, server.port))
            sys.stdout.flush()

    def reload() -> ServerOptions:
        # SIGHUP: the same flags over the file as it is now (flags win, as at start).
        return build_options(argv, exe_name=prog)[0]

    stop_gateway: list[Callable[[], Awaitable[None]]] = []
    s3 = _s3_flags(args)

    def ready(server: Server) -> None:
        on_ready(server)
        if args.gateway:
            asyncio.get_running_loop().create_task(_start_gateway(args.gateway, server, stop_gateway, s3))

    async def stopping() -> None:
        for stop in stop_gateway:
            await stop()

    try:
        return int(run(options, ready, reload, stopping))
    finally:
        if args.pid_file:
            with contextlib.suppress(OSError):
                os.unlink(args.pid_file)
