"""Optional OpenID Connect sign-in with a region's identity provider, through Authlib (discovery, authorization code
with PKCE, state and nonce, ID-token signature and claims checks). Nothing of OIDC is written by hand here: this
module only keeps the per-login values between the redirect and the callback, in a short-lived HttpOnly cookie.

The provider says who the person is; the office's own account (matched on PARITRANA_OFFICE_OIDC_USERNAME_CLAIM)
says what they may do and where.
"""

from __future__ import annotations

import json
from typing import Any

from shared.settings import Settings

SCOPE = "openid profile email"


class SingleSignOn:
    def __init__(self, settings: Settings) -> None:
        from authlib.integrations.starlette_client import OAuth  # imported only where single sign-on is configured

        assert settings.office_oidc_issuer and settings.office_oidc_client_id
        self.claim, self.label = settings.office_oidc_username_claim, settings.office_oidc_label
        oauth = OAuth()
        self.client: Any = oauth.register(
            "region", client_id=settings.office_oidc_client_id,
            client_secret=settings.office_oidc_client_secret,
            server_metadata_url=settings.office_oidc_issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs={"scope": SCOPE, "code_challenge_method": "S256"})

    @classmethod
    def configured(cls, settings: Settings) -> SingleSignOn | None:
        return cls(settings) if settings.office_oidc_issuer and settings.office_oidc_client_id else None

    async def start(self, redirect_uri: str) -> tuple[str, str]:
        """The provider's authorization URL, and what the callback needs back (state, nonce, PKCE verifier)."""
        created = await self.client.create_authorization_url(redirect_uri)
        kept = {"state": created["state"], "nonce": created["nonce"], "verifier": created["code_verifier"]}
        return created["url"], json.dumps(kept)

    async def finish(self, kept: str, state: str, code: str, redirect_uri: str) -> str | None:
        """The username the provider vouches for, or None if the state does not match or the ID token fails."""
        try:
            values = json.loads(kept)
        except ValueError:
            return None
        if not isinstance(values, dict) or not state or values.get("state") != state:
            return None
        token = await self.client.fetch_access_token(redirect_uri=redirect_uri, code=code,
                                                     code_verifier=values["verifier"])
        claims = await self.client.parse_id_token(token, nonce=values["nonce"])
        username = claims.get(self.claim)
        return str(username).strip().lower() if username else None
