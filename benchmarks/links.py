"""Network links for the benchmarks, shaped in user space (this machine has no ``tc netem``): a
loopback TCP proxy with a fixed one-way delay each way and a bandwidth cap per direction (a
token bucket), so that IMAP is measured as users meet it — across an office line or a home
connection — with every baseline measured through the same link in the same run.

    with ShapedLink(target_port, PROFILES["office"]) as link:   # then connect to link.port
        ...
"""

from __future__ import annotations

import queue
import socket
import threading
import time
from dataclasses import dataclass

from primsync.servers import free_port


@dataclass(frozen=True)
class Profile:
    name: str
    rtt_ms: float  # round trip: half of it each way
    mbit_s: float  # per direction

    @property
    def one_way(self) -> float:
        return self.rtt_ms / 2000

    @property
    def bytes_per_s(self) -> float:
        return self.mbit_s * 1e6 / 8


PROFILES = {
    "lan": Profile("LAN", 1, 1000),
    "office": Profile("office-to-cloud", 20, 100),
    "home": Profile("home", 60, 20),
}


class ShapedLink:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port`` through ``profile``."""

    def __init__(self, target_port: int, profile: Profile, *, target_host: str = "127.0.0.1"):
        self.target = (target_host, target_port)
        self.profile = profile
        self.host, self.port = "127.0.0.1", free_port()
        self._listener = socket.create_server((self.host, self.port))
        self._closed = threading.Event()
        # one line, whatever the connections: their bytes share each direction's bandwidth
        self._free_at = {"down": time.monotonic(), "up": time.monotonic()}
        self._bucket = threading.Lock()
        self.round_trips = 0  # the client's flights: what it sends after hearing the server
        self.connections = 0

    def __enter__(self) -> ShapedLink:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connections += 1
            last = ["server"]  # who spoke last on this connection (the greeting comes first)
            for src, dst in ((client, server), (server, client)):
                line: queue.Queue[tuple[float, bytes]] = queue.Queue()
                args = (src, line, src is client, last)
                threading.Thread(target=self._read, args=args, daemon=True).start()
                way = "up" if src is client else "down"
                threading.Thread(target=self._write, args=(dst, line, way), daemon=True).start()

    def _read(
        self,
        src: socket.socket,
        line: queue.Queue[tuple[float, bytes]],
        from_client: bool,
        last: list[str],
    ) -> None:
        """What arrives is due at the far end one one-way delay later."""
        try:
            while data := src.recv(65536):
                who = "client" if from_client else "server"
                if from_client and last[0] != who:
                    self.round_trips += 1
                last[0] = who
                line.put((time.monotonic() + self.profile.one_way, data))
        except OSError:
            pass
        line.put((time.monotonic() + self.profile.one_way, b""))

    def _write(self, dst: socket.socket, line: queue.Queue[tuple[float, bytes]], way: str) -> None:
        """Deliver when due, no faster than the bandwidth of that direction of the line (a
        token bucket of 64 KB, shared by every connection through the link)."""
        rate = self.profile.bytes_per_s
        try:
            while True:
                due, data = line.get()
                if not data:
                    break
                for start in range(0, len(data), 16384):
                    piece = data[start : start + 16384]
                    with self._bucket:  # book this piece's time on the line
                        floor = time.monotonic() - 65536 / rate
                        send_at = max(due, self._free_at[way], floor)
                        self._free_at[way] = send_at + len(piece) / rate
                    wait = send_at - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    dst.sendall(piece)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass


def check_shaping(profile: Profile, *, size: int = 10 * 1024 * 1024) -> tuple[float, float]:
    """(measured, expected) seconds to send ``size`` bytes one way through the link and get a
    one-byte answer: the benchmark refuses a profile whose link is off by more than 10 %."""
    sink = socket.create_server(("127.0.0.1", 0))
    port = sink.getsockname()[1]

    def serve() -> None:
        conn, _ = sink.accept()
        got = 0
        while got < size:
            chunk = conn.recv(1 << 20)
            if not chunk:
                break
            got += len(chunk)
        conn.sendall(b"!")
        conn.close()

    threading.Thread(target=serve, daemon=True).start()
    with ShapedLink(port, profile) as link:
        client = socket.create_connection((link.host, link.port))
        payload = b"x" * (1 << 20)
        started = time.monotonic()
        for _ in range(size // len(payload)):
            client.sendall(payload)
        client.recv(1)
        measured = time.monotonic() - started
        client.close()
    sink.close()
    return measured, size / profile.bytes_per_s + 2 * profile.one_way
