"""The README's security example, started as written on both servers and checked line by line.

team-a reads and writes bucket ``reports``, team-b only reads it, ops administers every bucket.
The file must also be exactly what ``orlop object acl`` recommends for those roles.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orlop.errors import PermissionDenied
from orlop.objects import connect
from orlop.objects.roles import role_permissions
from orlop.server.config.values import parse_config
from orlop.testing import ServerProcess

README = Path(__file__).resolve().parents[2] / "README.md"


def _example() -> str:
    found = re.search(r"<!-- security-example -->\n```\n(.*?)```", README.read_text(), re.S)
    assert found, "README.md lost its <!-- security-example --> block"
    return found.group(1)


def test_the_example_is_what_acl_prints() -> None:
    users = {u["user"]: u["permissions"] for u in parse_config(_example())["authorization"]["users"]}
    for user, role in (("team-a", "read-write"), ("team-b", "read-only")):
        want = role_permissions(role, "reports")
        assert users[user]["publish"]["allow"] == want["publish"]["allow"], user
        assert users[user]["subscribe"]["allow"] == want["subscribe"]["allow"], user


async def test_one_bucket_two_teams(
    server: ServerProcess, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    conf = tmp_path / "teams.conf"
    conf.write_text(f"jetstream {{ store_dir: {str(tmp_path / 'js')!r} }}\n{_example()}")
    srv = server_factory(kind=server.kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    async with connect(srv.url, user="ops", password="ops-secret") as ops:
        await ops.create_bucket("reports")
        await ops.create_bucket("payroll")
    async with connect(srv.url, user="team-a", password="a-secret") as a:
        reports = await a.bucket("reports")
        await reports.put("q3.pdf", b"%PDF quarterly")
        await reports.put("draft.txt", b"temporary")
        await reports.delete("draft.txt")
        with pytest.raises(PermissionDenied):
            await a.bucket("payroll")
        with pytest.raises(PermissionDenied):
            await a.create_bucket("mine")
        with pytest.raises(PermissionDenied):
            await reports.seal()
    async with connect(srv.url, user="team-b", password="b-secret") as b:
        reports = await b.bucket("reports")
        assert await reports.get_bytes("q3.pdf") == b"%PDF quarterly"
        assert [i.name for i in await reports.list()] == ["q3.pdf"]
        with pytest.raises(PermissionDenied):
            await reports.put("q4.pdf", b"not allowed")
        with pytest.raises(PermissionDenied):
            await reports.delete("q3.pdf")
        with pytest.raises(PermissionDenied):
            await b.bucket("payroll")
    async with connect(srv.url, user="ops", password="ops-secret") as ops:
        assert [i.name for i in await (await ops.bucket("reports")).list()] == ["q3.pdf"]
        await ops.delete_bucket("payroll")
