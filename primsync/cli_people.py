"""The command line's people and contacts: ``primsync groups``, ``users`` and ``records``
(the CRM's security groups, users and records, without SQL). ``cli.py`` adds these parsers
and dispatches to these commands; the work is done by ``primsync.db.people``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from primsync.cli_common import add_db, frame_out
from primsync.contacts import KINDS
from primsync.errors import ConfigurationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

__all__ = ["COMMANDS", "add_parsers"]


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """The ``groups``, ``users`` and ``records`` commands."""
    p = sub.add_parser("groups", help="the CRM's security groups (who sees what)")
    what = p.add_subparsers(dest="action", required=True)
    a = what.add_parser("add", help="a security group; a higher level sees more")
    add_db(a)
    a.add_argument("name", metavar="NAME")
    a.add_argument("--level", type=int, required=True, help="its level (higher sees more)")
    a = what.add_parser("list", help="the groups, lowest level first")
    add_db(a)
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")

    p = sub.add_parser("users", help="the CRM's users")
    what = p.add_subparsers(dest="action", required=True)
    a = what.add_parser("add", help="a user of the CRM, in a security group")
    add_db(a)
    a.add_argument("login", metavar="LOGIN")
    a.add_argument("--name", required=True, help='the full name ("Ana Martin")')
    a.add_argument("--group", required=True, help="the user's security group")
    a = what.add_parser("list", help="the users, their group and the accounts they own")
    add_db(a)
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")

    p = sub.add_parser("records", help="the CRM's records: candidates, clients, contacts")
    what = p.add_subparsers(dest="action", required=True)
    a = what.add_parser("import", help="records from a CSV or vCard file (again: updates)")
    add_db(a)
    a.add_argument("file", metavar="FILE")
    a.add_argument("--dry-run", action="store_true", help="say what would be done, write nothing")
    a.add_argument(
        "--skip-bad", action="store_true", help="import the good lines even if some are refused"
    )
    a.add_argument("--kind", choices=KINDS, help="the kind of lines that give none")
    a.add_argument("--user", help="who the changes are recorded as (default: the system user)")
    a = what.add_parser("list", help="the records with their addresses")
    add_db(a)
    a.add_argument("--kind", choices=KINDS)
    a.add_argument("--format", choices=["table", "csv", "json"], default="table")
    a = what.add_parser("show", help="one record: addresses, messages, changes")
    add_db(a)
    a.add_argument("record", metavar="ID", help="a record's id, or one of its addresses")
    a = what.add_parser(
        "exclude", help="exclude a record from email synchronization (--include: take it back)"
    )
    add_db(a)
    a.add_argument("record", metavar="ID|ADDRESS")
    a.add_argument(
        "--include", action="store_true", help="include the record in synchronization again"
    )
    a.add_argument("--user", help="who the change is recorded as (default: the system user)")


def cmd_groups(args: argparse.Namespace, engine: Engine) -> int:
    from primsync.db.people import add_group, groups_frame

    if args.action == "add":
        add_group(engine, args.name, level=args.level)
        print(f"group {' '.join(args.name.split())!r} added (level {args.level})")
    else:
        frame_out(groups_frame(engine), args.format, None)
    return 0


def cmd_users(args: argparse.Namespace, engine: Engine) -> int:
    from primsync.db.people import add_user, users_frame

    if args.action == "add":
        add_user(engine, args.login, name=args.name, group=args.group)
        print(f"user {args.login.strip()!r} added ({args.name}, group {args.group})")
    else:
        frame_out(users_frame(engine), args.format, None)
    return 0


def cmd_records(args: argparse.Namespace, engine: Engine) -> int:
    from primsync.db import people

    if args.action == "import":
        return _import(args, engine)
    if args.action == "list":
        frame = people.records_frame(engine, kind=args.kind)
        if args.format == "table":
            frame = frame.assign(
                addresses=frame["addresses"].str.slice(0, 60),
                excluded=frame["excluded"].map({True: "excluded", False: ""}),
                external_id=frame["external_id"].fillna(""),
            )
        frame_out(frame, args.format, None)
        return 0
    if args.action == "show":
        return _show(people.record_detail(engine, args.record))
    who = people.actor(engine, args.user)
    record_id, name, changed = people.set_excluded(
        engine, args.record, excluded=not args.include, changed_by=who
    )
    state = "included in" if args.include else "excluded from"
    print(
        f"record {record_id} ({name}) {'is now' if changed else 'was already'} {state} email "
        "synchronization"
    )
    return 0


def _import(args: argparse.Namespace, engine: Engine) -> int:
    from primsync.db.people import actor, import_records, refusal

    name = Path(args.file).name
    plan = import_records(
        engine,
        args.file,
        kind=args.kind,
        dry_run=args.dry_run,
        skip_bad=args.skip_bad,
        changed_by=actor(engine, args.user),
    )
    counts = {a: sum(s.action == a for s in plan) for a in ("create", "update", "unchanged")}
    refused = [step for step in plan if step.action == "refused"]
    if args.dry_run:
        for step in plan:
            print(step.text)
        problem = refusal(plan, name)
        if problem and not args.skip_bad:
            raise ConfigurationError(problem)
        print(
            f"{counts['create']} to create, {counts['update']} to update, "
            f"{counts['unchanged']} unchanged, {len(refused)} refused (dry run: nothing written)"
        )
        return 0
    for step in refused:
        print(step.text, file=sys.stderr)
    print(
        f"{name}: {counts['create']} created, {counts['update']} updated, "
        f"{counts['unchanged']} unchanged, {len(refused)} refused"
    )
    return 0


def _show(detail: dict[str, object]) -> int:
    import pandas as pd

    print(f"record {detail['id']}: {detail['name']} ({detail['kind']})")
    addresses = detail["addresses"]
    assert isinstance(addresses, list)
    print(f"addresses:   {', '.join(addresses) or '(none)'}")
    print(f"source id:   {detail['external_id'] or '(none)'}")
    excluded = "yes: never synchronized" if detail["excluded"] else "no"
    print(f"excluded:    {excluded}")
    print(f"messages:    {detail['crm_messages']} sent from the CRM, {detail['imported']} imported")
    changes = detail["changes"]
    assert isinstance(changes, pd.DataFrame)
    if not changes.empty:
        print("changes:")
        for row in changes.itertuples(index=False):
            when = pd.Timestamp(row.changed_at).strftime("%Y-%m-%d %H:%M")
            print(f"  {when}  {row.action:<9} by {row.changed_by}: {row.detail}")
    return 0


COMMANDS = {"groups": cmd_groups, "users": cmd_users, "records": cmd_records}
