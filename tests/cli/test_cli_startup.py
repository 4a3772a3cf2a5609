"""How ``orlop object`` starts: nats-py's websocket dependency (aiohttp) is imported only when used.

nats-py imports aiohttp whenever it is installed, for ``ws://`` connections alone (which
the CLI does not take); the CLI defers it (``orlop.cli.lazyimport``), so a short command
does not pay for it, and whatever does use it still gets the real module.
"""

from __future__ import annotations

import subprocess
import sys


def test_nats_import_leaves_aiohttp_unloaded_until_used() -> None:
    code = (
        "import sys\n"
        "from orlop.cli.lazyimport import defer_import\n"
        "defer_import('aiohttp')\n"
        "import nats, nats.aio.transport as t\n"
        "print('loaded' if 'aiohttp.client' in sys.modules else 'deferred')\n"
        "print(t.aiohttp.ClientSession.__name__)\n"
        "print('loaded' if 'aiohttp.client' in sys.modules else 'deferred')\n"
    )
    out = (
        subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout.decode().split()
    )
    assert out == ["deferred", "ClientSession", "loaded"]
