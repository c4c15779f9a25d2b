"""Mail accounts: how to reach one (host, port, security, login), without any secret.

This module sits below both the IMAP side (``imap.py`` connects with these settings) and the
database side (``db/queries.py`` reads them from ``mail_account``), and imports neither.

>>> ConnectionSettings(address="ana@agency.example", host="imap.agency.example", port=993,
...                    username="ana").security
'ssl'
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConnectionSettings"]


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
