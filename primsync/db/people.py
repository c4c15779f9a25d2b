"""The CRM's people and contacts without SQL: security groups, users, records and their
addresses, and the "exclude from email synchronization" flag as a user action — each change
to a record recorded (``record_change``: who, when, what).

>>> add_group(engine, "Recruiters", level=10)                     # doctest: +SKIP
>>> add_user(engine, "ana", name="Ana Martin", group="Recruiters") # doctest: +SKIP
>>> plan = plan_records(engine, read_records(Path("people.csv").read_bytes()))  # doctest: +SKIP
>>> apply_plan(engine, plan, changed_by="ana")                     # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from primsync.contacts import KINDS, Problem, RecordLine, RecordsFile
from primsync.db.directory import get_group, get_user
from primsync.db.engine import write_session
from primsync.db.models import (
    AppUser,
    CrmMessage,
    ImportedMessage,
    MailAccount,
    Record,
    RecordAddress,
    RecordChange,
    SecurityGroup,
)
from primsync.errors import ConfigurationError
from primsync.parse import normalize_address

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PlannedLine",
    "actor",
    "add_group",
    "add_user",
    "apply_plan",
    "groups_frame",
    "import_records",
    "plan_records",
    "record_changes",
    "refusal",
    "record_detail",
    "records_frame",
    "set_excluded",
    "users_frame",
]


def add_group(engine: Engine, name: str, *, level: int) -> int:
    """Create a security group (higher levels see more); returns its id. A name taken is an
    error in one line, never a second group."""
    name = " ".join(name.split())
    if not name:
        raise ConfigurationError("a group needs a name")
    with write_session(engine) as session:
        taken = session.scalar(select(SecurityGroup).where(SecurityGroup.name == name))
        if taken is not None:
            raise ConfigurationError(
                f"group {name!r} exists already (level {taken.level}; see `primsync groups list`)"
            )
        group = SecurityGroup(name=name, level=int(level))
        session.add(group)
        session.flush()
        return int(group.id)


def groups_frame(engine: Engine) -> pd.DataFrame:
    """Every group, lowest level first, with how many users it holds."""
    import pandas as pd

    members = (
        select(AppUser.group_id, func.count().label("n")).group_by(AppUser.group_id).subquery()
    )
    query = (
        select(SecurityGroup.name, SecurityGroup.level, func.coalesce(members.c.n, 0))
        .outerjoin(members, members.c.group_id == SecurityGroup.id)
        .order_by(SecurityGroup.level, SecurityGroup.name)
    )
    with engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).all(), columns=["name", "level", "users"])


def add_user(engine: Engine, login: str, *, name: str, group: str) -> int:
    """Create a CRM user in a security group; returns the user's id."""
    login = login.strip()
    if not login or any(c.isspace() for c in login):
        raise ConfigurationError(f"not a login: {login!r} (one word, no spaces)")
    name = " ".join(name.split()) or login
    with write_session(engine) as session:
        if session.scalar(select(AppUser.id).where(AppUser.login == login)) is not None:
            raise ConfigurationError(f"user {login!r} exists already (see `primsync users list`)")
        user = AppUser(login=login, name=name, group_id=get_group(session, group).id)
        session.add(user)
        session.flush()
        return int(user.id)


def users_frame(engine: Engine) -> pd.DataFrame:
    """Every user with their group, its level, and the mail accounts they own."""
    import pandas as pd

    owned = (
        select(MailAccount.owner_id, func.count().label("n"))
        .group_by(MailAccount.owner_id)
        .subquery()
    )
    query = (
        select(
            AppUser.login,
            AppUser.name,
            SecurityGroup.name,
            SecurityGroup.level,
            func.coalesce(owned.c.n, 0),
        )
        .join(SecurityGroup, SecurityGroup.id == AppUser.group_id)
        .outerjoin(owned, owned.c.owner_id == AppUser.id)
        .order_by(AppUser.login)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["login", "name", "group", "level", "accounts"])


@dataclass(slots=True)
class PlannedLine:
    """What importing one line does: ``create``, ``update``, ``unchanged`` or ``refused``."""

    line: int
    action: str
    row: RecordLine | None = None
    record_id: int | None = None
    changes: list[str] = field(default_factory=list)
    new_addresses: list[str] = field(default_factory=list)
    problem: Problem | None = None

    @property
    def text(self) -> str:
        """The line in words, as ``records import --dry-run`` prints it."""
        if self.problem is not None:
            return f"{self.problem.text}: refused"
        assert self.row is not None
        what = f"{self.row.kind} {self.row.name!r} <{', '.join(self.row.emails)}>"
        if self.action == "create":
            flag = " (excluded from email synchronization)" if self.row.exclude else ""
            return f"line {self.line}: create {what}{flag}"
        if self.action == "update":
            return f"line {self.line}: update record {self.record_id}: " + "; ".join(self.changes)
        return f"line {self.line}: unchanged, record {self.record_id} ({self.row.name})"


def plan_records(engine: Engine, file: RecordsFile) -> list[PlannedLine]:
    """What importing ``file`` would do, line by line (refused lines included), without
    writing: a line with an ``id`` updates the record of that id; a line without one updates
    the record that already has its address under the same name, else creates one. An
    address on another record is refused, never moved."""
    plan = [PlannedLine(p.line, "refused", problem=p) for p in file.problems]
    addresses = {a for row in file.rows for a in row.emails}
    ids = {row.external_id for row in file.rows if row.external_id}
    with Session(engine) as session:
        owners: dict[str, set[int]] = defaultdict(set)
        for address, record_id in session.execute(
            select(RecordAddress.address, RecordAddress.record_id).where(
                RecordAddress.address.in_(addresses)
            )
        ):
            owners[address].add(int(record_id))
        by_id = {
            r.external_id: r
            for r in session.scalars(select(Record).where(Record.external_id.in_(ids)))
        }
        records = {
            r.id: r
            for r in session.scalars(
                select(Record).where(Record.id.in_({i for s in owners.values() for i in s}))
            )
        }
        held: dict[int, set[str]] = {}  # a target's addresses, read once
        for row in file.rows:
            plan.append(_plan_line(session, row, by_id, owners, records, held))
    plan.sort(key=lambda p: p.line)
    return plan


def _plan_line(
    session: Session,
    row: RecordLine,
    by_id: dict[str | None, Record],
    owners: dict[str, set[int]],
    records: dict[int, Record],
    held: dict[int, set[str]],
) -> PlannedLine:
    owning = {i for a in row.emails for i in owners.get(a, set())}
    target = by_id.get(row.external_id) if row.external_id else None
    if target is None:
        same_name = [
            records[i]
            for i in sorted(owning)
            if records[i].name.casefold() == row.name.casefold()
            and (records[i].external_id is None or records[i].external_id == row.external_id)
        ]
        target = same_name[0] if len(same_name) == 1 else None
    for address in row.emails:
        elsewhere = owners.get(address, set()) - ({target.id} if target else set())
        if elsewhere:
            other = records[min(elsewhere)]
            reason = (
                f"{address} is already on record {other.id} ({other.name}, {other.kind}); not moved"
            )
            return PlannedLine(row.line, "refused", row, problem=Problem(row.line, "email", reason))
    if target is None:
        return PlannedLine(row.line, "create", row, new_addresses=list(row.emails))
    if target.id not in held:
        held[target.id] = set(
            session.scalars(
                select(RecordAddress.address).where(RecordAddress.record_id == target.id)
            )
        )
    changes: list[str] = []
    if target.name != row.name:
        changes.append(f"name {target.name!r} → {row.name!r}")
    if target.kind != row.kind:
        changes.append(f"kind {target.kind} → {row.kind}")
    if row.external_id and target.external_id != row.external_id:
        changes.append(f"id {row.external_id!r} kept")
    if row.exclude is not None and bool(target.exclude_from_sync) != row.exclude:
        changes.append("excluded from email synchronization" if row.exclude else "included again")
    new = [a for a in row.emails if a not in held[target.id]]
    if new:
        changes.append("adds " + ", ".join(new))
    action = "update" if changes else "unchanged"
    return PlannedLine(row.line, action, row, int(target.id), changes, new)


def apply_plan(
    engine: Engine, plan: list[PlannedLine], *, changed_by: str, source: str = ""
) -> dict[str, int]:
    """Write the ``create`` and ``update`` lines of a plan in one transaction (refused lines
    are skipped: the caller decides whether to apply a plan that has some); returns the count
    of each action."""
    counts = {"create": 0, "update": 0, "unchanged": 0, "refused": 0}
    now = datetime.now(UTC)
    origin = f"from {source} " if source else ""
    try:
        with write_session(engine) as session:
            for step in plan:
                counts[step.action] += 1
                row = step.row
                if step.action not in ("create", "update") or row is None:
                    continue
                if step.action == "create":
                    record = Record(
                        kind=row.kind,
                        name=row.name,
                        exclude_from_sync=bool(row.exclude),
                        external_id=row.external_id,
                        created_at=now,
                    )
                    session.add(record)
                    session.flush()
                    detail = f"{origin}line {step.line}"
                else:
                    found = session.get(Record, step.record_id)
                    assert found is not None, "a planned record exists"
                    record = found
                    record.name, record.kind = row.name, row.kind
                    record.external_id = row.external_id or record.external_id
                    if row.exclude is not None:
                        record.exclude_from_sync = row.exclude
                    detail = f"{origin}line {step.line}: " + "; ".join(step.changes)
                session.add_all(
                    RecordAddress(record_id=record.id, address=a) for a in step.new_addresses
                )
                session.add(
                    RecordChange(
                        record_id=record.id,
                        action=step.action,
                        detail=detail,
                        changed_by=changed_by,
                        changed_at=now,
                    )
                )
    except IntegrityError as exc:  # another writer took an address or an id meanwhile
        raise ConfigurationError(
            "the records changed while importing (an address or id was taken meanwhile): "
            "nothing was written; run the import again"
        ) from exc
    return counts


def import_records(
    engine: Engine,
    path: str | Path,
    *,
    kind: str | None = None,
    dry_run: bool = False,
    skip_bad: bool = False,
    changed_by: str | None = None,
) -> list[PlannedLine]:
    """Import a CSV or vCard file of records (see ``primsync.contacts``); returns the plan,
    line by line (:func:`refusal` says why a plan with refused lines is not written). Nothing is
    written on ``dry_run``, nor when a line is refused unless ``skip_bad``: then
    :class:`ConfigurationError` names the first refused line and its column.

    >>> plan = import_records(engine, "people.csv", dry_run=True)   # doctest: +SKIP
    >>> for step in plan: print(step.text)                          # doctest: +SKIP
    """
    from primsync.contacts import read_records

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror or exc}") from None
    who = changed_by or actor(engine, None)
    plan = plan_records(engine, read_records(data, filename=path.name, kind=kind))
    if dry_run:
        return plan
    if not skip_bad:
        problem = refusal(plan, path.name)
        if problem:
            raise ConfigurationError(
                problem + " (see --dry-run; --skip-bad imports the good lines)"
            )
    apply_plan(engine, plan, changed_by=who, source=path.name)
    return plan


def refusal(plan: list[PlannedLine], name: str) -> str | None:
    """Why a plan is not written (its first refused line, and how many more), or None."""
    refused = [step.problem for step in plan if step.problem is not None]
    if not refused:
        return None
    more = f" (and {len(refused) - 1} more refused lines)" if len(refused) > 1 else ""
    return f"{name} {refused[0].text}{more}; nothing was written"


def records_frame(engine: Engine, *, kind: str | None = None) -> pd.DataFrame:
    """Every record (or those of one kind): id, kind, name, addresses, excluded, external id,
    CRM messages and imported messages."""
    import pandas as pd

    if kind is not None and kind not in KINDS:
        raise ConfigurationError(f"unknown kind {kind!r}; choose one of " + ", ".join(KINDS))
    crm = (
        select(CrmMessage.record_id, func.count().label("n"))
        .group_by(CrmMessage.record_id)
        .subquery()
    )
    stored = (
        select(ImportedMessage.record_id, func.count().label("n"))
        .group_by(ImportedMessage.record_id)
        .subquery()
    )
    query = (
        select(
            Record.id,
            Record.kind,
            Record.name,
            Record.exclude_from_sync,
            Record.external_id,
            func.coalesce(crm.c.n, 0),
            func.coalesce(stored.c.n, 0),
        )
        .outerjoin(crm, crm.c.record_id == Record.id)
        .outerjoin(stored, stored.c.record_id == Record.id)
        .order_by(Record.id)
    )
    if kind is not None:
        query = query.where(Record.kind == kind)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        held: dict[int, list[str]] = defaultdict(list)
        for record_id, address in conn.execute(
            select(RecordAddress.record_id, RecordAddress.address).order_by(RecordAddress.id)
        ):
            held[int(record_id)].append(str(address))
    columns = ["id", "kind", "name", "excluded", "external_id", "crm_messages", "imported"]
    frame = pd.DataFrame(rows, columns=columns)
    frame.insert(3, "addresses", ["; ".join(held.get(int(i), [])) for i in frame["id"]])
    frame["excluded"] = frame["excluded"].astype(bool)
    return frame


def _find_record(session: Session, target: int | str) -> Record:
    """A record by its id, or by one of its addresses."""
    text = str(target).strip()
    if text.isdigit():
        record = session.get(Record, int(text))
        if record is None:
            raise ConfigurationError(f"no record {text} (see `primsync records list`)")
        return record
    address = normalize_address(text)
    ids = sorted(
        set(
            session.scalars(select(RecordAddress.record_id).where(RecordAddress.address == address))
        )
    )
    if not ids:
        raise ConfigurationError(f"no record has the address {address}")
    if len(ids) > 1:
        raise ConfigurationError(
            f"{address} is on records {', '.join(map(str, ids))}: name the record by its id"
        )
    record = session.get(Record, ids[0])
    assert record is not None
    return record


def record_detail(engine: Engine, target: int | str) -> dict[str, object]:
    """One record (by id or address): its fields, addresses, counts and its changes."""
    with Session(engine) as session:
        record = _find_record(session, target)
        addresses = list(
            session.scalars(
                select(RecordAddress.address)
                .where(RecordAddress.record_id == record.id)
                .order_by(RecordAddress.id)
            )
        )
        crm = session.scalar(select(func.count()).where(CrmMessage.record_id == record.id))
        stored = session.scalar(select(func.count()).where(ImportedMessage.record_id == record.id))
        detail: dict[str, object] = {
            "id": int(record.id),
            "kind": record.kind,
            "name": record.name,
            "addresses": addresses,
            "excluded": bool(record.exclude_from_sync),
            "external_id": record.external_id,
            "created_at": record.created_at,
            "crm_messages": int(crm or 0),
            "imported": int(stored or 0),
        }
    detail["changes"] = record_changes(engine, int(record.id))
    return detail


def record_changes(engine: Engine, record_id: int) -> pd.DataFrame:
    """What was done to a record: when, what, by whom, the detail; oldest first."""
    import pandas as pd

    query = (
        select(
            RecordChange.changed_at,
            RecordChange.action,
            RecordChange.changed_by,
            RecordChange.detail,
        )
        .where(RecordChange.record_id == record_id)
        .order_by(RecordChange.id)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return pd.DataFrame(rows, columns=["changed_at", "action", "changed_by", "detail"])


def set_excluded(
    engine: Engine, target: int | str, *, excluded: bool, changed_by: str
) -> tuple[int, str, bool]:
    """Exclude a record (by id or address) from email synchronization, or include it again;
    recorded with who and when. Returns (record id, name, whether anything changed)."""
    with write_session(engine) as session:
        record = _find_record(session, target)
        if bool(record.exclude_from_sync) == excluded:
            return int(record.id), record.name, False
        record.exclude_from_sync = excluded
        session.add(
            RecordChange(
                record_id=record.id,
                action="exclude" if excluded else "include",
                detail="excluded from email synchronization"
                if excluded
                else "included in email synchronization again",
                changed_by=changed_by,
                changed_at=datetime.now(UTC),
            )
        )
        return int(record.id), record.name, True


def actor(engine: Engine, login: str | None) -> str:
    """Who a change is recorded as: a CRM user's login (checked), else the system's user."""
    if login:
        with Session(engine) as session:
            return str(get_user(session, login).login)
    import getpass

    try:
        return f"system user {getpass.getuser()}"
    except (KeyError, OSError):  # no user name in this environment
        return "system user (unknown)"
