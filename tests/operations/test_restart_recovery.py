"""`make run` stopped with SIGTERM while the pipeline is still catching up, then started again on the same var/:
nothing is lost, with nobody running a command. The embedded broker keeps its log in memory, so the second start
finds it empty; each service must notice, and publish again what its consumers had not read."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import pytest

from paritrana.client import AsyncClient
from paritrana.invariants import check_databases
from paritrana.synthetic import WorkerFactory, registration_payload
from tests.faults.checks import wait_quiet
from tests.faults.stack import RunningStack
from tests.faults.traffic import MONTHLY_PREMIUM, coverage_now
from tests.support import create_postgres_database, drop_postgres_database, postgres_admin_url

pytestmark = pytest.mark.slow

REGION = "36.72"
REGISTRATIONS = 4000
BATCH = 250


async def test_a_stack_stopped_mid_flow_and_started_again_loses_nothing(backend: str, tmp_path: Path) -> None:
    admin = postgres_admin_url()
    names = ("enrolment", "subsidy", "award", "access")
    if backend == "postgresql":
        urls = {name: await create_postgres_database(admin) for name in names}  # type: ignore[arg-type]
    else:
        urls = {name: f"sqlite+aiosqlite:///{tmp_path / 'var' / (name + '.db')}" for name in names}
    start_month, months, year = coverage_now()
    factory = WorkerFactory(seed=17, regency_codes=[REGION])
    bodies = [registration_payload(w, factory.registration_id(), start_month=start_month, months=months,
                                   device_id="kit-0001") for w in factory.workers(REGISTRATIONS)]
    stack = RunningStack.start(backend, tmp_path, urls)
    try:
        async with AsyncClient(stack.admin_key, enrolment_url=stack.url("enrolment"),
                               subsidy_url=stack.url("subsidy")) as client:
            # Enough money for about half of them: grants and denials both happen.
            await client.set_budget_lines(REGION, year, [{
                "line_id": f"apbd-{year}", "source": "apbd_kabkota",
                "amount_rupiah": REGISTRATIONS // 2 * MONTHLY_PREMIUM * months, "legal_reference": "APBD (test)"}],
                funding_policy="deny")
            # Subsidy is held still during the intake, so the pipeline is surely behind when the stack stops,
            # however fast this machine is today.
            subsidy = stack.pid("subsidy")
            assert subsidy is not None
            os.kill(subsidy, signal.SIGSTOP)
            try:
                accepted: set[str] = set()
                for start in range(0, REGISTRATIONS, BATCH):
                    answer = await client.register_batch(bodies[start:start + BATCH])
                    accepted |= {r["registration_id"] for r in answer["results"] if r["status"] == "accepted"}
                await asyncio.sleep(1)  # enrolment's relay publishes what it stored
            finally:
                os.kill(subsidy, signal.SIGCONT)
        assert len(accepted) == REGISTRATIONS
        in_flight = len((await check_databases(**stack.databases)).undecided)
    finally:
        code = stack.stop()  # SIGTERM, as Ctrl-C would, while subsidy is catching up
        await stack.dispose()
    assert code == 0, stack.output()[-3000:]
    assert in_flight > 0, "the pipeline had caught up before the stop: this test would prove nothing"

    again = RunningStack.start(backend, tmp_path, urls)
    try:
        report = await wait_quiet(again, accepted, timeout=180)
        assert report.holds, "\n".join(report.lines())
        assert report.lost == 0 and not report.status_mismatches and report.granted > 0 and report.denied > 0
        printed = await again.command("check")
        assert "invariants hold" in printed and "lost 0" in printed, printed
        relayed = again.service_log("enrolment") + again.service_log("subsidy")
        assert "is not the one this service published to" in relayed, "no service noticed the new log"
    finally:
        again.stop()
        await again.dispose()
        if backend == "postgresql":
            for url in urls.values():
                await drop_postgres_database(admin, url)  # type: ignore[arg-type]
    print(f"\n[{backend}] {in_flight} of {REGISTRATIONS} registrations undecided at the SIGTERM; after the restart "
          f"all {report.decisions} decided ({report.granted} granted, {report.denied} denied), lost {report.lost}")
