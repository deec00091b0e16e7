"""Persistence (SQLAlchemy): SQLite file by default, PostgreSQL by URL; the schema is owned by Alembic migrations.

Modules, one job each: `db` (engine, the Store facade, feedback), `migrate` (Alembic `upgrade head`), `models`
(tables), `runs` (sweep runs), `patients` (per-patient state, saved in one transaction with its alerts), `alerts`
(reconciliation, acknowledgement, worklist reads), `lease` (one sweeper at a time).
"""

from cds_cyto.store.db import Store, make_engine
from cds_cyto.store.tables import Alert, Base, FeedbackRecord, Lease, PatientState, SweepRun

__all__ = ["Alert", "Base", "FeedbackRecord", "Lease", "PatientState", "Store", "SweepRun", "make_engine"]
