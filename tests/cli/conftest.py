"""Fixtures for the CLI tests: ``cli`` runs ``orlop object`` against the test's server (both kinds)."""

from __future__ import annotations

import pytest
from clitools import Cli

from orlop.testing import ServerProcess


@pytest.fixture
def cli(server: ServerProcess) -> Cli:
    return Cli(server.url)
