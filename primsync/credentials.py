"""Where an account's secret comes from: keyring → environment → prompt. Never stored, never shown.

>>> os.environ["PRIMSYNC_PASSWORD"] = "example"         # doctest: +SKIP
>>> resolve_secret("ana@agency.example", auth="password")  # doctest: +SKIP
'example'
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from primsync.errors import ConfigurationError

__all__ = ["KEYRING_SERVICE", "resolve_secret"]

KEYRING_SERVICE = "primsync"
logger = logging.getLogger("primsync.credentials")


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
        + f": store it in the keyring (service {KEYRING_SERVICE!r}, user {address!r}), "
        f"set ${variable}, or give it on standard input (--password-stdin)",
        account=address,
    )
