"""primsync: bring recruiters' and account managers' email into the records of a staffing CRM.

>>> from primsync import open_engine, review_mailbox          # doctest: +SKIP
>>> result = review_mailbox(open_engine(), "ana@agency.example", ["INBOX"], option="7d")
"""

from primsync.db.engine import init_db, open_engine
from primsync.enrich import enrich
from primsync.errors import (
    AccountLocked,
    AuthenticationError,
    CommitError,
    ConfigurationError,
    DatabaseError,
    FetchFailed,
    FolderError,
    MailboxError,
    PermissionDenied,
    PrimsyncError,
    SchemaMissing,
    ServiceError,
)
from primsync.frame import build_frame
from primsync.options import SyncOption, search_plan
from primsync.parse import normalize_address, normalize_message_id, parse_headers
from primsync.review import ReviewResult, list_folders, review_mailbox

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
    "ReviewResult",
    "SchemaMissing",
    "ServiceError",
    "SyncOption",
    "build_frame",
    "enrich",
    "init_db",
    "list_folders",
    "normalize_address",
    "normalize_message_id",
    "open_engine",
    "parse_headers",
    "review_mailbox",
    "search_plan",
]
