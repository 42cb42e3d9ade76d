"""Single sign-on with OpenID Connect, against a small identity provider served in the test (discovery, an
authorization endpoint that signs the test's person in at once, a token endpoint issuing RS256 ID tokens, JWKS).
The office's side is Authlib's: state, nonce, PKCE and the ID token's signature, issuer, audience and expiry."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI, Form
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey

from services.office import service
from tests.office.conftest import running_office
from tests.support import serving

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:.*httpx.*")

CLIENT_ID, CLIENT_SECRET = "paritrana-office", "a-client-secret"


def identity_provider(person: dict[str, str], key: RSAKey, issuer: list[str]) -> FastAPI:
    """`person["username"]` signs in; `person["nonce"]`, when set, overrides the nonce put in the ID token."""
    app = FastAPI()
    codes: dict[str, dict[str, str]] = {}

    @app.get("/.well-known/openid-configuration")
    async def discovery() -> dict[str, object]:
        return {"issuer": issuer[0], "authorization_endpoint": f"{issuer[0]}/authorize",
                "token_endpoint": f"{issuer[0]}/token", "jwks_uri": f"{issuer[0]}/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"], "code_challenge_methods_supported": ["S256"]}

    @app.get("/jwks")
    async def jwks() -> dict[str, object]:
        return {"keys": [key.as_dict(private=False)]}

    @app.get("/authorize")
    async def authorize(client_id: str, redirect_uri: str, state: str, nonce: str, code_challenge: str,
                        code_challenge_method: str, response_type: str, scope: str) -> RedirectResponse:
        assert client_id == CLIENT_ID and response_type == "code" and "openid" in scope.split()
        assert code_challenge_method == "S256"
        code = secrets.token_urlsafe(16)
        codes[code] = {"nonce": nonce, "challenge": code_challenge, "redirect_uri": redirect_uri}
        return RedirectResponse(f"{redirect_uri}?{urlencode({'code': code, 'state': state})}", status_code=302)

    @app.post("/token")
    async def token(grant_type: str = Form(), code: str = Form(), redirect_uri: str = Form(),
                    code_verifier: str = Form(), client_id: str | None = Form(None),
                    client_secret: str | None = Form(None)) -> dict[str, object]:
        issued = codes.pop(code)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
        assert grant_type == "authorization_code" and challenge == issued["challenge"]
        assert redirect_uri == issued["redirect_uri"]
        now = int(time.time())
        claims = {"iss": issuer[0], "sub": "subject-1", "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": person.get("nonce") or issued["nonce"], "preferred_username": person["username"]}
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                "id_token": id_token}

    return app


async def sign_in_with_sso(office_url: str) -> tuple[httpx.AsyncClient, httpx.Response]:
    client = httpx.AsyncClient(base_url=office_url, timeout=30.0, follow_redirects=True)
    page = await client.get("/sign-in")
    assert 'href="/sign-in/sso"' in page.text and "Masuk dengan Kantor Disnaker" in page.text
    return client, await client.get("/sign-in/sso")


async def test_single_sign_on_signs_in_an_existing_account_only(broker, office_settings):
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    person: dict[str, str] = {"username": "VER-CILEGON"}
    issuer = ["http://placeholder"]
    async with serving(lambda _settings: identity_provider(person, key, issuer), None, ready=False) as idp:
        issuer[0] = idp.url
        settings = await office_settings(broker, office_oidc_issuer=idp.url, office_oidc_client_id=CLIENT_ID,
                                         office_oidc_client_secret=CLIENT_SECRET, office_oidc_label="Kantor Disnaker")
        async with running_office(settings) as office:
            client, answer = await sign_in_with_sso(office.url)
            assert answer.status_code == 200 and 'http-equiv="refresh"' in answer.text
            home = await client.get("/")
            assert home.status_code == 200 and "Ver-Cilegon" in home.text
            await client.aclose()
            entries = await service.audit_page(office.server.runtime.database, None, "signed_in", "ver-cilegon", None)
            assert entries[0].after == {"via": "oidc"}

            # The provider vouches for someone with no office account: no session.
            person["username"] = "stranger"
            client, answer = await sign_in_with_sso(office.url)
            assert answer.status_code == 403 and 'data-code="no_account"' in answer.text
            assert str((await client.get("/")).url).endswith("/sign-in")
            await client.aclose()

            # An ID token for another login (wrong nonce) is refused by Authlib's checks.
            person.update(username="ver-cilegon", nonce="not-this-login")
            client, answer = await sign_in_with_sso(office.url)
            assert answer.status_code == 403 and 'data-code="sso_failed"' in answer.text
            await client.aclose()
            del person["nonce"]

            # A callback whose state is not this browser's is refused before any token is fetched.
            async with httpx.AsyncClient(base_url=office.url) as forged:
                answer = await forged.get("/sign-in/sso/callback", params={"state": "x", "code": "y"})
                assert answer.status_code == 403


async def test_without_settings_there_is_no_single_sign_on(broker, office_settings):
    settings = await office_settings(broker)
    async with running_office(settings) as office:
        client = office.client()
        assert 'href="/sign-in/sso"' not in (await client.get("/sign-in")).text
        assert (await client.get("/sign-in/sso")).status_code == 404
