"""``python -m campaigns NAME [--rounds N] [--seed S] [--kinds K,...]``: NAME is a key of CAMPAIGNS."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

from campaigns.common import run_campaign

CAMPAIGNS = {
    "kill": ("campaigns.kill", "kill_round"),
    "kill-encrypted": ("campaigns.kill", "kill_encrypted_round"),
    "diskfull": ("campaigns.diskfull", "diskfull_round"),
    "damage": ("campaigns.damage", "damage_round"),
    "hostile": ("campaigns.hostile", "hostile_round"),
}


def main(argv: list[str] | None = None) -> int:
    """Run one campaign; exit status 1 when any round failed."""
    parser = argparse.ArgumentParser(prog="python -m campaigns", description=__doc__)
    parser.add_argument("campaign", choices=sorted(CAMPAIGNS))
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1, help="seed of the first round (round i uses seed + i)")
    parser.add_argument("--kinds", default="orlop,nats-server", help="servers, comma separated")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    module, fn = CAMPAIGNS[args.campaign]
    round_fn = getattr(importlib.import_module(module), fn)
    kinds = tuple(k for k in args.kinds.split(",") if k)
    print(f"== {args.campaign}: {args.rounds} rounds from seed {args.seed} on {', '.join(kinds)}", flush=True)
    tallies = asyncio.run(
        run_campaign(
            args.campaign, round_fn, rounds=args.rounds, seed=args.seed, kinds=kinds, verbose=not args.quiet
        )
    )
    for t in tallies.values():
        print(t.line())
        if t.failed_seeds:
            print(f"   failing seeds: {' '.join(map(str, t.failed_seeds))}")
    return 1 if any(t.failed_seeds for t in tallies.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
