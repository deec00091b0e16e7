"""The `links` of a card: a SMART link that opens cds-cyto's patient timeline from the EHR (issue 17).

CDS Hooks 2.0 §Link: `type: "smart"` tells the EHR to SMART-launch `url` (it adds `launch` and `iss`); `appContext`
is a string the EHR hands back with the launch context, here naming the patient and the recommendation so the app
opens on them. The URL is the app's launch endpoint under the service's public base URL.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["LAUNCH_PATH", "smart_links"]

LAUNCH_PATH = "/app/launch"


def smart_links(public_base_url: str, patient_id: str | None, code: str) -> list[dict[str, Any]]:
    context = {"patient": patient_id, "recommendation": code}
    return [
        {
            "label": "Open the cytopenia timeline",
            "url": public_base_url.rstrip("/") + LAUNCH_PATH,
            "type": "smart",
            "appContext": orjson.dumps(context).decode(),
        }
    ]
