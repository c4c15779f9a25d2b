"""What the command line's commands share: the flags several commands take (``--db``, an
account and its selection, a connection), the database a command opens (disposed when it ends),
the secret read from standard input, and how a frame or a text is written out.

``cli.py`` (the commands and ``main``), ``cli_accounts.py`` and ``cli_people.py`` use these.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING

from primsync.errors import ConfigurationError
from primsync.options import SyncOption

if TYPE_CHECKING:
    import pandas as pd
    from sqlalchemy import Engine

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

__all__ = [
    "OPENED",
    "add_account",
    "add_connection",
    "add_db",
    "add_select",
    "add_selection",
    "confidence_arg",
    "date_arg",
    "frame_out",
    "open_db",
    "stdin_secret",
    "table",
    "write_out",
]


def date_arg(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db", help="database URL (default: $PRIMSYNC_DB, else sqlite:///data/primsync.db)"
    )


def add_account(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    p.add_argument("--account", required=required, help="address of a registered mail account")
    p.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password (or OAuth2 token) from standard input",
    )


def add_selection(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    add_account(p, required=required)
    p.add_argument("--folder", action="append", required=required, help="a folder (repeatable)")
    p.add_argument(
        "--option",
        default=SyncOption.SINCE_LAST.value,
        choices=[o.value for o in SyncOption],
        help="which messages (default: since-last)",
    )
    p.add_argument("--since", type=date_arg, help="first day, with --option range")
    p.add_argument("--until", type=date_arg, help="last day (included), with --option range")
    p.add_argument("--today", type=date_arg, help=argparse.SUPPRESS)
    p.add_argument(
        "--threshold",
        type=confidence_arg,
        default=None,
        help="tick probable replies from this confidence on (0..1, default 0.8)",
    )


def add_connection(p: argparse.ArgumentParser) -> None:
    """How to reach an account's server: `account add` and `account edit`."""
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--security", help="ssl, starttls or none (none: loopback only)")
    p.add_argument("--username", help="login name (default: the address)")
    p.add_argument(
        "--auth",
        help="password, xoauth2 (the person signs in: `login`) or app (the organisation's "
        "app-only access: Microsoft 365, Google Workspace)",
    )
    p.add_argument("--ca-file", help="CA certificates to trust (a private server's)")


def add_select(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--select",
        choices=["green", "all"],
        default="green",
        help="green: the pre-ticked replies, green and probable from --threshold (default); "
        "all: every row not yet imported",
    )


def stdin_secret(args: argparse.Namespace) -> str | None:
    """The secret given on standard input (read once, kept on ``args`` for a second use)."""
    if getattr(args, "password_stdin", False) and getattr(args, "_secret", None) is None:
        args._secret = sys.stdin.readline().rstrip("\r\n") or None
    return getattr(args, "_secret", None)


def table(frame: pd.DataFrame) -> str:
    """The grid as text: the review columns of docs/design.md with tick, folder and UID."""
    import pandas as pd

    from primsync import frame as F

    if frame.empty:
        return "(no messages)"
    view = pd.DataFrame(
        {
            "": [
                "[x]" if s else ("done" if a else "[ ]")
                for s, a in zip(frame[F.SELECTED], frame[F.ALREADY_IMPORTED], strict=True)
            ],
            "Folder": frame[F.FOLDER],
            "UID": frame[F.UID],
            "Received": frame[F.RECEIVED].dt.strftime("%Y-%m-%d %H:%M"),
            **{
                label: frame[col].fillna("").astype(str).str.slice(0, 40)
                for col, label in F.GRID_COLUMNS.items()
                if col != F.RECEIVED
            },
        }
    )
    return view.to_string(index=False)


def write_out(text: str | Iterable[str], output: str | None) -> None:
    """``text`` (or its pieces, written as they come) into ``output``, else on stdout (which
    then ends with a line break)."""
    pieces = [text] if isinstance(text, str) else text
    if output:
        try:
            with open(output, "w", encoding="utf-8") as file:
                for piece in pieces:
                    file.write(piece)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write {output}: {exc.strerror or type(exc).__name__}"
            ) from None
    else:
        last = ""
        for piece in pieces:
            if piece:
                sys.stdout.write(piece)
                last = piece
        if not last.endswith("\n"):
            sys.stdout.write("\n")


def open_db(args: argparse.Namespace) -> Engine:
    """The database of every command but ``init`` and ``demo``: it must exist, at the schema."""
    from primsync.db.engine import check_schema, open_engine

    engine = open_engine(args.db)
    OPENED.append(engine)
    check_schema(engine)
    return engine


# the engines a command opened: disposed when it ends, so that no connection outlives it (a
# command run in-process, from a test or a notebook, leaves nothing open)
OPENED: list[Engine] = []


def confidence_arg(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"a confidence is between 0 and 1, not {value:g}")
    return value


def frame_out(frame: pd.DataFrame, fmt: str, output: str | None = None) -> None:
    from primsync import frame as F

    if fmt == "json":
        write_out(F.frame_json(frame, list(frame.columns)), output)
    elif fmt == "csv":
        # LF: the text file (or stdout) writes the platform's line end; pandas' default,
        # os.linesep, would give "\r\r\n" on Windows
        write_out(frame.to_csv(index=False, lineterminator="\n"), output)
    else:
        write_out("(none)" if frame.empty else frame.to_string(index=False), output)
