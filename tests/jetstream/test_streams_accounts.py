"""Each account has its own JetStream namespace (in-process: only $G is reachable by clients today)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orlop.server.embed import start_server
from orlop.server.jetstream import JetStreamService


class Replies:
    """Collects replies published to one inbox of an account."""

    def __init__(self, account: Any, inbox: str) -> None:
        self.got: list[bytes] = []
        account.subscribe_internal(inbox, lambda s, r, h, p: self.got.append(p))

    def last(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.got[-1])
        return result


async def test_accounts_are_separate_namespaces(tmp_path: Path) -> None:
    srv = await start_server(store_dir=str(tmp_path), jetstream=False)
    acc_a = srv.lookup_account("A")
    acc_g = srv.accounts["$G"]
    svc = JetStreamService(srv)
    await svc.start()
    try:
        ra, rg = Replies(acc_a, "inbox.a"), Replies(acc_g, "inbox.g")
        body = b'{"name":"S","subjects":["orders.>"]}'
        acc_a.publish("$JS.API.STREAM.CREATE.S", "inbox.a", b"", body)
        acc_g.publish("$JS.API.STREAM.CREATE.S", "inbox.g", b"", body)
        assert ra.last()["did_create"] and rg.last()["did_create"]  # same name and subjects: no clash
        acc_a.publish("orders.1", "inbox.a", b"", b"only in A")
        assert ra.last() == {"stream": "S", "seq": 1}
        acc_g.publish("$JS.API.STREAM.INFO.S", "inbox.g", b"", b"")
        assert rg.last()["state"]["messages"] == 0
        acc_a.publish("$JS.API.STREAM.INFO.S", "inbox.a", b"", b"")
        assert ra.last()["state"]["messages"] == 1
        acc_a.publish("$JS.API.STREAM.NAMES", "inbox.a", b"", b"")
        assert ra.last()["streams"] == ["S"]
        acc_g.publish("$JS.API.INFO", "inbox.g", b"", b"")
        acc_a.publish("$JS.API.INFO", "inbox.a", b"", b"")
        assert rg.last()["api"]["total"] == 2 and ra.last()["api"]["total"] == 3
        assert (tmp_path / "jetstream" / "A" / "streams" / "S" / "meta.json").is_file()
        jsz = svc.jsz({"accounts": "true"})
        assert jsz["accounts"] == 2 and jsz["messages"] == 1
        assert {a["name"] for a in jsz["account_details"]} == {"A", "$G"}
    finally:
        await svc.shutdown()
        await srv.shutdown()


async def test_account_made_after_start_has_jetstream_and_recovers(tmp_path: Path) -> None:
    srv = await start_server(store_dir=str(tmp_path))
    try:
        late = srv.lookup_account("LATE")  # born after JetStream started
        replies = Replies(late, "inbox.l")
        late.publish("$JS.API.STREAM.CREATE.L", "inbox.l", b"", b'{"name":"L","subjects":["l.>"]}')
        assert replies.last()["did_create"]
        late.publish("l.1", "inbox.l", b"", b"kept")
        assert replies.last() == {"stream": "L", "seq": 1}
    finally:
        await srv.shutdown()
    # After a restart the account's streams are back before any of its clients connects.
    srv = await start_server(store_dir=str(tmp_path))
    try:
        assert srv.jetstream is not None and "LATE" in srv.jetstream.accounts
        late = srv.accounts["LATE"]
        replies = Replies(late, "inbox.l")
        late.publish("$JS.API.STREAM.INFO.L", "inbox.l", b"", b"")
        assert replies.last()["state"]["messages"] == 1
    finally:
        await srv.shutdown()
