"""A loopback TCP proxy that can cut a connection after N bytes from the server."""

from __future__ import annotations

import socket
import threading

from primsync.servers import free_port


class CuttingProxy:
    """Forwards 127.0.0.1:``port`` to ``target``; once :meth:`cut_after` is called, closes the
    connection when that many more bytes have come from the server."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.budget: int | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def cut_after(self, nbytes: int | None) -> None:
        with self._lock:
            self.budget = nbytes

    def close(self) -> None:
        self._stop = True
        self._listener.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, from_server: bool) -> None:
        try:
            while data := src.recv(65536):
                if from_server:
                    with self._lock:
                        if self.budget is not None:
                            if len(data) >= self.budget:
                                dst.sendall(data[: self.budget])
                                self.budget = None
                                self.cuts += 1
                                break
                            self.budget -= len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
