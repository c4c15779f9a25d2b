"""primsync's own imaplib connection (primsync.connection): every byte read through one buffer,
nothing of imaplib's ``file`` assigned or read — on an imaplib shaped as Python 3.14's is (a
read-only ``file`` property, reads through a buffer of its own), the fast FETCH path and
COMPRESS=DEFLATE give the same rows as on this Python's imaplib."""

from __future__ import annotations

import imaplib
import logging
import socket
import threading
import warnings

import pytest
from imapclient import imap4, tls

from primsync import connection
from primsync.connection import Buffer
from primsync.demo import DEMO_ACCOUNT
from primsync.errors import FolderError
from primsync.imap import connect
from primsync.review import review_mailbox
from tests.conftest import PASSWORD
from tests.mailbox import FOLDERS
from tests.proxy import FaultyProxy
from tests.test_imap import settings


class Imaplib314(imaplib.IMAP4):
    """imaplib.IMAP4 as Python 3.14 shapes it (CPython issue 142307): ``file`` is a read-only
    property that warns when read; ``read`` and ``readline`` go through ``_readbuf`` filled
    by ``sock.recv`` — bytes it buffered are invisible to anyone reading a socket file."""

    def _mode_ascii(self):  # __init__ calls this first: set up 3.14's own buffer there
        self._readbuf = b""
        super()._mode_ascii()

    @property
    def file(self):
        warnings.warn("IMAP4.file is unsupported, can cause errors, and may be removed.",
                      RuntimeWarning, stacklevel=2)  # fmt: skip
        return self._file

    def open(self, host="", port=143, timeout=None):
        self.host, self.port = host, port
        self.sock = self._create_socket(timeout)
        self._file = self.sock.makefile("rb")

    def read(self, size):
        while len(self._readbuf) < size:
            chunk = self.sock.recv(8192)
            if not chunk:
                break
            self._readbuf += chunk
        data, self._readbuf = self._readbuf[:size], self._readbuf[size:]
        return data

    def readline(self):
        while b"\n" not in self._readbuf:
            chunk = self.sock.recv(8192)
            if not chunk:
                break
            self._readbuf += chunk
        line, sep, rest = self._readbuf.partition(b"\n")
        self._readbuf = rest
        return line + sep

    def starttls(self, ssl_context=None):  # 3.14's: the new socket's file goes to _file
        typ, dat = self._simple_command("STARTTLS")
        if typ != "OK":
            raise self.error("Couldn't establish TLS session")
        self.sock = ssl_context.wrap_socket(self.sock, server_hostname=self.host)
        self._file = self.sock.makefile("rb")
        self._tls_established = True
        self._get_capabilities()
        return self._untagged_response(typ, dat, "STARTTLS")

    def shutdown(self):
        self._file.close()
        self.sock.close()


class Plain314(imap4.IMAP4WithTimeout, Imaplib314):
    pass


class Tls314(tls.IMAP4_TLS, Imaplib314):
    pass


def test_the_314_shape_is_faithful(mailbox):
    """What broke before: assigning ``file``, and reading beside imaplib's buffer."""
    imap = Plain314(mailbox.host, mailbox.port, 10)
    try:
        with pytest.raises(AttributeError):
            imap.file = None
        with pytest.warns(RuntimeWarning, match="IMAP4.file is unsupported"):
            imap.file  # noqa: B018
        imap.send(b"A1 NOOP\r\nA2 NOOP\r\n")
        assert imap.readline().startswith(b"A1 OK")
        assert imap._readbuf.startswith(b"A2 OK")  # buffered by imaplib: a socket file misses it
    finally:
        imap.shutdown()


@pytest.fixture
def on_imaplib_314(monkeypatch):
    """primsync's connection classes built on the 3.14-shaped imaplib."""
    monkeypatch.setattr(connection, "PlainConnection",
                        type("PlainConnection", (connection.Wire, Plain314), {}))  # fmt: skip
    monkeypatch.setattr(connection, "TlsConnection",
                        type("TlsConnection", (connection.Wire, Tls314), {}))  # fmt: skip


@pytest.mark.parametrize("compress", ["1", "0"])
def test_the_same_rows_on_an_imaplib_shaped_as_314s(db, mailbox, monkeypatch, compress):
    monkeypatch.setenv("PRIMSYNC_COMPRESS", compress)

    def rows():
        with connect(settings(mailbox), PASSWORD) as box:
            frame = review_mailbox(db, DEMO_ACCOUNT, FOLDERS, option="all", mailbox=box,
                                   record=False).all_rows  # fmt: skip
            assert box.compressed is (compress == "1")
            assert isinstance(box._client._imap, connection.Wire)
            box.select(FOLDERS[0])
            full = {m.uid: m.data for m in box.fetch_full(box.search(["ALL"]))}
        return frame.drop(columns=["defects"]).astype(str).to_dict("records"), full

    here = rows()
    monkeypatch.undo()
    monkeypatch.setenv("PRIMSYNC_COMPRESS", compress)
    with monkeypatch.context() as patched:
        patched.setattr(connection, "PlainConnection",
                        type("PlainConnection", (connection.Wire, Plain314), {}))  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # reading 3.14's `file` would fail the test
            shaped = rows()
    assert shaped == here and here[0] and here[1]


def test_tls_and_starttls_on_the_314_shape(mailbox, on_imaplib_314):
    ca = str(mailbox.cert_file)
    with connect(settings(mailbox, port=mailbox.ssl_port, security="ssl", ca_file=ca),
                 PASSWORD) as box:  # fmt: skip
        assert box.select("INBOX").exists == 9
    with connect(settings(mailbox, security="starttls", ca_file=ca), PASSWORD) as box:
        assert box.select("INBOX").exists == 9


@pytest.mark.parametrize("security", ["none", "ssl", "starttls"])
def test_a_command_written_in_pieces_is_sent_without_waiting(mailbox, security):
    """imapclient writes ENABLE and SEARCH as the line, then its CRLF; under Nagle's algorithm
    the CRLF waited for the server's delayed acknowledgement (40 ms a command measured through
    the benchmark's 20 ms link: SELECT with ENABLE CONDSTORE 85 -> 44 ms). TCP_NODELAY on every
    kind of connection, also once STARTTLS replaced the socket."""
    port = mailbox.ssl_port if security == "ssl" else mailbox.port
    kind = settings(mailbox, port=port, security=security, ca_file=str(mailbox.cert_file))
    with connect(kind, PASSWORD) as box:
        sock = box._client._imap.sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        assert box.select("INBOX").exists == 9  # EXAMINE "INBOX" (CONDSTORE)


@pytest.fixture
def commands_sent(monkeypatch):
    """The command words every connection sends (``LOGIN``, ``CAPABILITY``...), in order."""
    sent: list[str] = []
    plain = connection.Wire.send

    def send(self, data: bytes) -> None:
        if self._deflate is None:
            words = data.split(b" ", 2)
            if len(words) > 1 and words[0].isalnum():  # "TAG COMMAND ...", not a literal
                sent.append(words[1].strip().decode("ascii", "replace").upper())
        plain(self, data)

    monkeypatch.setattr(connection.Wire, "send", send)
    return sent


@pytest.mark.parametrize("security", ["none", "starttls"])
def test_the_capabilities_a_greeting_says_are_not_asked_again(mailbox, commands_sent, security):
    """Dovecot's greeting names its capabilities: LOGIN is the first command (one round trip
    less), the capabilities after LOGIN are the logged-in ones, and after STARTTLS they are
    asked (what was said before TLS is forgotten)."""
    kind = settings(mailbox, security=security, ca_file=str(mailbox.cert_file))
    with connect(kind, PASSWORD) as box:
        assert box.select("INBOX").exists == 9
        logged_in = box.capabilities
    expected = ["STARTTLS", "CAPABILITY", "LOGIN"] if security == "starttls" else ["LOGIN"]
    assert commands_sent[: len(expected)] == expected
    assert "CONDSTORE" in logged_in and "COMPRESS=DEFLATE" in logged_in  # not the greeting's


def test_the_examine_itself_enables_condstore(mailbox, commands_sent):
    """No ENABLE round trip before the first EXAMINE: ``EXAMINE "INBOX" (CONDSTORE)`` (RFC
    7162 3.1), and HIGHESTMODSEQ is reported, by that EXAMINE and by the next ones."""
    with connect(settings(mailbox), PASSWORD) as box:
        first = box.select("INBOX")
        second = box.select(FOLDERS[1])
        assert box.select("INBOX").highestmodseq == first.highestmodseq
    assert commands_sent[:4] == ["LOGIN", "EXAMINE", "EXAMINE", "EXAMINE"]
    assert first.highestmodseq is not None and second.highestmodseq is not None


def test_a_server_refusing_the_condstore_parameter_is_asked_with_enable(
    mailbox, commands_sent, caplog
):
    """A server that offers CONDSTORE but answers the parameter BAD: ENABLE CONDSTORE, then
    the EXAMINE again, HIGHESTMODSEQ still reported; the next EXAMINE goes without the
    parameter; a folder that is not there is still said to be missing."""
    caplog.set_level(logging.INFO, logger="primsync")
    proxy = FaultyProxy(mailbox.port)
    try:
        proxy.busy("EXAMINE", "BAD Error in IMAP command EXAMINE: Unknown parameter")
        with connect(settings(mailbox, port=proxy.port), PASSWORD) as box:
            status = box.select("INBOX")
            assert box.select(FOLDERS[1]).highestmodseq is not None
            with pytest.raises(FolderError, match="Nope"):
                box.select("Nope")
    finally:
        proxy.close()
    assert status.highestmodseq is not None and status.exists == 9
    assert commands_sent[:5] == ["LOGIN", "EXAMINE", "ENABLE", "EXAMINE", "EXAMINE"]
    assert proxy.busy_answers == 1 and "ENABLE CONDSTORE sent instead" in caplog.text


def test_a_greeting_without_capabilities_has_them_asked(commands_sent):
    """A greeting without them (Gmail's, Microsoft's): CAPABILITY is asked, as imaplib does."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"* OK ready\r\n")
            tag = lines.readline().split()[0]
            conn.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n%s OK done\r\n" % tag)
            lines.readline()  # LOGOUT
            conn.sendall(b"* BYE\r\n")

    worker = threading.Thread(target=serve, daemon=True)
    worker.start()
    imap = connection.PlainConnection("127.0.0.1", listener.getsockname()[1], 10)
    assert imap.capabilities == ("IMAP4REV1", "AUTH=PLAIN")
    imap.logout()
    worker.join(10)
    listener.close()
    assert commands_sent == ["CAPABILITY", "LOGOUT"]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 1000])
def test_the_buffer_reads_lines_literals_and_chunks_in_any_chunking(size):
    stream = b"* OK ready\r\n* 1 FETCH (BODY[] {5}\r\nHello)\r\nA1 OK done\r\n" + b"x" * 100
    chunks = [stream[i : i + size] for i in range(0, len(stream), size)]

    def recv(n: int) -> bytes:  # at most n bytes, as a socket gives
        if not chunks:
            return b""
        chunk = chunks.pop(0)
        if len(chunk) > n:
            chunks.insert(0, chunk[n:])
        return chunk[:n]

    buffer = Buffer(recv)
    assert buffer.readline(1000) == b"* OK ready\r\n"
    assert buffer.readline(1000) == b"* 1 FETCH (BODY[] {5}\r\n"
    assert buffer.read(5) == b"Hello"
    assert buffer.readline(1000) == b")\r\n"
    assert buffer.readline(4) == b"A1 O"
    assert buffer.readline(1000) == b"K done\r\n"
    rest = b""
    while piece := buffer.read1(7):
        rest += piece
    assert rest == b"x" * 100


def test_a_closed_connection_inside_a_literal_is_an_abort():
    left, right = socket.socketpair()
    conn = object.__new__(connection.PlainConnection)
    conn.sock = left
    conn._inflow = Buffer(lambda n: conn.sock.recv(n))
    right.sendall(b"abc")
    right.close()
    with pytest.raises(imaplib.IMAP4.abort, match="inside a literal of 10 bytes"):
        conn.read(10)
    left.close()
