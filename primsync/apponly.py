"""App-only sign-in: the organisation consents once, and every mailbox is read without its
owner signing in (an account registered with ``--auth app``).

- **Microsoft 365**: the app registration's client credentials (msal's
  ``ConfidentialClientApplication``, scope ``https://outlook.office365.com/.default``) with a
  client secret (``$PRIMSYNC_MS_CLIENT_SECRET``) or a certificate (``$PRIMSYNC_MS_CLIENT_
  CERTIFICATE``: a PEM file holding its private key and certificate); Exchange lets the app
  into the mailboxes an administrator gave it (README: App-only access).
- **Google Workspace**: a service account with domain-wide delegation
  (``$PRIMSYNC_GOOGLE_SERVICE_ACCOUNT``: its JSON key file), acting as each mailbox
  (google-auth's ``with_subject``, scope ``https://mail.google.com/``).

The secret, the certificate's key and the service account's key stay in the files and the
environment the administrator configured: never in the database, a log or a notebook.

>>> provider = app_token_provider("ana@contoso.com", "outlook")        # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from primsync.errors import AuthenticationError, ConfigurationError
from primsync.oauth import AccessToken
from primsync.signin import (
    _MICROSOFT_HOSTS,
    GMAIL_SCOPE,
    OAuthConfig,
    _service,
    google_unreachable,
)

__all__ = ["OUTLOOK_APP_SCOPE", "AppOnlyConfig", "app_token_provider"]

OUTLOOK_APP_SCOPE = "https://outlook.office365.com/.default"


@dataclass(frozen=True)
class AppOnlyConfig:
    """Where the organisation's app credentials are (configuration, never the database)."""

    oauth: OAuthConfig
    microsoft_secret: str | None = None
    microsoft_certificate: str | None = None  # a PEM file: private key and certificate
    google_service_account: str | None = None  # the service account's JSON key file

    @classmethod
    def from_env(cls) -> AppOnlyConfig:
        return cls(
            oauth=OAuthConfig.from_env(),
            microsoft_secret=os.environ.get("PRIMSYNC_MS_CLIENT_SECRET") or None,
            microsoft_certificate=os.environ.get("PRIMSYNC_MS_CLIENT_CERTIFICATE") or None,
            google_service_account=os.environ.get("PRIMSYNC_GOOGLE_SERVICE_ACCOUNT") or None,
        )


def _certificate_credential(path: str) -> dict[str, str]:
    """msal's certificate credential from a PEM file holding the key and the certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    try:
        pem = Path(path).read_bytes()
        certificate = x509.load_pem_x509_certificate(pem)
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"PRIMSYNC_MS_CLIENT_CERTIFICATE ({path}) is not a readable PEM file with the "
            f"app's certificate and private key ({type(exc).__name__})"
        ) from None
    if b"PRIVATE KEY-----" not in pem:
        raise ConfigurationError(
            f"PRIMSYNC_MS_CLIENT_CERTIFICATE ({path}) holds no private key: put the key and "
            "the certificate in one PEM file"
        )
    der = certificate.public_bytes(Encoding.DER)
    return {
        "private_key": pem.decode(),
        "thumbprint": hashlib.sha1(der, usedforsecurity=False).hexdigest(),
        "public_certificate": certificate.public_bytes(Encoding.PEM).decode(),
    }


class MicrosoftAppProvider:
    """Access tokens of the app itself (client credentials), for any mailbox it may open."""

    def __init__(self, address: str, config: AppOnlyConfig):
        import msal

        oauth = config.oauth
        if not oauth.microsoft_client_id:
            raise ConfigurationError(
                "set PRIMSYNC_MS_CLIENT_ID to the app registration's id (README: App-only access)",
                account=address,
            )
        if config.microsoft_certificate:
            credential: Any = _certificate_credential(config.microsoft_certificate)
        elif config.microsoft_secret:
            credential = config.microsoft_secret
        else:
            raise ConfigurationError(
                "an app-only Microsoft 365 account needs the app's credential: set "
                "PRIMSYNC_MS_CLIENT_CERTIFICATE (a PEM file) or PRIMSYNC_MS_CLIENT_SECRET",
                account=address,
            )
        self.address = address
        self.host = oauth.microsoft_authority.split("/")[2]
        with _service(address, "Microsoft's sign-in service", self.host):
            self.app = msal.ConfidentialClientApplication(
                oauth.microsoft_client_id,
                client_credential=credential,
                authority=oauth.microsoft_authority,
                instance_discovery=self.host in _MICROSOFT_HOSTS,
            )

    def access_token(self, *, force_refresh: bool = False) -> AccessToken:
        if force_refresh:  # the server refused the last one: ask for a new one
            self.app.remove_tokens_for_client()
        with _service(self.address, "Microsoft's sign-in service", self.host):
            result = self.app.acquire_token_for_client(scopes=[OUTLOOK_APP_SCOPE])
        if "access_token" not in result:
            words = str(result.get("error_description") or result.get("error") or "no token")
            raise AuthenticationError(
                f"Microsoft refused the app's sign-in: {words.splitlines()[0][:200]} (check "
                "PRIMSYNC_MS_CLIENT_ID and the app's secret or certificate)",
                account=self.address,
            )
        expires = datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in", 0)))
        return AccessToken(result["access_token"], expires)


class GoogleServiceAccountProvider:
    """Access tokens of a service account acting as the mailbox (domain-wide delegation)."""

    def __init__(self, address: str, config: AppOnlyConfig):
        from google.oauth2 import service_account

        if not config.google_service_account:
            raise ConfigurationError(
                "an app-only Google Workspace account needs the service account's key: set "
                "PRIMSYNC_GOOGLE_SERVICE_ACCOUNT to its JSON key file (README: App-only access)",
                account=address,
            )
        try:
            credentials = service_account.Credentials.from_service_account_file(
                config.google_service_account, scopes=[GMAIL_SCOPE]
            )
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"PRIMSYNC_GOOGLE_SERVICE_ACCOUNT ({config.google_service_account}) is not a "
                f"service account's JSON key file ({type(exc).__name__})",
                account=address,
            ) from None
        self.address = address
        self.credentials = credentials.with_subject(address)

    def access_token(self, *, force_refresh: bool = False) -> AccessToken:
        from google.auth.exceptions import RefreshError, TransportError
        from google.auth.transport.requests import Request

        if force_refresh or not self.credentials.valid:
            try:
                self.credentials.refresh(Request())
            except RefreshError as exc:
                words = str(exc.args[0] if exc.args else exc).splitlines()[0][:200]
                raise AuthenticationError(
                    f"Google refused the service account's token for {self.address}: {words} "
                    "(is domain-wide delegation granted for https://mail.google.com/?)",
                    account=self.address,
                ) from None
            except TransportError as exc:
                uri = self.credentials._token_uri
                raise google_unreachable(self.address, uri, exc) from None
        expiry = self.credentials.expiry
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)
        return AccessToken(self.credentials.token, expiry)


def app_token_provider(
    address: str, provider: str, *, config: AppOnlyConfig | None = None
) -> MicrosoftAppProvider | GoogleServiceAccountProvider:
    """The token provider of an app-only account: Microsoft 365 (``outlook``) or Google
    Workspace (``gmail``)."""
    config = config or AppOnlyConfig.from_env()
    if provider == "outlook":
        return MicrosoftAppProvider(address, config)
    if provider == "gmail":
        return GoogleServiceAccountProvider(address, config)
    raise ConfigurationError(
        f"app-only access (--auth app) is for Microsoft 365 and Google Workspace accounts; "
        f"{address} is {provider!r}",
        account=address,
    )
