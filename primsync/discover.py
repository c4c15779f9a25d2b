"""Which provider serves a company's own domain, found the way mail clients find it: the
domain's MX records (Google's and Microsoft 365's mail exchangers, and a few others), then the
autoconfig document (Thunderbird's format) at ``autoconfig.DOMAIN`` and at the domain's
``.well-known/autoconfig``.

The resolver is the system's, or ``$PRIMSYNC_DNS_SERVER=HOST:PORT`` (the tests start a DNS
server on loopback; a site can name its own). Names are then resolved through that server too,
so that what the DNS says is what is reached.

>>> provider_of_mx(["aspmx.l.google.com.", "alt1.aspmx.l.google.com."])
('gmail', "Google's")
>>> provider_of_mx(["agency-com.mail.protection.outlook.com."])
('outlook', "Microsoft 365's")
>>> print(provider_of_mx(["mx.agency.example."]))
None
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import ssl
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

__all__ = ["Discovery", "discover", "parse_autoconfig", "provider_of_mx"]

logger = logging.getLogger("primsync.discover")

TIMEOUT = 5.0  # seconds for each DNS question and each autoconfig request

# mail exchangers' names → the preset serving the domain, and whose they are (in words)
_MX = [
    (
        ("google.com", "googlemail.com"),
        "gmail",
        "Google's",
        "Google Workspace, sign-in with Google",
    ),
    (
        ("mail.protection.outlook.com", "outlook.com"),
        "outlook",
        "Microsoft 365's",
        "Microsoft 365, sign-in with Microsoft",
    ),
    (("messagingengine.com",), "fastmail", "Fastmail's", "Fastmail, an app password"),
    (("zoho.com", "zoho.eu", "zohomail.com"), "zoho", "Zoho's", "Zoho Mail"),
    (("ovh.net",), "ovh", "OVH's", "OVH mail"),
    (("yahoodns.net",), "yahoo", "Yahoo's", "Yahoo Mail, an app password"),
    (("mail.icloud.com",), "icloud", "iCloud's", "iCloud Mail, an app-specific password"),
]


@dataclass(frozen=True, slots=True)
class Discovery:
    """What was found for a domain: a preset, or an IMAP server's settings, and how."""

    how: str  # in words, for the user: "MX of agency.com is Google's: Google Workspace, ..."
    preset: str | None = None
    host: str | None = None
    port: int | None = None
    security: str | None = None
    username: str | None = None
    auth: str | None = None


def provider_of_mx(exchangers: list[str]) -> tuple[str, str] | None:
    """(preset, whose) of a domain whose mail exchangers are ``exchangers``; None if unknown."""
    for name in exchangers:
        host = name.strip().lower().rstrip(".")
        for suffixes, preset, whose, _ in _MX:
            if any(host == s or host.endswith("." + s) for s in suffixes):
                return preset, whose
    return None


class _Resolver:
    """dnspython's resolver: the system's, or the one ``$PRIMSYNC_DNS_SERVER`` names."""

    def __init__(self) -> None:
        import dns.resolver

        server = os.environ.get("PRIMSYNC_DNS_SERVER", "").strip()
        if server:
            host, _, port = server.rpartition(":") if ":" in server else (server, "", "53")
            self.resolver = dns.resolver.Resolver(configure=False)
            self.resolver.nameservers = [host.strip("[]")]
            self.resolver.port = int(port or 53)
            self.own = True
        else:
            self.resolver = dns.resolver.Resolver()
            self.own = False
        self.resolver.lifetime = TIMEOUT

    def answers(self, name: str, kind: str) -> list[Any]:
        import dns.exception
        import dns.resolver

        try:
            return list(self.resolver.resolve(name, kind, search=False))
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return []
        except (dns.exception.DNSException, OSError) as exc:
            logger.info("DNS %s %s: %s", kind, name, type(exc).__name__)
            return []

    def mx(self, domain: str) -> list[str]:
        found = sorted(self.answers(domain, "MX"), key=lambda r: r.preference)
        return [r.exchange.to_text() for r in found]

    def address(self, name: str) -> str | None:
        """Where to connect for ``name``: through our own DNS server when one is named (what it
        says is what is reached), else the system's resolver does it at connect time."""
        if not self.own:
            return name
        found = self.answers(name, "A")
        return found[0].to_text() if found else None


def _fetch(url_host: str, connect_to: str, path: str, *, tls: bool, port: int) -> bytes | None:
    """GET ``path`` from ``url_host`` (connecting to ``connect_to``), or None on any failure."""
    try:
        sock = socket.create_connection((connect_to, port), timeout=TIMEOUT)
    except OSError:
        return None
    try:
        conn: http.client.HTTPConnection
        if tls:
            context = ssl.create_default_context()
            sock = context.wrap_socket(sock, server_hostname=url_host)
            conn = http.client.HTTPSConnection(url_host, port, timeout=TIMEOUT)
        else:
            conn = http.client.HTTPConnection(url_host, port, timeout=TIMEOUT)
        conn.sock = sock  # already connected (to what our resolver said)
        conn.request("GET", path, headers={"Host": url_host, "User-Agent": "primsync"})
        answer = conn.getresponse()
        body = answer.read(256 * 1024)
        conn.close()
        return body if answer.status == 200 else None
    except (OSError, http.client.HTTPException, ssl.SSLError):
        sock.close()
        return None


def parse_autoconfig(document: bytes, address: str) -> Discovery | None:
    """The IMAP server of a Thunderbird autoconfig document (``clientConfig``), or None.

    >>> doc = b'''<clientConfig version="1.1"><emailProvider id="agency.example">
    ... <incomingServer type="imap"><hostname>mail.agency.example</hostname><port>143</port>
    ... <socketType>STARTTLS</socketType><username>%EMAILLOCALPART%</username>
    ... <authentication>password-cleartext</authentication></incomingServer>
    ... </emailProvider></clientConfig>'''
    >>> found = parse_autoconfig(doc, "ana@agency.example")
    >>> found.host, found.port, found.security, found.username, found.auth
    ('mail.agency.example', 143, 'starttls', 'ana', 'password')
    """
    try:
        root = ET.fromstring(document)
    except ET.ParseError:
        return None
    local, _, domain = address.partition("@")
    for server in root.iter("incomingServer"):
        if server.get("type") != "imap":
            continue
        host = (server.findtext("hostname") or "").strip()
        if not host:
            continue
        try:
            port = int((server.findtext("port") or "993").strip())
        except ValueError:
            port = 993
        socket_type = (server.findtext("socketType") or "SSL").strip().upper()
        security = {"SSL": "ssl", "STARTTLS": "starttls", "PLAIN": "none"}.get(socket_type, "ssl")
        username = (
            (server.findtext("username") or "%EMAILADDRESS%")
            .replace("%EMAILADDRESS%", address)
            .replace("%EMAILLOCALPART%", local)
            .replace("%EMAILDOMAIN%", domain)
            .strip()
        )
        methods = [m.text.strip().lower() for m in server.iter("authentication") if m.text]
        auth = "xoauth2" if methods and methods[0] == "oauth2" else "password"
        return Discovery("", host=host, port=port, security=security, username=username, auth=auth)
    return None


def discover(address: str) -> Discovery | None:
    """The provider or IMAP server of ``address``'s domain, and how it was found; None if
    neither the MX records nor an autoconfig document say."""
    domain = address.rpartition("@")[2].strip().lower().rstrip(".")
    resolver = _Resolver()
    exchangers = resolver.mx(domain)
    known = provider_of_mx(exchangers)
    if known is not None:
        preset, whose = known
        words = next(w for _, p, _, w in _MX if p == preset)
        return Discovery(f"MX of {domain} is {whose}: {words}", preset=preset)
    query = "?emailaddress=" + quote(address, safe="@")
    places = [
        (f"autoconfig.{domain}", "/mail/config-v1.1.xml" + query),
        (domain, "/.well-known/autoconfig/mail/config-v1.1.xml"),
    ]
    for tls, port in ((True, 443), (False, 80)):
        for host, path in places:
            connect_to = resolver.address(host)
            if connect_to is None:
                continue
            document = _fetch(host, connect_to, path, tls=tls, port=port)
            found = parse_autoconfig(document, address) if document else None
            if found is None:
                continue
            url = f"{'https' if tls else 'http'}://{host}{path.partition('?')[0]}"
            from primsync.accounts import preset_for_host

            return Discovery(
                f"autoconfig of {domain} ({url}): {found.host}:{found.port} ({found.security})",
                preset=preset_for_host(found.host or ""),
                host=found.host,
                port=found.port,
                security=found.security,
                username=found.username,
                auth=found.auth,
            )
    return None
