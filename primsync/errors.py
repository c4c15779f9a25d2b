"""The one error tree of primsync.

    PrimsyncError                  root: catch this to catch everything primsync raises
    ├── ConfigurationError         bad options, unknown account / user / group, missing secret
    ├── AuthenticationError        the server refused the credentials          (exit code 3)
    ├── MailboxError               connection, TLS, protocol or server errors   (exit code 3)
    │   ├── FolderError            a folder that does not exist or cannot be selected
    │   │   └── UidValidityChanged the folder was recreated since the review
    │   └── FetchFailed            the server refused a FETCH (NO / BAD)
    ├── DatabaseError              the database cannot be reached               (exit code 3)
    │   └── SchemaMissing          no database, or not at primsync's schema:
    │                              run `primsync init`                          (exit code 2)
    ├── CommitError                an import could not be written
    ├── PermissionDenied           the user may not do this                     (exit code 4)
    ├── AccountLocked              another sync of the account holds its lock   (exit code 5)
    └── ServiceError               a local program primsync starts (JupyterLab, the demo
                                   mailbox) is missing or failed to start       (exit code 2)

Anything else that reaches the command line or a widget is a bug: ``primsync`` prints one line
(a widget shows it) naming the log file that holds the traceback (:func:`log_unexpected`), and
the command exits with code 1.

Every error carries the account and folder it concerns (when there is one) and never a
password or token: messages are built from those fields, never from library exceptions that
might echo a secret.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "AccountLocked",
    "AuthenticationError",
    "CommitError",
    "ConfigurationError",
    "DatabaseError",
    "FetchFailed",
    "FolderError",
    "MailboxError",
    "PermissionDenied",
    "PrimsyncError",
    "SchemaMissing",
    "ServiceError",
    "UidValidityChanged",
]


class PrimsyncError(Exception):
    """Root of primsync's errors; ``exit_code`` is what the command line returns."""

    exit_code = 1

    def __init__(self, message: str, *, account: str | None = None, folder: str | None = None):
        self.account = account
        self.folder = folder
        where = []
        if account:
            where.append(f"account {account}")
        if folder:
            where.append(f"folder {folder!r}")
        self.message = message
        super().__init__(f"{message} ({', '.join(where)})" if where else message)


class ConfigurationError(PrimsyncError):
    """Options, accounts, users or groups that do not fit together."""

    exit_code = 2


class AuthenticationError(PrimsyncError):
    """The IMAP server refused the login."""

    exit_code = 3


class MailboxError(PrimsyncError):
    """The IMAP server could not be reached or answered with an error."""

    exit_code = 3


class FolderError(MailboxError):
    """A folder does not exist or cannot be selected."""


class FetchFailed(MailboxError):
    """The server answered a FETCH with NO or BAD (or closed the stream in the middle)."""


class UidValidityChanged(FolderError):
    """The folder was recreated (its UIDVALIDITY changed) since it was reviewed: its UIDs now
    name other messages, so the review must be done again."""

    def __init__(self, *, account: str | None, folder: str | None):
        super().__init__(
            "the folder's UIDVALIDITY changed since the review: review it again",
            account=account,
            folder=folder,
        )


class DatabaseError(PrimsyncError):
    """The database could not be reached or answered with an error."""

    exit_code = 3


class SchemaMissing(DatabaseError):
    """No database there, or one without primsync's tables (or at an older schema)."""

    exit_code = 2


class CommitError(PrimsyncError):
    """An import could not be written to the database."""

    exit_code = 1


class PermissionDenied(PrimsyncError):
    """The user's level does not allow this."""

    exit_code = 4


class AccountLocked(PrimsyncError):
    """Another sync of the same account is running (it holds the account's lock)."""

    exit_code = 5


class ServiceError(PrimsyncError):
    """A local program primsync starts (JupyterLab, the demo mailbox) is missing or failed."""

    exit_code = 2


def installed_version() -> str:
    """primsync's version as installed (a log file and ``--version`` name it)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("primsync")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def log_unexpected(where: str) -> Path | None:
    """Write the exception being handled, with its traceback, to a private log file (mode
    0600 under ``$PRIMSYNC_LOG_DIR``, else the temp folder's ``primsync/``); None if it cannot
    be written. ``where``: the command or the widget's action."""
    import logging
    import tempfile
    import traceback

    logging.getLogger("primsync").debug("unexpected error in %s", where, exc_info=True)
    folder = Path(os.environ.get("PRIMSYNC_LOG_DIR") or Path(tempfile.gettempdir()) / "primsync")
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / f"error-{os.getpid()}.log"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(f"primsync {installed_version()} {where}\n{traceback.format_exc()}")
        return path
    except OSError:
        return None


def unexpected_words(exc: BaseException, log: Path | None) -> str:
    """What a person is told of a bug: its kind and where its traceback is."""
    where = f"the traceback is in {log}" if log else "no log file could be written"
    return f"unexpected error ({type(exc).__name__}); {where} — please attach it to a bug report"
