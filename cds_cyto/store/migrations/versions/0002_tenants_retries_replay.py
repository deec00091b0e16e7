"""Tenants, sweep retries and the shared token-replay store (issue 15).

- `patient_state.tenant`, `alert.tenant`: the trusted issuer whose FHIR server the patient was swept from; the
  worklist shows and acknowledges only the caller's tenant.
- `patient_state.failures`, `failure_reason`, `retry_after`: a patient the sweep could not assess is recorded, the
  run goes on, and the next run retries it with backoff.
- `token_replay`: one row per accepted token (`iss` + `jti`, hashed) until the token expires, shared by every worker
  and replica that uses this database.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_INSTANT = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("patient_state") as table:
        table.add_column(sa.Column("tenant", sa.String(300), nullable=True))
        table.add_column(sa.Column("failures", sa.Integer(), nullable=False, server_default="0"))
        table.add_column(sa.Column("failure_reason", sa.Text(), nullable=True))
        table.add_column(sa.Column("retry_after", _INSTANT, nullable=True))
    op.create_index("ix_patient_state_tenant", "patient_state", ["tenant"])
    with op.batch_alter_table("alert") as table:
        table.add_column(sa.Column("tenant", sa.String(300), nullable=True))
    op.create_index("ix_alert_tenant", "alert", ["tenant"])
    op.create_table(
        "token_replay",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("expires_at", _INSTANT, nullable=False),
    )
    op.create_index("ix_token_replay_expires_at", "token_replay", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_token_replay_expires_at", table_name="token_replay")
    op.drop_table("token_replay")
    op.drop_index("ix_alert_tenant", table_name="alert")
    with op.batch_alter_table("alert") as table:
        table.drop_column("tenant")
    op.drop_index("ix_patient_state_tenant", table_name="patient_state")
    with op.batch_alter_table("patient_state") as table:
        table.drop_column("retry_after")
        table.drop_column("failure_reason")
        table.drop_column("failures")
        table.drop_column("tenant")
