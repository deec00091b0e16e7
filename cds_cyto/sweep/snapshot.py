"""The sweep's name for the patient snapshot rule, which lives beside the sources because the hook's swept route
(`cds_cyto.sources._swept`) merges by it too: one rule, and no import from sources back into a door."""

from cds_cyto.sources._snapshot import Snapshot, merge, rebuild, snapshot_hash

__all__ = ["Snapshot", "merge", "rebuild", "snapshot_hash"]
