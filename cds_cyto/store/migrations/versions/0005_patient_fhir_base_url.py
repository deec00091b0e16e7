"""The FHIR base URL a patient's snapshot was swept from (issue 18 item 2).

The hook answers a swept patient from its snapshot only when the call names the same server: a snapshot from
another server (or from before this column: NULL) is never used, the hook fetches in full.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("patient_state") as batch:
        batch.add_column(sa.Column("fhir_base_url", sa.String(2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("patient_state") as batch:
        batch.drop_column("fhir_base_url")
