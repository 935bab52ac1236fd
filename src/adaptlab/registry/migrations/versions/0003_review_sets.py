"""review sets: stored prompts and both models' answers, and reviewers' blind votes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "review_sets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("tenant_id", sa.Integer(), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("candidate_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("baseline_version_id", sa.Integer(), sa.ForeignKey("versions.id"), nullable=True),
        sa.Column("candidate", sa.String(300), nullable=False),
        sa.Column("baseline", sa.String(300), nullable=False),
        sa.Column("comparison_dir", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(64), nullable=False),
        sa.Column("max_new_tokens", sa.Integer(), nullable=False),
        sa.Column("item_count", sa.Integer(), nullable=False),
        sa.Column("blind_salt", sa.String(64), nullable=False),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
    )
    op.create_index("ix_review_sets_candidate_version_id", "review_sets", ["candidate_version_id"])
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("review_set_id", sa.Integer(), sa.ForeignKey("review_sets.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("prompt_json", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=True),
        sa.Column("candidate_answer", sa.Text(), nullable=False),
        sa.Column("baseline_answer", sa.Text(), nullable=False),
        sa.UniqueConstraint("review_set_id", "position"),
    )
    op.create_table(
        "review_votes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("item_id", sa.Integer(), sa.ForeignKey("review_items.id"), nullable=False),
        sa.Column("reviewer", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("corrected_answer", sa.Text(), nullable=True),
        sa.Column("created_at", sa.String(40), nullable=False),
        sa.UniqueConstraint("item_id", "reviewer"),
    )


def downgrade() -> None:
    for table in ("review_votes", "review_items", "review_sets"):
        op.drop_table(table)
