"""primsync: bring recruiters' and account managers' email into the records of a staffing CRM.

What a notebook calls, in the order of the workflow (each name is loaded on first use, so that
``import primsync`` and the command line start quickly)::

    import primsync as ps

    session = ps.open_session()         # the demo, or $PRIMSYNC_ACCOUNT / $PRIMSYNC_DB
    folders = ps.list_folders(session.engine, session.account, secret=session.secret)
    review = ps.review_mailbox(session.engine, session.account, ["INBOX"], option="7d",
                               secret=session.secret)
    review.frame.loc[review.frame["from_addr"] == "lea@mail.example", "selected"] = True
    summary = ps.import_selected(session.engine, review, user=session.user,
                                 accessible_to="Recruiters", secret=session.secret)
    ps.visible_messages(session.engine, session.user)

Internals stay importable from their modules (``primsync.parse``, ``primsync.enrich``...).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__all__ = [
    "AccountLocked",
    "AuthenticationError",
    "CommitError",
    "ConfigurationError",
    "DatabaseError",
    "FetchFailed",
    "FolderError",
    "ImportSummary",
    "MailboxError",
    "PermissionDenied",
    "PrimsyncError",
    "ReviewResult",
    "SchemaMissing",
    "ServiceError",
    "SyncOption",
    "SyncReport",
    "UidValidityChanged",
    "add_group",
    "add_user",
    "choose_rows",
    "domain_counts",
    "export_frame",
    "health_frame",
    "health_table",
    "html_table",
    "import_records",
    "import_selected",
    "init_db",
    "list_folders",
    "message_preview",
    "open_account",
    "open_engine",
    "open_session",
    "project_root",
    "recent_runs",
    "records_frame",
    "review_mailbox",
    "runs_table",
    "save_attachment",
    "set_excluded",
    "sync_account",
    "undo_run",
    "visible_messages",
    "weekly_chart",
    "weekly_counts",
]

_WHERE = {
    "ImportSummary": "primsync.commit",
    "ReviewResult": "primsync.review",
    "SyncOption": "primsync.options",
    "SyncReport": "primsync.sync",
    "add_group": "primsync.db.people",
    "add_user": "primsync.db.people",
    "choose_rows": "primsync.selection",
    "domain_counts": "primsync.report",
    "export_frame": "primsync.export",
    "health_frame": "primsync.db.runs",
    "health_table": "primsync.report",
    "html_table": "primsync.report",
    "import_records": "primsync.db.people",
    "import_selected": "primsync.commit",
    "init_db": "primsync.db.engine",
    "list_folders": "primsync.opening",
    "message_preview": "primsync.preview",
    "open_engine": "primsync.db.engine",
    "open_account": "primsync.opening",
    "open_session": "primsync.session",
    "project_root": "primsync.session",
    "recent_runs": "primsync.db.runs",
    "records_frame": "primsync.db.people",
    "review_mailbox": "primsync.review",
    "runs_table": "primsync.report",
    "save_attachment": "primsync.preview",
    "set_excluded": "primsync.db.people",
    "sync_account": "primsync.sync",
    "undo_run": "primsync.db.imports",
    "visible_messages": "primsync.db.access",
    "weekly_chart": "primsync.report",
    "weekly_counts": "primsync.report",
}
_ERRORS = {name for name in __all__ if name not in _WHERE}


def __getattr__(name: str) -> Any:
    module = "primsync.errors" if name in _ERRORS else _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'primsync' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what type checkers and editors see
    from primsync.commit import ImportSummary, import_selected
    from primsync.db.access import visible_messages
    from primsync.db.engine import init_db, open_engine
    from primsync.db.imports import undo_run
    from primsync.db.people import (
        add_group,
        add_user,
        import_records,
        records_frame,
        set_excluded,
    )
    from primsync.db.runs import health_frame, recent_runs
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
        UidValidityChanged,
    )
    from primsync.export import export_frame
    from primsync.opening import list_folders, open_account
    from primsync.options import SyncOption
    from primsync.preview import message_preview, save_attachment
    from primsync.report import (
        domain_counts,
        health_table,
        html_table,
        runs_table,
        weekly_chart,
        weekly_counts,
    )
    from primsync.review import ReviewResult, review_mailbox
    from primsync.selection import choose_rows
    from primsync.session import open_session, project_root
    from primsync.sync import SyncReport, sync_account
