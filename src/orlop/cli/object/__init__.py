"""``orlop object`` (alias ``orlop obj``): the Object Store from the command line.

Built on click (parsing, help) and rich (tables, progress bars), over
:mod:`orlop.objects.sync`, so every command works the same against ``orlop serve`` and
a nats-server cluster; no command imports the server. Names, arguments, flags, prompts
and output follow natscli's ``nats object``; Orlop adds versions, restore, ranges,
conditional writes, per-object compression and TTL, links, copies and folder transfers.

- :mod:`.buckets`: ``add``, ``edit``, ``ls``, ``info``, ``rm``/``del``, ``seal``, ``watch``
- :mod:`.transfer`: ``put``, ``get``, ``cp``, ``mv``, ``link``, ``versions``, ``restore``
- :mod:`.tree`: folder transfers (``put --recursive``, ``get --filter``)
- :mod:`.views`: the info views and tables
- :mod:`.acl`: ``acl``, the nats-server permissions of a bucket role
- :mod:`.presign`: ``presign``, a presigned URL for the gateway's S3 API

Errors are one line with a documented exit code (:mod:`orlop.cli.output`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from orlop.cli.connect import connection_options
from orlop.cli.object import acl, buckets, presign, transfer

__all__ = ["group", "run"]


@click.group(name="object", context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
@click.option("-v", "--verbose", is_flag=True, help="show the cause chain of an error")
@click.pass_context
def group(ctx: click.Context, /, verbose: bool, **flags: Any) -> None:
    """Buckets and objects of a NATS Object Store (orlop serve or any nats-server)."""
    ctx.obj = {"flags": flags, "verbose": verbose}  # resolved by the first command that connects


for _name, _command in {**buckets.COMMANDS, **transfer.COMMANDS}.items():
    group.add_command(_command, name=_name)
group.add_command(acl.acl, name="acl")
group.add_command(presign.presign, name="presign")
group.add_command(buckets.rm, name="del")
group.add_command(buckets.info, name="show")


def _verbose_first(argv: list[str]) -> list[str]:
    """``-v`` is a group flag; let people put it after the command too (``orlop obj get -v …``)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:cut] if a in ("-v", "--verbose")]
    rest = [a for a in argv[:cut] if a not in ("-v", "--verbose")]
    return flags + rest + argv[cut:]


def _group_options_first(argv: list[str]) -> list[str]:
    """The connection flags are the group's; let them follow the command too, as natscli does
    (``orlop obj put B F -s URL``). A flag the command itself defines (``acl --user``) stays."""
    takes_value = {name for p in group.params if isinstance(p, click.Option) for name in p.opts}
    takes_value -= {"-v", "--verbose", "-h", "--help"}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] != "--":
        i += 2 if argv[i] in takes_value else 1
    if i >= len(argv) or argv[i] not in group.commands:
        return argv
    command = group.commands[argv[i]]
    own = {name for p in command.params for name in getattr(p, "opts", ())}
    moved: list[str] = []
    rest: list[str] = []
    j = i + 1
    while j < len(argv):
        arg = argv[j]
        if arg == "--":
            rest += argv[j:]
            break
        flag = arg.split("=", 1)[0]
        if flag in takes_value and flag not in own:
            if "=" in arg or j + 1 >= len(argv):
                moved.append(arg)
                j += 1
            else:
                moved += argv[j : j + 2]
                j += 2
            continue
        rest.append(arg)
        j += 1
    return argv[:i] + moved + [argv[i]] + rest


def run(argv: list[str], prog: str) -> int:
    """``orlop object ...``: the exit code (see :mod:`orlop.cli.output`)."""
    try:
        args = _group_options_first(_verbose_first(argv))
        group.main(args=args, prog_name=f"{prog} object", standalone_mode=False)
    except KeyboardInterrupt:
        click.echo("orlop: interrupted", err=True)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (| head): not an error; keep Python quiet at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 1
    except click.exceptions.ClickException as exc:
        exc.show()
        return 1
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
