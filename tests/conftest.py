"""Shared fixtures: every behavioural test runs against Orlop and nats-server.

``server`` is parametrised over both kinds; each test owns its server (a
subprocess on 127.0.0.1 with a fresh data directory). ``orlop_server`` is for
tests of Orlop-only behaviour (crash recovery, file formats, CLI).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from orlop.testing import KINDS, ServerProcess


@pytest.fixture(params=KINDS)
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """A running server of each kind, JetStream enabled, monitoring on a free port."""
    proc = ServerProcess(kind=request.param, store_dir=str(tmp_path_factory.mktemp(request.param)))
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture
def orlop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A running Orlop server (for Orlop-only behaviour)."""
    proc = ServerProcess(kind="orlop", store_dir=str(tmp_path_factory.mktemp("orlop")))
    proc.start()
    try:
        yield proc
    finally:
        proc.close()


@pytest.fixture
def server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type[ServerProcess]]:
    """Build servers with custom arguments; all are killed at the end of the test."""
    made: list[ServerProcess] = []

    class Factory(ServerProcess):
        def __post_init__(self) -> None:
            if not self.store_dir:
                self.store_dir = str(tmp_path_factory.mktemp(self.kind))
            super().__post_init__()
            made.append(self)

    try:
        yield Factory
    finally:
        for p in made:
            p.close()
