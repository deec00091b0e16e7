"""The first schema: feedback, sweep runs, patient state, alerts, leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Databases made before migrations existed already have `feedback` (built by create_all): keep it as it is.
    if not sa.inspect(op.get_bind()).has_table("feedback"):
        op.create_table(
            "feedback",
            sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("service_id", sa.String(100), nullable=False),
            sa.Column("card_uuid", sa.String(64), nullable=False),
            sa.Column("outcome", sa.String(20), nullable=False),
            sa.Column("accepted_suggestions", sa.JSON(), nullable=False),
            sa.Column("override_reason", sa.JSON(), nullable=True),
            sa.Column("user_comment", sa.Text(), nullable=True),
            sa.Column("outcome_timestamp", _INSTANT, nullable=False),
            sa.Column("received_at", _INSTANT, nullable=False),
            sa.Column("client", sa.String(300), nullable=True),
        )
        op.create_index("ix_feedback_service_id", "feedback", ["service_id"])
        op.create_index("ix_feedback_card_uuid", "feedback", ["card_uuid"])

    op.create_table(
        "sweep_run",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("started_at", _INSTANT, nullable=False),
        sa.Column("finished_at", _INSTANT, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("mode", sa.String(20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("cohort_size", sa.Integer(), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("resources_fetched", sa.Integer(), nullable=False),
        sa.Column("alerts_opened", sa.Integer(), nullable=False),
        sa.Column("alerts_resolved", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
    )
    op.create_index("ix_sweep_run_status", "sweep_run", ["status"])

    op.create_table(
        "patient_state",
        sa.Column("patient_id", sa.String(64), primary_key=True),
        sa.Column("last_fetched_at", _INSTANT, nullable=False),
        sa.Column("last_full_at", _INSTANT, nullable=False),
        sa.Column("snapshot", sa.JSON(), nullable=False),
        sa.Column("snapshot_hash", sa.String(64), nullable=False),
        sa.Column("assessment", sa.JSON(), nullable=True),
        sa.Column("assessment_hash", sa.String(64), nullable=True),
        sa.Column("profile_hash", sa.String(64), nullable=True),
        sa.Column("as_of", sa.Date(), nullable=True),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("grades", sa.JSON(), nullable=False),
        sa.Column("previous_grades", sa.JSON(), nullable=True),
        sa.Column("grades_changed_run_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=True),
        sa.Column("last_run_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=False),
        sa.Column("evaluated_run_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=True),
        sa.Column("written_back_hash", sa.String(64), nullable=True),
        sa.Column("updated_at", _INSTANT, nullable=False),
    )
    op.create_index("ix_patient_state_last_run_id", "patient_state", ["last_run_id"])

    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(36), nullable=False, unique=True),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("code", sa.String(60), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("urgency", sa.String(10), nullable=False),
        sa.Column("previous_urgency", sa.String(10), nullable=True),
        sa.Column("urgency_changed_run_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("citation", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=True),
        sa.Column("opened_run_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=False),
        sa.Column("last_seen_run_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=False),
        sa.Column("resolved_run_id", sa.Integer(), sa.ForeignKey("sweep_run.id"), nullable=True),
        sa.Column("opened_at", _INSTANT, nullable=False),
        sa.Column("updated_at", _INSTANT, nullable=False),
        sa.Column("acknowledged_at", _INSTANT, nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        sa.Column("resolved_at", _INSTANT, nullable=True),
        sa.Column("resolution", sa.String(40), nullable=True),
    )
    op.create_index("ix_alert_patient_id", "alert", ["patient_id"])
    op.create_index("ix_alert_state", "alert", ["state"])
    # One open alert per patient and code: the guarantee that survives crashes, retries and a second sweeper.
    op.create_index(
        "uq_alert_open",
        "alert",
        ["patient_id", "code"],
        unique=True,
        sqlite_where=sa.text("state <> 'resolved'"),
        postgresql_where=sa.text("state <> 'resolved'"),
    )

    op.create_table(
        "lease",
        sa.Column("name", sa.String(60), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("acquired_at", _INSTANT, nullable=True),
        sa.Column("expires_at", _INSTANT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lease")
    op.drop_index("uq_alert_open", table_name="alert")
    op.drop_table("alert")
    op.drop_table("patient_state")
    op.drop_table("sweep_run")
    # feedback predates the migrations in some databases; leave it.
