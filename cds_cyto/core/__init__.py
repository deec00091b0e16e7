"""The pure core: raw FHIR JSON → `PatientRecord` → `Assessment`, with every clinical number from the profile.

Rooms, each importing only the rooms above it:

    profile/     all clinical data and its one loader (criteria, units, codes, thresholds, risk tables, rules,
                 the site model artifact reader)
    extract/     the one reader: raw FHIR JSON → typed, unit-normalised `PatientRecord`
    grading/     CTCAE, seed-paper definitions, ICAHT, episodes
    risk/        CAR-HEMATOTOX, CRS features, marker peaks, published factors (computes only)
    assessment/  the result: `Assessment`, its recommendations and its JSON contract
    recommend/   the table of rules and the engines that fire them
    evaluate     `evaluate(record, as_of, profile) -> Assessment`, the one function every door calls

No module here imports a door (cds, sweep, store, cli, analytics, sources, simulate), reads a file after the profile
is built, or reads the clock; `tests/core/test_import_graph.py` keeps it so.
"""
