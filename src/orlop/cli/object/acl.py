"""``orlop object acl``: the nats-server permissions of a bucket role, ready to paste.

Operators should not have to work out ``$O.<bucket>.>`` and the JetStream API subjects
by hand: this prints a ``users`` entry (nats-server's configuration syntax, or ``--json``)
for read-only or read-write access to one bucket, or admin of every bucket, from
:mod:`orlop.objects.roles`. The password is random unless given; the entry holds its
bcrypt hash (``--plain`` keeps it readable) and the password itself goes to stderr, once.
"""

from __future__ import annotations

import secrets

import click

from orlop.cli.object.common import json_option
from orlop.cli.output import print_json

__all__ = ["acl"]


@click.command()
@click.argument("bucket")
@click.option("--read-only", "role", flag_value="read-only", help="get, info, list, watch")
@click.option("--read-write", "role", flag_value="read-write", help="also put, delete, edit objects")
@click.option(
    "--admin", "role", flag_value="admin", help="every bucket: also add, edit, seal, delete buckets"
)
@click.option("--user", default=None, help="user name [default: BUCKET-ROLE]")
@click.option("--password", default=None, help="password [default: a random one, printed on stderr]")
@click.option("--plain", is_flag=True, help="write the password in the entry instead of its bcrypt hash")
@json_option
def acl(
    bucket: str, role: str | None, user: str | None, password: str | None, plain: bool, as_json: bool
) -> None:
    """Print a nats-server users entry giving a role on BUCKET ('*': every bucket)."""
    from orlop.errors import BadRequest
    from orlop.objects.roles import config_block, role_permissions

    if role is None:
        raise click.UsageError("give --read-only, --read-write or --admin")
    try:
        perms = role_permissions(role, bucket)
    except BadRequest as exc:
        raise click.BadParameter(str(exc), param_hint="BUCKET") from exc
    name = user or f"{'all' if bucket == '*' or role == 'admin' else bucket}-{role}"
    secret = password or secrets.token_urlsafe(18)
    stored = secret
    if not plain:
        import bcrypt

        stored = bcrypt.hashpw(secret.encode(), bcrypt.gensalt()).decode()
    if password is None:
        click.echo(f"password for {name}: {secret} (shown once)", err=True)
    if as_json:
        print_json({"user": name, "password": stored, "permissions": perms})
    else:
        click.echo(config_block(role, bucket, name, stored), nl=False)
