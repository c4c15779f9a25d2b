"""SQLAlchemy models: the database contract of docs/design.md (names and columns are fixed)."""

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _now() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A moment, written in UTC: SQLite keeps a datetime as text without its offset, so an
    aware time of another zone (a CRM's local ``sent_at``, ``datetime.now().astimezone()``)
    would be read back hours off. Naive values are taken as UTC already, as before."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value


class Base(DeclarativeBase):
    pass


class SecurityGroup(Base):
    __tablename__ = "security_group"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    level: Mapped[int] = mapped_column(Integer)


class AppUser(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    group_id: Mapped[int] = mapped_column(ForeignKey("security_group.id"))


class MailAccount(Base):
    __tablename__ = "mail_account"
    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320), unique=True)
    provider: Mapped[str] = mapped_column(String(20), default="imap")
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer)
    security: Mapped[str] = mapped_column(String(20), default="ssl")
    username: Mapped[str] = mapped_column(String(320))
    auth: Mapped[str] = mapped_column(String(20), default="password")
    owner_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    ca_file: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    # OAuth2: when the current access token expires (set by the token provider), for `health`
    token_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Record(Base):
    __tablename__ = "record"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(300))
    exclude_from_sync: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(
        UtcDateTime(), default=_now, server_default=func.current_timestamp()
    )
    # the source system's own id (an ATS's, a CRM's): importing its file again updates
    external_id: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)


class RecordChange(Base):
    """What was done to a record by hand or by a file (migration 0005): created, updated,
    excluded from email synchronization or included again — who, when, and the detail."""

    __tablename__ = "record_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    action: Mapped[str] = mapped_column(String(20))  # create / update / exclude / include
    detail: Mapped[str] = mapped_column(Text, default="", server_default="")
    changed_by: Mapped[str] = mapped_column(String(200))  # a login, or the system's user name
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)


class RecordAddress(Base):
    __tablename__ = "record_address"
    __table_args__ = (UniqueConstraint("record_id", "address"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    address: Mapped[str] = mapped_column(String(320), index=True)


class CrmMessage(Base):
    __tablename__ = "crm_message"
    # ids are compared lower-cased (migration 0006)
    __table_args__ = (Index("ix_crm_message_message_id_lower", text("lower(message_id)")),)
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    message_id: Mapped[str] = mapped_column(String(1000), unique=True)
    subject: Mapped[str] = mapped_column(Text, default="")
    sent_at: Mapped[datetime] = mapped_column(UtcDateTime())
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)


class CrmMessageCopy(Base):
    """A CRM message's copy in an account's sent folder, with the id the server gave it
    (migration 0004; ``primsync.replies.learn_copies``)."""

    __tablename__ = "crm_message_copy"
    id: Mapped[int] = mapped_column(primary_key=True)
    crm_message_id: Mapped[int] = mapped_column(ForeignKey("crm_message.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("mail_account.id"), nullable=True)
    message_id: Mapped[str] = mapped_column(String(1000), unique=True)
    how: Mapped[str] = mapped_column(String(20))  # "same id" / "rewritten"
    recipients: Mapped[str] = mapped_column(Text, default="", server_default="")
    thread: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    folder: Mapped[str] = mapped_column(String(1000), default="", server_default="")
    uid: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    uidvalidity: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    evidence: Mapped[str] = mapped_column(Text, default="", server_default="")
    learned_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)


class RecordAddressChange(Base):
    """An address added to a record from the coverage view: who, when, why, and its undo
    (migration 0004)."""

    __tablename__ = "record_address_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"))
    address: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(10))  # "add"
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    changed_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)
    undone_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)


class SyncRun(Base):
    __tablename__ = "sync_run"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("mail_account.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(20), default="review")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    folders: Mapped[str] = mapped_column(Text, default="")
    option: Mapped[str] = mapped_column(String(40), default="")
    fetched: Mapped[int] = mapped_column(Integer, default=0)
    shown: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="running")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    # set on an import run when `primsync undo` removed what it stored
    undone_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    undone_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)  # e.g. what an undo removed


class ImportedMessage(Base):
    __tablename__ = "imported_message"
    __table_args__ = (UniqueConstraint("record_id", "dedupe_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    record_id: Mapped[int] = mapped_column(ForeignKey("record.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mail_account.id"))
    folder: Mapped[str] = mapped_column(String(1000))
    uid: Mapped[int] = mapped_column(BigInteger)
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(String(1000), nullable=True, index=True)
    dedupe_key: Mapped[str] = mapped_column(String(1000), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(Text, nullable=True)
    references: Mapped[str | None] = mapped_column(Text, nullable=True)
    from_addr: Mapped[str] = mapped_column(String(320), default="")
    from_name: Mapped[str] = mapped_column(Text, default="")
    to_addrs: Mapped[str] = mapped_column(Text, default="")
    cc_addrs: Mapped[str] = mapped_column(Text, default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    received_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    body_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")
    size: Mapped[int] = mapped_column(Integer, default=0)
    direction: Mapped[str] = mapped_column(String(3))
    context: Mapped[str] = mapped_column(String(10))  # green / yellow / probable
    accessible_to_id: Mapped[int] = mapped_column(ForeignKey("security_group.id"))
    annexed_to_id: Mapped[int | None] = mapped_column(ForeignKey("crm_message.id"), nullable=True)
    imported_by_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"))
    imported_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("sync_run.id"), nullable=True)
    defects: Mapped[str] = mapped_column(Text, default="")


class Attachment(Base):
    __tablename__ = "attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("imported_message.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(Text, default="")
    content_type: Mapped[str] = mapped_column(String(255), default="application/octet-stream")
    size: Mapped[int] = mapped_column(Integer, default=0)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    inline: Mapped[bool] = mapped_column(Boolean, default=False)
    content_id: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class FolderState(Base):
    __tablename__ = "folder_state"
    __table_args__ = (UniqueConstraint("account_id", "folder"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mail_account.id"))
    folder: Mapped[str] = mapped_column(String(1000))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger, default=0)
    highestmodseq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_sync_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class SyncSchedule(Base):
    """What ``primsync sync --all`` runs for an account, and how its last run went: the folders
    by name (one a line), the option, which rows, the group, every how many minutes."""

    __tablename__ = "sync_schedule"
    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("mail_account.id"), unique=True)
    folders: Mapped[str] = mapped_column(Text)
    option: Mapped[str] = mapped_column(String(40), default="since-last")
    select: Mapped[str] = mapped_column(String(10), default="green")
    accessible_to_id: Mapped[int] = mapped_column(ForeignKey("security_group.id"))
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    every_minutes: Mapped[int] = mapped_column(Integer, default=15)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=_now)
    last_started_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(20), nullable=True)  # ok / failed
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
