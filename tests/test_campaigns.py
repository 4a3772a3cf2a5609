"""A short seeded slice of each fault campaign (``python -m campaigns``), against both servers.

The long runs and their figures are in ``docs/reliability.md``; these slices keep
every campaign working and catch a regression in the guarantees they check.
A failing slice prints the seed to replay with ``python -m campaigns NAME --seed S --rounds 1``.
"""

from __future__ import annotations

import pytest
from campaigns.common import run_campaign
from campaigns.damage import DAMAGES, damage_round
from campaigns.diskfull import diskfull_round
from campaigns.hostile import hostile_round
from campaigns.kill import kill_encrypted_round, kill_round

from orlop.testing import KINDS


async def slice_of(name: str, fn: object, rounds: int, seed: int, kinds: tuple[str, ...] = KINDS) -> None:
    tallies = await run_campaign(name, fn, rounds=rounds, seed=seed, kinds=kinds,  # type: ignore[arg-type]
                                 verbose=True, record=False)  # fmt: skip
    for t in tallies.values():
        print(t.line())
    failed = {t.kind: t.failed_seeds for t in tallies.values() if t.failed_seeds}
    assert not failed, f"{name}: failing seeds {failed}"
    assert all(t.acked_msgs + t.acked_objects > 0 for t in tallies.values())


async def test_kill_slice() -> None:
    await slice_of("kill", kill_round, rounds=3, seed=7000)


async def test_kill_encrypted_slice() -> None:
    """The same workload with encryption at rest on (jetstream { key }), on both servers."""
    await slice_of("kill-encrypted", kill_encrypted_round, rounds=2, seed=7500)


async def test_diskfull_slice() -> None:
    """Orlop only here: a nats-server round takes 45-90 s (every put on its full disk waits out its
    timeout unanswered) and nats-server 2.15.1 sometimes panics restarting on a full disk; both
    servers' figures come from the long runs in docs/reliability.md."""
    await slice_of("diskfull", diskfull_round, rounds=4, seed=8000, kinds=("orlop",))


async def test_damage_slice() -> None:
    await slice_of("damage", damage_round, rounds=len(DAMAGES), seed=9000)  # every kind of damage once


@pytest.mark.parametrize("seed", [1, 2])
async def test_hostile_slice(seed: int) -> None:
    await slice_of("hostile", hostile_round, rounds=1, seed=seed)
