"""A steady stream of synthetic registrations through the enrolment API while a fault happens: partner apps
sending singles, field kits uploading batches (and now and then re-sending a batch they are unsure of), and a few
ends. It keeps count of what it sent and of every registration answered 2xx: the promise is about those."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from paritrana.client import ApiError, AsyncClient, RetryPolicy
from paritrana.synthetic import WorkerFactory, registration_payload
from shared.clock import FISCAL_TZ

TICK_SECONDS = 0.5
SINGLE_SHARE = 0.4  # the rest arrives in batches
RESEND_EVERY = 6  # every sixth batch is sent twice, as a kit back in signal would
END_EVERY = 4  # ticks between attempts to end a registration
MONTHLY_PREMIUM = 16_800


def coverage_now() -> tuple[str, int, int]:
    """(start_month, months, fiscal_year) for a registration made today: this month to at most December."""
    today = datetime.now(FISCAL_TZ).date()
    return f"{today.year}-{today.month:02d}", min(2, 13 - today.month), today.year


@dataclass
class TrafficCounts:
    sent: int = 0  # registrations sent, each once (deliberate resends not counted)
    resent: int = 0
    accepted: set[str] = field(default_factory=set)  # answered 201, or 200 / "duplicate" to a resend
    rejected: Counter = field(default_factory=Counter)  # 4xx codes (NIK clashes between synthetic workers)
    unanswered: dict[str, dict[str, Any]] = field(default_factory=dict)  # no answer after the client's retries
    failures: Counter = field(default_factory=Counter)  # what those got: an HTTP status or an exception name
    ended: set[str] = field(default_factory=set)


class Traffic:
    """Runs in the background between `start()` and `stop()`; `stop()` re-sends whatever got no answer."""

    def __init__(self, api_key: str, enrolment_url: str, regions: list[str], *, seed: int, rate: float) -> None:
        self.client = AsyncClient(api_key, enrolment_url=enrolment_url, timeout=30.0,
                                  retry=RetryPolicy(attempts=10, initial=0.5, cap=5.0, sleep=asyncio.sleep))
        self.rng = random.Random(seed)
        self.factory = WorkerFactory(seed=seed, regency_codes=regions,
                                     reference_date=datetime.now(FISCAL_TZ).date())
        self.rate = rate
        self.start_month, self.months, self.fiscal_year = coverage_now()
        self.counts = TrafficCounts()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._batches = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="fault-traffic")

    async def stop(self, settle_timeout: float = 120.0) -> TrafficCounts:
        self._stop.set()
        if self._task is not None:
            await self._task  # re-raises a crash of the driver itself
        await self._settle(settle_timeout)
        await self.client.aclose()
        return self.counts

    def check_alive(self) -> None:
        if self._task is not None and self._task.done():
            self._task.result()

    def _item(self, channel: str, device_id: str | None) -> dict[str, Any]:
        return registration_payload(self.factory.worker(), self.factory.registration_id(),
                                    start_month=self.start_month, months=self.months, channel=channel,
                                    device_id=device_id, captured_at=datetime.now(UTC))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        tick, carry = 0, 0.0
        while not self._stop.is_set():
            started = loop.time()
            tick += 1
            carry += self.rate * TICK_SECONDS
            count, carry = int(carry), carry - int(carry)
            singles, batch = [], []
            for _ in range(count):
                if self.rng.random() < SINGLE_SHARE:
                    singles.append(self._item("partner_app", None))
                else:
                    batch.append(self._item("field_kit", f"kit-{self.rng.randint(1, 20):04d}"))
            sends = [self._single(body) for body in singles]
            if batch:
                sends.append(self._batch(batch))
            if tick % END_EVERY == 0:
                sends.append(self._end_one())
            await asyncio.gather(*sends)
            try:
                await asyncio.wait_for(self._stop.wait(), max(0.0, TICK_SECONDS - (loop.time() - started)))
            except TimeoutError:
                pass

    async def _single(self, body: dict[str, Any], *, resend: bool = False) -> None:
        if not resend:
            self.counts.sent += 1
        registration_id = body["registration_id"]
        try:
            await self.client.register(body)
        except ApiError as error:
            if error.status >= 500 or error.status in (429, 503):
                self._unanswered(body, str(error.status))
            else:
                self.counts.unanswered.pop(registration_id, None)
                self.counts.rejected[error.codes[0] if error.codes else str(error.status)] += 1
            return
        except httpx.HTTPError as error:
            self._unanswered(body, type(error).__name__)
            return
        self.counts.unanswered.pop(registration_id, None)
        self.counts.accepted.add(registration_id)

    async def _batch(self, items: list[dict[str, Any]]) -> None:
        self.counts.sent += len(items)
        self._batches += 1
        await self._send_batch(items)
        if self._batches % RESEND_EVERY == 0:
            self.counts.resent += len(items)
            await self._send_batch(items)

    async def _send_batch(self, items: list[dict[str, Any]]) -> None:
        try:
            response = await self.client.register_batch(items)
        except (ApiError, httpx.HTTPError) as error:
            reason = str(error.status) if isinstance(error, ApiError) else type(error).__name__
            for body in items:
                self._unanswered(body, reason)
            return
        for body, result in zip(items, response["results"], strict=True):
            registration_id = body["registration_id"]
            self.counts.unanswered.pop(registration_id, None)
            if result["status"] in ("accepted", "duplicate"):
                self.counts.accepted.add(registration_id)
            else:
                errors = result.get("errors") or []
                self.counts.rejected[errors[0]["code"] if errors else result["status"]] += 1

    def _unanswered(self, body: dict[str, Any], reason: str) -> None:
        self.counts.unanswered[body["registration_id"]] = body
        self.counts.failures[reason] += 1

    async def _end_one(self) -> None:
        live = sorted(self.counts.accepted - self.counts.ended)
        if not live:
            return
        registration_id = self.rng.choice(live)
        try:
            await self.client.end(registration_id, self.rng.choice(("moved", "request", "no_longer_in_category")))
            self.counts.ended.add(registration_id)
        except (ApiError, httpx.HTTPError):
            pass  # not live (denied already), or the service is down: ending is not what is under test

    async def _settle(self, timeout: float) -> None:
        """Re-send what got no answer, as a kit does when it is back in signal: a stored one answers 200."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.counts.unanswered and asyncio.get_running_loop().time() < deadline:
            for body in list(self.counts.unanswered.values()):
                await self._single(body, resend=True)
            if self.counts.unanswered:
                await asyncio.sleep(1.0)
