"""``python -m bench [core|jetstream|objects ...] [--quick] [--runs N]``: run, print, save.

Each benchmark module is imported only when selected, so a missing piece of Orlop
(say ``orlop.objects``) affects only the benchmark that needs it.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from bench.common import Row, Settings, format_table, markdown_table, write_results

BENCHES = (
    "core",
    "jetstream",
    "objects",
    "restart",
    "cli",
    "permissions",
    "gateway",
    "audit",
    "atrest",
    "encryption",
    "batch",
    "s3",
)


def _parse(argv: list[str]) -> tuple[list[str], Settings, bool]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "benches", nargs="*", metavar="bench", help=f"one of {', '.join(BENCHES)} (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a short run")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (median reported)")
    parser.add_argument("--no-uvloop", action="store_true", help="plain asyncio in the client")
    parser.add_argument(
        "--kinds", default="orlop,nats-server", help="servers to run (comma separated; default both)"
    )
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)
    unknown = [b for b in args.benches if b not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r} (choose from {', '.join(BENCHES)})")
    settings = Settings(
        quick=args.quick,
        runs=max(1, args.runs),
        uvloop=not args.no_uvloop,
        kinds=tuple(k for k in args.kinds.split(",") if k),
    )
    return list(args.benches) or list(BENCHES), settings, args.markdown


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmarks; exit status 0 even on a MISS (benchmarks report, not gate)."""
    names, settings, markdown = _parse(sys.argv[1:] if argv is None else argv)
    rows: list[Row] = []
    for name in names:
        module = importlib.import_module(f"bench.bench_{name}")
        started = time.monotonic()
        print(f"== {name} ({'quick' if settings.quick else 'full'}, {settings.runs} runs) ...", flush=True)
        got: list[Row] = module.run(settings)
        rows += got
        print(format_table(got), flush=True)
        print(f"   ({time.monotonic() - started:.0f} s)\n", flush=True)
    print("== all results")
    print(format_table(rows))
    if markdown:
        print()
        print(markdown_table(rows))
    print(f"\nresults written to {write_results(rows, settings)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
