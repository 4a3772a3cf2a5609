"""The benchmark's side-by-side runner: warm-up rounds run alternately and are not counted."""

from __future__ import annotations

from typing import Any

from bench.common import compare


async def test_warmup_rounds_run_first_and_are_dropped() -> None:
    calls: list[str] = []

    def side(label: str) -> Any:
        async def measure() -> dict[str, float]:
            calls.append(label)
            return {"n": float(calls.count(label))}  # 1.0 for the warm-up, then 2.0, 3.0, ...

        return measure

    got = await compare({"a": side("a"), "b": side("b"), "gone": "server not run"}, 3, 10, warmup=1)
    assert calls == ["a", "b"] * 4  # alternating, warm-up included
    assert got["a"].samples["n"] == [2.0, 3.0, 4.0]  # the warm-up's 1.0 is not a sample
    assert got["b"].samples["n"] == [2.0, 3.0, 4.0]
    assert got["gone"].error == "server not run" and not got["gone"].samples
