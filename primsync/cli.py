"""The command line: the same functions the notebook calls.

Exit codes: 0 success, 1 an unexpected error (a bug: the traceback is in the log file named),
2 usage error (including a database to `primsync init` first), 3 authentication or connection
error (mail server or database), 4 permission error, 5 another sync holds the account's lock.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import signal
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from primsync import cli_accounts
from primsync.cli_common import (
    OPENED,
    add_account,
    add_db,
    add_select,
    add_selection,
    frame_out,
    open_db,
    stdin_secret,
    table,
    write_out,
)
from primsync.errors import (
    ConfigurationError,
    DatabaseError,
    PrimsyncError,
    ServiceError,
    installed_version,
)

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from primsync.imap import Folder
    from primsync.review import ReviewResult

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

# pandas, SQLAlchemy, Alembic and imapclient are imported by the commands that use them, so that
# `primsync --help` and a mistyped command answer at once

__all__ = ["main"]


class _Version(argparse.Action):
    """``--version``: the installed version is looked up only when asked for (finding it reads
    every installed distribution's metadata: 35-55 ms that every command paid at start-up)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        print(f"primsync {installed_version()}")  # on stdout, as argparse's own action
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="primsync", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action=_Version, help="show primsync's version and exit")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (
        _init_parser,
        _demo_parser,
        _app_parser,
        _notebooks_parser,
        _folders_parser,
        _review_parser,
        _import_parser,
        _sync_parser,
        _worker_parser,
        cli_accounts.account_parser,
        cli_accounts.login_parser,
        _health_parser,
        _undo_parser,
        _messages_parser,
        _coverage_parser,
    ):
        add(sub)
    from primsync import cli_people

    cli_people.add_parsers(sub)
    return parser


def _init_parser(sub: Subparsers) -> None:
    """``primsync init``'s arguments."""
    p = sub.add_parser("init", help="create the schema")
    add_db(p)


def _demo_parser(sub: Subparsers) -> None:
    """``primsync demo``'s arguments."""
    p = sub.add_parser("demo", help="demo database + demo mailbox")
    p.add_argument("--no-lab", action="store_true", help="do not start JupyterLab")
    p.add_argument("--db", default=None, help="demo database URL (default: sqlite:///data/demo.db)")
    p.add_argument(
        "--exit", action="store_true", help="print the demo's review, then stop the servers"
    )
    p.add_argument("--port", type=int, help="JupyterLab's port (default: a free one)")
    p.add_argument(
        "--app", action="store_true", help="open the sync screen as an app (Voila), not JupyterLab"
    )


def _app_parser(sub: Subparsers) -> None:
    """``primsync app``'s arguments."""
    p = sub.add_parser("app", help="the sync notebook as an app for recruiters (Voila, no code)")
    add_db(p)
    p.add_argument(
        "--account", help="the account it opens on (default: $PRIMSYNC_ACCOUNT, else the first)"
    )
    p.add_argument("--user", help="whose screen (default: the account's owner)")
    p.add_argument("--port", type=int, help="the app's port (default: a free one)")


def _notebooks_parser(sub: Subparsers) -> None:
    """``primsync notebooks``'s arguments."""
    p = sub.add_parser("notebooks", help="copy the shipped notebooks into a folder, to edit them")
    p.add_argument("dir", help="the folder (made if needed)")
    p.add_argument("--force", action="store_true", help="replace notebooks already there")


def _folders_parser(sub: Subparsers) -> None:
    """``primsync folders``'s arguments."""
    p = sub.add_parser("folders", help="the folder tree of an account")
    add_db(p)
    add_account(p)


def _review_parser(sub: Subparsers) -> None:
    """``primsync review``'s arguments."""
    p = sub.add_parser("review", help="the review frame of some folders")
    add_db(p)
    add_selection(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")
    p.add_argument(
        "--unmatched", action="store_true", help="also list mail from unknown correspondents"
    )


def _import_parser(sub: Subparsers) -> None:
    """``primsync import``'s arguments."""
    p = sub.add_parser("import", help="review, then import the chosen rows into their records")
    add_db(p)
    add_selection(p)
    p.add_argument("--user", required=True, help="login of the importing user (the account owner)")
    p.add_argument("--accessible-to", required=True, help="security group of the imported mail")
    pick = p.add_mutually_exclusive_group()
    pick.add_argument(
        "--select",
        choices=["green", "all"],
        default=None,
        help="green: the pre-ticked replies, green and probable from --threshold (default); "
        "all: every row not yet imported",
    )
    pick.add_argument(
        "--uid", action="append", metavar="FOLDER:UID", help="import this row (repeatable)"
    )
    p.add_argument(
        "--into",
        action="append",
        default=[],
        metavar="FOLDER:UID=RECORD",
        help="file this row into another of its candidate records",
    )


def _sync_parser(sub: Subparsers) -> None:
    """``primsync sync``'s arguments."""
    p = sub.add_parser("sync", help="review + import in one go, for cron (one line per folder)")
    add_db(p)
    add_selection(p, required=False)  # required unless --all
    add_select(p)
    p.add_argument("--accessible-to", help="security group of the imported mail")
    p.add_argument("--user", help="importing user (default: the account's owner)")
    p.add_argument(
        "--all",
        action="store_true",
        help="every scheduled account that is due (`account schedule`), several at a time",
    )
    p.add_argument(
        "--jobs", type=int, default=None, help="with --all: accounts synced at a time (default 4)"
    )


def _worker_parser(sub: Subparsers) -> None:
    """``primsync worker``'s arguments."""
    p = sub.add_parser(
        "worker", help="sync the scheduled accounts as they fall due, on the team's PostgreSQL"
    )
    add_db(p)
    p.add_argument(
        "--concurrency", type=int, default=4, help="accounts synced at a time (default 4)"
    )
    p.add_argument("--name", help="the worker's name in the queue (default: worker)")
    p.add_argument(
        "--stalled-after",
        type=float,
        default=30.0,
        help="seconds without a worker's heartbeat before its jobs run again elsewhere "
        "(default 30)",
    )


def _health_parser(sub: Subparsers) -> None:
    """``primsync health``'s arguments."""
    p = sub.add_parser("health", help="per folder: UIDVALIDITY, last UID, last sync, last error")
    add_db(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--account")
    which.add_argument(
        "--all", action="store_true", help="every scheduled account: last sync, next due, error"
    )
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")


def _undo_parser(sub: Subparsers) -> None:
    """``primsync undo``'s arguments."""
    p = sub.add_parser("undo", help="remove what one import run added")
    add_db(p)
    p.add_argument("run_id", type=int, metavar="RUN_ID")
    p.add_argument("--user", required=True)


def _messages_parser(sub: Subparsers) -> None:
    """``primsync messages``'s arguments."""
    p = sub.add_parser("messages", help="imported mail this user may see")
    add_db(p)
    p.add_argument("--user", required=True)
    p.add_argument("--record", type=int, help="only this record's messages")
    p.add_argument("--search", help="only messages whose subject, sender or text contains this")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")


def _coverage_parser(sub: Subparsers) -> None:
    """``primsync coverage``'s arguments."""
    p = sub.add_parser(
        "coverage",
        help="unknown correspondents of some folders, ranked, with a record to add them to",
    )
    add_db(p)
    add_selection(p)
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("-o", "--output", help="write to this file instead of standard output")


def cmd_init(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from primsync.db.engine import check_schema, init_db, open_engine, safe_url

    engine = open_engine(args.db, create=True)
    OPENED.append(engine)
    try:
        created = init_db(engine)
    except SQLAlchemyError as exc:
        check_schema(engine)  # says what is wrong with the database (unreachable...)
        raise DatabaseError(f"could not create the schema in {safe_url(args.db)}") from exc
    print(
        f"{safe_url(args.db)}: {len(created)} tables created"
        + (f" ({', '.join(created)})" if created else " (schema already present)")
    )
    return 0


def cmd_folders(args: argparse.Namespace) -> int:
    from primsync.opening import list_folders

    for folder in list_folders(open_db(args), args.account, secret=stdin_secret(args)):
        marks = [m for m in (folder.special_use, "sent" if folder.is_sent else None) if m]
        if not folder.selectable:
            marks.append("not selectable")
        indent = "  " * folder.depth
        extra = f"  ({', '.join(dict.fromkeys(marks))})" if marks else ""
        print(f"{indent}{folder.name}{extra}")
    return 0


def _selection(args: argparse.Namespace) -> dict[str, Any]:
    """What the selection flags chose (``add_selection``), as ``review_mailbox`` and
    ``sync_account`` take it, with the secret."""
    from primsync.replies import DEFAULT_THRESHOLD

    return {
        "option": args.option,
        "since": args.since,
        "until": args.until,
        "today": args.today,
        "secret": stdin_secret(args),
        "threshold": DEFAULT_THRESHOLD if args.threshold is None else args.threshold,
    }


def _review(
    args: argparse.Namespace,
    engine: Engine | None = None,
    *,
    record: bool = True,
    keep_unmatched: bool = False,
) -> ReviewResult:
    """The review the selection flags ask for; only the rows shown kept unless
    ``keep_unmatched`` (``review --unmatched``, ``coverage``)."""
    from primsync.review import review_mailbox

    return review_mailbox(
        engine or open_db(args),
        args.account,
        args.folder,
        progress=sys.stderr.isatty(),
        record=record,
        keep_unmatched=keep_unmatched,
        **_selection(args),
    )


def cmd_review(args: argparse.Namespace) -> int:
    from primsync import frame as F

    result = _review(args, keep_unmatched=args.unmatched)
    frame = result.all_rows[~result.all_rows[F.EXCLUDED]] if args.unmatched else result.frame
    text: str | Iterable[str]
    if args.format == "json":
        text = F.frame_json_pieces(frame)  # written as encoded: never held whole
    elif args.format == "csv":
        text = F.frame_csv_pieces(frame)  # written as made, like the JSON
    else:
        text = table(frame)
    write_out(text, args.output)
    return 0


def cmd_coverage(args: argparse.Namespace) -> int:
    """Who the CRM is missing: read only (the review behind it records nothing)."""
    from primsync.coverage import coverage_of

    engine = open_db(args)
    review = _review(args, engine, record=False, keep_unmatched=True)
    frame_out(coverage_of(engine, review), args.format, args.output)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from primsync.commit import import_selected

    result = _review(args)
    from primsync.selection import choose_rows

    rows = choose_rows(result.frame, select=args.select, uids=args.uid or [], into=args.into)
    summary = import_selected(
        open_db(args),
        result,
        rows,
        user=args.user,
        accessible_to=args.accessible_to,
        secret=stdin_secret(args),
        progress=sys.stderr.isatty(),
    )
    print(summary)
    return 0


def cmd_messages(args: argparse.Namespace) -> int:
    from primsync.db.access import visible_messages

    frame = visible_messages(open_db(args), args.user, record_id=args.record, search=args.search)
    if args.format == "table":
        columns = [
            "id",
            "received_at",
            "record",
            "context",
            "from_addr",
            "subject",
            "accessible_to",
        ]
        frame = frame[columns].assign(subject=frame["subject"].str.slice(0, 50))
    frame_out(frame, args.format, args.output)
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    import logging

    from primsync.sync import sync_account

    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    if args.all:
        return _sync_all(args)
    needed = (("--account", args.account), ("--folder", args.folder),
              ("--accessible-to", args.accessible_to))  # fmt: skip
    missing = [flag for flag, value in needed if not value]
    if missing or args.jobs is not None:
        raise ConfigurationError(
            f"sync needs {', '.join(missing)} (or --all, for every scheduled account)"
            if missing
            else "--jobs goes with --all"
        )
    try:
        sync_account(
            open_db(args),
            args.account,
            args.folder,
            select=args.select,
            user=args.user,
            accessible_to=args.accessible_to,
            **_selection(args),
        )
    except PrimsyncError as exc:
        logging.getLogger("primsync.sync").error(
            "account=%s folder=%r status=failed error=%s",
            args.account,
            exc.folder or ",".join(args.folder),
            exc,
        )
        raise
    return 0


def _sync_all(args: argparse.Namespace) -> int:
    """``sync --all``: every due scheduled account, a summary table, the most serious code."""
    import pandas as pd

    from primsync.sync import DEFAULT_JOBS, exit_code_of, sync_due

    given = [flag for flag, value in (
        ("--account", args.account), ("--folder", args.folder),
        ("--accessible-to", args.accessible_to), ("--user", args.user),
        ("--password-stdin", args.password_stdin), ("--since", args.since),
        ("--until", args.until), ("--threshold", args.threshold),
    ) if value]  # fmt: skip
    if given:
        raise ConfigurationError(
            f"--all takes each account's schedule (`primsync account schedule`): "
            f"not {', '.join(given)}"
        )
    outcomes = sync_due(open_db(args), jobs=DEFAULT_JOBS if args.jobs is None else args.jobs)
    if not outcomes:
        print("no scheduled account is due (see `primsync health --all`)")
        return 0
    summary = pd.DataFrame(
        [
            {
                "account": o.account,
                "new": o.new,
                "imported": o.imported,
                "skipped": o.skipped,
                "waited": f"{o.waited:g} s",
                "error": o.error or "",
            }
            for o in outcomes
        ]
    )
    print(summary.to_string(index=False))
    failed = sum(1 for o in outcomes if o.error)
    print(f"{len(outcomes)} accounts synced, {failed} failed")
    return exit_code_of(outcomes)


def cmd_worker(args: argparse.Namespace) -> int:
    """A worker of the job queue (procrastinate) until SIGINT or SIGTERM."""
    import logging

    try:
        from primsync.worker import install_queue, run_worker, worker_app
    except ImportError as exc:  # procrastinate is the `worker` extra
        raise ConfigurationError(
            f"`primsync worker` needs procrastinate ({exc.name} is missing): "
            "pip install 'primsync[worker]'"
        ) from None
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr
    )
    engine = open_db(args)
    if args.stalled_after <= 0:
        raise ConfigurationError(f"--stalled-after {args.stalled_after:g}: more than 0 seconds")
    url = engine.url.render_as_string(hide_password=False)
    app = worker_app(url, engine=engine, stalled_after=args.stalled_after)
    install_queue(engine)
    print(
        f"primsync worker: syncing the scheduled accounts as they fall due, "
        f"{args.concurrency} at a time (Ctrl-C or SIGTERM to stop)",
        file=sys.stderr,
        flush=True,
    )
    run_worker(app, concurrency=args.concurrency, name=args.name, stalled_after=args.stalled_after)
    return 0


def cmd_health(args: argparse.Namespace) -> int:
    from primsync.db.runs import health_frame
    from primsync.db.schedules import schedule_frame

    if args.all:
        frame_out(schedule_frame(open_db(args)), args.format)
    else:
        frame_out(health_frame(open_db(args), args.account), args.format)
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    from primsync.db.imports import undo_run

    removed = undo_run(open_db(args), args.run_id, user=args.user)
    print(f"import run {args.run_id} undone: {removed} messages removed")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from primsync import frame as F
    from primsync.demo import DEMO_ACCOUNT, DEMO_PASSWORD, start_demo
    from primsync.review import review_mailbox
    from primsync.session import project_root

    root = project_root()
    db = args.db or f"sqlite:///{root / 'data' / 'demo.db'}"
    engine, server = start_demo(db)
    OPENED.append(engine)
    lab = None
    try:
        folders = [f.name for f in _demo_folders(engine, DEMO_ACCOUNT, DEMO_PASSWORD)]
        result = review_mailbox(
            engine, DEMO_ACCOUNT, folders, option="all", secret=DEMO_PASSWORD, keep_unmatched=False
        )
        print(f"demo database: {db}")
        print(
            f"demo mailbox:  imap://127.0.0.1:{server.port} (account {DEMO_ACCOUNT}, "
            f"user recruiter, password '{DEMO_PASSWORD}', public demo credentials)"
        )
        print(f"\nreview of {', '.join(folders)} (option: all):\n")
        print(table(result.frame))
        print(
            f"\n{len(result.frame)} rows shown, {int(result.frame[F.SELECTED].sum())} pre-ticked "
            f"(green), {result.unmatched_count} from unknown correspondents left out"
        )
        if args.exit:
            return 0
        env = {
            "PRIMSYNC_ACCOUNT": DEMO_ACCOUNT,
            "PRIMSYNC_DB": db,
            "PRIMSYNC_PASSWORD": DEMO_PASSWORD,
            "PRIMSYNC_HOME": str(root),
        }
        if args.app and not args.no_lab:
            lab = _start_app(_fresh_notebooks(root), env, port=args.port)
        elif not args.no_lab:
            lab = _start_lab(_fresh_notebooks(root), env, port=args.port)
        else:
            print(
                "\nThe demo mailbox runs until Ctrl-C. In another shell:\n  "
                + " ".join(f"{k}={v}" for k, v in env.items())
                + f" primsync review --account {DEMO_ACCOUNT} --folder INBOX --option all",
                flush=True,
            )
        _wait_forever()
        return 0
    finally:
        if lab is not None:
            lab.terminate()
            try:
                lab.wait(timeout=15)
            except subprocess.TimeoutExpired:
                lab.kill()
        server.stop()


def cmd_app(args: argparse.Namespace) -> int:
    from primsync.db.accounts import list_accounts
    from primsync.session import project_root

    engine = open_db(args)
    accounts = list(list_accounts(engine)["address"])
    account = (
        args.account or os.environ.get("PRIMSYNC_ACCOUNT") or (accounts[0] if accounts else None)
    )
    if account is None:
        raise ConfigurationError("no mail account is registered: `primsync account add` first")
    if account.strip().lower() not in accounts:
        raise ConfigurationError(f"no registered mail account {account!r}", account=account)
    root = project_root()
    env = {
        "PRIMSYNC_ACCOUNT": account.strip().lower(),
        "PRIMSYNC_DB": engine.url.render_as_string(hide_password=False),
        "PRIMSYNC_HOME": str(root),
        **({"PRIMSYNC_USER": args.user} if args.user else {}),
    }
    app = _start_app(_fresh_notebooks(root), env, port=args.port)
    try:
        _wait_forever()
    finally:
        app.terminate()
        try:
            app.wait(timeout=15)
        except subprocess.TimeoutExpired:
            app.kill()
    return 0


def _fresh_notebooks(root: Path) -> Path:
    """A working copy of the shipped notebooks under ``data/notebooks``, made anew for each
    demo: JupyterLab saves outputs there, never into the shipped notebooks, and the next demo
    opens on clean ones."""
    import shutil

    from primsync.shipped import copy_notebooks

    copy = root / "data" / "notebooks"
    shutil.rmtree(copy, ignore_errors=True)
    copy_notebooks(copy)
    return copy


def cmd_notebooks(args: argparse.Namespace) -> int:
    from primsync.shipped import copy_notebooks

    dest = Path(args.dir)
    if dest.exists() and not dest.is_dir():
        raise ConfigurationError(f"{dest} is a file, not a folder")
    written = copy_notebooks(dest, replace=args.force)
    for path in written:
        print(path)
    print(
        f"{len(written)} notebooks copied: open them with `jupyter lab {dest}`; they use "
        "$PRIMSYNC_DB and $PRIMSYNC_ACCOUNT, else the demo"
    )
    return 0


def _install_hint(extra: str) -> str:
    """The pip command that adds ``extra`` to this very environment (a checkout: editable)."""
    checkout = (Path(__file__).resolve().parent.parent / "pyproject.toml").is_file()
    what = f"-e '.[{extra}]'" if checkout else f"'primsync[{extra}]'"
    return f"{sys.executable} -m pip install {what}"


def _start_lab(folder: Path, env: dict[str, str], *, port: int | None) -> subprocess.Popen:
    """JupyterLab on loopback, opened on the sync notebook, with the demo's settings (and a
    configuration of its own beside the notebooks: no news question on its first start)."""
    from primsync.servers import quiet_lab_config

    return _serve(
        "JupyterLab",
        "jupyterlab",
        folder,
        {**env, "JUPYTER_CONFIG_DIR": str(quiet_lab_config(folder.parent))},
        port=port,
        command=["jupyter", "lab", f"--ServerApp.root_dir={folder}", "--LabApp.news_url=None"],
        path="/lab/tree/01_sync.ipynb",
        token_flag="--IdentityProvider.token",
    )


def _start_app(folder: Path, env: dict[str, str], *, port: int | None) -> subprocess.Popen:
    """The sync notebook as a Voilà app (widgets only, no code, none of the analysts' cells)
    on loopback."""
    from primsync.shipped import app_notebook

    app_notebook(folder / "01_sync.ipynb")
    return _serve(
        "The app",
        "voila",
        folder,
        env,
        port=port,
        command=[
            "voila",
            str(folder / "01_sync.ipynb"),
            "--Voila.ip=127.0.0.1",
            "--strip_sources=True",
            "--show_tracebacks=False",
        ],
        path="/",
        token_flag="--token",
    )


def _serve(
    name: str,
    package: str,
    folder: Path,
    env: dict[str, str],
    *,
    port: int | None,
    command: list[str],
    path: str,
    token_flag: str,
) -> subprocess.Popen:
    """A notebook server on loopback only, behind a fresh token; its address printed."""
    import secrets

    from primsync.servers import detached, free_port, wait_for_port

    if importlib.util.find_spec(package) is None:
        raise ServiceError(
            f"{'JupyterLab' if package == 'jupyterlab' else 'Voila'} is not installed: "
            f"{_install_hint('notebook')} (or run `primsync demo --no-lab`)"
        )
    port = port or free_port()
    token = secrets.token_hex(16)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            *command,
            "--no-browser",
            f"--port={port}",
            *(["--ip=127.0.0.1"] if package == "jupyterlab" else []),
            f"{token_flag}={token}",
            *(["--allow-root"] if package == "jupyterlab" and _is_root() else []),
        ],
        env={**os.environ, **env},
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # Ctrl-C reaches primsync, which stops the server itself: a session of its own on
        # POSIX, a process group of its own on Windows
        **detached(),
    )
    try:
        wait_for_port(port, timeout=60, process=process, name=name)
    except ServiceError:
        process.kill()
        raise
    label = "JupyterLab" if package == "jupyterlab" else "App"
    print(f"\n{label}: http://127.0.0.1:{port}{path}?token={token}")
    print("Ctrl-C stops it all.", flush=True)
    return process


def _demo_folders(engine: Engine, account: str, password: str) -> list[Folder]:
    from primsync.opening import list_folders

    return [f for f in list_folders(engine, account, secret=password) if f.selectable]


def _is_root() -> bool:
    """Whether this process runs as root (POSIX; never on Windows, which has no geteuid)."""
    geteuid = getattr(os, "geteuid", None)
    return geteuid is not None and geteuid() == 0


def _wait_forever() -> None:
    """Until Ctrl-C (or SIGTERM): a sleep loop, which Ctrl-C interrupts on Windows too
    (``signal.pause`` exists only on POSIX)."""
    import time

    try:
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        while True:
            time.sleep(1)
    except KeyboardInterrupt:
        print("\nstopping the demo servers", flush=True)


COMMANDS = {
    "init": cmd_init,
    "demo": cmd_demo,
    "folders": cmd_folders,
    "review": cmd_review,
    "import": cmd_import,
    "messages": cmd_messages,
    "coverage": cmd_coverage,
    "sync": cmd_sync,
    "health": cmd_health,
    "account": cli_accounts.cmd_account,
    "login": cli_accounts.cmd_login,
    "app": cmd_app,
    "undo": cmd_undo,
    "notebooks": cmd_notebooks,
    "worker": cmd_worker,
}


def _people(args: argparse.Namespace) -> int:
    from primsync import cli_people

    return cli_people.COMMANDS[args.command](args, open_db(args))


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS.get(args.command, _people)(args)
    except PrimsyncError as exc:
        print(f"primsync {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"primsync {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader of the output went away (`| head`): nothing to say
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # no second error when Python flushes
        except (OSError, ValueError):
            pass
        return 141
    except Exception as exc:  # a bug: one line for the user, the traceback in a log file
        from primsync.errors import log_unexpected, unexpected_words

        log = log_unexpected(args.command)
        print(f"primsync {args.command}: {unexpected_words(exc, log)}", file=sys.stderr)
        return 1
    finally:
        while OPENED:
            OPENED.pop().dispose()


# A command is a short process that imports pandas and SQLAlchemy, then builds frames: with
# the cyclic collector's first threshold at its default (700 new objects) it ran ~450 times in
# `primsync review`, 0.13-0.17 s of it during the imports, for nothing to collect (imports and
# frames make no garbage cycles to speak of). Reference counting frees everything as before.
GC_FIRST_THRESHOLD = 10_000


def run(argv: Sequence[str] | None = None) -> None:
    """The ``primsync`` command: :func:`main`, then the process's end (:func:`leave`)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    gc.set_threshold(GC_FIRST_THRESHOLD, *gc.get_threshold()[1:])
    leave(main(arguments))


def leave(code: int) -> NoReturn:
    """End the process as the interpreter ends it — threads still running waited for,
    atexit's functions run (logging's flush, temporary folders' clean-up, a demo server's
    stop), the output flushed — but without the interpreter's teardown, which frees every
    object the command made and every module it imported, one by one: 0.3 s of a fresh
    ``primsync account list``'s 1.2 s, 0.4 s after a review of 50,000 rows, for memory the
    system takes back anyway. The databases are closed already (:func:`main` disposes its
    engines). Output to a reader that went away (``| head``) ends with 141, as in
    :func:`main`."""
    import atexit
    import threading

    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        code = 141
    except (OSError, ValueError):
        pass
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


if __name__ == "__main__":
    run()
