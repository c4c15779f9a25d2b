"""OAuth2 sign-in that lasts, for Gmail and Microsoft 365 / Outlook.com (IMAP with XOAUTH2).

``primsync login ADDRESS`` (or the notebook's Sign in button) signs the user in once:

- Microsoft: an ``msal`` public client, device-code flow (a link and a code to type), scope
  ``https://outlook.office.com/IMAP.AccessAsUser.All`` (MSAL adds ``offline_access`` itself);
- Google: ``google-auth-oauthlib``'s installed-app flow, PKCE, a redirect to a server on
  loopback (the address to open is shown), scope ``https://mail.google.com/``.

What lasts is kept in the system keyring (service ``primsync``, user ``oauth:ADDRESS``): MSAL's
token cache, or Google's refresh token. Never in the database, a log or a notebook. Every run
(review, import, sync, notebook) builds a token provider from it (:func:`stored_provider`): a
fresh access token by itself, refreshed once when the server refuses one. A revoked or expired
consent is an :class:`~primsync.errors.AuthenticationError` that says to sign in again.

The organisation's own app registration is configuration, in the environment:

- ``PRIMSYNC_MS_CLIENT_ID`` (required for Microsoft), ``PRIMSYNC_MS_TENANT`` (default
  ``organizations``), ``PRIMSYNC_MS_AUTHORITY`` (default
  ``https://login.microsoftonline.com/<tenant>``; another host, such as a sovereign cloud,
  skips Microsoft's instance discovery);
- ``PRIMSYNC_GOOGLE_CLIENT_SECRETS``: the path of the "Desktop app" OAuth client's JSON file.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from primsync.credentials import load_sign_in, save_sign_in, system_keyring
from primsync.errors import AuthenticationError, ConfigurationError
from primsync.oauth import OUTLOOK_IMAP_SCOPE, AccessToken

__all__ = [
    "GMAIL_SCOPE",
    "LOGIN_TIMEOUT",
    "SignInUnreachable",
    "certificate_problem",
    "OAuthConfig",
    "has_sign_in",
    "sign_in",
    "stored_provider",
]

GMAIL_SCOPE = "https://mail.google.com/"
LOGIN_TIMEOUT = 300.0  # seconds a person has to sign in before `primsync login` gives up
_MICROSOFT_HOSTS = ("login.microsoftonline.com",)


def _again(address: str) -> str:
    return f"run `primsync login {address}` again"


def _expired(address: str) -> AuthenticationError:
    """What a run says when the provider refuses the stored sign-in (revoked, expired)."""
    return AuthenticationError(
        f"the sign-in was revoked or has expired: {_again(address)}", account=address
    )


@dataclass(frozen=True)
class OAuthConfig:
    """The organisation's app registration (see the module's docstring)."""

    microsoft_client_id: str | None = None
    microsoft_authority: str = "https://login.microsoftonline.com/organizations"
    google_client_secrets: str | None = None

    @classmethod
    def from_env(cls) -> OAuthConfig:
        tenant = os.environ.get("PRIMSYNC_MS_TENANT") or "organizations"
        return cls(
            microsoft_client_id=os.environ.get("PRIMSYNC_MS_CLIENT_ID") or None,
            microsoft_authority=os.environ.get("PRIMSYNC_MS_AUTHORITY")
            or f"https://login.microsoftonline.com/{tenant}",
            google_client_secrets=os.environ.get("PRIMSYNC_GOOGLE_CLIENT_SECRETS") or None,
        )

    def google_client(self) -> dict[str, Any]:
        """The ``installed`` section of the Google client secrets file."""
        if not self.google_client_secrets:
            raise ConfigurationError(
                "set PRIMSYNC_GOOGLE_CLIENT_SECRETS to your organisation's Google OAuth client "
                "file (README: Connect your mailbox)"
            )
        try:
            data = json.loads(open(self.google_client_secrets, encoding="utf-8").read())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"cannot read the Google client secrets file {self.google_client_secrets} "
                f"({type(exc).__name__})"
            ) from exc
        client = data.get("installed") or data.get("web")
        if not isinstance(client, dict) or "client_id" not in client:
            raise ConfigurationError(
                f"{self.google_client_secrets} is not a Google OAuth client file "
                "(no installed.client_id)"
            )
        return client


def has_sign_in(address: str) -> bool:
    """Whether ``primsync login`` has stored a sign-in for ``address``."""
    return load_sign_in(address) is not None


# --- the sign-in service's network ------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps (causes, contexts, urllib3's ``reason``, exceptions in args)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.append(current)
        nested = [current.__cause__, current.__context__, getattr(current, "reason", None)]
        nested += [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        todo += [e for e in nested if isinstance(e, BaseException)]
    return seen


def _host(exc: BaseException, fallback: str) -> str:
    """The host:port the failed request went to, read from the exception, else ``fallback``."""
    from urllib.parse import urlsplit

    for current in _chain(exc):
        url = getattr(getattr(current, "request", None), "url", None) or getattr(
            current, "url", None
        )
        if isinstance(url, str) and "://" in url:
            parts = urlsplit(url)
            return parts.netloc or fallback
        pool = getattr(current, "pool", None)
        if pool is not None and getattr(pool, "host", None):
            return f"{pool.host}:{pool.port}"
    return fallback


def certificate_problem(exc: BaseException) -> str | None:
    """Why a certificate was refused ("Missing Authority Key Identifier"...), when it was."""
    import ssl

    for current in _chain(exc):
        if isinstance(current, ssl.SSLCertVerificationError):
            return str(current.verify_message or current.reason or "not trusted")
    return None


class SignInUnreachable(AuthenticationError):
    """The sign-in service could not be reached, or its certificate verified (exit code 3)."""


@contextlib.contextmanager
def _service(address: str, service: str, host: str) -> Any:
    """Failures to reach the sign-in service (down, refused, its certificate not trusted) as
    one line (:class:`AuthenticationError`, exit code 3) naming it, never a traceback."""
    import requests

    try:
        yield
    except requests.exceptions.RequestException as exc:
        where = _host(exc, host)
        reason = certificate_problem(exc)
        if reason is not None:
            raise SignInUnreachable(
                f"the certificate of {service} ({where}) cannot be verified: {reason}; give its "
                "CA with REQUESTS_CA_BUNDLE=FILE (a TLS-inspecting proxy's, a private one's)",
                account=address,
            ) from None
        raise SignInUnreachable(
            f"{service} cannot be reached ({where}: {type(exc).__name__}); try again later",
            account=address,
        ) from None


def _authority_host(config: OAuthConfig) -> str:
    return config.microsoft_authority.split("/")[2]


# --- Microsoft -----------------------------------------------------------------------------


def _msal_app(config: OAuthConfig, cache: Any) -> Any:
    import msal

    if not config.microsoft_client_id:
        raise ConfigurationError(
            "set PRIMSYNC_MS_CLIENT_ID to your organisation's app registration "
            "(README: Connect your mailbox)"
        )
    host = config.microsoft_authority.split("/")[2]
    return msal.PublicClientApplication(
        config.microsoft_client_id,
        authority=config.microsoft_authority,
        token_cache=cache,
        instance_discovery=host in _MICROSOFT_HOSTS,
    )


def _from_msal(result: dict[str, Any]) -> AccessToken:
    expires = datetime.now(UTC) + timedelta(seconds=int(result.get("expires_in", 0)))
    return AccessToken(result["access_token"], expires)


def _microsoft_sign_in(
    address: str, config: OAuthConfig, show: Callable[[str], None], timeout: float
) -> AccessToken:
    import time

    import msal

    cache = msal.SerializableTokenCache()
    with _service(address, "Microsoft's sign-in service", _authority_host(config)):
        app = _msal_app(config, cache)
        flow = app.initiate_device_flow(scopes=[OUTLOOK_IMAP_SCOPE])
    if "user_code" not in flow:
        raise AuthenticationError(
            f"Microsoft refused to start the sign-in ({flow.get('error', 'no device code')})",
            account=address,
        )
    show(
        flow.get("message")
        or f"Open {flow.get('verification_uri', 'the sign-in page')} and type the code "
        f"{flow['user_code']}"
    )
    deadline = time.monotonic() + timeout
    with _service(address, "Microsoft's sign-in service", _authority_host(config)):
        result = app.acquire_token_by_device_flow(
            flow,
            exit_condition=lambda flow: (
                time.monotonic() > deadline or flow.get("expires_at", float("inf")) < time.time()
            ),
        )
    if "access_token" not in result:
        if result.get("error") in ("authorization_pending", "slow_down"):
            raise AuthenticationError(
                f"no sign-in within {timeout:g} seconds: run `primsync login {address}` again "
                "(--timeout gives more time)",
                account=address,
            )
        raise AuthenticationError(
            f"the sign-in did not complete ({result.get('error', 'no token')})", account=address
        )
    if not app.get_accounts():  # no ID token: nothing the next run could refresh with
        raise AuthenticationError(
            "Microsoft's answer carried no ID token, so the sign-in cannot be kept: check that "
            "the app registration allows the openid and offline_access scopes, then run "
            f"`primsync login {address}` again",
            account=address,
        )
    save_sign_in(address, {"provider": "outlook", "msal_cache": cache.serialize()})
    return _from_msal(result)


class _MsalProvider:
    """Access tokens from the stored MSAL cache, written back when MSAL changes it."""

    def __init__(self, address: str, config: OAuthConfig, stored: dict[str, Any]):
        import msal

        self.address, self.cache = address, msal.SerializableTokenCache()
        self.cache.deserialize(stored["msal_cache"])
        self.host = _authority_host(config)
        self.app: Any = None
        self.unreachable: SignInUnreachable | None = None
        try:
            with _service(address, "Microsoft's sign-in service", self.host):
                self.app = _msal_app(config, self.cache)  # asks the authority: the network
        except SignInUnreachable as exc:  # a short outage: the cached token may still serve
            self.unreachable = exc

    def _cached(self) -> AccessToken | None:
        """The cache's access token for IMAP while it is valid for another minute (what a run
        uses while the sign-in service is out of reach)."""
        entries = json.loads(self.cache.serialize()).get("AccessToken", {}).values()
        now = datetime.now(UTC).timestamp()
        for entry in entries:
            scopes = str(entry.get("target", "")).lower().split()
            expires = int(entry.get("expires_on", 0) or 0)
            if OUTLOOK_IMAP_SCOPE.lower() in scopes and expires > now + 60:
                return AccessToken(entry["secret"], datetime.fromtimestamp(expires, UTC))
        return None

    def _offline(self, exc: SignInUnreachable, force_refresh: bool) -> AccessToken:
        cached = None if force_refresh else self._cached()
        if cached is None:
            raise exc
        return cached

    def access_token(self, *, force_refresh: bool = False) -> AccessToken:
        if self.app is None:
            assert self.unreachable is not None
            return self._offline(self.unreachable, force_refresh)
        accounts = self.app.get_accounts()
        result = None
        if accounts:
            try:
                with _service(self.address, "Microsoft's sign-in service", self.host):
                    result = self.app.acquire_token_silent_with_error(
                        [OUTLOOK_IMAP_SCOPE], account=accounts[0], force_refresh=force_refresh
                    )
            except SignInUnreachable as exc:
                return self._offline(exc, force_refresh)
        if not result or "access_token" not in result:
            raise _expired(self.address)
        if self.cache.has_state_changed:
            save_sign_in(
                self.address, {"provider": "outlook", "msal_cache": self.cache.serialize()}
            )
        return _from_msal(result)


# --- Google --------------------------------------------------------------------------------


def _google_sign_in(
    address: str, config: OAuthConfig, show: Callable[[str], None], timeout: float
) -> AccessToken:
    from google_auth_oauthlib.flow import InstalledAppFlow, WSGITimeoutError
    from oauthlib.oauth2.rfc6749.errors import OAuth2Error

    client = config.google_client()
    flow = InstalledAppFlow.from_client_config({"installed": client}, scopes=[GMAIL_SCOPE])
    token_host = client.get("token_uri", "https://oauth2.googleapis.com/token").split("/")[2]

    original = sys.stdout

    class _Shown(io.StringIO):  # run_local_server prints the address to open: to ``show``
        def write(self, text: str) -> int:
            if text.strip():
                with contextlib.redirect_stdout(original):  # ``show`` may print
                    show(text.strip())
            return len(text)

    try:
        with (
            _service(address, "Google's sign-in service", token_host),
            contextlib.redirect_stdout(_Shown()),
        ):
            credentials = flow.run_local_server(
                host="localhost",
                port=0,
                open_browser=False,
                authorization_prompt_message="Open this address in a browser and allow access: "
                "{url}",
                success_message="primsync is signed in. You can close this tab.",
                timeout_seconds=timeout,
            )
    except OAuth2Error as exc:  # what the person or the provider answered: denied, a state
        # that does not match (refused, rightly), an expired code
        raise AuthenticationError(
            f"Google's sign-in ended without access ({exc.error}"
            + (f": {exc.description}" if exc.description else "")
            + f"): run `primsync login {address}` again",
            account=address,
        ) from None
    except WSGITimeoutError:
        raise AuthenticationError(
            f"the browser did not come back within {timeout:g} seconds: run `primsync login "
            f"{address}` again (--timeout gives more time)",
            account=address,
        ) from None
    if not credentials.refresh_token:
        raise AuthenticationError("Google gave no refresh token", account=address)
    save_sign_in(address, _google_stored(credentials))
    return _google_token(credentials)


def _google_stored(credentials: Any) -> dict[str, Any]:
    """What the keyring keeps of a Google sign-in: the refresh token, and the current access
    token with its end (a run uses it while Google's token endpoint is out of reach)."""
    token = _google_token(credentials)
    return {
        "provider": "gmail",
        "refresh_token": credentials.refresh_token,
        "access_token": token.token,
        "expires_at": token.expires_at.isoformat() if token.expires_at else None,
    }


def _google_token(credentials: Any) -> AccessToken:
    expiry = credentials.expiry
    if expiry is not None and expiry.tzinfo is None:
        expiry = expiry.replace(tzinfo=UTC)  # google-auth keeps naive UTC datetimes
    return AccessToken(credentials.token, expiry)


def google_unreachable(address: str, token_uri: str, exc: BaseException) -> SignInUnreachable:
    """Google's token endpoint out of reach, or its certificate not trusted, in one line."""
    where = token_uri.split("/")[2]
    reason = certificate_problem(exc)
    return SignInUnreachable(
        f"the certificate of Google's token endpoint ({where}) cannot be verified: {reason}; "
        "give its CA with REQUESTS_CA_BUNDLE=FILE"
        if reason
        else f"Google's token endpoint could not be reached ({where}: {type(exc).__name__})",
        account=address,
    )


class _GoogleProvider:
    """Access tokens refreshed with the stored refresh token, at the token endpoint of the
    organisation's client secrets file (configuration, not the keyring)."""

    def __init__(self, address: str, config: OAuthConfig, stored: dict[str, Any]):
        from google.oauth2.credentials import Credentials

        client = config.google_client()
        self.address = address
        expiry = None
        if stored.get("access_token") and stored.get("expires_at"):
            # google-auth compares naive UTC datetimes
            expiry = datetime.fromisoformat(stored["expires_at"]).astimezone(UTC)
            expiry = expiry.replace(tzinfo=None)
        self.credentials = Credentials(
            token=stored.get("access_token") if expiry else None,
            expiry=expiry,
            refresh_token=stored["refresh_token"],
            token_uri=client.get("token_uri", "https://oauth2.googleapis.com/token"),
            client_id=client["client_id"],
            client_secret=client.get("client_secret"),
            scopes=[GMAIL_SCOPE],
        )

    def access_token(self, *, force_refresh: bool = False) -> AccessToken:
        from google.auth.exceptions import RefreshError, TransportError
        from google.auth.transport.requests import Request

        if force_refresh or not self.credentials.valid:
            try:
                self.credentials.refresh(Request())
            except RefreshError as exc:
                raise _expired(self.address) from exc
            except TransportError as exc:
                raise google_unreachable(self.address, self.credentials.token_uri, exc) from exc
            save_sign_in(self.address, _google_stored(self.credentials))
        return _google_token(self.credentials)


# --- what the rest of primsync calls ------------------------------------------------------


def sign_in(
    address: str,
    provider: str,
    *,
    show: Callable[[str], None] = print,
    config: OAuthConfig | None = None,
    timeout: float = LOGIN_TIMEOUT,
) -> AccessToken:
    """Sign ``address`` in with its provider ("gmail" or "outlook", as ``mail_account``
    records it) and keep what lasts in the keyring; ``show`` receives what the user must
    open or type. Returns the first access token. The user has ``timeout`` seconds to sign
    in (the browser's redirect, the device code typed); then :class:`AuthenticationError`."""
    config = config or OAuthConfig.from_env()
    system_keyring()  # say there is no keyring before the user signs in, not after
    if provider == "outlook":
        return _microsoft_sign_in(address, config, show, timeout)
    if provider == "gmail":
        return _google_sign_in(address, config, show, timeout)
    raise ConfigurationError(
        f"sign-in is for Gmail and Microsoft 365 accounts; {address} is a {provider} account "
        "(its password comes from the keyring, $PRIMSYNC_PASSWORD or --password-stdin)",
        account=address,
    )


def stored_provider(address: str, *, config: OAuthConfig | None = None) -> Any | None:
    """A token provider for ``address`` from its stored sign-in, or None if it never signed
    in (or there is no keyring)."""
    stored = load_sign_in(address)
    if stored is None:
        return None
    key = (address.strip().lower(), json.dumps(stored, sort_keys=True))
    known = _PROVIDERS.get(key[0])
    if known is not None and known[0] == key[1]:
        return known[1]  # one provider a process: its access token serves every connection
    config = config or OAuthConfig.from_env()
    provider: _MsalProvider | _GoogleProvider
    name = str(stored.get("provider"))
    kind = _STORED_BEFORE.get(name, name)
    if kind == "outlook":
        provider = _MsalProvider(address, config, stored)
    elif kind == "gmail":
        provider = _GoogleProvider(address, config, stored)
    else:
        raise AuthenticationError(
            f"the stored sign-in is not readable: {_again(address)}", account=address
        )
    _PROVIDERS[key[0]] = (key[1], provider)
    return provider


_PROVIDERS: dict[str, tuple[str, Any]] = {}  # address -> (its stored sign-in, its provider)
# what sign-ins kept before a provider had one name everywhere (mail_account.provider's)
_STORED_BEFORE = {"microsoft": "outlook", "google": "gmail"}
