"""versions: a whole model's own weights hash, by which an adapter trained on it (the hybrid) finds its base version

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.add_column(sa.Column("weights_sha256", sa.String(64), nullable=True))
    op.create_index("ix_versions_weights_sha256", "versions", ["weights_sha256"])


def downgrade() -> None:
    op.drop_index("ix_versions_weights_sha256", table_name="versions")
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("weights_sha256")
