"""Where an account's secret comes from: keyring → environment → prompt. Never stored, never shown.

The one module that reaches the system keyring (service ``primsync``): an account's password
(user: the address) and what a sign-in keeps (user: ``oauth:ADDRESS``, a JSON document written
and read by ``primsync.signin``).

>>> os.environ["PRIMSYNC_PASSWORD"] = "example"         # doctest: +SKIP
>>> resolve_secret("ana@agency.example", auth="password")  # doctest: +SKIP
'example'
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from typing import Any

from primsync.errors import ConfigurationError

__all__ = [
    "KEYRING_SERVICE",
    "forget_password",
    "forget_sign_in",
    "load_sign_in",
    "resolve_secret",
    "save_sign_in",
    "store_password",
    "system_keyring",
]

KEYRING_SERVICE = "primsync"
logger = logging.getLogger("primsync.credentials")


NO_KEYRING = (
    "no usable system keyring: on a desktop, unlock or install one; on a server, `python3 -m "
    "pip install keyrings.alt` and set PYTHON_KEYRING_BACKEND=keyrings.alt.file.PlaintextKeyring"
    " for that user (README: Connect your mailbox)"
)


def system_keyring() -> Any:
    """The ``keyring`` module when a usable backend is there; else :class:`ConfigurationError`
    (one line naming keyrings.alt and PYTHON_KEYRING_BACKEND). The one way primsync reaches
    the keyring to write."""
    try:
        import keyring
        from keyring.backends import fail
    except ImportError as exc:  # pragma: no cover - keyring is a dependency
        raise ConfigurationError("the keyring package is missing") from exc
    try:
        backend = keyring.get_keyring()
    except Exception as exc:  # a PYTHON_KEYRING_BACKEND that names nothing importable
        raise ConfigurationError(f"{NO_KEYRING} ({type(exc).__name__})") from None
    if isinstance(backend, fail.Keyring):
        raise ConfigurationError(NO_KEYRING)
    return keyring


def store_password(address: str, secret: str) -> str:
    """Keep an account's password in the system keyring (service ``primsync``, user the
    address); returns the backend's name, for the user. The secret is never echoed."""
    if not secret:
        raise ConfigurationError("an empty password was given: nothing stored", account=address)
    keyring = system_keyring()
    try:
        keyring.set_password(KEYRING_SERVICE, address.strip().lower(), secret)
    except Exception as exc:  # a locked or broken backend; its message is not shown
        raise ConfigurationError(
            f"the system keyring refused to store the password ({type(exc).__name__})",
            account=address,
        ) from None
    backend = keyring.get_keyring()
    return f"{type(backend).__module__}.{type(backend).__name__}"


def forget_password(address: str) -> bool:
    """Remove an account's password from the keyring; whether there was one. No usable
    keyring: nothing to forget."""
    try:
        keyring = system_keyring()
    except ConfigurationError:
        return False
    key = address.strip().lower()
    try:
        if keyring.get_password(KEYRING_SERVICE, key) is None:
            return False
        keyring.delete_password(KEYRING_SERVICE, key)
    except Exception:  # a backend that cannot delete: the user is told nothing was removed
        logger.warning("the system keyring could not remove the password of %s", key)
        return False
    return True


def _sign_in_key(address: str) -> str:
    return f"oauth:{address.strip().lower()}"


def load_sign_in(address: str) -> dict[str, Any] | None:
    """What ``primsync login`` kept for ``address`` (a JSON document), or None: never signed in,
    or no usable keyring."""
    try:
        raw = system_keyring().get_password(KEYRING_SERVICE, _sign_in_key(address))
    except ConfigurationError:
        return None
    return json.loads(raw) if raw else None


def save_sign_in(address: str, value: dict[str, Any]) -> None:
    """Keep what a sign-in lasts by (a JSON document) in the keyring."""
    system_keyring().set_password(KEYRING_SERVICE, _sign_in_key(address), json.dumps(value))


def forget_sign_in(address: str) -> bool:
    """Remove the stored sign-in of ``address``; whether there was one (no usable keyring:
    :class:`ConfigurationError`, as for signing in)."""
    keyring = system_keyring()
    if keyring.get_password(KEYRING_SERVICE, _sign_in_key(address)) is None:
        return False
    keyring.delete_password(KEYRING_SERVICE, _sign_in_key(address))
    return True


def _from_keyring(address: str) -> tuple[str | None, str | None]:
    """(the keyring's secret, or None; what went wrong with the keyring, or None).

    No keyring at all (a headless server) is normal: the environment comes next. A keyring that
    is there but fails (locked, broken backend) is said, in the log and in the final error."""
    try:
        import keyring
        from keyring.errors import NoKeyringError
    except ImportError:
        return None, None
    try:
        return keyring.get_password(KEYRING_SERVICE, address), None
    except NoKeyringError:
        return None, None
    except Exception as exc:  # any backend's failure; its message could hold anything: not shown
        problem = f"the system keyring failed ({type(exc).__name__})"
        logger.warning("%s for %s; trying the environment next", problem, address)
        return None, problem


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
    secret, keyring_problem = _from_keyring(address)
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
        (f"no {what} ({keyring_problem})" if keyring_problem else f"no {what}")
        + (
            f": run `primsync login {address}`"
            if auth == "xoauth2"
            else f": run `primsync account password {address}`"
        )
        + f", set ${variable}, or give it on standard input (--password-stdin)",
        account=address,
    )
