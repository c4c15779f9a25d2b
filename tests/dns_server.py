"""A DNS server on loopback for the tests (UDP, answers from a dict): no test reaches a real
resolver. Built on dnspython's message classes; answers NXDOMAIN for names it does not hold."""

from __future__ import annotations

import http.server
import os
import socket
import threading

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset


class DnsServer:
    """``zone`` maps (name, type) → list of rdata texts, e.g.
    ``{("agency.example.", "MX"): ["10 aspmx.l.google.com."]}``."""

    def __init__(self, zone: dict[tuple[str, str], list[str]] | None = None):
        self.zone = dict(zone or {})
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.host, self.port = self.sock.getsockname()
        self.questions: list[tuple[str, str]] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            answer = dns.message.make_response(query)
            answer.flags |= dns.flags.AA
            question = query.question[0]
            name = question.name.to_text().lower()
            kind = dns.rdatatype.to_text(question.rdtype)
            self.questions.append((name, kind))
            records = self.zone.get((name, kind))
            if records:
                answer.answer.append(dns.rrset.from_text_list(name, 60, "IN", kind, records))
            elif not any(n == name for n, _ in self.zone):
                answer.set_rcode(dns.rcode.NXDOMAIN)
            try:
                self.sock.sendto(answer.to_wire(), peer)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()


class AutoconfigSite:
    """Web servers of autoconfig documents on a loopback address's port 80 (where
    ``autoconfig.DOMAIN`` is reached), ``documents`` keyed by the Host asked for. Port 80 needs
    root (CI runs as root): :class:`PermissionError` otherwise."""

    # one loopback address a pytest-xdist worker (gw0 -> 127.77.0.1, gw1 -> 127.77.0.2...): the
    # workers' sites share port 80 without taking it from one another
    _WORKER = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    ADDRESS = f"127.77.0.{int(_WORKER) + 1 if _WORKER.isdigit() else 1}"

    def __init__(self, documents: dict[str, bytes]):
        self.documents = documents
        self.asked: list[str] = []
        site = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the standard library's name
                site.asked.append(f"{self.headers['Host']}{self.path}")
                document = site.documents.get(self.headers["Host"])
                if document is not None and self.path.startswith("/mail/config-v1.1.xml"):
                    self.send_response(200)
                    self.send_header("Content-Type", "text/xml")
                    self.end_headers()
                    self.wfile.write(document)
                else:
                    self.send_error(404)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((self.ADDRESS, 80), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
