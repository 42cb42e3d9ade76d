"""A region's year on the stack exactly as `make run` starts it, its dev-mode clock moved across 31 December: the
budget runs out in December and the rest wait; the cohort is renewed into a year without a budget, so the renewals
wait; at midnight the year's waiting are denied (fiscal_year_ended); the new year's budget funds renewals in
arrival order; and every invariant of `paritrana check` holds before and after."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from paritrana.client import AsyncClient
from paritrana.synthetic import WorkerFactory, registration_payload
from services.enrolment import models as enrolment_models
from services.subsidy import models as subsidy_models
from shared.clock import FISCAL_TZ
from tests.faults.checks import wait_quiet
from tests.faults.stack import RunningStack
from tests.faults.traffic import MONTHLY_PREMIUM
from tests.support import create_postgres_database, drop_postgres_database, eventually, postgres_admin_url

pytestmark = pytest.mark.slow

REGION = "36.72"
MEMBERS = 40
FUNDED = MEMBERS // 2
DECEMBER = datetime(2025, 12, 1, 9, tzinfo=FISCAL_TZ)
NEW_YEAR = datetime(2026, 1, 1, 0, 0, 30, tzinfo=FISCAL_TZ)


async def move_clocks(stack: RunningStack, now: datetime) -> None:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {stack.admin_key}"}) as http:
        for service, url in stack.urls.items():
            response = await http.put(f"{url}/v1/clock", json={"now": now.isoformat()})
            assert response.status_code == 200, (service, response.text)


async def by_status(stack: RunningStack, year: int) -> dict[str, int]:
    table = subsidy_models.registrations
    async with stack.databases["subsidy"].reading() as session:
        return dict((await session.execute(select(table.c.status, func.count()).where(table.c.fiscal_year == year)
                                           .group_by(table.c.status))).all())


async def reasons(stack: RunningStack, year: int) -> dict[tuple[str, str | None], int]:
    table = enrolment_models.registrations
    async with stack.databases["enrolment"].reading() as session:
        return {(s, r): n for s, r, n in (await session.execute(
            select(table.c.status, table.c.status_reason, func.count()).where(table.c.fiscal_year == year)
            .group_by(table.c.status, table.c.status_reason))).all()}


async def test_the_stack_clock_crosses_31_december_and_every_invariant_holds(backend: str, tmp_path: Path) -> None:
    names = ("enrolment", "subsidy", "award", "access")
    if backend == "postgresql":
        urls = {name: await create_postgres_database(postgres_admin_url()) for name in names}  # type: ignore[arg-type]
    else:
        urls = {name: f"sqlite+aiosqlite:///{tmp_path / 'var' / (name + '.db')}" for name in names}
    factory = WorkerFactory(seed=19, regency_codes=[REGION])
    stack = RunningStack.start(backend, tmp_path, urls)
    try:
        await move_clocks(stack, DECEMBER)
        bodies = [registration_payload(w, factory.registration_id(), start_month="2025-12", months=1,
                                       captured_at=DECEMBER) for w in factory.workers(MEMBERS)]
        async with AsyncClient(stack.admin_key, enrolment_url=stack.url("enrolment"),
                               subsidy_url=stack.url("subsidy")) as client:
            # December's money covers half of them; the budget's policy is the default: the rest wait.
            await client.set_budget_lines(REGION, 2025, [{
                "line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": FUNDED * MONTHLY_PREMIUM,
                "legal_reference": "APBD 2025 (test)"}])
            answer = await client.register_batch(bodies)
            accepted = {r["registration_id"] for r in answer["results"] if r["status"] == "accepted"}
            assert len(accepted) == MEMBERS
            report = await wait_quiet(stack, accepted, timeout=120)
            assert report.holds, "\n".join(report.lines())
            assert (report.granted, report.waiting) == (FUNDED, MEMBERS - FUNDED)

            # January's renewal, prepared in December: 2026 has no budget yet.
            preview = await stack.command("enrolment", "renew", "--region", REGION, "--from", "2025", "--to", "2026",
                                          "--dry-run")
            assert f"would renew {FUNDED}" in preview and "no 2026 budget yet" in preview, preview
            async with httpx.AsyncClient(headers={"Authorization": f"Bearer {stack.admin_key}"}) as http:
                renewal = await http.post(f"{stack.url('enrolment')}/v1/renewals",
                                          json={"region_code": REGION, "from_year": 2025, "to_year": 2026})
            assert renewal.status_code == 200 and renewal.json()["renewed"] == FUNDED, renewal.text
            await eventually(lambda: _waiting(stack, 2026, FUNDED), timeout=60)
            report = await wait_quiet(stack, accepted, timeout=120)
            assert report.holds, "\n".join(report.lines())

            await move_clocks(stack, NEW_YEAR)
            await eventually(lambda: _waiting(stack, 2025, 0), timeout=60)
            report = await wait_quiet(stack, accepted, timeout=120)
            assert report.holds, "\n".join(report.lines())
            assert await by_status(stack, 2025) == {"granted": FUNDED, "denied": MEMBERS - FUNDED}
            assert await reasons(stack, 2025) == {("active", None): FUNDED,
                                                  ("unfunded", "fiscal_year_ended"): MEMBERS - FUNDED}
            assert await by_status(stack, 2026) == {"waiting": FUNDED}

            # The 2026 budget is set: it covers half the renewals, the first to arrive, for the whole year.
            await client.set_budget_lines(REGION, 2026, [{
                "line_id": "apbd-2026", "source": "apbd_kabkota",
                "amount_rupiah": FUNDED // 2 * 12 * MONTHLY_PREMIUM, "legal_reference": "APBD 2026 (test)"}])
            await eventually(lambda: _waiting(stack, 2026, FUNDED // 2), timeout=60)
            report = await wait_quiet(stack, accepted, timeout=120)
            assert report.holds, "\n".join(report.lines())
            assert await by_status(stack, 2026) == {"granted": FUNDED // 2, "waiting": FUNDED // 2}

        async with httpx.AsyncClient() as http:
            indicators = (await http.get(f"{stack.url('award')}/v1/indicators/{REGION}",
                                         params={"year": 2026})).json()
        assert indicators["counts"]["waiting"] == FUNDED // 2
        assert (indicators["counts"]["renewed"], indicators["counts"]["active_last_year"]) == (FUNDED // 2, FUNDED)
        assert indicators["values"]["retention_across_years"] == 50.0
        printed = await stack.command("check")
        assert "invariants hold" in printed, printed
    finally:
        stack.stop()
        await stack.dispose()
        if backend == "postgresql":
            for url in urls.values():
                await drop_postgres_database(postgres_admin_url(), url)  # type: ignore[arg-type]


async def _waiting(stack: RunningStack, year: int, count: int) -> bool:
    return (await by_status(stack, year)).get("waiting", 0) == count
