"""OAuth2 (XOAUTH2) access tokens: a small provider protocol, and adapters for MSAL (Microsoft
365) and google-auth (Gmail). The token is refreshed once when the server refuses it.

>>> import msal                                                          # doctest: +SKIP
>>> app = msal.PublicClientApplication(client_id, authority=authority)  # doctest: +SKIP
>>> provider = MsalTokenProvider(app, account=app.get_accounts()[0])    # doctest: +SKIP
>>> review_mailbox(engine, "ana@agency.example", ["INBOX"], secret=provider)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from primsync.errors import AuthenticationError

__all__ = [
    "AccessToken",
    "GoogleTokenProvider",
    "MsalTokenProvider",
    "TokenProvider",
    "token_source",
]

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


class MsalTokenProvider:
    """Microsoft 365 through an MSAL application (``msal.PublicClientApplication`` or
    ``ConfidentialClientApplication``) whose cache holds the user's account."""

    def __init__(
        self, app: Any, *, account: Any = None, scopes: Sequence[str] = (OUTLOOK_IMAP_SCOPE,)
    ):
        self.app, self.account, self.scopes = app, account, list(scopes)

    def access_token(self, *, force_refresh: bool = False) -> AccessToken:
        result = self.app.acquire_token_silent(
            self.scopes, account=self.account, force_refresh=force_refresh
        )
        if not result or "access_token" not in result:
            why = (result or {}).get("error_description") or (result or {}).get("error")
            raise AuthenticationError(
                f"Microsoft 365 gave no access token ({why or 'sign in again'})"
            )
        expires = datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in", 0)))
        return AccessToken(result["access_token"], expires)


class GoogleTokenProvider:
    """Gmail through google-auth credentials (``google.oauth2.credentials.Credentials``)."""

    def __init__(self, credentials: Any, *, request: Any = None):
        self.credentials, self.request = credentials, request

    def access_token(self, *, force_refresh: bool = False) -> AccessToken:
        creds = self.credentials
        if force_refresh or not creds.valid:
            request = self.request
            if request is None:
                from google.auth.transport.requests import Request

                request = Request()
            try:
                creds.refresh(request)
            except Exception as exc:  # google.auth.exceptions.RefreshError and transport errors
                raise AuthenticationError(
                    f"Google refused to refresh the token ({type(exc).__name__})"
                ) from exc
        expiry = creds.expiry
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)  # google-auth keeps naive UTC datetimes
        return AccessToken(creds.token, expiry)
