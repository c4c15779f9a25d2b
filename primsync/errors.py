"""The one error tree of primsync.

    PrimsyncError                  root: catch this to catch everything primsync raises
    ├── ConfigurationError         bad options, unknown account / user / group, missing secret
    ├── AuthenticationError        the server refused the credentials          (exit code 3)
    ├── MailboxError               connection, TLS, protocol or server errors   (exit code 3)
    │   └── FolderError            a folder that does not exist or cannot be selected
    ├── CommitError                an import could not be written
    └── PermissionDenied           the user may not do this                     (exit code 4)

Every error carries the account and folder it concerns (when there is one) and never a
password or token: messages are built from those fields, never from library exceptions that
might echo a secret.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "CommitError",
    "ConfigurationError",
    "FolderError",
    "MailboxError",
    "PermissionDenied",
    "PrimsyncError",
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


class CommitError(PrimsyncError):
    """An import could not be written to the database."""

    exit_code = 1


class PermissionDenied(PrimsyncError):
    """The user's level does not allow this."""

    exit_code = 4
