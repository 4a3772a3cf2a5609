"""``sync: always`` (config) and ``--sync-always`` (flag) reach the file store.

The config key is nats-server's (``jetstream { sync: always }``, also spelled
``sync_interval: always``), so /jsz must report ``config.sync_always`` on both
servers. The flag is Orlop's; an in-process server shows that the option ends
up in every FileStore it opens, so appends are fsynced before the PubAck, and
that without it the background task fsyncs every ``sync_interval``.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import nats
import pytest

from orlop.server.embed import start_server
from orlop.store.file import FileStore
from orlop.testing import KINDS, ServerProcess


def jsz_config(srv: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(srv.monitor_url + "/jsz", timeout=10) as resp:
        config: dict[str, Any] = json.loads(resp.read())["config"]
    return config


@pytest.mark.parametrize("key", ["sync", "sync_interval"])
@pytest.mark.parametrize("kind", KINDS)
def test_config_sync_always_is_reported(kind: str, key: str, tmp_path: Path) -> None:
    conf = tmp_path / "server.conf"
    conf.write_text(f"jetstream {{\n  {key}: always\n}}\n")
    with ServerProcess(kind=kind, store_dir=str(tmp_path), extra_args=["-c", str(conf)]) as srv:
        assert jsz_config(srv).get("sync_always") is True


def test_without_sync_always_jsz_has_no_flag(orlop_server: ServerProcess) -> None:
    assert "sync_always" not in jsz_config(orlop_server)


def test_sync_always_flag_is_reported(server_factory: type[ServerProcess]) -> None:
    srv = server_factory(kind="orlop", extra_args=["--sync-always"])
    srv.start()
    assert jsz_config(srv).get("sync_always") is True


@pytest.mark.parametrize("sync_always", [True, False])
async def test_option_reaches_every_file_store(tmp_path: Path, sync_always: bool) -> None:
    srv = await start_server(store_dir=str(tmp_path), sync_always=sync_always)
    try:
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["s"])
        ack = await js.publish("s", b"kept")
        await nc.close()
        assert srv.jetstream is not None
        store = srv.jetstream.accounts["$G"].streams["S"].store
        assert isinstance(store, FileStore)
        assert store.sync_always is sync_always
        assert store.load(ack.seq) is not None
    finally:
        await srv.shutdown()


async def test_background_sync_every_interval(tmp_path: Path) -> None:
    srv = await start_server(store_dir=str(tmp_path), sync_interval=1.0)
    try:
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await js.add_stream(name="S", subjects=["s"])
        assert srv.jetstream is not None
        store = srv.jetstream.accounts["$G"].streams["S"].store
        assert isinstance(store, FileStore)
        await js.publish("s", b"written, not yet synced")
        assert store.unsynced
        deadline = time.monotonic() + 5
        while store.unsynced and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not store.unsynced
        await nc.close()
    finally:
        await srv.shutdown()
