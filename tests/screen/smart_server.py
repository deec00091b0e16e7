"""A SMART authorization server in front of a FHIR server, for the launch tests: Authlib's OAuth 2.0 authorization
code grant with PKCE (S256 required) on Flask, run as its own process:

    python -m tests.screen.smart_server --port P --fhir HAPI_BASE --client-id ID --redirect-uri URI --record FILE

- GET  /fhir/.well-known/smart-configuration   discovery (iss = http://127.0.0.1:P/fhir)
- GET  /oauth/authorize                          approves at once for the test user Practitioner/dr-a
- POST /oauth/token                              the token response with `patient`, `appContext` and an RS256 id_token
- GET  /oauth/jwks                               the id_token's key
- GET  /fhir/...                                 HAPI, for a request bearing a token this server issued
- POST /_test/launch                            a launch id for a patient and appContext (as the EHR makes one)
- POST /_test/expire-codes                       every code issued so far expires (for the expired-code test)

Every access token issued is appended to FILE, so a test can look for it where it must never be (logs, pages).
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.models import AuthorizationCodeMixin, ClientMixin
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, jsonify, request
from joserfc import jwt
from joserfc.jwk import RSAKey

USER = "Practitioner/dr-a"


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    client_id: str
    redirect_uri: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # a public client: PKCE instead of a secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    launch: dict[str, Any]
    expires_at: float = field(default_factory=lambda: time.time() + 300)

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


def build(args: argparse.Namespace) -> Flask:
    app = Flask(__name__)
    base = f"http://127.0.0.1:{args.port}"
    iss = base + "/fhir"
    client = Client(args.client_id, args.redirect_uri)
    launches: dict[str, dict[str, Any]] = {}
    codes: dict[str, Code] = {}
    tokens: dict[str, float] = {}
    key = RSAKey.generate_key(2048, parameters={"kid": "test-1"}, private=True)
    record = Path(args.record)

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["none"]  # noqa: RUF012

        def save_authorization_code(self, code: str, req: Any) -> None:
            codes[code] = Code(
                code,
                req.client.client_id,
                req.payload.redirect_uri,
                req.payload.scope,
                req.payload.data.get("code_challenge"),
                req.payload.data.get("code_challenge_method"),
                launches.get(req.payload.data.get("launch", ""), {}),
            )

        def query_authorization_code(self, code: str, client: Client) -> Code | None:
            found = codes.get(code)
            if found is None or found.client_id != client.client_id or found.expires_at < time.time():
                return None
            return found

        def delete_authorization_code(self, authorization_code: Code) -> None:
            codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: Code) -> str:
            self.request.launch_context = authorization_code.launch
            return USER

    def save_token(token: dict[str, Any], req: Any) -> None:
        tokens[token["access_token"]] = time.time() + int(token.get("expires_in", 3600))
        with record.open("a") as out:
            out.write(token["access_token"] + "\n")
        context = getattr(req, "launch_context", {})
        if "patient" in context:
            token["patient"] = context["patient"]
        if "appContext" in context:
            token["appContext"] = context["appContext"]
        now = int(time.time())
        claims = {"iss": iss, "aud": client.client_id, "sub": "dr-a", "fhirUser": USER, "iat": now, "exp": now + 300}
        token["id_token"] = jwt.encode({"alg": "RS256", "kid": "test-1"}, claims, key, algorithms=["RS256"])

    # save_token may add to the token dict: it is the response body, so the SMART launch context goes there
    server = AuthorizationServer(
        app, query_client=lambda cid: client if cid == client.client_id else None, save_token=save_token
    )
    server.register_grant(CodeGrant, [CodeChallenge(required=True)])

    @app.get("/fhir/.well-known/smart-configuration")
    def smart_configuration() -> Response:
        return jsonify(
            {
                "issuer": iss,
                "authorization_endpoint": base + "/oauth/authorize",
                "token_endpoint": base + "/oauth/token",
                "jwks_uri": base + "/oauth/jwks",
                "grant_types_supported": ["authorization_code"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["none"],
                "scopes_supported": ["launch", "openid", "fhirUser", "patient/*.rs"],
                "capabilities": ["launch-ehr", "client-public", "context-ehr-patient", "sso-openid-connect"],
            }
        )

    @app.get("/oauth/authorize")
    def authorize() -> Any:
        return server.create_authorization_response(grant_user=USER)

    @app.post("/oauth/token")
    def token() -> Any:
        return server.create_token_response()

    @app.get("/oauth/jwks")
    def jwks() -> Response:
        return jsonify({"keys": [key.as_dict(private=False)]})

    @app.post("/_test/launch")
    def new_launch() -> Response:
        # what an EHR does when a clinician opens a card's SMART link: a launch id bound to the patient and appContext
        body = request.get_json(force=True)
        launches[body["id"]] = {k: body[k] for k in ("patient", "appContext") if k in body}
        return jsonify({"id": body["id"]})

    @app.post("/_test/expire-codes")
    def expire_codes() -> Response:
        for c in codes.values():
            c.expires_at = 0.0
        return jsonify({"expired": len(codes)})

    @app.get("/fhir/<path:rest>")
    def fhir(rest: str) -> Response:
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if tokens.get(bearer, 0) < time.time():
            return Response("{}", status=401, content_type="application/fhir+json")
        upstream = httpx.get(f"{args.fhir.rstrip('/')}/{rest}", params=list(request.args.items(multi=True)), timeout=60)
        return Response(upstream.content, status=upstream.status_code, content_type="application/fhir+json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    for name in ("--port", "--fhir", "--client-id", "--redirect-uri", "--record"):
        parser.add_argument(name, required=True)
    args = parser.parse_args()
    os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"  # http on loopback only: this server binds 127.0.0.1
    build(args).run(host="127.0.0.1", port=int(args.port), threaded=True)


if __name__ == "__main__":
    main()
