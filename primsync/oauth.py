"""OAuth2 (XOAUTH2) access tokens: what a token provider is (``TokenProvider``: anything with
``access_token(force_refresh=...)``) and how a connection asks one (``token_source``). The
token is refreshed once when the server refuses it.

The providers themselves, one per provider, are ``primsync.signin``'s (a user's sign-in, from
the keyring) and ``primsync.apponly``'s (the organisation's app-only access); a notebook may pass
its own:

>>> provider = stored_provider("ana@agency.example")                     # doctest: +SKIP
>>> review_mailbox(engine, "ana@agency.example", ["INBOX"], secret=provider)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

__all__ = ["AccessToken", "TokenProvider", "token_source"]

OUTLOOK_IMAP_SCOPE = "https://outlook.office.com/IMAP.AccessAsUser.All"


@dataclass(frozen=True)
class AccessToken:
    token: str = field(repr=False)
    expires_at: datetime | None = None


@runtime_checkable
class TokenProvider(Protocol):
    """Anything that hands out access tokens, fresh ones on demand."""

    def access_token(self, *, force_refresh: bool = False) -> AccessToken: ...


def token_source(
    provider: TokenProvider, *, on_token: Callable[[AccessToken], None] | None = None
) -> Callable[[bool], str]:
    """The callable ``primsync.imap.connect`` takes: ``refresh`` asks the provider for a new
    token; ``on_token`` hears of each one (to record when it expires)."""

    def source(refresh: bool) -> str:
        token = provider.access_token(force_refresh=refresh)
        if on_token is not None:
            on_token(token)
        return token.token

    return source
