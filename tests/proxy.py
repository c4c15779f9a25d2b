"""A loopback TCP proxy that cuts or stalls connections after N bytes from the server, or
answers some commands itself as a busy server does (NO [THROTTLED] ...).

Bytes are counted as the client reads them: once a connection is compressed (COMPRESS=DEFLATE,
RFC 4978) the proxy inflates a copy of the server's stream to count, so that a test cuts in
the same place of a FETCH with compression on or off. A proxy that answers for the server
(``busy``) cannot write into a compressed stream: it hides COMPRESS=DEFLATE, as a server
without it (Microsoft's) does."""

from __future__ import annotations

import re
import socket
import threading
import time
import zlib

from primsync.servers import free_port


class _Connection:
    """Whether one proxied connection has switched to DEFLATE, each way."""

    def __init__(self) -> None:
        self.compress_tag: bytes | None = None  # the tag of the client's COMPRESS command
        self.client_compressed = False
        self.inflate: zlib._Decompress | None = None  # the server's stream, once compressed
        self.reshaper: _Reshaper | None = None


_FETCH_UID = re.compile(rb"^(\* \d+ FETCH \(UID \d+ )(.*)$")
_LITERAL_AT_END = re.compile(rb"\{(\d+)\}$")


class _Reshaper:
    """Dovecot's FETCH answers rewritten in another server's shape, line by line, literals
    passed through whole: ``domino`` wraps the items after the UID in a second pair of
    parentheses; ``yandex`` adds a body section with no value (``BODY[1] )``);
    ``no-esearch`` takes ESEARCH out of the capabilities."""

    def __init__(self, kind: str):
        self.kind = kind
        self.buf = b""
        self.literal_left = 0
        self.open = False  # a FETCH response is being rewritten, its end still to come

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        self.buf += data
        while True:
            if self.literal_left:
                take = min(self.literal_left, len(self.buf))
                out += self.buf[:take]
                self.buf, self.literal_left = self.buf[take:], self.literal_left - take
                if self.literal_left:
                    break
                continue
            end = self.buf.find(b"\r\n")
            if end < 0:
                break
            line, self.buf = self.buf[:end], self.buf[end + 2 :]
            line = self._line(line)
            out += line + b"\r\n"
            literal = _LITERAL_AT_END.search(line)
            if literal:
                self.literal_left = int(literal.group(1))
        return bytes(out)

    def _line(self, line: bytes) -> bytes:
        if self.kind == "no-esearch":  # a server without ESEARCH (Outlook, pymap)
            if b"CAPABILITY" in line:
                return b" ".join(w for w in line.split(b" ") if w.upper() != b"ESEARCH")
            return line
        fetch = _FETCH_UID.match(line)
        if fetch is not None and _LITERAL_AT_END.search(line):
            self.open = True
            if self.kind == "domino":
                return fetch.group(1) + b"(" + fetch.group(2)
            return line
        if self.open and line.startswith(b")"):  # the end of the response, after its literal
            self.open = False
            return b")" + line if self.kind == "domino" else b" BODY[1] " + line
        return line


class FaultyProxy:
    """Forwards 127.0.0.1:``port`` to the server on ``target_port``.

    ``cut_after(n, times=k)``: the next ``k`` times ``n`` more bytes have come from the server,
    close that connection. ``stall_after(n)``: after ``n`` more bytes, stop forwarding (the
    connection stays open and silent) until the client gives up.
    """

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.cuts = 0
        self.stalls = 0
        self._nbytes: int | None = None
        self._budget: int | None = None
        self._times = 0
        self._mode = "cut"
        self._lock = threading.Lock()
        self._busy: dict[bytes, list[bytes]] = {}  # command -> the answers still to give
        self.shape: str | None = None  # "domino" / "yandex": FETCH answers reshaped
        self.busy_answers = 0
        self.accepted = 0  # connections accepted so far
        self._hold_from: int | None = None
        self.holding = threading.Event()  # set when a connection is being held
        self._held: list[socket.socket] = []
        self._closed = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, nbytes: int, *, times: int = 1) -> None:
        with self._lock:
            self._mode, self._nbytes, self._budget, self._times = "cut", nbytes, nbytes, times

    def stall_after(self, nbytes: int, *, times: int = 1) -> None:
        with self._lock:
            self._mode, self._nbytes, self._budget, self._times = "stall", nbytes, nbytes, times

    @property
    def answering(self) -> bool:
        """Whether the proxy writes into the server's stream (then it hides COMPRESS)."""
        with self._lock:
            return any(self._busy.values()) or self.shape is not None

    def reshape(self, kind: str) -> None:
        """Serve FETCH answers in another server's shape (see ``_Reshaper``)."""
        self.shape = kind

    def busy(self, command: str, *answers: str) -> None:
        """Answer the next ``len(answers)`` commands ``command`` (e.g. "UID FETCH") with these
        tagged answers (e.g. "NO [THROTTLED] Request is throttled") instead of the server."""
        with self._lock:
            self._busy[command.upper().encode()] = [a.encode() for a in answers]

    def _busy_answer(self, line: bytes) -> bytes | None:
        tag, _, rest = line.partition(b" ")
        with self._lock:
            for command, answers in self._busy.items():
                if answers and rest.upper().startswith(command):
                    self.busy_answers += 1
                    return tag + b" " + answers.pop(0) + b"\r\n"
        return None

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for sock in self._held:
            sock.close()

    def hold_from(self, number: int | None) -> None:
        """Hold the ``number``-th connection and those after it: accepted, never answered (a
        server that says nothing, not even its greeting); None lets new ones through again."""
        with self._lock:
            self._hold_from = number

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
                hold = self._hold_from is not None and self.accepted >= self._hold_from
            if hold:
                self._held.append(client)
                self.holding.set()
                continue
            server = socket.create_connection(("127.0.0.1", self.target_port))
            conn = _Connection()
            for args in ((client, server, False, conn), (server, client, True, conn)):
                threading.Thread(target=self._pipe, args=args, daemon=True).start()

    def _fault(self, data: bytes, weight: int) -> tuple[bytes, str | None]:
        """What to forward of ``data`` (``weight`` bytes once inflated), and whether to cut or
        stall after it."""
        with self._lock:
            if self._budget is None or self._times <= 0:
                return data, None
            if weight < self._budget:
                self._budget -= weight
                return data, None
            head, mode = data[: len(data) * self._budget // max(weight, 1)], self._mode
            self._times -= 1
            self._budget = self._nbytes if self._times > 0 else None
            if mode == "cut":
                self.cuts += 1
            else:
                self.stalls += 1
            return head, mode

    def _from_server(self, data: bytes, conn: _Connection) -> tuple[bytes, int]:
        """``data`` as forwarded, and its size as the client will read it."""
        if conn.inflate is not None:
            return data, len(conn.inflate.decompress(data))
        if self.answering:
            data = data.replace(b" COMPRESS=DEFLATE", b"")
        if self.shape is not None:
            if conn.reshaper is None:
                conn.reshaper = _Reshaper(self.shape)
            data = conn.reshaper.feed(data)
        if conn.compress_tag is not None and b"\r\n" + conn.compress_tag + b" OK" in b"\r\n" + data:
            conn.inflate = zlib.decompressobj(-zlib.MAX_WBITS)
        return data, len(data)

    def _pipe(
        self, src: socket.socket, dst: socket.socket, from_server: bool, conn: _Connection
    ) -> None:
        pending = b""
        try:
            while data := src.recv(65536):
                fault = None
                if from_server:
                    data, weight = self._from_server(data, conn)
                    data, fault = self._fault(data, weight)
                elif conn.client_compressed:
                    pass  # deflated commands: forwarded as they are
                else:  # whole command lines: some may be answered here
                    pending += data
                    lines, _, pending = pending.rpartition(b"\r\n")
                    data = b""
                    for line in lines.split(b"\r\n") if lines else []:
                        if line.upper().endswith(b" COMPRESS DEFLATE"):
                            conn.compress_tag = line.split(b" ", 1)[0]
                            conn.client_compressed = True  # what follows is deflated
                        answer = self._busy_answer(line)
                        if answer is None:
                            data += line + b"\r\n"
                        else:
                            src.sendall(answer)
                    if not data:
                        continue
                dst.sendall(data)
                if fault == "stall":
                    deadline = time.monotonic() + 120
                    while not self._closed.is_set() and time.monotonic() < deadline:
                        if _peer_closed(dst):
                            break
                        time.sleep(0.05)
                    break
                if fault == "cut":
                    break
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()


def _peer_closed(sock: socket.socket) -> bool:
    """Whether the peer closed ``sock``, peeked without waiting. MSG_DONTWAIT, not
    ``setblocking(False)``: the socket is shared with the thread reading the other direction,
    whose ``recv`` then raised BlockingIOError and closed the connection mid-stall (the client
    saw EOF instead of its timeout, now and then)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
