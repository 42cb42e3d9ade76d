"""One fault scenario: fresh regions with budgets (one sized to run out, so grants and denials both happen),
traffic running while the fault happens, then quiet, every check, a report and a row in the summary table.

Durations and the rate scale with PARITRANA_FAULT_SCALE and PARITRANA_FAULT_RATE (`make soak` raises both)."""

from __future__ import annotations

import asyncio
import os
import time
import zlib
from dataclasses import dataclass, field
from typing import Any

from paritrana.client import AsyncClient
from shared.regions import regencies
from shared.settings import SERVICES
from tests.faults.checks import (
    compare_rebuild,
    dead_letters,
    decisions_in_database,
    decisions_on_topic,
    expected_dead_letters,
    wait_quiet,
)
from tests.faults.stack import RunningStack
from tests.faults.traffic import MONTHLY_PREMIUM, Traffic, coverage_now

SCALE = float(os.environ.get("PARITRANA_FAULT_SCALE", "1"))
RATE = float(os.environ.get("PARITRANA_FAULT_RATE", "16"))  # registrations per second
QUIET_TIMEOUT = 120.0 * max(1.0, SCALE)
REGIONS_PER_SCENARIO = 3
# The tight region's budget covers about this share of what it would be sent at the full rate. Faults that take
# enrolment away (kill -9, SIGTERM) cut what is really sent by half or more, and the scenario still needs denials.
TIGHT_SHARE = 0.2


def seconds(base: float) -> float:
    return base * SCALE


@dataclass
class ScenarioRow:
    backend: str
    scenario: str
    sent: int = 0
    accepted: int = 0
    decided: int = 0
    granted: int = 0
    denied: int = 0
    lost: int = 0
    double_counted: int = 0
    seconds: float = 0.0
    passed: bool = False


@dataclass
class FaultLog:
    """The whole run's record, printed at the end by tests/faults/conftest.py."""
    rows: list[ScenarioRow] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


class Scenario:
    def __init__(self, stack: RunningStack, title: str, log: FaultLog, *, traffic_seconds: float) -> None:
        self.stack, self.title, self.log = stack, title, log
        self.row = ScenarioRow(stack.backend, title)
        self.traffic_seconds = traffic_seconds
        self.regions: list[str] = []
        self.traffic: Traffic | None = None
        self._started = time.monotonic()

    def say(self, text: str) -> None:
        line = f"[{self.stack.backend}] {self.title}: {text}"
        print(line, flush=True)
        self.log.lines.append(line)

    async def __aenter__(self) -> Scenario:
        every = regencies()
        start = self.stack.regions_used
        self.regions = [every[(start + i) * 37 % len(every)].code for i in range(REGIONS_PER_SCENARIO)]
        self.stack.regions_used += REGIONS_PER_SCENARIO
        _, months, year = coverage_now()
        member_cost = MONTHLY_PREMIUM * months
        expected = RATE * self.traffic_seconds / REGIONS_PER_SCENARIO
        tight = max(3, int(expected * TIGHT_SHARE))
        async with AsyncClient(self.stack.admin_key, subsidy_url=self.stack.url("subsidy")) as admin:
            for index, region in enumerate(self.regions):
                members = tight if index == 0 else 100_000
                await admin.set_budget_lines(region, year, [{
                    "line_id": f"apbd-{year}", "source": "apbd_kabkota", "amount_rupiah": members * member_cost,
                    "legal_reference": f"APBD {year} (fault suite)"}],
                    # The faults' checks count grants and denials: what the budget cannot cover is denied.
                    funding_policy="deny")
        self.say(f"regions {', '.join(self.regions)}; {self.regions[0]} budgeted for {tight} members, the others "
                 f"for 100,000; traffic {RATE:g}/s")
        self.traffic = Traffic(self.stack.admin_key, self.stack.url("enrolment"), self.regions,
                               seed=zlib.crc32(f"{self.stack.backend}/{self.title}".encode()), rate=RATE)
        self.traffic.start()
        return self

    async def run_for(self, duration: float) -> None:
        """Let the traffic flow for a while (failing early if the driver itself broke)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + duration
        while loop.time() < deadline:
            assert self.traffic is not None
            self.traffic.check_alive()
            await asyncio.sleep(min(0.25, max(0.0, deadline - loop.time())))

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            if exc_type is None:
                await self._finish()
            elif self.traffic is not None:
                await self.traffic.stop(settle_timeout=0)
        finally:
            self.row.seconds = round(time.monotonic() - self._started, 1)
            self.log.rows.append(self.row)
            if not self.row.passed:
                self._say_service_trouble()

    def _say_service_trouble(self, per_service: int = 15) -> None:
        """A failed scenario's evidence for CI: each service's last warnings and errors (the logs are masked)."""
        for service in SERVICES:
            try:
                lines = self.stack.service_log(service).splitlines()
            except OSError:
                continue
            trouble = [line for line in lines if '"level": "warning"' in line or '"level": "error"' in line]
            for line in trouble[-per_service:]:
                self.say(f"{service} log: {line[:400]}")

    async def _finish(self) -> None:
        assert self.traffic is not None
        counts = await self.traffic.stop()
        stack = self.stack
        self.say(f"sent {counts.sent} registrations (+{counts.resent} re-sent in batches), accepted "
                 f"{len(counts.accepted)}, rejected {sum(counts.rejected.values())} {dict(counts.rejected)}, "
                 f"ended {len(counts.ended)}; failed attempts {dict(counts.failures) or 'none'}, "
                 f"left unanswered {len(counts.unanswered)}")
        report = await wait_quiet(stack, counts.accepted, QUIET_TIMEOUT)
        if stack.history_lost and report.holds:
            self.say(f"the history put back on the topics for the checks below: {await stack.put_history_back()}")
            report = await wait_quiet(stack, counts.accepted, QUIET_TIMEOUT)
        mine = await decisions_in_database(stack.databases["subsidy"], counts.accepted)
        on_topic, repeated = await decisions_on_topic(stack)
        in_database = await decisions_in_database(stack.databases["subsidy"])
        disagreeing = sorted(rid for rid in set(on_topic) | set(in_database)
                             if on_topic.get(rid) != in_database.get(rid) and rid not in repeated)
        found_dead = await dead_letters(stack)
        expected_dead = expected_dead_letters(stack.injected_poison)
        rebuild = await compare_rebuild(stack, f"{len(self.log.rows)}")

        row = self.row
        row.sent, row.accepted, row.decided = counts.sent, len(counts.accepted), len(mine)
        row.granted = sum(status == "granted" for status in mine.values())
        row.denied = sum(status == "denied" for status in mine.values())
        row.lost = report.lost
        row.double_counted = report.double_counted + len(repeated)
        for line in report.lines():
            self.say(line)
        self.say(f"this scenario's accepted registrations: {row.decided} decided ({row.granted} granted, "
                 f"{row.denied} denied) of {row.accepted}")
        self.say(f"subsidy.decisions: {len(on_topic) + len(repeated)} registrations decided on the topic, "
                 f"{len(repeated)} with more than one decision, {len(disagreeing)} disagreeing with the database")
        self.say(f"dead-letter topics: {sum(found_dead.values())} messages, {sum(expected_dead.values())} expected "
                 f"from {len(stack.injected_poison)} injected poison")
        self.say(f"award rebuild ({rebuild.events_line}): {rebuild.rows} projection rows, "
                 f"{len(rebuild.differences)} differences")
        for difference in rebuild.differences[:10]:
            self.say(f"  rebuild difference: {difference}")

        assert report.holds, "\n".join(report.lines())
        assert not counts.unanswered, f"{len(counts.unanswered)} registrations never got an answer"
        assert not repeated, f"registrations decided more than once on the topic: {repeated[:10]}"
        assert not disagreeing, f"topic and database disagree on: {disagreeing[:10]}"
        assert found_dead == expected_dead, (f"dead letters {sorted(found_dead.items())[:5]} != "
                                             f"expected {sorted(expected_dead.items())[:5]}")
        assert not rebuild.differences, "award rebuild differs:\n" + "\n".join(rebuild.differences[:20])
        assert row.accepted > 0 and row.granted > 0 and row.denied > 0, \
            f"the scenario needs grants and denials: {row}"
        row.passed = True
