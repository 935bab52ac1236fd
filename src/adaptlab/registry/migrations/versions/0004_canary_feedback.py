"""canaries on aliases, the completions the server answered, and feedback on them

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alias_canaries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("models.id"), nullable=False),
        sa.Column("alias", sa.String(64), nullable=False),
        sa.Column("stable_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("candidate_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=False),
        sa.Column("share_percent", sa.Float(), nullable=False),
        sa.Column("assignment_key", sa.String(64), nullable=False),
        sa.Column("started_at", sa.String(40), nullable=False),
        sa.Column("started_by", sa.String(200), nullable=False),
        sa.Column("ended_at", sa.String(40), nullable=True),
        sa.Column("ended_by", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
    )
    op.create_index("ix_alias_canaries_model_id", "alias_canaries", ["model_id"])
    op.create_table(
        "completions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("via_alias", sa.String(64), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("first_token_s", sa.Float(), nullable=True),
        sa.Column("error", sa.Boolean(), nullable=False),
        sa.Column("prompt_text", sa.Text(), nullable=True),
        sa.Column("completion_text", sa.Text(), nullable=True),
    )
    op.create_index("ix_completions_version_alias_created", "completions", ["version_id", "via_alias", "created_at"])
    op.create_table(
        "feedback",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("completion_id", sa.String(64), sa.ForeignKey("completions.id"), nullable=False, unique=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feedback")
    op.drop_index("ix_completions_version_alias_created", table_name="completions")
    op.drop_table("completions")
    op.drop_index("ix_alias_canaries_model_id", table_name="alias_canaries")
    op.drop_table("alias_canaries")
