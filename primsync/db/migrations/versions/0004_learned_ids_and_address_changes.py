"""learned ids of CRM mail (crm_message_copy), address changes (record_address_change), and room
for the "probable" context

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28

* ``crm_message_copy``: the copy of a CRM message found in an account's sent folder, with the id
  the server gave it (Exchange and some relays rewrite Message-IDs: replies name that id), its
  recipients and Outlook thread (evidence for probable replies). Nothing of the contract is
  renamed; a reply naming a learned id is green like one naming ``crm_message.message_id``.
* ``record_address_change``: an address added to a record from the coverage view, who did it,
  when, and its undo.
* ``imported_message.context`` widened from 6 to 10 characters for ``probable`` (a probable
  reply: the link inferred, not named). Only widened: every value it held stays valid.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_message_copy",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("crm_message_id", sa.Integer(), sa.ForeignKey("crm_message.id"), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("mail_account.id"), nullable=True),
        sa.Column("message_id", sa.String(length=1000), nullable=False, unique=True),
        sa.Column("how", sa.String(length=20), nullable=False),
        sa.Column("recipients", sa.Text(), nullable=False, server_default=""),
        sa.Column("thread", sa.String(length=64), nullable=True),
        sa.Column("folder", sa.String(length=1000), nullable=False, server_default=""),
        sa.Column("uid", sa.BigInteger(), nullable=True),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=True),
        sa.Column("evidence", sa.Text(), nullable=False, server_default=""),
        sa.Column("learned_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_crm_message_copy_crm_message_id", "crm_message_copy", ["crm_message_id"])
    op.create_index("ix_crm_message_copy_thread", "crm_message_copy", ["thread"])
    op.create_table(
        "record_address_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("record_id", sa.Integer(), sa.ForeignKey("record.id"), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False, server_default=""),
        sa.Column("changed_by_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_by_id", sa.Integer(), sa.ForeignKey("app_user.id"), nullable=True),
    )
    with op.batch_alter_table("imported_message") as batch:
        batch.alter_column(
            "context",
            existing_type=sa.String(length=6),
            type_=sa.String(length=10),
            existing_nullable=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("imported_message") as batch:
        batch.alter_column(
            "context",
            existing_type=sa.String(length=10),
            type_=sa.String(length=6),
            existing_nullable=False,
        )
    op.drop_table("record_address_change")
    op.drop_index("ix_crm_message_copy_thread", table_name="crm_message_copy")
    op.drop_index("ix_crm_message_copy_crm_message_id", table_name="crm_message_copy")
    op.drop_table("crm_message_copy")
