"""report attachments: a comparison's report files stored with a version (as blobs, by hash)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_attachments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("attached_at", sa.String(40), nullable=False),
        sa.Column("attached_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_report_attachments_version_id", "report_attachments", ["version_id"])
    op.create_table(
        "report_files",
        sa.Column("attachment_id", sa.Integer(), sa.ForeignKey("report_attachments.id"), primary_key=True),
        sa.Column("path", sa.String(300), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_report_files_sha256", "report_files", ["sha256"])


def downgrade() -> None:
    op.drop_index("ix_report_files_sha256", table_name="report_files")
    op.drop_table("report_files")
    op.drop_index("ix_report_attachments_version_id", table_name="report_attachments")
    op.drop_table("report_attachments")
