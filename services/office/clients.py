"""The office's calls to the other services' APIs, with the office's own API key (PARITRANA_OFFICE_API_KEY).

The office never reaches into another service's database: what it shows comes from their APIs, and an approved
change is applied through them, so their own checks (regions, amounts already committed) still hold.
"""

from __future__ import annotations

from typing import Any

import httpx

from services.office.domain import BudgetTerms, Line
from shared.access.keys import key_id_of
from shared.settings import Settings

TIMEOUT_SECONDS = 15.0


class UpstreamError(Exception):
    """Another service refused (status and its error code) or could not be reached (status 0)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(f"{status} {code}")
        self.status, self.code = status, code


class Upstream:
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        headers = {"Authorization": f"Bearer {settings.office_api_key}"} if settings.office_api_key else {}
        self.key_id = key_id_of(settings.office_api_key) if settings.office_api_key else None
        self.subsidy = httpx.AsyncClient(base_url=settings.upstream_url("subsidy"), headers=headers,
                                         timeout=TIMEOUT_SECONDS, transport=transport)
        self.award = httpx.AsyncClient(base_url=settings.upstream_url("award"), headers=headers,
                                       timeout=TIMEOUT_SECONDS, transport=transport)
        self.enrolment = httpx.AsyncClient(base_url=settings.upstream_url("enrolment"), headers=headers,
                                           timeout=TIMEOUT_SECONDS, transport=transport)

    async def close(self) -> None:
        await self.subsidy.aclose()
        await self.award.aclose()
        await self.enrolment.aclose()

    @staticmethod
    async def _call(client: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UpstreamError(0, type(exc).__name__) from None

    @staticmethod
    def _refused(response: httpx.Response) -> UpstreamError:
        try:
            code = str(response.json()["errors"][0]["code"])
        except Exception:
            code = "error"
        return UpstreamError(response.status_code, code)

    async def json(self, client: httpx.AsyncClient, method: str, path: str, ok: tuple[int, ...] = (200,),
                   **kwargs: Any) -> Any:
        """The answer's JSON when its status is one of `ok`; otherwise UpstreamError (status and error code)."""
        response = await self._call(client, method, path, **kwargs)
        if response.status_code not in ok:
            raise self._refused(response)
        return response.json()

    async def key_actions(self, service: str, after: int, limit: int) -> dict[str, Any]:
        """A page of what keys changed directly in a service (shared/key_actions.py), oldest first."""
        client = {"enrolment": self.enrolment, "subsidy": self.subsidy, "award": self.award}[service]
        body: dict[str, Any] = await self.json(client, "GET", "/v1/audit/key-actions",
                                               params={"after": after, "limit": limit})
        return body

    async def budget(self, region_code: str, year: int) -> dict[str, Any] | None:
        """Subsidy's budget for the region and year; None when it has none yet."""
        response = await self._call(self.subsidy, "GET", f"/v1/budgets/{region_code}", params={"year": year})
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._refused(response)
        body: dict[str, Any] = response.json()
        return body

    async def lines(self, region_code: str, year: int) -> tuple[list[Line], BudgetTerms]:
        """The budget's lines and terms now (a budget not set yet: none, and a new budget's terms)."""
        budget = await self.budget(region_code, year)
        return [Line.from_json(line) for line in (budget or {}).get("lines", [])], BudgetTerms.from_json(budget)

    async def put_lines(self, region_code: str, year: int, lines: list[Line],
                        terms: BudgetTerms | None) -> dict[str, Any]:
        """Every line after the amendment, and the terms (None: a change submitted before terms existed leaves them)."""
        body = {"lines": [line.as_json() for line in lines]} | (terms.as_json() if terms else {})
        response = await self._call(self.subsidy, "PUT", f"/v1/budgets/{region_code}/{year}/lines", json=body)
        if response.status_code != 200:
            raise self._refused(response)
        body: dict[str, Any] = response.json()
        return body

    async def waiting(self, regency_code: str, year: int, limit: int = 50) -> dict[str, Any] | None:
        response = await self._call(self.subsidy, "GET", f"/v1/waiting/{regency_code}/{year}",
                                    params={"limit": limit})
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    async def indicators(self, region_code: str, year: int) -> dict[str, Any] | None:
        """The award service's indicators for the region (score, rank in province); None if it has none."""
        response = await self._call(self.award, "GET", f"/v1/indicators/{region_code}", params={"year": year})
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body

    async def invoices(self, year: int, month: int) -> dict[str, Any] | None:
        """Subsidy's invoices for a month (open or closed), every region the office's key covers."""
        response = await self._call(self.subsidy, "GET", f"/v1/invoices/{year}/{month}")
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body
