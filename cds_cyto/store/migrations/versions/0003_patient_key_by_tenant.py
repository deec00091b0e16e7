"""A patient is its tenant and its id: tenants may share patient ids (issue 15).

Two tenants' FHIR servers may both have a `Patient/123`. Keyed by the id alone, the second tenant's sweep took over
the first one's row and re-stamped its alerts. Now:

- `patient_state`: primary key (`tenant`, `patient_id`); `tenant` NOT NULL, "" for rows swept with no tenant (a
  key column cannot be NULL);
- `alert.tenant`: NOT NULL, "" likewise; the one-open-alert index is per (`tenant`, `patient_id`, `code`).

Every row is kept: a NULL tenant becomes "", which the store reads back as "no tenant", as before.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TENANT = sa.String(300)
_OPEN = sa.text("state <> 'resolved'")


def _primary_key(columns: list[str]) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("patient_state_pkey", "patient_state", type_="primary")
        op.create_primary_key("patient_state_pkey", "patient_state", columns)
    else:  # SQLite cannot alter a key: the table is copied into its new shape, rows and indexes included
        with warnings.catch_warnings():
            # The copy's columns still carry the old key flag; SQLAlchemy says so and takes the new key, as meant.
            warnings.filterwarnings("ignore", "Table '_alembic_tmp_patient_state' specifies columns", sa.exc.SAWarning)
            with op.batch_alter_table("patient_state", recreate="always") as table:
                table.create_primary_key("pk_patient_state", columns)


def _open_alert_index(columns: list[str]) -> None:
    op.drop_index("uq_alert_open", table_name="alert")
    op.create_index("uq_alert_open", "alert", columns, unique=True, sqlite_where=_OPEN, postgresql_where=_OPEN)


def upgrade() -> None:
    op.execute("UPDATE patient_state SET tenant = '' WHERE tenant IS NULL")
    op.execute("UPDATE alert SET tenant = '' WHERE tenant IS NULL")
    with op.batch_alter_table("patient_state") as table:
        table.alter_column("tenant", existing_type=_TENANT, nullable=False, server_default="")
    _primary_key(["tenant", "patient_id"])
    with op.batch_alter_table("alert") as table:
        table.alter_column("tenant", existing_type=_TENANT, nullable=False, server_default="")
    _open_alert_index(["tenant", "patient_id", "code"])


def downgrade() -> None:
    # Only possible while no two tenants share a patient id (the old key would refuse the second row).
    _open_alert_index(["patient_id", "code"])
    with op.batch_alter_table("alert") as table:
        table.alter_column("tenant", existing_type=_TENANT, nullable=True, server_default=None)
    _primary_key(["patient_id"])
    with op.batch_alter_table("patient_state") as table:
        table.alter_column("tenant", existing_type=_TENANT, nullable=True, server_default=None)
    op.execute("UPDATE alert SET tenant = NULL WHERE tenant = ''")
    op.execute("UPDATE patient_state SET tenant = NULL WHERE tenant = ''")
