"""A typed Python client for the Paritrana APIs (enrolment, subsidy, award), sync and async, on httpx.

    from paritrana.client import Client
    with Client(enrolment_url="http://127.0.0.1:8001", api_key="prt_…") as client:
        result = client.register(body)            # raises ApiError with per-field errors on 4xx
        for registration in client.registrations(region="36.72"):   # pagination is an iterator
            ...

Requests are retried on 429 and 503 (honouring Retry-After) and on connection errors, with capped exponential
backoff. Retrying a registration is always safe: the server dedupes by the client's registration_id.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class FieldProblem:
    field: str | None
    code: str
    message: str


class ApiError(Exception):
    """A 4xx/5xx answer, with the server's per-field errors."""

    def __init__(self, status: int, errors: list[FieldProblem], body: Any = None) -> None:
        self.status, self.errors, self.body = status, errors, body
        summary = "; ".join(f"{e.field or '-'}: {e.message}" for e in errors) or "no detail"
        super().__init__(f"HTTP {status}: {summary}")

    @property
    def codes(self) -> list[str]:
        return [e.code for e in self.errors]


@dataclass
class RetryPolicy:
    attempts: int = 6
    initial: float = 0.5
    cap: float = 30.0
    sleep: Callable[[float], Any] = field(default=time.sleep, repr=False)

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        retry_after = _retry_after(response) if response is not None else None
        backoff = min(self.cap, self.initial * 2**attempt) * random.uniform(0.5, 1.0)
        return min(self.cap, retry_after) if retry_after is not None else backoff


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = response.text
    errors = []
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        errors = [FieldProblem(e.get("field"), e.get("code", "error"), e.get("message", "")) for e in body["errors"]]
    raise ApiError(response.status_code, errors, body)


def _settle(retry: RetryPolicy, attempt: int, response: httpx.Response | None,
            error: Exception | None) -> tuple[bool, Any]:
    """After one attempt: (True, the JSON answer), or (False, seconds to wait before the next); raises when the
    answer is a final error or the attempts are used up."""
    if response is not None and response.status_code not in RETRY_STATUSES:
        _raise_for(response)
        return True, response.json()
    if attempt == retry.attempts - 1:
        if error is not None:
            raise error
        _raise_for(response)  # type: ignore[arg-type]
    return False, retry.delay(attempt, response)


class _Routes:
    """The endpoints, shared by the sync and async clients: (service, method, path, json, params)."""

    @staticmethod
    def register(body: Mapping[str, Any]) -> tuple[str, str, str, Any, Any]:
        return "enrolment", "POST", "/v1/registrations", dict(body), None

    @staticmethod
    def register_batch(items: list[Mapping[str, Any]]) -> tuple[str, str, str, Any, Any]:
        return "enrolment", "POST", "/v1/registrations/batch", {"items": [dict(i) for i in items]}, None

    @staticmethod
    def registration(registration_id: str) -> tuple[str, str, str, Any, Any]:
        return "enrolment", "GET", f"/v1/registrations/{registration_id}", None, None

    @staticmethod
    def end(registration_id: str, reason: str, end_month: str | None) -> tuple[str, str, str, Any, Any]:
        body = {"reason": reason} | ({"end_month": end_month} if end_month else {})
        return "enrolment", "POST", f"/v1/registrations/{registration_id}/end", body, None

    @staticmethod
    def regions() -> tuple[str, str, str, Any, Any]:
        return "enrolment", "GET", "/v1/regions", None, None

    @staticmethod
    def budget(region_code: str, year: int) -> tuple[str, str, str, Any, Any]:
        return "subsidy", "GET", f"/v1/budgets/{region_code}", None, {"year": year}

    @staticmethod
    def set_budget_lines(region_code: str, year: int, lines: list[Mapping[str, Any]],
                         funding_policy: str | None = None) -> tuple[str, str, str, Any, Any]:
        body: dict[str, Any] = {"lines": [dict(x) for x in lines]}
        if funding_policy is not None:
            body["funding_policy"] = funding_policy
        return "subsidy", "PUT", f"/v1/budgets/{region_code}/{year}/lines", body, None

    @staticmethod
    def put_target(region_code: str, year: int, population: int, source: str) -> tuple[str, str, str, Any, Any]:
        body = {"fiscal_year": year, "target_population": population, "source": source}
        return "award", "PUT", f"/v1/regions/{region_code}/target", body, None

    @staticmethod
    def put_regulation(region_code: str, regulation: Mapping[str, Any]) -> tuple[str, str, str, Any, Any]:
        return "award", "PUT", f"/v1/regions/{region_code}/regulation", dict(regulation), None

    @staticmethod
    def add_innovation(region_code: str, year: int, title: str, note: str,
                       points: int) -> tuple[str, str, str, Any, Any]:
        body = {"fiscal_year": year, "title": title, "note": note, "points": points}
        return "award", "POST", f"/v1/regions/{region_code}/innovations", body, None

    @staticmethod
    def rankings(level: str, year: int, province: str | None) -> tuple[str, str, str, Any, Any]:
        params = {"level": level, "year": year} | ({"province": province} if province else {})
        return "award", "GET", "/v1/rankings", None, params

    @staticmethod
    def indicators(region_code: str) -> tuple[str, str, str, Any, Any]:
        return "award", "GET", f"/v1/indicators/{region_code}", None, None


def _list_params(filters: Mapping[str, Any], cursor: str | None, limit: int) -> dict[str, Any]:
    params = {k: v for k, v in filters.items() if v is not None} | {"limit": limit}
    if cursor:
        params["cursor"] = cursor
    return params


class Client:
    """Synchronous client. Give the base URL of each service you call."""

    def __init__(self, api_key: str, *, enrolment_url: str | None = None, subsidy_url: str | None = None,
                 award_url: str | None = None, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.urls = {"enrolment": enrolment_url, "subsidy": subsidy_url, "award": award_url}
        self.retry = retry or RetryPolicy()
        self._http = httpx.Client(headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout,
                                  transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, route: tuple[str, str, str, Any, Any]) -> Any:
        service, method, path, body, params = route
        base = self.urls[service]
        if not base:
            raise ValueError(f"no {service}_url given to the client")
        for attempt in range(self.retry.attempts):
            response, error = None, None
            try:
                response = self._http.request(method, base.rstrip("/") + path, json=body, params=params)
            except httpx.TransportError as exc:
                error = exc
            done, value = _settle(self.retry, attempt, response, error)
            if done:
                return value
            self.retry.sleep(value)
        raise AssertionError("unreachable")

    def register(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._call(_Routes.register(body))

    def register_batch(self, items: list[Mapping[str, Any]]) -> dict[str, Any]:
        return self._call(_Routes.register_batch(items))

    def registration(self, registration_id: str) -> dict[str, Any]:
        return self._call(_Routes.registration(registration_id))

    def end(self, registration_id: str, reason: str, end_month: str | None = None) -> dict[str, Any]:
        return self._call(_Routes.end(registration_id, reason, end_month))

    def regions(self) -> Any:
        return self._call(_Routes.regions())

    def registrations(self, *, region: str | None = None, status: str | None = None, category: str | None = None,
                      updated_since: str | None = None, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """Every registration matching the filters, fetched page by page as you iterate. Without updated_since,
        the listing: each registration once, in order of registration, even while others are ended. With it, the
        change feed for syncing: in order of last change, and one that changes meanwhile comes again."""
        cursor = None
        filters = {"region": region, "status": status, "category": category, "updated_since": updated_since}
        while True:
            page = self._call(("enrolment", "GET", "/v1/registrations", None,
                               _list_params(filters, cursor, page_size)))
            yield from page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def budget(self, region_code: str, year: int) -> dict[str, Any]:
        return self._call(_Routes.budget(region_code, year))

    def set_budget_lines(self, region_code: str, year: int, lines: list[Mapping[str, Any]],
                         funding_policy: str | None = None) -> dict[str, Any]:
        """The budget's lines, and with funding_policy ("wait" or "deny") what it does with what it cannot cover."""
        return self._call(_Routes.set_budget_lines(region_code, year, lines, funding_policy))

    def put_target(self, region_code: str, year: int, population: int, source: str) -> Any:
        return self._call(_Routes.put_target(region_code, year, population, source))

    def put_regulation(self, region_code: str, regulation: Mapping[str, Any]) -> Any:
        return self._call(_Routes.put_regulation(region_code, regulation))

    def add_innovation(self, region_code: str, year: int, title: str, note: str, points: int) -> Any:
        return self._call(_Routes.add_innovation(region_code, year, title, note, points))

    def rankings(self, level: str, year: int, province: str | None = None) -> Any:
        return self._call(_Routes.rankings(level, year, province))

    def indicators(self, region_code: str) -> Any:
        return self._call(_Routes.indicators(region_code))


class AsyncClient:
    """The same API for asyncio code."""

    def __init__(self, api_key: str, *, enrolment_url: str | None = None, subsidy_url: str | None = None,
                 award_url: str | None = None, timeout: float = 30.0, retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.urls = {"enrolment": enrolment_url, "subsidy": subsidy_url, "award": award_url}
        self.retry = retry or RetryPolicy(sleep=asyncio.sleep)
        self._http = httpx.AsyncClient(headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout,
                                       transport=transport)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, route: tuple[str, str, str, Any, Any]) -> Any:
        service, method, path, body, params = route
        base = self.urls[service]
        if not base:
            raise ValueError(f"no {service}_url given to the client")
        for attempt in range(self.retry.attempts):
            response, error = None, None
            try:
                response = await self._http.request(method, base.rstrip("/") + path, json=body, params=params)
            except httpx.TransportError as exc:
                error = exc
            done, value = _settle(self.retry, attempt, response, error)
            if done:
                return value
            pause = self.retry.sleep(value)
            if asyncio.iscoroutine(pause):
                await pause
        raise AssertionError("unreachable")

    async def register(self, body: Mapping[str, Any]) -> dict[str, Any]:
        return await self._call(_Routes.register(body))

    async def register_batch(self, items: list[Mapping[str, Any]]) -> dict[str, Any]:
        return await self._call(_Routes.register_batch(items))

    async def registration(self, registration_id: str) -> dict[str, Any]:
        return await self._call(_Routes.registration(registration_id))

    async def end(self, registration_id: str, reason: str, end_month: str | None = None) -> dict[str, Any]:
        return await self._call(_Routes.end(registration_id, reason, end_month))

    async def regions(self) -> Any:
        return await self._call(_Routes.regions())

    async def registrations(self, *, region: str | None = None, status: str | None = None,
                            category: str | None = None, updated_since: str | None = None,
                            page_size: int = 200) -> AsyncIterator[dict[str, Any]]:
        cursor = None
        filters = {"region": region, "status": status, "category": category, "updated_since": updated_since}
        while True:
            page = await self._call(("enrolment", "GET", "/v1/registrations", None,
                                     _list_params(filters, cursor, page_size)))
            for item in page["items"]:
                yield item
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def budget(self, region_code: str, year: int) -> dict[str, Any]:
        return await self._call(_Routes.budget(region_code, year))

    async def set_budget_lines(self, region_code: str, year: int, lines: list[Mapping[str, Any]],
                               funding_policy: str | None = None) -> dict[str, Any]:
        """The budget's lines, and with funding_policy ("wait" or "deny") what it does with what it cannot cover."""
        return await self._call(_Routes.set_budget_lines(region_code, year, lines, funding_policy))

    async def put_target(self, region_code: str, year: int, population: int, source: str) -> Any:
        return await self._call(_Routes.put_target(region_code, year, population, source))

    async def put_regulation(self, region_code: str, regulation: Mapping[str, Any]) -> Any:
        return await self._call(_Routes.put_regulation(region_code, regulation))

    async def add_innovation(self, region_code: str, year: int, title: str, note: str, points: int) -> Any:
        return await self._call(_Routes.add_innovation(region_code, year, title, note, points))

    async def rankings(self, level: str, year: int, province: str | None = None) -> Any:
        return await self._call(_Routes.rankings(level, year, province))

    async def indicators(self, region_code: str) -> Any:
        return await self._call(_Routes.indicators(region_code))
