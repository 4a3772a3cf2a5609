"""Fixtures for the S3 API: a real ``orlop gateway --s3-listen`` in front of each server kind,
spoken to by boto3 (and httpx for what boto3 will not send).

``s3gw`` runs against Orlop and nats-server (``server`` is parametrised over both);
``s3`` is a boto3 client with the gateway's key; ``s3_client`` makes clients with other
keys or settings (helpers in :mod:`tests.s3.s3helpers`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.s3.s3helpers import ACCESS_KEY, SECRET_KEY, S3Gateway, make_client

from orlop.testing import GatewayProcess, ServerProcess


@pytest.fixture
def s3gw(server: ServerProcess, tmp_path: Path) -> Iterator[S3Gateway]:
    # Port 0: the gateway binds free ports and reports them (no race between test workers).
    args = ["--s3-listen", "127.0.0.1:0", "--s3-access-key", ACCESS_KEY, "--s3-secret-key", SECRET_KEY]
    process = GatewayProcess(server.url, args=args).start(tmp_path)
    try:
        yield S3Gateway(process, process.s3_port, server.url)
    finally:
        process.stop()


@pytest.fixture
def s3(s3gw: S3Gateway) -> Any:
    return make_client(s3gw.url)


@pytest.fixture
def s3_client(s3gw: S3Gateway) -> Callable[..., Any]:
    return lambda **kw: make_client(s3gw.url, **kw)
