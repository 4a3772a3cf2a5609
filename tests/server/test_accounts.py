"""Accounts isolate tenants: subjects, JetStream and object stores, on Orlop and nats-server alike.

Two accounts with JetStream (A, B), one without (C), users in each; the same file starts
both servers (nats-server's TestAccountIsolation / TestJetStreamMultipleAccountsBasics in
spirit). A user of A cannot see, read, write or watch what B has, even under the same
names; an account without JetStream has none.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from pathlib import Path

import nats
import pytest

from orlop.errors import BucketNotFound, JetStreamNotEnabled, ObjectStoreUnavailable, PermissionDenied
from orlop.objects import connect
from orlop.testing import KINDS, ServerProcess

CONFIG = """
jetstream { store_dir: %(store)r }
accounts {
  A: { jetstream: enabled, users: [ { user: ann, password: pw } ] }
  B: { jetstream: enabled, users: [ { user: bob, password: pw }, { user: bea, password: pw,
       permissions: { publish: "_INBOX.>", subscribe: "_INBOX.>" } } ] }
  C: { users: [ { user: cid, password: pw } ] }
}
"""


@pytest.fixture(params=KINDS)
def tenants(
    request: pytest.FixtureRequest, server_factory: type[ServerProcess], tmp_path: Path
) -> ServerProcess:
    conf = tmp_path / "accounts.conf"
    conf.write_text(CONFIG % {"store": str(tmp_path / "js")})
    return server_factory(kind=request.param, jetstream=False, extra_args=["-c", str(conf)]).start()


async def test_subjects_do_not_cross_accounts(tenants: ServerProcess) -> None:
    ann = await nats.connect(tenants.url, user="ann", password="pw")
    bob = await nats.connect(tenants.url, user="bob", password="pw")
    try:
        mine = await ann.subscribe(">")
        theirs = await bob.subscribe("orders")
        await ann.flush()
        await bob.flush()
        await bob.publish("orders", b"for B only")
        await bob.flush()
        assert (await theirs.next_msg(timeout=5)).data == b"for B only"
        with pytest.raises(nats.errors.TimeoutError):
            await mine.next_msg(timeout=0.5)
    finally:
        await ann.close()
        await bob.close()


async def test_object_stores_are_per_account(tenants: ServerProcess) -> None:
    async with (
        connect(tenants.url, user="ann", password="pw") as a,
        connect(tenants.url, user="bob", password="pw") as b,
    ):
        docs_a = await a.create_bucket("docs")
        await docs_a.put("plan.txt", b"A's plan")
        assert await b.buckets() == []
        with pytest.raises(BucketNotFound):
            await b.bucket("docs")
        docs_b = await b.create_bucket("docs")  # the same name, another namespace
        await docs_b.put("plan.txt", b"B's plan")
        assert await docs_a.get_bytes("plan.txt") == b"A's plan"
        assert await docs_b.get_bytes("plan.txt") == b"B's plan"
        await docs_b.delete("plan.txt")
        assert [i.name for i in await docs_a.list()] == ["plan.txt"]
        assert await a.buckets() == ["docs"] and await b.buckets() == ["docs"]


async def test_account_users_keep_their_permissions_and_c_has_no_jetstream(tenants: ServerProcess) -> None:
    async with connect(tenants.url, user="bob", password="pw") as b:
        await b.create_bucket("shared")
    async with connect(tenants.url, user="bea", password="pw", request_timeout=1) as bea:
        with pytest.raises(PermissionDenied):
            await bea.bucket("shared")
    async with connect(tenants.url, user="cid", password="pw", request_timeout=2) as c:
        with pytest.raises((JetStreamNotEnabled, ObjectStoreUnavailable)):
            await c.create_bucket("nothing")


LIMITS = """
jetstream { store_dir: %(store)r }
accounts {
  L: { users: [ { user: lim, password: pw } ],
       jetstream: { max_streams: 1, max_consumers: 1, max_bytes_required: true, disk_max_stream_bytes: 1MB } }
}
"""


async def _api(nc: nats.NATS, subject: str, body: dict[str, object]) -> dict[str, object]:
    msg = await nc.request(f"$JS.API.{subject}", json.dumps(body).encode(), timeout=5)
    result: dict[str, object] = json.loads(msg.data)
    return result


def code(resp: dict[str, object]) -> object:
    """The err_code of a JetStream API response (None when it succeeded)."""
    err = resp.get("error")
    return err.get("err_code") if isinstance(err, dict) else None


@pytest.mark.parametrize("kind", KINDS)
async def test_account_jetstream_limits(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """nats-server's TestJetStreamLimits in spirit: each limit refused with its own error code."""
    conf = tmp_path / "limits.conf"
    conf.write_text(LIMITS % {"store": str(tmp_path / "js")})
    srv = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    nc = await nats.connect(srv.url, user="lim", password="pw")

    def api(subject: str, body: dict[str, object]) -> Awaitable[dict[str, object]]:
        return _api(nc, subject, body)

    try:
        base = {"subjects": ["s1.>"], "storage": "file"}
        assert code(await api("STREAM.CREATE.S1", {"name": "S1", **base})) == 10113  # max_bytes required
        too_big = await api("STREAM.CREATE.S1", {"name": "S1", **base, "max_bytes": 2 * 1024 * 1024})
        assert code(too_big) == 10122
        assert code(await api("STREAM.CREATE.S1", {"name": "S1", **base, "max_bytes": 1000})) is None
        second = {"name": "S2", "subjects": ["s2.>"], "max_bytes": 1000}
        assert code(await api("STREAM.CREATE.S2", second)) == 10027
        durable = {"stream_name": "S1", "config": {"durable_name": "d1", "ack_policy": "explicit"}}
        assert code(await api("CONSUMER.CREATE.S1.d1", durable)) is None
        other = {"stream_name": "S1", "config": {"durable_name": "d2", "ack_policy": "explicit"}}
        assert code(await api("CONSUMER.CREATE.S1.d2", other)) == 10026
        info = await api("INFO", {})
        limits = info["limits"]
        assert isinstance(limits, dict) and (limits["max_streams"], limits["max_consumers"]) == (1, 1)
    finally:
        await nc.close()


async def test_monitoring_per_account(tenants: ServerProcess) -> None:
    """``/connz?acc=`` lists one account's clients (with ``auth=true``, their user); ``/jsz`` per account."""
    import json
    import urllib.request

    def get(path: str) -> dict[str, object]:
        with urllib.request.urlopen(f"{tenants.monitor_url}{path}", timeout=5) as resp:
            result: dict[str, object] = json.loads(resp.read())
        return result

    async with (
        connect(tenants.url, user="ann", password="pw") as a,
        connect(tenants.url, user="bob", password="pw") as b,
    ):
        await a.create_bucket("docs")
        await b.create_bucket("docs")
        await b.create_bucket("more")
        conns = get("/connz?acc=A&auth=true")["connections"]
        assert isinstance(conns, list) and [c.get("authorized_user") for c in conns] == ["ann"]
        jsz = get("/jsz?accounts=true&streams=true")
        details = {d["name"]: d for d in jsz["account_details"]}  # type: ignore[union-attr]
        names = {acc: sorted(st["name"] for st in d.get("stream_detail", [])) for acc, d in details.items()}
        assert names == {"A": ["OBJ_docs"], "B": ["OBJ_docs", "OBJ_more"]}


TOTALS = """
jetstream { store_dir: %(store)r }
accounts {
  T: { jetstream: { max_mem: 4096, max_store: 20000, max_ack_pending: 5 },
       users: [ { user: tot, password: pw } ] }
}
"""


@pytest.mark.parametrize("kind", KINDS)
async def test_account_memory_storage_totals_and_max_ack_pending(
    kind: str, server_factory: type[ServerProcess], tmp_path: Path
) -> None:
    """An account's max_mem/max_store and max_ack_pending, with nats-server's errors (TestJetStreamLimits)."""
    conf = tmp_path / "totals.conf"
    conf.write_text(TOTALS % {"store": str(tmp_path / "js")})
    srv = server_factory(kind=kind, jetstream=False, extra_args=["-c", str(conf)]).start()
    nc = await nats.connect(srv.url, user="tot", password="pw")

    def api(subject: str, body: dict[str, object]) -> Awaitable[dict[str, object]]:
        return _api(nc, subject, body)

    try:
        big = {"name": "BIG", "subjects": ["big"], "storage": "file", "max_bytes": 30000}
        assert code(await api("STREAM.CREATE.BIG", big)) == 10047  # more than the storage total
        mem = {"name": "MEM", "subjects": ["mem"], "storage": "memory", "max_bytes": 8192}
        assert code(await api("STREAM.CREATE.MEM", mem)) == 10028  # more than the memory total
        fits = {"name": "S", "subjects": ["s"], "storage": "file"}
        assert code(await api("STREAM.CREATE.S", fits)) is None
        js = nc.jetstream()
        refused = None
        for i in range(100):
            try:
                await js.publish("s", b"x" * 1000)
            except nats.js.errors.APIError as exc:
                refused = (i, exc.err_code, exc.description)
                break
        assert refused is not None and refused[1:] == (10002, "resource limits exceeded for account")
        assert 15 <= refused[0] <= 20  # about 20000 bytes of 1000-byte messages were taken
        info = await api("INFO", {})
        limits, usage = info["limits"], info["storage"]
        assert isinstance(limits, dict) and (limits["max_memory"], limits["max_storage"]) == (4096, 20000)
        assert isinstance(usage, int) and 15000 <= usage <= 20000
        # max_ack_pending: above the account's limit is refused; unset takes the limit.
        over = {
            "stream_name": "S",
            "config": {"durable_name": "d1", "ack_policy": "explicit", "max_ack_pending": 10},
        }
        resp = await api("CONSUMER.CREATE.S.d1", over)
        assert code(resp) == 10121
        assert isinstance(resp["error"], dict)
        assert resp["error"]["description"] == "consumer max ack pending exceeds system limit of 5"
        unset = {"stream_name": "S", "config": {"durable_name": "d2", "ack_policy": "explicit"}}
        created = await api("CONSUMER.CREATE.S.d2", unset)
        assert isinstance(created["config"], dict) and created["config"]["max_ack_pending"] == 5
    finally:
        await nc.close()
