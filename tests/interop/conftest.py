"""Fixtures for the cross-client interop tests: running the official Node client.

The Node scripts live in ``tests/node/interop_*.mjs`` and import ``nats`` (2.29.3) from
``tests/node/node_modules`` (``make test`` installs it; by hand: ``cd tests/node && npm
install``). Node resolves ``nats`` from the script's own directory, so the scripts run
from there whatever pytest's working directory is. A missing ``node`` or ``node_modules``
fails the test with the command that fixes it: interop is part of the suite, not optional.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).resolve().parent.parent / "node"

NodeRunner = Callable[..., Awaitable[Any]]


def node_command(script: str, *args: str) -> list[str]:
    """The argv that runs ``tests/node/<script>``; fails the test when Node is not installed."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: install Node 20+ to run the interop tests")
    if not (NODE_DIR / "node_modules" / "nats").is_dir():
        pytest.fail(f"the Node client is not installed: run `cd {NODE_DIR} && npm install`")
    return [node, str(NODE_DIR / script), *args]


@pytest.fixture
def run_node_steps() -> NodeRunner:
    """``await run_node_steps(url, steps, timeout=60, user=, password=, creds=, tls=)`` runs
    interop_objects.mjs (``creds``: a .creds file; ``tls``: {"ca", "cert", "key"} file paths).

    Each result is ``{"op", "name", "ok", "value" | "error"}``, one per step, in order.
    Fails the test (with Node's stderr) when the script exits non-zero or times out.
    """

    async def run(
        url: str,
        steps: list[dict[str, Any]],
        timeout: float = 60,
        *,
        user: str = "",
        password: str = "",
        creds: str = "",
        tls: dict[str, str] | None = None,
    ) -> list[dict[str, Any]]:
        cmd = node_command("interop_objects.mjs", url, json.dumps(steps))
        env = {**os.environ, "NATS_USER": user, "NATS_PASS": password, "NATS_CREDS": creds}
        if tls:
            env["NATS_CA"] = tls["ca"]
            env.update(NATS_CERT=tls.get("cert", ""), NATS_KEY=tls.get("key", ""))
        proc = await asyncio.create_subprocess_exec(
            *cmd, cwd=NODE_DIR, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            pytest.fail(f"Node object steps timed out after {timeout}s: {steps}")
        if proc.returncode != 0:
            pytest.fail(f"Node exited {proc.returncode}: {err.decode(errors='replace')[-2000:]}")
        results: list[dict[str, Any]] = json.loads(out.decode().strip().splitlines()[-1])
        return results

    return run


@pytest.fixture
def node_argv() -> Callable[..., list[str]]:
    """``node_argv(script, *args)``: the argv running ``tests/node/<script>`` (cwd: ``NODE_DIR``)."""
    return node_command


@pytest.fixture
def node_dir() -> Path:
    """``tests/node``, the working directory for Node scripts."""
    return NODE_DIR
