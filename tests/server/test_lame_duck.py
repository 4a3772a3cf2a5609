"""Lame duck mode (SIGUSR2) and its two settings, on Orlop and nats-server.

What an operator relies on when taking a server out of service: no new client
gets in, the connected ones are told (nats-py calls ``lame_duck_mode_cb``) and
then closed after the grace period, the process exits 0, and every message
JetStream acknowledged before the signal is there when the server comes back.
"""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import nats
import nats.errors
import pytest

from orlop.testing import KINDS, ServerProcess, refuses_connections

Factory = type[ServerProcess]

# nats-server's minimum duration; a short grace keeps the test short.
LDM_CONF = 'lame_duck_duration: "30s"\nlame_duck_grace_period: "1s"\n'


@pytest.mark.parametrize("kind", KINDS)
async def test_lame_duck_drains_clients_then_exits_keeping_acknowledged_data(
    kind: str, tmp_path: Path, server_factory: Factory
) -> None:
    conf = tmp_path / "ldm.conf"
    conf.write_text(LDM_CONF)
    proc = server_factory(kind=kind, extra_args=["-c", str(conf)]).start()
    assert proc.proc is not None
    told, gone = asyncio.Event(), asyncio.Event()

    async def on_lame_duck() -> None:
        told.set()

    async def on_disconnect() -> None:
        gone.set()

    nc = await nats.connect(
        proc.url, lame_duck_mode_cb=on_lame_duck, disconnected_cb=on_disconnect, allow_reconnect=False
    )
    try:
        js = nc.jetstream()
        await js.add_stream(name="LDM", subjects=["ldm.>"])
        ack = await js.publish("ldm.kept", b"acknowledged before the signal")
        signalled = time.monotonic()
        proc.proc.send_signal(signal.SIGUSR2)

        await asyncio.wait_for(told.wait(), 5)
        assert await asyncio.to_thread(refuses_connections, proc.url)
        # JetStream is down: the stream's subject has no responder any more, and API
        # requests are taken but left unanswered.
        with pytest.raises(nats.errors.NoRespondersError):
            await nc.request("ldm.late", b"after the signal", timeout=2)
        with pytest.raises(nats.errors.TimeoutError):
            await nc.request("$JS.API.INFO", b"", timeout=0.5)

        await asyncio.wait_for(gone.wait(), 10)
        assert time.monotonic() - signalled >= 0.9  # not before the grace period
        assert await asyncio.to_thread(proc.proc.wait, 10) == 0
    finally:
        await nc.close()

    proc.start()
    nc = await nats.connect(proc.url, allow_reconnect=False)
    try:
        js = nc.jetstream()
        assert (await js.stream_info("LDM")).state.messages == 1
        msg = await js.get_msg("LDM", ack.seq)
        assert msg.data == b"acknowledged before the signal"
    finally:
        await nc.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_lame_duck_without_clients_exits_at_once(kind: str, server_factory: Factory) -> None:
    proc = server_factory(kind=kind).start()
    assert proc.proc is not None
    proc.proc.send_signal(signal.SIGUSR2)
    # The default grace period is 10 s: with nobody to drain it is not waited for.
    assert await asyncio.to_thread(proc.proc.wait, 5) == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('lame_duck_duration: "5s"', "invalid lame_duck_duration of 5s, minimum is 30 seconds"),
        ('lame_duck_grace_period: "-5s"', "invalid lame_duck_grace_period, needs to be positive"),
        (
            'lame_duck_duration: "30s"\nlame_duck_grace_period: "40s"',
            "lame duck grace period (40s) should be strictly lower than lame duck duration (30s)",
        ),
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_bad_lame_duck_settings_are_refused(kind: str, text: str, message: str, tmp_path: Path) -> None:
    conf = tmp_path / "bad.conf"
    conf.write_text(text + "\n")
    proc = ServerProcess(kind=kind, store_dir=str(tmp_path), extra_args=["-c", str(conf)])
    out = subprocess.run(proc.command(), capture_output=True, text=True, timeout=30)
    assert out.returncode != 0
    assert message in out.stdout + out.stderr
