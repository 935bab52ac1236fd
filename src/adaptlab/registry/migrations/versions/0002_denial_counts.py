"""audit log: occurrences and last_at of repeated denials, and an index to find the repeated one

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("occurrences", sa.Integer(), server_default=sa.text("1"), nullable=False))
        batch.add_column(sa.Column("last_at", sa.String(40), nullable=True))
    op.create_index("ix_audit_log_actor_action", "audit_log", ["actor", "action"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_actor_action", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("last_at")
        batch.drop_column("occurrences")
