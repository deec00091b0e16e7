"""Persistence (SQLAlchemy): SQLite file by default, PostgreSQL by URL."""

from cds_cyto.store.db import Store, make_engine
from cds_cyto.store.models import Base, FeedbackRecord

__all__ = ["Base", "FeedbackRecord", "Store", "make_engine"]
