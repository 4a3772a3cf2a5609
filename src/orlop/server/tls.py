"""TLS for one client connection, on memory buffers (``ssl.SSLObject`` over two ``MemoryBIO``).

Why not ``loop.start_tls``: a NATS server sends INFO in plain text and then the client
starts the handshake at once; between accepting the socket and ``start_tls`` taking it
over, the loop (uvloop in particular) may already have read the ClientHello into the
protocol, where it is lost. Here the connection owns the bytes from the first one: what
arrives goes into the TLS object, what it produces goes out on the same transport, and
the protocol parser only ever sees decrypted bytes. The cost is the same as asyncio's
own SSL transport (which is built the same way, in Python).
"""

from __future__ import annotations

import contextlib
import ssl

__all__ = ["TlsLayer"]


class TlsLayer:
    """The server side of one TLS session: feed it what the socket read, send what it returns."""

    __slots__ = ("_alert", "_in", "_out", "_tls", "closed", "done")

    def __init__(self, ctx: ssl.SSLContext) -> None:
        self._in = ssl.MemoryBIO()
        self._out = ssl.MemoryBIO()
        self._tls = ctx.wrap_bio(self._in, self._out, server_side=True)
        self.done = False  # handshake complete
        self.closed = False  # the peer sent close_notify
        self._alert = b""

    def alert(self) -> bytes:
        return self._alert

    def feed(self, data: bytes) -> tuple[bytes, bytes]:
        """``(plain text received, bytes to send back)``; raises ssl.SSLError on a bad peer.

        After an SSLError, :meth:`alert` holds the alert to send the peer before closing
        (it tells a client why: "certificate required", "unknown CA").
        """
        self._in.write(data)
        if not self.done:
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                return b"", self._out.read()
            except ssl.SSLError:
                self._alert = self._out.read()
                raise
            self.done = True
        plain = bytearray()
        while True:
            try:
                chunk = self._tls.read(256 * 1024)
            except ssl.SSLWantReadError:
                break
            except ssl.SSLZeroReturnError:
                self.closed = True
                break
            if not chunk:  # the peer's close_notify (no data raises SSLWantReadError instead)
                self.closed = True
                break
            plain += chunk
        return bytes(plain), self._out.read()

    def peer_certificate(self) -> bytes | None:
        """The client's certificate (DER), when it presented one."""
        return self._tls.getpeercert(binary_form=True)

    def encrypt(self, data: bytes) -> bytes:
        """TLS records carrying ``data`` (after the handshake)."""
        self._tls.write(data)
        return self._out.read()

    def goodbye(self) -> bytes:
        """The close_notify alert to send before closing (TLS clients wait for it)."""
        if not self.done:
            return b""
        with contextlib.suppress(ssl.SSLError, ValueError):  # ours is sent; theirs is not awaited
            self._tls.unwrap()
        return self._out.read()
