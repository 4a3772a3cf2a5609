"""Request bodies handed to the app as uvicorn received them, without its two copies per piece.

uvicorn's httptools protocol gathers each piece of a request body into a ``bytearray``
(one copy) and gives the app ``bytes()`` of it (a second). On a streamed PUT that is
twice the object's size in memcpy on the gateway's one thread, which is also the thread
that hashes and publishes the chunks. :class:`BodyPieces` stands in for that bytearray:
``+=`` keeps a reference to the piece, ``bytes()`` joins the pieces, or hands over the
one piece itself, the usual case (uvicorn stops reading once more than 64 KiB wait).

Only the container changes; uvicorn's own code still does everything else (flow
control, ``100 Continue``, disconnects, pipelining). That rests on how this uvicorn
treats the body: a ``bytearray`` it grows with ``+=`` and hands over as ``bytes()``
(0.55 does; 0.35 and older kept ``bytes`` and handed them over as they were, which would
give the app a BodyPieces). :func:`http_protocol` checks that in uvicorn's source and
otherwise runs uvicorn's own protocol unchanged, as it does without httptools.
"""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["BodyPieces", "http_protocol"]

# Pieces shorter than this are gathered into a bytearray: a chunked body of tiny chunks
# (httptools calls on_body once per chunk) would otherwise cost an object and a list slot per
# piece, about 20 times the bytes held, for any client, before the app has seen a byte.
_SMALL_PIECE = 16 * 1024


class BodyPieces:
    """The body pieces received and not yet taken by the app: what ``+=``, ``len`` and ``bytes`` see."""

    __slots__ = ("_pieces", "_size")

    def __init__(self, first: bytes = b"") -> None:
        self._pieces: list[bytes | bytearray] = []
        self._size = 0
        if first:
            self += first

    def __iadd__(self, piece: bytes) -> BodyPieces:
        size = len(piece)
        if size >= _SMALL_PIECE:
            self._pieces.append(piece)  # httptools gives each piece as a new bytes: safe to keep
        elif self._pieces and type(tail := self._pieces[-1]) is bytearray:
            tail += piece
        else:
            self._pieces.append(bytearray(piece))
        self._size += size
        return self

    def __len__(self) -> int:
        return self._size

    def __bytes__(self) -> bytes:
        pieces = self._pieces
        if len(pieces) == 1 and type(pieces[0]) is bytes:
            return pieces[0]
        return b"".join(pieces)


def _hands_over_bytes_of_a_bytearray() -> bool:
    """Whether this uvicorn grows the body with ``+=`` from an empty bytearray and gives the app
    ``bytes()`` of it: what :class:`BodyPieces` stands in for."""
    from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

    try:
        init = inspect.getsource(RequestResponseCycle.__init__)
        receive = inspect.getsource(RequestResponseCycle.receive)
    except (OSError, TypeError):  # no source installed: cannot tell, so do not
        return False
    return "self.body = bytearray()" in init and '"body": bytes(self.body)' in receive


def http_protocol() -> Any:
    """The ``http`` protocol for uvicorn's Config: httptools' with :class:`BodyPieces`, else "auto"."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency
        return "auto"
    if not _hands_over_bytes_of_a_bytearray():
        return "httptools"  # another uvicorn: its own protocol, unchanged

    class PieceBodyProtocol(HttpToolsProtocol):
        def on_body(self, body: bytes) -> None:
            cycle = getattr(self, "cycle", None)  # none yet on an upgrade: uvicorn's own call decides
            if cycle is not None and not isinstance(cycle.body, BodyPieces):
                # A new request, or the app just took the last pieces (uvicorn resets the
                # body to an empty bytearray then).
                cycle.body = BodyPieces(bytes(cycle.body))
            super().on_body(body)

    return PieceBodyProtocol
