"""sync_schedule: what `primsync sync --all` runs for each account, and how its last run went

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01

One row per scheduled account (``primsync account schedule``): its folders by name, the option,
which rows are imported, the security group, the threshold, every how many minutes, on or off;
and the last run's start, end, status and error (``primsync health --all``). Nothing of the
contract is renamed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_schedule",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "account_id",
            sa.Integer(),
            sa.ForeignKey("mail_account.id"),
            nullable=False,
            unique=True,
        ),
        sa.Column("folders", sa.Text(), nullable=False),
        sa.Column("option", sa.String(length=40), nullable=False),
        sa.Column("select", sa.String(length=10), nullable=False),
        sa.Column(
            "accessible_to_id", sa.Integer(), sa.ForeignKey("security_group.id"), nullable=False
        ),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("every_minutes", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_status", sa.String(length=20), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("sync_schedule")
