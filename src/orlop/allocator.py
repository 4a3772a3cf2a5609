"""glibc ``mallopt`` thresholds, shared by ``orlop serve`` and ``orlop.objects.tune_allocator``.

Both the server and the object client handle buffers of chunk size (128 KiB-1 MiB)
per message. glibc serves such allocations with ``mmap`` or trims the heap top
under them, so each costs fresh pages; raising ``M_MMAP_THRESHOLD`` and
``M_TRIM_THRESHOLD`` keeps them on the heap. The measurements and the policy of
who may call this (a library never does it behind its user's back) are in the
callers' docstrings; this module only knows how to set the values safely.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["ENV_OVERRIDES", "set_malloc_thresholds"]

_M_TRIM_THRESHOLD = -1  # glibc malloc.h
_M_MMAP_THRESHOLD = -3

ENV_OVERRIDES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
"""Environment variables through which a user sets the same thresholds for glibc."""


def set_malloc_thresholds(mmap_threshold: int, trim_threshold: int, *, respect_env: bool = False) -> bool:
    """Set glibc's mmap and trim thresholds (bytes); True when both calls succeeded.

    Returns False, changing nothing, off glibc/Linux (macOS, musl) and, with
    ``respect_env``, when the user set either :data:`ENV_OVERRIDES` variable.
    Raises ValueError on negative thresholds.
    """
    if mmap_threshold < 0 or trim_threshold < 0:
        raise ValueError("allocator thresholds must not be negative")
    if not sys.platform.startswith("linux"):
        return False
    if respect_env and any(name in os.environ for name in ENV_OVERRIDES):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018  (glibc only: musl's mallopt does nothing)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok_mmap: bool = mallopt(_M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok_trim: bool = mallopt(_M_TRIM_THRESHOLD, trim_threshold) == 1
    return ok_mmap and ok_trim
