"""What every benchmark shares: servers, medians, RSS sampling, the result table.

Every figure is measured side by side in one run: Orlop's server against the
reference nats-server (or orlop.objects against nats-py's object store), with the
same client, the same flags and the same event loop, so the printed ratio is
meaningful even though absolute numbers drift between machines.

A benchmark produces :class:`Row` objects. A row carries Orlop's figure, the
reference figure, and a :class:`Target`, which decides PASS / MISS / INFO. A side
that could not be measured (its server did not start, an API is missing, a
timeout) is ``None`` with a note, and a row with a target then reports MISS: a
benchmark never crashes the whole run because one side failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import psutil  # type: ignore[import-untyped]

from orlop.testing import ServerProcess

__all__ = [
    "MIB",
    "Row",
    "RssSampler",
    "Settings",
    "Side",
    "Target",
    "attempt",
    "both_servers",
    "bound",
    "compare",
    "compare_servers",
    "format_table",
    "make_row",
    "markdown_table",
    "run_loop",
    "running_server",
    "write_results",
]

MIB = 1024 * 1024
T = TypeVar("T")
RESULTS_PATH = Path(__file__).parent / "results" / "latest.json"


@dataclass(frozen=True)
class Settings:
    """Knobs shared by all benchmarks: ``quick`` shrinks every size; ``runs`` is N for medians."""

    quick: bool = False
    runs: int = 3
    uvloop: bool = True
    kinds: tuple[str, ...] = ("orlop", "nats-server")


@dataclass(frozen=True)
class Target:
    """A pass condition. ``kind``: "ratio>=" (orlop/reference), "max" (orlop < value), "info"."""

    kind: str = "info"
    value: float = 0.0
    unit: str = ""

    def describe(self) -> str:
        if self.kind == "ratio>=":
            return f">= {self.value:g}x"
        if self.kind == "max":
            return f"< {self.value:g} {self.unit}".rstrip()
        return "report"

    def verdict(self, orlop: float | None, reference: float | None) -> str:
        """PASS, MISS or INFO; a missing figure needed by the target is a MISS."""
        if self.kind == "info":
            return "INFO"
        if self.kind == "max":
            return "MISS" if orlop is None else ("PASS" if orlop < self.value else "MISS")
        if orlop is None or not reference:
            return "MISS"
        return "PASS" if orlop / reference >= self.value else "MISS"


@dataclass
class Row:
    """One line of the result table; ``orlop_label``/``ref_label`` name what was compared."""

    bench: str
    name: str
    unit: str
    orlop: float | None
    reference: float | None
    target: Target = field(default_factory=Target)
    orlop_label: str = "orlop"
    ref_label: str = "nats-server"
    note: str = ""
    samples: dict[str, list[float]] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.orlop is None or not self.reference:
            return None
        return self.orlop / self.reference

    @property
    def verdict(self) -> str:
        return self.target.verdict(self.orlop, self.reference)

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["target"] = self.target.describe()
        out["ratio"] = self.ratio
        out["verdict"] = self.verdict
        return out


def _cell(value: float | None, label: str, default_label: str = "") -> str:
    """A figure with the label of what produced it (omitted when default or "-")."""
    if label in ("-", default_label):
        return _fmt(value)
    return f"{_fmt(value)} ({label})"


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def format_table(rows: list[Row]) -> str:
    """A plain-text table: benchmark, Orlop figure, reference figure, ratio, target, verdict."""
    header = ["benchmark", "unit", "orlop", "reference", "ratio", "target", "result"]
    lines = [header]
    for r in rows:
        orlop = _cell(r.orlop, r.orlop_label, "orlop")
        ref = _cell(r.reference, r.ref_label, "nats-server")
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append([f"{r.bench}: {r.name}", r.unit, orlop, ref, ratio, r.target.describe(), r.verdict])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for i, line in enumerate(lines):
        out.append("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    notes = list(dict.fromkeys(f"  note [{r.bench}: {r.name}] {r.note}" for r in rows if r.note))
    return "\n".join(out + notes)


def markdown_table(rows: list[Row]) -> str:
    """The same table in Markdown, for docs/performance.md."""
    lines = [
        "| benchmark | unit | orlop | reference | ratio | target | result |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        ratio = "n/a" if r.ratio is None else f"{r.ratio:.2f}x"
        lines.append(
            f"| {r.bench}: {r.name} | {r.unit} | {_cell(r.orlop, r.orlop_label)} | "
            f"{_cell(r.reference, r.ref_label)} | {ratio} | {r.target.describe()} | {r.verdict} |"
        )
    return "\n".join(lines)


def write_results(rows: list[Row], settings: Settings, path: Path = RESULTS_PATH) -> Path:
    """Write every row (with its raw samples) as JSON; returns the path written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "settings": asdict(settings),
        "python": sys.version.split()[0],
        "rows": [r.as_json() for r in rows],
    }
    path.write_text(json.dumps(body, indent=2) + "\n")
    return path


def run_loop(main: Callable[[], Coroutine[Any, Any, T]], use_uvloop: bool) -> T:
    """Run one coroutine on a fresh loop (uvloop when asked and installed)."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            result: T = uvloop.run(main())
            return result
    return asyncio.run(main())


async def attempt(label: str, measure: Callable[[], Awaitable[T]], timeout: float) -> tuple[T | None, str]:
    """Run one measurement, turning any failure or timeout into ``(None, reason)``.

    The reason is short (exception type and message) and the traceback goes to stderr,
    so one failing side never hides the other side's figure.
    """
    try:
        return await asyncio.wait_for(measure(), timeout), ""
    except Exception as exc:  # a benchmark must survive any failure of the thing measured
        print(f"[{label}] failed: {exc!r}", file=sys.stderr)
        traceback.print_exc(limit=3, file=sys.stderr)
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        text = " ... ".join(dict.fromkeys([lines[0][:120], lines[-1][:160]])) if lines else ""
        return None, f"{label}: {type(exc).__name__} {text}".strip()


@contextlib.contextmanager
def running_server(
    kind: str, extra_args: list[str] | None = None, *, monitor: bool = False, jetstream: bool = True
) -> Iterator[ServerProcess]:
    """Start a server of ``kind`` in its own temporary directory; always kill and clean it up.

    Raises RuntimeError (with the server log) when it does not start.
    """
    proc = ServerProcess(kind=kind, extra_args=list(extra_args or []), monitor=monitor, jetstream=jetstream)
    try:
        proc.start(timeout=30.0)
        yield proc
    finally:
        proc.close()


class RssSampler:
    """Peak resident set size of a process (and its children), polled from a thread.

    Polling every ``interval`` seconds can miss a short spike; at 20 ms it sees any
    allocation that lives as long as one 128 KiB message takes to cross the server.
    """

    def __init__(self, pid: int, interval: float = 0.02) -> None:
        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        try:
            rss = self.proc.memory_info().rss
            for child in self.proc.children(recursive=True):
                rss += child.memory_info().rss
        except psutil.Error:
            return
        self.peak = max(self.peak, rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mb(self) -> float:
        """Peak RSS in MB (10^6 bytes, the unit of the targets)."""
        return self.peak / 1e6


@contextlib.contextmanager
def both_servers(
    kinds: tuple[str, ...],
    extra_args: list[str] | None = None,
    *,
    monitor: bool = False,
    jetstream: bool = True,
) -> Iterator[dict[str, ServerProcess | str]]:
    """Start one server of each kind; a kind that fails to start maps to its error text.

    Both stay up for the whole benchmark so runs can alternate between them (noise from
    the other engineers sharing the machine then hits both sides alike).
    """
    with contextlib.ExitStack() as stack:
        out: dict[str, ServerProcess | str] = {}
        for kind in kinds:
            try:
                out[kind] = stack.enter_context(
                    running_server(kind, extra_args, monitor=monitor, jetstream=jetstream)
                )
            except RuntimeError as exc:
                lines = [line for line in str(exc).splitlines() if line.strip()] or ["no log"]
                print(f"[{kind}] server failed to start: {exc}", file=sys.stderr)
                out[kind] = f"{kind} did not start: {lines[0]} ... {lines[-1].strip()}"
        yield out


Measure = Callable[[], Awaitable[dict[str, float]]]


@dataclass
class Side:
    """The figures of one side of a comparison: per metric, the median and every sample."""

    samples: dict[str, list[float]] = field(default_factory=dict)
    error: str = ""

    def median(self, metric: str) -> float | None:
        values = self.samples.get(metric)
        return statistics.median(values) if values else None

    def worst(self, metric: str) -> float | None:
        """The largest sample: for lower-is-better figures held to a ceiling (RSS, seconds)."""
        values = self.samples.get(metric)
        return max(values) if values else None


async def compare(
    sides: dict[str, Measure | str], runs: int, timeout: float, *, warmup: int = 0
) -> dict[str, Side]:
    """Measure each side ``runs`` times, alternating sides run by run.

    ``warmup`` rounds run first, alternating the same way, and are not kept. A side
    given as a string is an error already known (server down, API missing). A side
    whose measurement fails is not measured again; the error is kept in ``Side.error``.
    """
    out = {label: Side(error=m if isinstance(m, str) else "") for label, m in sides.items()}
    for round_no in range(warmup + runs):
        for label, measure in sides.items():
            side = out[label]
            if isinstance(measure, str) or side.error:
                continue
            figures, error = await attempt(label, measure, timeout)
            if figures is None:
                side.error = error
                continue
            if round_no < warmup:
                continue
            for metric, value in figures.items():
                side.samples.setdefault(metric, []).append(value)
    return out


def make_row(
    bench: str,
    name: str,
    unit: str,
    metric: str,
    orlop: Side,
    reference: Side,
    target: Target,
    labels: tuple[str, str] = ("orlop", "nats-server"),
) -> Row:
    """A table row from two sides' medians of ``metric``, with both sides' errors as the note.

    A row held to a ceiling (``Target("max", ...)``) shows each side's worst sample instead:
    a peak that happened once did happen.
    """
    notes = [e for e in (orlop.error, reference.error) if e]
    pick = Side.worst if target.kind == "max" else Side.median
    return Row(
        bench=bench,
        name=name,
        unit=unit,
        orlop=pick(orlop, metric),
        reference=pick(reference, metric),
        target=target,
        orlop_label=labels[0],
        ref_label=labels[1],
        note="; ".join(notes),
        samples={labels[0]: orlop.samples.get(metric, []), labels[1]: reference.samples.get(metric, [])},
    )


async def compare_servers(
    servers: dict[str, ServerProcess | str],
    runs: int,
    factory: Callable[[str], Measure],
    timeout: float = 600,
) -> tuple[Side, Side]:
    """:func:`compare` over servers: ``factory(url)`` gives each server's measurement.

    Returns the (orlop, nats-server) sides; a kind not in ``servers`` is an error side.
    """
    sides: dict[str, Measure | str] = {
        kind: (srv if isinstance(srv, str) else factory(srv.url)) for kind, srv in servers.items()
    }
    got = await compare(sides, runs, timeout)
    missing = Side(error="not run")
    return got.get("orlop", missing), got.get("nats-server", missing)


def bound(fn: Callable[..., Awaitable[T]], *args: Any) -> Callable[[], Awaitable[T]]:
    """``fn`` with its arguments fixed, as a zero-argument coroutine factory."""

    def call() -> Awaitable[T]:
        return fn(*args)

    return call


def random_file(path: Path, size: int) -> Path:
    """Write ``size`` random bytes (a whole number of MiB) to ``path``, one MiB at a time."""
    with open(path, "wb") as f:
        for _ in range(size // MIB):
            f.write(os.urandom(MIB))
    return path
