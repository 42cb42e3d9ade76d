"""The wave's people and money: synthetic registrations (unique NIKs, DOMAIN.md's category mix, all 514
regencies/cities) and a budget for every regency/city, large except in a few regions that run out."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from paritrana.client import ApiError, AsyncClient
from paritrana.synthetic import WorkerFactory, registration_payload
from shared.regions import regencies

PREMIUM_RUPIAH = 16_800  # the basic BPU package a month (JKK + JKM), DOMAIN.md
LARGE_BUDGET_MEMBERS = 10_000_000
TIGHT_BUDGET_MEMBERS = 5


@dataclass(frozen=True)
class Period:
    """Where the stack's clock stands: coverage starts this month and runs to December."""

    now: datetime
    fiscal_year: int
    start_month: str
    months: int

    @classmethod
    def at(cls, now: datetime) -> Period:
        return cls(now, now.year, f"{now.year}-{now.month:02d}", 12 - now.month + 1)


async def stack_period(enrolment_url: str) -> Period:
    import httpx

    async with httpx.AsyncClient(timeout=10) as http:
        clock = (await http.get(f"{enrolment_url}/v1/clock")).json()
    return Period.at(datetime.fromisoformat(clock["now"]))


class Workload:
    """Draws registrations for the scenarios; no NIK is drawn twice in one run, so nothing conflicts by chance."""

    def __init__(self, period: Period, seed: int = 2024) -> None:
        self.period = period
        self.factory = WorkerFactory(seed=seed, reference_date=period.now.date())
        self._niks: set[str] = set()
        # The device clock of a kit that captured the person a minute ago: well inside the intake window.
        self.captured_at = period.now - timedelta(minutes=1)

    def registrations(self, n: int, channel: str, device_prefix: str | None = None,
                      devices: int = 1) -> list[dict[str, Any]]:
        items = []
        for i in range(n):
            worker = self.factory.worker()
            while worker.nik in self._niks:
                worker = self.factory.worker()
            self._niks.add(worker.nik)
            device = f"{device_prefix}-{i % devices:04d}" if device_prefix else None
            items.append(registration_payload(worker, self.factory.registration_id(),
                                              start_month=self.period.start_month, months=self.period.months,
                                              channel=channel, device_id=device, captured_at=self.captured_at))
        return items


def tight_regions(every: int) -> set[str]:
    """Every `every`-th regency/city gets a budget that runs out after a handful of members, so the wave also
    meets denials and threshold events; 0 means none."""
    codes = [r.code for r in regencies()]
    return set(codes[every - 1::every]) if every else set()


async def seed_budgets(client: AsyncClient, period: Period, tight_every: int, concurrency: int = 16) -> dict[str, int]:
    """A budget line for each of the 514 regencies/cities in the current fiscal year."""
    member_cost = PREMIUM_RUPIAH * period.months
    tight = tight_regions(tight_every)
    gate = asyncio.Semaphore(concurrency)
    outcome = {"seeded": 0, "kept": 0}

    async def seed(code: str) -> None:
        members = TIGHT_BUDGET_MEMBERS if code in tight else LARGE_BUDGET_MEMBERS
        async with gate:
            try:
                await client.set_budget_lines(code, period.fiscal_year, [{
                    "line_id": f"bench-apbd-{period.fiscal_year}", "source": "apbd_kabkota",
                    "amount_rupiah": members * member_cost,
                    "legal_reference": f"APBD {period.fiscal_year} (synthetic, benchmark)"}],
                    # Every registration decided at once, as the figures count decisions: nobody waits.
                    funding_policy="deny")
                outcome["seeded"] += 1
            except ApiError as error:
                if error.status != 409:  # a running stack's budget already committed beyond this: keep it
                    raise
                outcome["kept"] += 1

    await asyncio.gather(*(seed(r.code) for r in regencies()))
    return outcome | {"tight_regions": len(tight), "member_cost_rupiah": member_cost}
