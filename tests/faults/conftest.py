"""The fault suite's stack (one `paritrana up` per backend, shared by that backend's scenarios: each scenario uses
regions of its own and ends quiet) and the summary table printed at the end of the run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.faults.scenario import RATE, SCALE, FaultLog, Scenario
from tests.faults.stack import RunningStack
from tests.support import create_postgres_database, drop_postgres_database, postgres_admin_url

DATABASES = ("enrolment", "subsidy", "award", "access")
LOG_KEY = pytest.StashKey[FaultLog]()


@pytest.fixture(scope="session")
def fault_log(request: pytest.FixtureRequest) -> FaultLog:
    return request.config.stash.setdefault(LOG_KEY, FaultLog())


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
async def stack(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RunningStack]:
    backend = request.param
    admin = postgres_admin_url()
    if backend == "postgresql" and not admin:
        pytest.skip("PostgreSQL not configured: set PARITRANA_TEST_POSTGRES_URL=postgresql://USER@HOST:5432/DB "
                    "to run the fault suite on PostgreSQL too")
    root: Path = tmp_path_factory.mktemp(f"faults-{backend}")
    if backend == "postgresql":
        urls = {name: await create_postgres_database(admin) for name in DATABASES}  # type: ignore[arg-type]
    else:
        urls = {name: f"sqlite+aiosqlite:///{root / 'var' / (name + '.db')}" for name in DATABASES}
    running = RunningStack.start(backend, root, urls)
    try:
        yield running
    finally:
        code = running.stop()
        await running.dispose()
        if backend == "postgresql":
            for url in urls.values():
                await drop_postgres_database(admin, url)  # type: ignore[arg-type]
    assert code == 0, f"`paritrana up` exited with {code}:\n{running.output()[-3000:]}"


@pytest.fixture
def scenario(stack: RunningStack, fault_log: FaultLog):
    def make(title: str, traffic_seconds: float) -> Scenario:
        return Scenario(stack, title, fault_log, traffic_seconds=traffic_seconds)

    return make


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    log = config.stash.get(LOG_KEY, None)
    if log is None or not log.rows:
        return
    write = terminalreporter.write_line
    terminalreporter.section(f"fault suite (scale {SCALE:g}, {RATE:g} registrations/s)")
    for line in log.lines:
        write(line)
    write("")
    header = ("backend", "scenario", "sent", "accepted", "decided", "granted", "denied", "lost", "double-counted",
              "seconds", "result")
    rows = [(r.backend, r.scenario, r.sent, r.accepted, r.decided, r.granted, r.denied, r.lost, r.double_counted,
             r.seconds, "ok" if r.passed else "FAILED") for r in log.rows]
    totals = ("all", f"{len(rows)} scenarios", *(sum(r[i] for r in rows) for i in range(2, 9)),
              round(sum(r[9] for r in rows), 1),
              "ok" if all(r.passed for r in log.rows) else "FAILED")
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, totals)]
    for values in (header, *rows, totals):
        write("  ".join(str(v).ljust(w) if i < 2 else str(v).rjust(w)
                        for i, (v, w) in enumerate(zip(values, widths))))
