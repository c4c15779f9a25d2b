"""undo audit, OAuth2 token expiry, server defaults for records

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

- ``sync_run.undone_at``, ``sync_run.undone_by_id`` and ``sync_run.note``: ``primsync undo``
  records on the import run who removed what it stored, and when, and writes an "undo" run;
- ``mail_account.token_expires_at``: when an OAuth2 account's access token expires
  (``primsync health``);
- ``record.exclude_from_sync`` and ``record.created_at`` get server defaults, so that the CRM
  can insert records without naming them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sync_run") as batch:
        batch.add_column(sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("undone_by_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("note", sa.Text(), nullable=True))
        batch.create_foreign_key("fk_sync_run_undone_by", "app_user", ["undone_by_id"], ["id"])
    with op.batch_alter_table("mail_account") as batch:
        batch.add_column(sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("record") as batch:
        batch.alter_column("exclude_from_sync", server_default=sa.false())
        batch.alter_column("created_at", server_default=sa.func.current_timestamp())


def downgrade() -> None:
    with op.batch_alter_table("record") as batch:
        batch.alter_column("created_at", server_default=None)
        batch.alter_column("exclude_from_sync", server_default=None)
    with op.batch_alter_table("mail_account") as batch:
        batch.drop_column("token_expires_at")
    with op.batch_alter_table("sync_run") as batch:
        batch.drop_constraint("fk_sync_run_undone_by", type_="foreignkey")
        batch.drop_column("note")
        batch.drop_column("undone_by_id")
        batch.drop_column("undone_at")
