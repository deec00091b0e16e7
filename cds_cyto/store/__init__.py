"""Persistence (SQLAlchemy): SQLite file by default, PostgreSQL by URL; the schema is owned by Alembic migrations.

Modules, one job each: `db` (engine, the Store facade, feedback), `migrate` (Alembic `upgrade head`), `models`
(tables), `runs` (sweep runs), `patients` (per-patient state, saved in one transaction with its alerts), `alerts`
(reconciliation, acknowledgement, worklist reads), `lease` (one sweeper at a time), `screen_tables` /
`screen_sessions` (the screen's sealed SMART sign-ins and sessions).
"""

from cds_cyto.store.db import Store, make_engine
from cds_cyto.store.screen_tables import ScreenSession
from cds_cyto.store.tables import Alert, Base, FeedbackRecord, Lease, PatientState, SweepRun

__all__ = [
    "Alert",
    "Base",
    "FeedbackRecord",
    "Lease",
    "PatientState",
    "ScreenSession",
    "Store",
    "SweepRun",
    "make_engine",
]
