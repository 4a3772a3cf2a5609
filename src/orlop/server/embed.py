"""Run a server inside the current asyncio program.

``async with run_server() as url:`` starts a :class:`~orlop.server.server.Server`
on 127.0.0.1 with a free port, monitoring off and a temporary data directory
(removed afterwards) unless ``store_dir`` is given, and shuts it down on exit.
Any :class:`~orlop.server.options.ServerOptions` field can be overridden by
keyword. :func:`start_server` is the same without the context manager, for
callers that need the :class:`Server` object itself.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import fields
from typing import Any

from orlop.server.options import ServerOptions
from orlop.server.server import Server

__all__ = ["embedded_options", "run_server", "start_server"]


def embedded_options(store_dir: str, jetstream: bool, overrides: dict[str, Any]) -> ServerOptions:
    """Options for an in-process server; raises TypeError for an unknown option name."""
    known = {f.name for f in fields(ServerOptions)}
    unknown = set(overrides) - known
    if unknown:
        raise TypeError(f"unknown server options: {', '.join(sorted(unknown))}")
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": -1,
        "http_port": 0,
        "jetstream": jetstream,
        "store_dir": store_dir,
        "ports_file_dir": "",
    }
    base.update(overrides)
    return ServerOptions(**base)


async def start_server(*, store_dir: str, jetstream: bool = True, **option_overrides: Any) -> Server:
    """Start and return a server (the caller must ``await server.shutdown()``)."""
    server = Server(embedded_options(store_dir, jetstream, option_overrides))
    await server.start()
    return server


@asynccontextmanager
async def run_server(
    *, store_dir: str | None = None, jetstream: bool = True, **option_overrides: Any
) -> AsyncIterator[str]:
    """Run a server for the duration of the block; yields its ``nats://`` URL."""
    tmp = None if store_dir is not None else tempfile.mkdtemp(prefix="orlop-embed-")
    try:
        server = await start_server(
            store_dir=store_dir if store_dir is not None else str(tmp),
            jetstream=jetstream,
            **option_overrides,
        )
        try:
            yield server.url
        finally:
            await server.shutdown()
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
