"""Where an account's secret comes from: keyring → environment → prompt. Never stored, never shown.

>>> os.environ["PRIMSYNC_PASSWORD"] = "example"         # doctest: +SKIP
>>> resolve_secret("ana@agency.example", auth="password")  # doctest: +SKIP
'example'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from primsync.errors import ConfigurationError

__all__ = [
    "KEYRING_SERVICE",
    "forget_password",
    "resolve_secret",
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
