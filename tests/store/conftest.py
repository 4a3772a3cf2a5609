"""Fixtures of the store tests: ``engine`` runs a test over every engine kind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orlop.store.testing import ENGINE_KINDS, EngineFactory


@pytest.fixture(params=ENGINE_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EngineFactory]:
    eng = EngineFactory(request.param, tmp_path)
    yield eng
    eng.close_all()
