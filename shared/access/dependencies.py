"""FastAPI dependencies: ``Annotated[Principal, Depends(require_scope("registrations:write"))]``."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import replace

from fastapi import Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from shared.access.keys import AccessStore, Principal
from shared.http import HttpProblem

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer prt_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="The same API key, as a header")


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
        presented = credentials.credentials if credentials else await _header(request)
        if not presented:
            raise HttpProblem(401, "unauthenticated", "An API key is required.", field="Authorization",
                           headers={"WWW-Authenticate": "Bearer"})
        store: AccessStore = request.app.state.access
        principal = await store.authenticate(presented)
        if principal is None:
            raise HttpProblem(401, "invalid_key", "The API key is unknown or revoked.", field="Authorization",
                           headers={"WWW-Authenticate": "Bearer"})
        wait = request.app.state.rate_limiter.take(principal.key_id, principal.rate_limit_per_second)
        if wait > 0:
            raise HttpProblem(429, "rate_limited", "Too many requests for this key; retry after the given seconds.",
                           headers={"Retry-After": str(max(1, math.ceil(wait)))})
        if not principal.has_scope(scope):
            raise HttpProblem(403, "missing_scope", f"This key lacks the {scope} scope.")
        principal = replace(principal, source_ip=request.client.host if request.client else None)
        request.state.principal = principal
        return principal

    dependency.__name__ = f"require_{scope.replace(':', '_')}"
    return dependency


def forbid_outside(principal: Principal, region_code: str) -> None:
    """403 for a region the key may not act in: the same answer whether or not anything exists there."""
    if not principal.may_act_in(region_code):
        raise HttpProblem(403, "outside_region", "This key may not act in that region.")
