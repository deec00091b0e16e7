"""The CAR-T team's screen: a patient timeline and the worklist in the browser (issue 17).

Server-rendered HTML with one small script and one style sheet served from here (no CDN: it works offline). The
timeline renders the same Assessment the cards come from (the one core `evaluate`, fed by the runtime's patient
source); the worklist is the sweep's. Modules, one job each: `timeline` (what the page shows, from an Assessment),
`chart` (that as inline SVG), `pages` / `worklist_page` (HTML), `patient` (reading and assessing one patient),
`demo_sweep` (the demo's one sweep at start), `routes` (the router the app includes).

A composer like `cds_cyto.app`: it puts the CDS door's runtime and the sweep's worklist on one screen; no door
imports it.
"""

from cds_cyto.screen.routes import screen_pages

__all__ = ["screen_pages"]
