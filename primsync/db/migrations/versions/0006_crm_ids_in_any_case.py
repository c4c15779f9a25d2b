"""an index on lower(crm_message.message_id)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

The CRM stores a Message-ID as its mailer wrote it (``<20091117190054.GU3165@Host>``); the review
compares ids lower-cased, as every server, relay and client may change their case. The review
looks CRM messages up by ``lower(message_id)``: this index keeps that lookup an index search.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_crm_message_message_id_lower", "crm_message", [sa.text("lower(message_id)")]
    )


def downgrade() -> None:
    op.drop_index("ix_crm_message_message_id_lower", table_name="crm_message")
