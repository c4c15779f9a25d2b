"""Mail accounts: how to reach one (host, port, security, login) without any secret, and the
presets that fill those in for Gmail, Microsoft 365 / Outlook.com and the common providers.

This module sits below both the IMAP side (``imap.py`` connects with these settings) and the
database side (``db/accounts.py`` reads and writes them in ``mail_account``), and imports
neither.

>>> settings, provider, note = account_settings("ana@gmail.com")
>>> settings.host, settings.port, settings.security, settings.auth, provider
('imap.gmail.com', 993, 'ssl', 'xoauth2', 'gmail')
>>> account_settings("ana@agency.example", provider="imap", host="mail.agency.example")[0].port
993
>>> settings, provider, _ = account_settings("ana@agency.com", host="outlook.office365.com")
>>> provider, settings.auth
('outlook', 'xoauth2')
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass, replace

from primsync.errors import ConfigurationError

__all__ = [
    "AUTHS",
    "OAUTH_AUTHS",
    "PRESETS",
    "SECURITIES",
    "ConnectionSettings",
    "Preset",
    "account_settings",
    "guess_provider",
    "is_loopback",
    "preset_for_host",
    "provider_for_host",
]

SECURITIES = ("ssl", "starttls", "none")
AUTHS = ("password", "xoauth2", "app")
# the auths that log in with XOAUTH2: a person's sign-in (xoauth2) or the app's own (app)
OAUTH_AUTHS = ("xoauth2", "app")


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """How to reach one mail account (a ``mail_account`` row, without any secret)."""

    address: str
    host: str
    port: int
    username: str
    security: str = "ssl"
    auth: str = "password"
    ca_file: str | None = None
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Preset:
    """A provider's IMAP settings; ``stored`` is what ``mail_account.provider`` records."""

    stored: str
    host: str
    port: int = 993
    security: str = "ssl"
    auth: str = "password"
    note: str = ""


_APP_PASSWORD = "an app password (made in the provider's security settings), not your usual one"
PRESETS: dict[str, Preset] = {
    "gmail": Preset(
        "gmail",
        "imap.gmail.com",
        auth="xoauth2",
        note="sign in with `primsync login ADDRESS` (or use an app password: --auth password)",
    ),
    "outlook": Preset(
        "outlook",
        "outlook.office365.com",
        auth="xoauth2",
        note="Microsoft 365 and Outlook.com take no passwords over IMAP: "
        "sign in with `primsync login ADDRESS`",
    ),
    "yahoo": Preset("imap", "imap.mail.yahoo.com", note=_APP_PASSWORD),
    "icloud": Preset("imap", "imap.mail.me.com", note="an app-specific password"),
    "fastmail": Preset("imap", "imap.fastmail.com", note=_APP_PASSWORD),
    "gmx": Preset("imap", "imap.gmx.net", note="allow IMAP in GMX's settings first"),
    "zoho": Preset("imap", "imap.zoho.com", note="allow IMAP in Zoho Mail's settings first"),
    "ovh": Preset("imap", "ssl0.ovh.net"),
    "aol": Preset("imap", "imap.aol.com", note=_APP_PASSWORD),
}
_ALIASES = {
    "google": "gmail",
    "microsoft": "outlook",
    "office365": "outlook",
    "m365": "outlook",
    "hotmail": "outlook",
    "me": "icloud",
}
_DOMAINS = {
    "gmail.com": "gmail",
    "googlemail.com": "gmail",
    "outlook.com": "outlook",
    "hotmail.com": "outlook",
    "live.com": "outlook",
    "msn.com": "outlook",
    "outlook.fr": "outlook",
    "hotmail.fr": "outlook",
    "icloud.com": "icloud",
    "me.com": "icloud",
    "mac.com": "icloud",
    "fastmail.com": "fastmail",
    "fastmail.fm": "fastmail",
    "gmx.de": "gmx",
    "gmx.net": "gmx",
    "gmx.com": "gmx",
    "gmx.fr": "gmx",
    "gmx.at": "gmx",
    "zoho.com": "zoho",
    "zohomail.com": "zoho",
    "zoho.eu": "zoho",
    "aol.com": "aol",
    "ymail.com": "yahoo",
}
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
# IMAP hosts of the presets (and their other names): `--host imap.gmail.com` is Gmail
_HOSTS = {preset.host: name for name, preset in PRESETS.items()} | {
    "imap.googlemail.com": "gmail",
    "outlook.office.com": "outlook",
    "imap-mail.outlook.com": "outlook",
    "imap.outlook.com": "outlook",
    "imap.mail.yahoo.co.jp": "yahoo",
}


def preset_for_host(host: str) -> str | None:
    """The preset whose IMAP server ``host`` is, or None.

    >>> preset_for_host("IMAP.Gmail.com."), preset_for_host("mail.agency.example")
    ('gmail', None)
    """
    return _HOSTS.get(host.strip().lower().rstrip("."))


def provider_for_host(host: str) -> str:
    """What ``mail_account.provider`` records for an account on ``host`` (gmail, outlook, imap)."""
    name = preset_for_host(host)
    return PRESETS[name].stored if name else "imap"


def guess_provider(address: str) -> str | None:
    """The preset for an address's domain (``yahoo.*`` included), or None."""
    domain = address.rpartition("@")[2].lower()
    if domain in _DOMAINS:
        return _DOMAINS[domain]
    if domain.startswith("yahoo."):
        return "yahoo"
    return None


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` resolves to is a loopback address."""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addrs = {str(info[4][0]) for info in infos}
    return bool(addrs) and all(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in addrs)


def account_settings(
    address: str,
    *,
    provider: str | None = None,
    host: str | None = None,
    port: int | None = None,
    security: str | None = None,
    username: str | None = None,
    auth: str | None = None,
    ca_file: str | None = None,
) -> tuple[ConnectionSettings, str, str]:
    """(settings, the provider to record, a note for the user) of a new account: the preset
    of ``provider`` (or of the address's domain) filled in, anything given overriding it.
    Raises :class:`ConfigurationError`, in one line, on what a user can type wrong."""
    address = address.strip().lower()
    if not _ADDRESS.match(address):
        raise ConfigurationError(f"not a mail address: {address!r}")
    name = (
        (provider or "").strip().lower()
        or (preset_for_host(host) if host else None)
        or guess_provider(address)
    )
    name = _ALIASES.get(name or "", name)
    if name not in (None, "imap") and name not in PRESETS:
        raise ConfigurationError(
            f"unknown provider {provider!r}; choose one of imap, " + ", ".join(PRESETS)
        )
    preset = PRESETS.get(name or "") or Preset("imap", "")
    if not (host or preset.host):
        raise ConfigurationError(
            f"no preset for {address.rpartition('@')[2]} (nor an MX record or autoconfig "
            "document naming one): give --host (and --port, --security if they are not 993 and "
            "ssl), or --provider"
        )
    chosen = replace(
        preset,
        host=(host or preset.host).strip(),
        port=preset.port if port is None else port,
        security=(security or preset.security).lower(),
        auth=(auth or preset.auth).lower(),
    )
    if not 1 <= chosen.port <= 65535:
        raise ConfigurationError(f"port {chosen.port} is out of range (1 to 65535)")
    if chosen.security not in SECURITIES:
        raise ConfigurationError(
            f"unknown security {security!r}; choose one of " + ", ".join(SECURITIES)
        )
    if chosen.auth not in AUTHS:
        raise ConfigurationError(f"unknown auth {auth!r}; choose one of " + ", ".join(AUTHS))
    if chosen.security == "none" and not is_loopback(chosen.host):
        raise ConfigurationError(
            f"plain IMAP (security none) is refused to {chosen.host}: only a loopback address "
            "may be used without TLS; use ssl or starttls"
        )
    if ca_file is not None and not os.path.isfile(ca_file):
        raise ConfigurationError(f"no CA file at {ca_file}")
    settings = ConnectionSettings(
        address=address,
        host=chosen.host,
        port=chosen.port,
        username=(username or address).strip(),
        security=chosen.security,
        auth=chosen.auth,
        ca_file=ca_file,
    )
    return settings, preset.stored, preset.note
