"""records kept from their source system (record.external_id) and what was done to them
(record_change)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

* ``record.external_id``: the id a record has in the system a file came from (an ATS, a CRM,
  a spreadsheet's own column), so that ``primsync records import`` of the same file again
  updates the record instead of adding a second one. Unique; NULL for records made otherwise.
* ``record_change``: a record created or updated by an import, excluded from email
  synchronization or included again (``primsync records exclude``, the notebook's Contacts
  section): who, when, what.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("record") as batch:
        batch.add_column(sa.Column("external_id", sa.String(length=200), nullable=True))
        batch.create_unique_constraint("uq_record_external_id", ["external_id"])
    op.create_table(
        "record_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("record_id", sa.Integer(), sa.ForeignKey("record.id"), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False, server_default=""),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_record_change_record_id", "record_change", ["record_id"])


def downgrade() -> None:
    op.drop_index("ix_record_change_record_id", table_name="record_change")
    op.drop_table("record_change")
    with op.batch_alter_table("record") as batch:
        batch.drop_constraint("uq_record_external_id", type_="unique")
        batch.drop_column("external_id")
