"""Cohort sweeps: find the recent CAR-T patients on a FHIR server, assess each one, keep alerts and a worklist.

The door (CLI `cds-cyto sweep`, or the scheduler inside `serve`) builds a `SweepConfig` — today's date included —
and calls `run_sweep`. Modules, one job each:

- `config`: SweepConfig and CohortQuery from Settings, today's date in the site time zone, SMART backend auth
- `cohort`: which patients (recent infusions, a Group, a file of ids), sorted
- `snapshot`: a patient's resources merged across incremental fetches
- `fingerprint`: the hashes that decide re-assessment, the grades a worklist compares
- `runner`: one sweep (lease, resumable run, bounded concurrency, a commit per patient)
- `lease`: the database lease kept alive during a sweep
- `worklist`: alerts by urgency with what changed, as a table, JSON or CSV
- `routes`: the authenticated HTTP worklist
- `writeback`: optional RiskAssessment and Flag resources, conditional updates by identifier
- `scheduler`: APScheduler job for `serve` and `cds-cyto sweep`

Limit: incremental fetches use `_lastUpdated`, which never reports a deletion. A resource deleted on the server
stays in the patient's snapshot until the patient's next full fetch: `--full`, or automatically once its last
full fetch is older than `sweep_full_refresh_days` (default 7).
"""

from cds_cyto.sweep.cohort_query import CohortError, discover_cohort, read_ids_file
from cds_cyto.sweep.config import CohortQuery, SweepConfig, backend_auth, site_today, sweep_config
from cds_cyto.sweep.runner import PatientOutcome, Sweeper, SweepReport, run_sweep
from cds_cyto.sweep.worklist import Worklist, build_worklist, render_csv, render_table

__all__ = [
    "CohortError",
    "CohortQuery",
    "PatientOutcome",
    "SweepConfig",
    "SweepReport",
    "Sweeper",
    "Worklist",
    "backend_auth",
    "build_worklist",
    "discover_cohort",
    "read_ids_file",
    "render_csv",
    "render_table",
    "run_sweep",
    "site_today",
    "sweep_config",
]
