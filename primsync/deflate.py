"""COMPRESS=DEFLATE (RFC 4978) on an imaplib connection.

After ``COMPRESS DEFLATE`` is accepted, both directions of the connection are raw DEFLATE
streams (no zlib header). Here primsync's connection (:mod:`primsync.connection`) starts
reading what :class:`Inflating` inflates from the socket, and sends what :func:`deflater`
deflates and flushes (``Z_SYNC_FLUSH``, so the server can act on it at once). imaplib,
imapclient and the FETCH reader of :mod:`primsync.wire` then go on unchanged over the plain
text. Header blocks and message bodies shrink three to six times, which is the whole transfer
on a slow link.

>>> z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
>>> wire = z.compress(b"* OK done\\r\\n") + z.flush(zlib.Z_SYNC_FLUSH)
>>> reader = io.BufferedReader(Inflating(FakeSocket([wire[:3], wire[3:]])))
>>> reader.readline()
b'* OK done\\r\\n'
"""

from __future__ import annotations

import io
import logging
import os
import zlib
from collections.abc import Callable
from typing import Any, Protocol

__all__ = ["FakeSocket", "Inflating", "compression_wanted", "deflater", "start"]

logger = logging.getLogger("primsync.imap")

_RECV = 1 << 18  # compressed bytes asked of the socket at a time
_LEVEL = 6  # what the client sends is a few short commands: the level hardly matters


class _Receiver(Protocol):
    def recv(self, size: int, /) -> bytes: ...


def compression_wanted() -> bool:
    """On unless ``PRIMSYNC_COMPRESS=0`` (or ``false``/``no``/``off``)."""
    value = os.environ.get("PRIMSYNC_COMPRESS", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


class Inflating(io.RawIOBase):
    """The inflated bytes of a socket's raw DEFLATE stream, as a raw (unbuffered) reader."""

    def __init__(self, sock: _Receiver):
        super().__init__()
        self._sock = sock
        self._inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        self._out = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def recv(self, size: int) -> bytes:
        """At most ``size`` inflated bytes (b"" once the server closed), without a copy into
        a caller's buffer: what :class:`primsync.connection.Buffer` reads."""
        if not self._fill():
            return b""
        data = self._out[self._pos : self._pos + size]
        self._pos += len(data)
        return data

    def _fill(self) -> bool:
        """Inflate more when everything inflated was read; False once the server closed."""
        while self._pos >= len(self._out):
            data = self._sock.recv(_RECV)
            if not data:
                return False
            try:
                self._out = self._inflate.decompress(data)
            except zlib.error as exc:
                raise ConnectionError(f"the compressed stream is corrupt: {exc}") from exc
            self._pos = 0
        return True

    def readinto(self, buffer: Any) -> int:
        while self._pos >= len(self._out):
            data = self._sock.recv(_RECV)
            if not data:
                return 0  # the server closed the connection
            try:
                self._out = self._inflate.decompress(data)
            except zlib.error as exc:
                raise ConnectionError(f"the compressed stream is corrupt: {exc}") from exc
            self._pos = 0
        view = memoryview(buffer).cast("B")
        n = min(len(view), len(self._out) - self._pos)
        view[:n] = self._out[self._pos : self._pos + n]
        self._pos += n
        return n


class FakeSocket:
    """A socket that gives the given chunks (for the doctest and the unit tests)."""

    def __init__(self, chunks: list[bytes]):
        self._chunks = list(chunks)
        self.sent: list[bytes] = []

    def recv(self, size: int) -> bytes:
        return self._chunks.pop(0) if self._chunks else b""

    def sendall(self, data: bytes) -> None:
        self.sent.append(data)


def deflater() -> Callable[[bytes], bytes]:
    """A function that deflates each command and flushes it (``Z_SYNC_FLUSH``: the server can
    act on it at once)."""
    deflate = zlib.compressobj(_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)

    def compress(data: bytes) -> bytes:
        return deflate.compress(data) + deflate.flush(zlib.Z_SYNC_FLUSH)

    return compress


def start(imap: Any) -> bool:
    """Ask for COMPRESS DEFLATE on primsync's imaplib connection (:class:`primsync.connection.
    Wire`: authenticated, nothing pending) and, once the server says OK, read and write through
    DEFLATE. Returns whether it is on; a refusal (NO/BAD) leaves the connection as it was. A
    dropped connection raises OSError."""
    tag = imap._new_tag()
    imap.send(tag + b" COMPRESS DEFLATE\r\n")
    while True:
        line = imap.readline()
        if not line:
            raise ConnectionError("the server closed the connection at COMPRESS")
        if line.startswith(tag + b" "):
            break
    status = line[len(tag) + 1 :].split(b" ", 1)[0].upper()
    if status != b"OK":
        logger.info("COMPRESS DEFLATE refused: %s", line.decode("ascii", "replace").strip())
        return False
    imap.start_deflate()
    return True
