"""What every campaign shares: seeded rounds against both servers, a tally, kept failures.

A campaign is a function ``round(kind, seed, workdir) -> Outcome``: one seeded,
bounded attempt to make a server lose or corrupt acknowledged data. The same
seed drives the same workload against Orlop and against nats-server in the same
run, so a loss that only one shows is that server's. Failing seeds are appended
to ``campaigns/failures/<campaign>.txt`` (seed, server, what went wrong), so a
failure can be replayed with ``python -m campaigns <campaign> --seed S --rounds 1``.

Every check is about what a user would see through a client: an acknowledged
message or object that reads back different or not at all is *lost* or
*corrupt*; a server that does not come back up is a failure too.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "FAILURES",
    "Outcome",
    "RoundFn",
    "Tally",
    "digest",
    "quiet",
    "run_campaign",
    "seeded_bytes",
    "tmpfs",
]

FAILURES = Path(__file__).parent / "failures"


@dataclass
class Outcome:
    """One round's result. ``lost``/``corrupt`` count acknowledged items; ``problems`` say what failed."""

    acked_msgs: int = 0
    acked_objects: int = 0
    lost: int = 0
    corrupt: int = 0
    problems: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not (self.lost or self.corrupt or self.problems)

    def fail(self, what: str) -> None:
        self.problems.append(what)

    def note(self, key: str, n: int = 1) -> None:
        self.notes[key] = self.notes.get(key, 0) + n


RoundFn = Callable[[str, int, Path], Awaitable[Outcome]]


@dataclass
class Tally:
    """Totals of one campaign for one server."""

    kind: str
    rounds: int = 0
    passed: int = 0
    acked_msgs: int = 0
    acked_objects: int = 0
    lost: int = 0
    corrupt: int = 0
    failed_seeds: list[int] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def add(self, seed: int, out: Outcome) -> None:
        self.rounds += 1
        self.passed += out.ok
        self.acked_msgs += out.acked_msgs
        self.acked_objects += out.acked_objects
        self.lost += out.lost
        self.corrupt += out.corrupt
        for k, v in out.notes.items():
            self.notes[k] = self.notes.get(k, 0) + v
        if not out.ok:
            self.failed_seeds.append(seed)

    def line(self) -> str:
        extra = "".join(f", {k} {v}" for k, v in sorted(self.notes.items()))
        return (
            f"{self.kind}: {self.passed} passed, {self.rounds - self.passed} failed; "
            f"{self.acked_msgs} acked messages, {self.acked_objects} acked objects, "
            f"{self.lost} lost, {self.corrupt} corrupt{extra} ({self.seconds:.0f} s)"
        )


async def quiet(exc: Exception) -> None:
    """nats-py error callback for connections the campaign breaks on purpose."""


def _ignore_broken_connections(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    exc = context.get("exception")
    if isinstance(exc, ConnectionError | OSError):
        return  # nats-py's flusher on a socket whose server was killed
    loop.default_exception_handler(context)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def seeded_bytes(seed: int, size: int) -> bytes:
    """Incompressible, reproducible bytes (so compression never hides a corruption)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(b"%d:%d" % (seed, counter)).digest() * 32
        counter += 1
    return bytes(out[:size])


@contextmanager
def tmpfs(size: str, parent: Path | None = None) -> Iterator[Path]:
    """A fresh tmpfs of ``size`` (needs root, as ``make test`` runs here); unmounted afterwards."""
    d = Path(tempfile.mkdtemp(prefix="campaign-tmpfs-", dir=parent))
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(d)], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", "-l", str(d)], check=False)
        shutil.rmtree(d, ignore_errors=True)


def _record(name: str, kind: str, seed: int, out: Outcome) -> None:
    FAILURES.mkdir(exist_ok=True)
    with open(FAILURES / f"{name}.txt", "a", encoding="utf-8") as f:
        what = "; ".join(out.problems) or f"lost {out.lost}, corrupt {out.corrupt}"
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} seed {seed} {kind}: {what}\n")


async def run_campaign(
    name: str,
    fn: RoundFn,
    *,
    rounds: int,
    seed: int,
    kinds: tuple[str, ...],
    verbose: bool = True,
    record: bool = True,
) -> dict[str, Tally]:
    """Run ``rounds`` seeded rounds on every server kind (alternating) and return the tallies.

    SIGINT or SIGTERM stops the run after cleaning up the round in progress (which is not
    counted); the tallies of the rounds completed are returned all the same.
    """
    tallies = {k: Tally(k) for k in kinds}
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(_ignore_broken_connections)
    task = asyncio.current_task()
    stopping = asyncio.Event()  # set at the signal: a round that fails after it is not counted

    def stop() -> None:
        stopping.set()
        if task is not None:
            task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop)
    root = Path(tempfile.mkdtemp(prefix=f"campaign-{name}-"))
    try:
        for i in range(rounds):
            s = seed + i
            for kind in kinds:
                out, seconds = await _one_round(fn, kind, s, root)
                await asyncio.sleep(0.05)  # a signal that arrived meanwhile is handled by now
                if stopping.is_set():
                    raise asyncio.CancelledError  # the signal reached this round's servers too
                _count(name, kind, s, out, seconds, tallies[kind], verbose=verbose, record=record)
            if verbose and (i + 1) % max(1, rounds // 20) == 0:
                done = " | ".join(f"{t.kind} {t.passed}/{t.rounds}" for t in tallies.values())
                print(f"  {i + 1}/{rounds} rounds: {done}", flush=True)
    except asyncio.CancelledError:
        print(f"  interrupted: the tallies cover the rounds completed before seed {s}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return tallies


async def _one_round(fn: RoundFn, kind: str, s: int, root: Path) -> tuple[Outcome, float]:
    workdir = root / f"{kind}-{s}"
    workdir.mkdir()
    started = time.monotonic()
    try:
        out = await fn(kind, s, workdir)
    except Exception as exc:  # a harness or server crash is a failed round, not a stop
        out = Outcome()
        out.fail(f"round raised {exc!r}")
    try:
        if not out.ok:  # what the server said about it: its warnings and errors, for the record
            log = (workdir / f"{kind}.log").read_text(errors="replace").splitlines()
            said = [line for line in log if any(t in line for t in ("[WRN]", "[ERR]", "[FTL]", "ERROR"))]
            if said:
                out.fail("server log: " + " | ".join(said[-8:]))
    except OSError:
        pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return out, time.monotonic() - started


def _count(
    name: str, kind: str, s: int, out: Outcome, seconds: float, tally: Tally, *, verbose: bool, record: bool
) -> None:
    tally.seconds += seconds
    tally.add(s, out)
    if not out.ok:
        if record:
            _record(name, kind, s, out)
        if verbose:
            what = "; ".join(out.problems)
            print(f"  seed {s} {kind}: FAILED: {what} (lost {out.lost}, corrupt {out.corrupt})", flush=True)
