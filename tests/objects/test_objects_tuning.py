"""tune_allocator: the opt-in malloc tuning really stops chunk-sized buffers from faulting in pages.

Run in child processes: allocator settings are process-wide, and the effect is
counted in the child's own minor page faults.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from orlop.objects import tune_allocator

_CHILD = """
import resource, sys
from orlop.objects import tune_allocator
applied = tune_allocator() if sys.argv[1] == "tuned" else None
keep = []
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(200):
    buf = bytes(bytearray(1 << 20))  # two fresh 1 MiB buffers per round, like a received chunk
    keep.append(buf[:1])
    del buf
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied, int(faults)


def test_tuned_allocator_reuses_chunk_buffers() -> None:
    applied, tuned = _faults("tuned")
    _, default = _faults("default")
    if not sys.platform.startswith("linux"):
        assert applied == "False"  # nothing to tune: reported, not pretended
        return
    assert applied == "True"
    # 200 rounds x 2 MiB: untuned, fresh pages are faulted in again and again.
    assert tuned * 4 < default, (tuned, default)


def test_negative_thresholds_rejected() -> None:
    with pytest.raises(ValueError):
        tune_allocator(mmap_threshold=-1)
