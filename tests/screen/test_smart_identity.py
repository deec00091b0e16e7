"""Who the user is comes only from an id_token checked against the authorization server's own `issuer`: a SMART
configuration that names none (SMART 2.0 requires it with `sso-openid-connect`) proves nobody, so the sign-in opens
the launch's patient but never the worklist — and the token is not even fetched against, whatever it claims."""

from __future__ import annotations

import asyncio

import httpx

from cds_cyto.screen.smart import Endpoints, _user
from cds_cyto.screen.smart_config import SmartApp

APP = SmartApp(
    "screen", {"https://ehr.example/fhir": "ward-7"}, "https://cds.example/app/callback", True, "https://cds.example"
)
NO_ISSUER = Endpoints("https://as.example/authorize", "https://as.example/token", "http://127.0.0.1:9/jwks", None)
# any well-formed JWT: with no issuer to check it against it must not matter what it says
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJkci1hIiwiYXVkIjoic2NyZWVuIn0.c2ln"


def test_without_an_issuer_the_id_token_names_nobody_and_no_key_is_fetched() -> None:
    async def ask() -> str | None:
        # port 9 (discard): a request for the keys would fail with a transport error, not return None
        async with httpx.AsyncClient(timeout=2, trust_env=False) as http:
            return await _user(http, NO_ISSUER, APP, ID_TOKEN)

    assert asyncio.run(ask()) is None
