"""The tenant a sweep run swept (issue 15): a worklist's "changes since the last sweep" and its `since_run` are
each tenant's own last completed sweep, never another tenant's.

Existing runs take the tenant of the patients or alerts they touched ("" when none is known: swept before tenants
existed, or with none configured).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A run sweeps one tenant, so any patient or alert it touched names it.
_BACKFILL = """
UPDATE sweep_run SET tenant = COALESCE(
    (SELECT MIN(p.tenant) FROM patient_state p
      WHERE p.last_run_id = sweep_run.id OR p.evaluated_run_id = sweep_run.id),
    (SELECT MIN(a.tenant) FROM alert a
      WHERE a.opened_run_id = sweep_run.id OR a.last_seen_run_id = sweep_run.id OR a.resolved_run_id = sweep_run.id),
    '')
"""


def upgrade() -> None:
    with op.batch_alter_table("sweep_run") as batch:
        batch.add_column(sa.Column("tenant", sa.String(300), nullable=False, server_default=""))
        batch.create_index("ix_sweep_run_tenant", ["tenant"])
    op.execute(_BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table("sweep_run") as batch:
        batch.drop_index("ix_sweep_run_tenant")
        batch.drop_column("tenant")
