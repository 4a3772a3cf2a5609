"""``orlop serve`` keeps message-sized buffers on glibc's heap (orlop.server.tune_allocator).

Checked in subprocesses, since mallopt is process-wide and the test process must not
change: the server process applies it (its debug log says so), a user's own
``MALLOC_*_`` variables win, and an embedding program is left alone.
"""

from __future__ import annotations

import os
import subprocess
import sys

from orlop.testing import ServerProcess

Factory = type[ServerProcess]

GLIBC = sys.platform.startswith("linux") and bool(os.confstr("CS_GNU_LIBC_VERSION"))


def _tune_in_child(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    code = "import orlop.server as s; print(s.tune_allocator())"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return out.stdout.strip()


def test_applied_on_glibc_unless_the_user_set_thresholds() -> None:
    assert _tune_in_child({}) == str(GLIBC)  # elsewhere it changes nothing and says so
    assert _tune_in_child({"MALLOC_TRIM_THRESHOLD_": "131072"}) == "False"
    assert _tune_in_child({"MALLOC_MMAP_THRESHOLD_": "131072"}) == "False"


def test_serve_process_applies_it(server_factory: Factory) -> None:
    proc = server_factory(kind="orlop", jetstream=False, extra_args=["-D"]).start()
    proc.stop()
    applied = "glibc malloc: mmap threshold 16777216, trim threshold 67108864" in proc.log()
    assert applied == GLIBC
