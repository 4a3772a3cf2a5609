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


# nats-py's own PUB framing (two chunk-sized concatenations per frame), as a put drives it.
_FRAMES = """
import os, resource, sys
from nats.protocol.command import pub_cmd
from orlop.objects.tuning import warm_heap
if sys.argv[1] == "warmed":
    warm_heap(1 << 20)
data = memoryview(os.urandom(64 << 20))
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(0, len(data), 1 << 20):
    frame = pub_cmd("$O.b.C.x", "_INBOX.y", data[i : i + (1 << 20)])
    del frame
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 64)
"""


def _frame_faults(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _FRAMES, mode], capture_output=True, text=True, check=True)
    return float(out.stdout)


def test_warm_heap_stops_publish_frames_from_faulting() -> None:
    """What a put does by itself: nats-py's frames reuse the heap instead of regrowing it.

    Without :func:`warm_heap` glibc trims and regrows the heap top under each pair
    of frames (~480 faults per MiB: 2 MiB of fresh pages per chunk); after it,
    only first use faults.
    """
    warmed = _frame_faults("warmed")
    assert warmed < 32, warmed
    if sys.platform.startswith("linux"):
        # The pattern warm_heap exists for is really there on glibc.
        assert _frame_faults("cold") > 8 * max(warmed, 1), warmed
