"""``orlop gateway``: the HTTP gateway in front of a NATS server (see docs/gateway.md).

The connection flags are the object commands' (``-s``, ``--user``, ``--creds``, TLS, a
natscli ``--context``): they say which servers the gateway uses and, when authentication
is off, as whom. ``-c gateway.toml`` adds what flags cannot say (bearer tokens, CORS).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import click

from orlop.cli.connect import connection_options, resolve_connection
from orlop.cli.output import Refused

__all__ = ["command", "run"]

# What of the CLI's nats.connect options the gateway keeps (its pool sets its own timeouts).
_KEEP = (
    "user",
    "password",
    "token",
    "user_credentials",
    "nkeys_seed",
    "inbox_prefix",
    "tls",
    "tls_handshake_first",
)


@click.command(name="gateway", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--listen", "-l", default=None, help="address to serve HTTP on [default: 127.0.0.1:8080]")
@click.option("-c", "--config", "config_file", default=None, help="gateway configuration file (TOML)")
@click.option("--cors", multiple=True, help="allow this browser origin (repeatable)")
@click.option("--audit-file", default=None, metavar="PATH", help="the server's audit file: objects' history")
@click.option("--s3-listen", default=None, metavar="HOST:PORT", help="also serve the S3 API (docs/s3.md)")
@click.option("--s3-access-key", default=None, envvar="ORLOP_S3_ACCESS_KEY", help="an S3 access key")
@click.option("--s3-secret-key", default=None, envvar="ORLOP_S3_SECRET_KEY", help="its secret key")
@click.option(
    "--s3-upload-expiry",
    default=None,
    envvar="ORLOP_S3_UPLOAD_EXPIRY",
    metavar="DURATION",
    help="remove multipart uploads abandoned this long (e.g. 24h; 0: keep them) [default: 24h]",
)
@connection_options
def command(
    listen: str | None,
    config_file: str | None,
    cors: tuple[str, ...],
    audit_file: str | None,
    s3_listen: str | None,
    s3_access_key: str | None,
    s3_secret_key: str | None,
    s3_upload_expiry: str | None,
    **flags: Any,
) -> None:
    """Serve the Object Store over HTTP: JSON operations, streamed objects, a web page, metrics."""
    from orlop.gateway import GatewayConfig, load_config, parse_listen, serve

    config = GatewayConfig()
    if config_file:
        load_config(config_file, config)
    if listen:
        config.host, config.port = parse_listen(listen)
    if cors:
        config.cors_origins = list(cors)
    if audit_file:
        config.audit_file = audit_file
    conn = resolve_connection(flags)
    if flags.get("servers") or not config_file:
        config.servers = [u.strip() for u in conn.servers.split(",") if u.strip()]
    options = conn.nats_options()
    config.nats_options = {k: v for k, v in options.items() if k in _KEEP}
    config.api_prefix = conn.api_prefix
    config.request_timeout = max(conn.timeout, 5.0)
    from orlop.gateway.s3.config import apply_flags

    config.s3 = apply_flags(
        config.s3,
        s3_listen,
        s3_access_key,
        s3_secret_key,
        source=config.config_file,
        upload_expiry=s3_upload_expiry,
    )
    auth = config.resolved_auth()

    def announce() -> None:  # once bound: the ports shown are the ports listening (--listen :0)
        if config.s3 is not None:
            click.echo(f"S3 API on http://{config.s3.host}:{config.s3.port}/", err=True)
        click.echo(
            f"Orlop gateway on http://{config.host}:{config.port}/ for {', '.join(config.servers)}"
            f" (auth: {auth})",
            err=True,
        )

    from orlop.objects import tune_allocator

    # Bodies arrive in 256 KiB pieces and leave as chunk-sized frames: kept on glibc's heap,
    # not mapped and unmapped (and faulted in afresh) one by one (see orlop.objects.tuning).
    tune_allocator()
    try:
        import uvloop  # the server's loop too: several times less overhead per socket event

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it; uvicorn has finished by then
        runner(serve(config, announce))


def run(argv: list[str], prog: str) -> int:
    """``orlop gateway ...``: 0 when stopped, 1 for a bad configuration."""
    from orlop.errors import ConfigError

    try:
        command.main(args=argv, prog_name=f"{prog} gateway", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (ConfigError, Refused) as exc:
        sys.stderr.write(f"orlop gateway: {exc}\n")
        return 1
    return 0
