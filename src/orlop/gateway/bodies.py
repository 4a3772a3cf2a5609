"""Request bodies handed to the app as uvicorn received them, without its two copies per piece.

uvicorn's httptools protocol gathers each piece of a request body into a ``bytearray``
(one copy) and gives the app ``bytes()`` of it (a second). On a streamed PUT that is
twice the object's size in memcpy on the gateway's one thread, which is also the thread
that hashes and publishes the chunks. :class:`BodyPieces` stands in for that bytearray:
``+=`` keeps a reference to the piece, ``bytes()`` joins the pieces, or hands over the
one piece itself, the usual case (uvicorn stops reading once more than 64 KiB wait).

Only the container changes; uvicorn's own code still does everything else (flow
control, ``100 Continue``, disconnects, pipelining). Without httptools the gateway
runs uvicorn's default protocol.
"""

from __future__ import annotations

from typing import Any

__all__ = ["BodyPieces", "http_protocol"]


class BodyPieces:
    """The body pieces received and not yet taken by the app: what ``+=``, ``len`` and ``bytes`` see."""

    __slots__ = ("_pieces", "_size")

    def __init__(self, first: bytes = b"") -> None:
        self._pieces: list[bytes] = [first] if first else []
        self._size = len(first)

    def __iadd__(self, piece: bytes) -> BodyPieces:
        self._pieces.append(piece)  # httptools gives each piece as a new bytes: safe to keep
        self._size += len(piece)
        return self

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        pieces = self._pieces
        return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def http_protocol() -> Any:
    """The ``http`` protocol for uvicorn's Config: httptools' with :class:`BodyPieces`, else "auto"."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency
        return "auto"

    class PieceBodyProtocol(HttpToolsProtocol):
        def on_body(self, body: bytes) -> None:
            cycle = self.cycle
            if not isinstance(cycle.body, BodyPieces):
                # A new request, or the app just took the last pieces (uvicorn resets the
                # body to an empty bytearray then).
                cycle.body = BodyPieces(bytes(cycle.body))  # type: ignore[assignment]
            super().on_body(body)

    return PieceBodyProtocol
