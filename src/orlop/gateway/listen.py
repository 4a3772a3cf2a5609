"""Binding the gateway's listening sockets (the JSON API's and the S3 API's)."""

from __future__ import annotations

import socket

from orlop.errors import ConfigError

__all__ = ["bind"]


def bind(host: str, port: int, what: str) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port); ConfigError when it cannot be bound.

    Bound here rather than by uvicorn, whose bind failure exits the process from inside a
    task, and so the port actually bound can be reported (``orlop gateway --listen :0``).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as exc:
        raise ConfigError(f"{what} cannot listen on {host}:{port}: {exc.strerror or exc}") from None
