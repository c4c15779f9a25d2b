"""Where an account's secret comes from: keyring → environment → prompt. Never stored, never shown.

>>> os.environ["PRIMSYNC_PASSWORD"] = "example"         # doctest: +SKIP
>>> resolve_secret("ana@agency.example", auth="password")  # doctest: +SKIP
'example'
"""

from __future__ import annotations

import os
from collections.abc import Callable

from primsync.errors import ConfigurationError

__all__ = ["KEYRING_SERVICE", "resolve_secret"]

KEYRING_SERVICE = "primsync"


def _from_keyring(address: str) -> str | None:
    try:
        import keyring

        return keyring.get_password(KEYRING_SERVICE, address)
    except Exception:  # no backend on a headless machine, locked keychain, ...
        return None


def resolve_secret(
    address: str,
    *,
    auth: str = "password",
    prompt: Callable[[str], str] | None = None,
) -> str:
    """The password (or, for ``xoauth2``, the access token) of the account ``address``.

    Looked up in the system keyring (service ``primsync``, user name = the address), then in
    ``$PRIMSYNC_PASSWORD`` (``$PRIMSYNC_TOKEN`` for xoauth2), then asked through ``prompt``
    (``getpass`` in a notebook, standard input with ``--password-stdin``).
    """
    secret = _from_keyring(address)
    if secret:
        return secret
    variable = "PRIMSYNC_TOKEN" if auth == "xoauth2" else "PRIMSYNC_PASSWORD"
    secret = os.environ.get(variable)
    if secret:
        return secret
    what = "access token" if auth == "xoauth2" else "password"
    if prompt is not None:
        secret = prompt(f"{what} for {address}: ")
        if secret:
            return secret
    raise ConfigurationError(
        f"no {what}: store it in the keyring (service {KEYRING_SERVICE!r}, user {address!r}), "
        f"set ${variable}, or give it on standard input (--password-stdin)",
        account=address,
    )
