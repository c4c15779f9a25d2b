"""an index on imported_message.dedupe_key

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

A review asks which of its messages are stored already, by dedupe key and whatever the record:
without this index each such lookup read the whole table.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_imported_message_dedupe_key", "imported_message", ["dedupe_key"])


def downgrade() -> None:
    op.drop_index("ix_imported_message_dedupe_key", table_name="imported_message")
