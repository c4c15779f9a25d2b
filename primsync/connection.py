"""primsync's own imaplib connection: every byte the server sends is read through one buffer of
ours, whoever reads it — imaplib's responses, the fast FETCH reader of :mod:`primsync.wire`, or
the COMPRESS=DEFLATE stream of :mod:`primsync.deflate`.

It sits on what imaplib documents as overridable (``open``, ``read``, ``readline``, ``send``,
``shutdown``) and never assigns nor reads imaplib's ``file``: Python 3.14 made ``IMAP4.file`` a
read-only property and reads through a buffer of its own (``_readbuf``, CPython issue 142307),
so code that swapped ``file`` or read ``file.read1`` beside imaplib failed at the first FETCH
or missed bytes imaplib had buffered. Here imaplib's own buffer is never used, on any Python.

imapclient makes its imaplib object in ``IMAPClient._create_IMAP4``; :class:`Client` makes one
of these instead (plain or TLS, with imapclient's own socket set-up), and ``starttls`` goes on
working: imaplib wraps ``sock`` and our reader reads whatever ``sock`` is at the time.
"""

from __future__ import annotations

import imaplib
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import imapclient
from imapclient import imap4, tls

from primsync import deflate

__all__ = ["Buffer", "Client", "PlainConnection", "TlsConnection", "Wire"]

# the longest line read (a guard against a server that never ends one). Not imaplib's 1 MB:
# a plain SEARCH answer names every UID found on one line (500,000 messages: 3.4 MB), and a
# server without ESEARCH (Outlook) has no other way to give them
_MAXLINE = 1 << 27
_BUFFER = 1 << 18  # bytes asked of the socket at a time for imaplib's lines
_CHUNK = 1 << 20  # at most this asked of the socket at a time for a literal


class Buffer:
    """Lines, sized reads and chunks of one byte stream, buffered once for every reader.

    ``recv(n)`` gives at most ``n`` bytes of the stream (b"" once it ended).

    >>> chunks = [b"* OK hel", b"lo\\r\\n* 1 EXISTS\\r\\nrest"]
    >>> buffer = Buffer(lambda n: chunks.pop(0) if chunks else b"")
    >>> buffer.readline(1000), buffer.read(4), buffer.read1(100), buffer.read1(100)
    (b'* OK hello\\r\\n', b'* 1 ', b'EXISTS\\r\\nrest', b'')
    """

    def __init__(self, recv: Callable[[int], bytes]):
        self.recv = recv
        self._data = b""
        self._pos = 0

    def _more(self, size: int = _BUFFER) -> bool:
        chunk = self.recv(size)
        if not chunk:
            return False
        self._data = self._data[self._pos :] + chunk
        self._pos = 0
        return True

    def readline(self, limit: int) -> bytes:
        """Up to and including the next LF (at most ``limit`` bytes; less at the end)."""
        scan = self._pos
        while True:
            end = self._data.find(b"\n", scan, self._pos + limit)
            if end >= 0:
                line = self._data[self._pos : end + 1]
                self._pos = end + 1
                return line
            if len(self._data) - self._pos >= limit:
                line = self._data[self._pos : self._pos + limit]
                self._pos += limit
                return line
            scanned = len(self._data) - self._pos  # no LF in there: not scanned again
            if not self._more():
                return self.take()
            scan = scanned

    def read(self, size: int) -> bytes:
        """Exactly ``size`` bytes (fewer only when the stream ended). A large literal is
        gathered in pieces and joined once, not copied again at each read of the socket."""
        parts = [self.read1(size if self._pos < len(self._data) else min(size, _CHUNK))]
        have = len(parts[0])
        while have < size and parts[-1]:
            parts.append(self.recv(min(size - have, _CHUNK)))
            have += len(parts[-1])
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def read1(self, size: int) -> bytes:
        """What the buffer holds (at most ``size``), else one ``recv`` of the stream."""
        if self._pos < len(self._data):
            data = self._data[self._pos : self._pos + size]
            self._pos += len(data)
            return data
        return self.recv(size)

    def take(self) -> bytes:
        """Everything buffered and not read yet (the buffer is then empty)."""
        data = self._data[self._pos :]
        self._data, self._pos = b"", 0
        return data


class Wire:
    """The reading and writing half of an imaplib connection, mixed in before imaplib's class.

    ``read1`` gives what the buffer holds (or one read of the socket): the fast FETCH reader
    reads there, in step with imaplib's ``readline`` and ``read``."""

    sock: socket.socket
    host: str
    port: int
    _inflow: Buffer
    _deflate: Any = None
    untagged_responses: dict[str, list[Any]]  # imaplib's
    capabilities: tuple[str, ...]  # imaplib's

    if TYPE_CHECKING:  # given by imaplib's class (imapclient's subclasses set it up)

        def _create_socket(self, timeout: float | None = None) -> socket.socket: ...

    def open(self, host: str = "", port: int = 143, timeout: float | None = None):
        self.host = host
        self.port = port
        self.sock = self._create_socket(timeout)
        _no_delay(self.sock)
        self._greeted = False
        # the socket looked up at each read: imaplib's starttls() replaces it
        self._inflow = Buffer(lambda size: self.sock.recv(size))
        self._deflate = None

    def _get_capabilities(self) -> None:
        """imaplib asks CAPABILITY once greeted (and again after STARTTLS). A greeting that
        says them (``* OK [CAPABILITY ...]``, RFC 3501 7.1: Dovecot's, Cyrus') is taken at its
        word: one round trip less a connection. After STARTTLS they are always asked (RFC
        2595 3.1: what was said before TLS is forgotten)."""
        told = None if self._greeted else self.untagged_responses.pop("CAPABILITY", None)
        self._greeted = True
        if not told or not isinstance(told[-1], bytes):
            super()._get_capabilities()  # type: ignore[misc]
            return
        self.capabilities = tuple(told[-1].decode("ascii", "replace").upper().split())

    def read(self, size: int) -> bytes:
        data = self._inflow.read(size)
        if len(data) < size:
            raise imaplib.IMAP4.abort(f"the connection closed inside a literal of {size} bytes")
        return data

    def readline(self) -> bytes:
        line = self._inflow.readline(_MAXLINE + 1)
        if len(line) > _MAXLINE:
            raise imaplib.IMAP4.error(f"got more than {_MAXLINE} bytes")
        return line

    def read1(self, size: int) -> bytes:
        """What the buffer holds, else one read of the stream (b"" once the server closed)."""
        return self._inflow.read1(size)

    def send(self, data: bytes) -> None:
        if self._deflate is not None:
            data = self._deflate(data)
        self.sock.sendall(data)

    def shutdown(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed by the server: nothing to say to it
        finally:
            self.sock.close()
            # imaplib's starttls() makes a file of the new socket (``file`` up to 3.13,
            # ``_file`` on 3.14) that nothing here reads: closed with the connection
            for name in ("file", "_file"):
                made = vars(self).pop(name, None)
                if made is not None:
                    made.close()

    def start_deflate(self) -> None:
        """From now on both directions are raw DEFLATE (RFC 4978); what was read past the
        server's OK, if anything, is inflated first."""
        inflating = deflate.Inflating(_Receiver(self, self._inflow.take()))
        self._inflow = Buffer(inflating.recv)
        self._deflate = deflate.deflater()


def _no_delay(sock: socket.socket) -> None:
    """Each write sent at once (TCP_NODELAY). imapclient writes a command in pieces (``ENABLE``,
    ``SEARCH``: the line, then its CRLF); with Nagle's algorithm the CRLF waited for the
    server's acknowledgement of the line, which the server delays since nothing is complete
    yet: 40 ms a command on Linux (measured: ENABLE CONDSTORE's answer came after 2 RTT + 40
    ms on a 20 ms link), up to 200 ms on Windows."""
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):  # not a TCP socket: no Nagle to turn off
        pass


class _Receiver:
    """``recv`` of the connection's socket, giving first what was read before the switch."""

    def __init__(self, conn: Wire, leftover: bytes):
        self._conn = conn
        self._leftover = leftover

    def recv(self, size: int) -> bytes:
        if self._leftover:
            data, self._leftover = self._leftover[:size], self._leftover[size:]
            return data
        return bytes(self._conn.sock.recv(size))


class PlainConnection(Wire, imap4.IMAP4WithTimeout):
    """imapclient's plain connection (STARTTLS or loopback), read through :class:`Wire`."""


class TlsConnection(Wire, tls.IMAP4_TLS):
    """imapclient's TLS connection, read through :class:`Wire`."""


class Client(imapclient.IMAPClient):
    """imapclient's client on primsync's connection classes (everything else is imapclient's)."""

    def _create_IMAP4(self) -> imaplib.IMAP4:  # noqa: N802 - imapclient's name
        if self.stream:  # pragma: no cover - primsync never asks for a stream
            return super()._create_IMAP4()
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return TlsConnection(self.host, self.port, self.ssl_context, timeout)
        return PlainConnection(self.host, self.port, timeout)
