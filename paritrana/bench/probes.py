"""What the bench watches while a scenario runs: the services' /metrics (decisions, events, award updates, lag)
and the award SSE stream (when each region's decided count becomes visible)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_fixed

WORKERS, DECISIONS = "enrolment.workers", "subsidy.decisions"


@dataclass(frozen=True)
class Counters:
    """The cumulative figures of one scrape of the three services."""

    at: float
    decisions: dict[str, float]  # subsidy: granted / denied / released
    published: dict[str, float]  # service -> outbox rows published (enrolment: workers; subsidy: decisions)
    consumed: dict[tuple[str, str], float]  # (service, topic), every event type
    award_updates: float
    lag_gauge: dict[str, float]  # service -> sum of paritrana_consumer_lag (refreshed by the service every 5 s)

    @property
    def decided(self) -> float:
        return self.decisions.get("granted", 0) + self.decisions.get("denied", 0)

    def pipeline_lag(self) -> dict[str, float]:
        """Events published but not yet handled, per consuming service, from the services' own counters: exact
        for a stack whose processes all started together, and sampled as often as the bench likes."""
        pub, con = self.published, self.consumed
        workers, decisions = pub.get("enrolment", 0), pub.get("subsidy", 0)
        return {
            "subsidy": max(0.0, workers - con.get(("subsidy", WORKERS), 0)),
            "award": max(0.0, workers + decisions - con.get(("award", WORKERS), 0) - con.get(("award", DECISIONS), 0)),
            "enrolment": max(0.0, decisions - con.get(("enrolment", DECISIONS), 0)),
        }


async def _metrics(http: httpx.AsyncClient, url: str) -> httpx.Response:
    # A kept-alive connection that sat idle (the idle measurement scrapes nothing for 30 s) can be closed by the
    # server just as it is reused: "Server disconnected without sending a response" once ended a whole bench run.
    # A GET of /metrics is safe to send again.
    async for attempt in AsyncRetrying(retry=retry_if_exception_type(httpx.TransportError),
                                       stop=stop_after_attempt(3), wait=wait_fixed(0.2), reraise=True):
        with attempt:
            return await http.get(f"{url}/metrics")
    raise AssertionError("unreachable: the last attempt returns or raises")


async def scrape(http: httpx.AsyncClient, urls: dict[str, str]) -> Counters:
    texts = await asyncio.gather(*(_metrics(http, url) for url in urls.values()))
    decisions: dict[str, float] = defaultdict(float)
    published: dict[str, float] = defaultdict(float)
    consumed: dict[tuple[str, str], float] = defaultdict(float)
    lag: dict[str, float] = defaultdict(float)
    updates = 0.0
    for response in texts:
        response.raise_for_status()
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                labels = sample.labels
                if sample.name == "paritrana_decisions_total":
                    decisions[labels["outcome"]] += sample.value
                elif sample.name == "paritrana_outbox_published_total":
                    published[labels["service"]] += sample.value
                elif sample.name == "paritrana_events_consumed_total":
                    consumed[(labels["service"], labels["topic"])] += sample.value
                elif sample.name == "paritrana_award_updates_published_total":
                    updates += sample.value
                elif sample.name == "paritrana_consumer_lag":
                    lag[labels["service"]] += sample.value
    return Counters(time.perf_counter(), dict(decisions), dict(published), dict(consumed), updates, dict(lag))


@dataclass
class PipelineWatch:
    """Scrapes every `interval` seconds: the lag series, and when the pipeline has caught up with the intake."""

    http: httpx.AsyncClient
    urls: dict[str, str]
    interval: float = 0.5
    baseline: Counters | None = None
    latest: Counters | None = None
    series: list[dict[str, float]] = field(default_factory=list)
    accepted: int = 0  # told by the scenario as responses arrive
    _started: float = 0.0
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.baseline = self.latest = await scrape(self.http, self.urls)
        self._started = time.perf_counter()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            with contextlib.suppress(httpx.HTTPError):
                self._record(await scrape(self.http, self.urls))

    def _record(self, counters: Counters) -> None:
        self.latest = counters
        lag = counters.pipeline_lag()
        self.series.append({
            "t": round(counters.at - self._started, 2), "accepted": self.accepted,
            "decided": int(self.decided(counters)), "lag_subsidy": lag["subsidy"], "lag_award": lag["award"],
            "lag_enrolment": lag["enrolment"], "undecided": max(0, self.accepted - int(self.decided(counters))),
            "lag_gauge": sum(counters.lag_gauge.values()),
        })

    def decided(self, counters: Counters | None = None) -> float:
        assert self.baseline is not None
        return (counters or self.latest or self.baseline).decided - self.baseline.decided

    def delta(self, pick: Any) -> float:
        assert self.baseline is not None and self.latest is not None
        return pick(self.latest) - pick(self.baseline)

    async def until_caught_up(self, accepted: int, timeout: float) -> float | None:
        """Seconds from the start until every accepted registration is decided and every consumer has handled
        everything published (None if not within `timeout`)."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            counters = await scrape(self.http, self.urls)
            self._record(counters)
            if (self.decided(counters) >= accepted and not any(counters.pipeline_lag().values())
                    and self._handled_downstream(counters, accepted)):
                return counters.at - self._started
            await asyncio.sleep(0.2)
        return None

    def _handled_downstream(self, counters: Counters, accepted: int) -> bool:
        """Every registration and decision since the baseline also handled by its consumers. The published
        counters move only once an outbox batch is marked sent, so while subsidy's relay is behind, they alone
        would call decisions still waiting in its outbox handled."""
        assert self.baseline is not None
        decided = self.decided(counters)

        def handled(service: str, topic: str) -> float:
            return counters.consumed.get((service, topic), 0) - self.baseline.consumed.get((service, topic), 0)

        return (handled("subsidy", WORKERS) >= accepted and handled("award", WORKERS) >= accepted
                and handled("award", DECISIONS) >= decided and handled("enrolment", DECISIONS) >= decided)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def lag_summary(self, intake_end: float) -> dict[str, Any]:
        """Peak lag per consumer, and when the backlog last drained to zero after the intake stopped."""
        peak = {key: max((s[key] for s in self.series), default=0) for key in
                ("lag_subsidy", "lag_award", "lag_enrolment", "undecided")}
        return {"peak": peak, "samples": len(self.series), "interval_seconds": self.interval,
                "intake_ended_at": round(intake_end, 2), "series": self.series}


def _decided(counts: dict[str, Any]) -> int:
    return int(counts.get("granted", 0)) + int(counts.get("denied", 0))


@dataclass
class StreamWatch:
    """Reads the award SSE stream (/v1/stream, all regions) and records, per regency/city, when its decided count
    (granted + denied) changed: (time, count) pairs. Counts in the first snapshot are the baseline."""

    url: str
    baseline: dict[str, int] = field(default_factory=dict)
    seen: dict[str, list[tuple[float, int]]] = field(default_factory=lambda: defaultdict(list))
    updates: int = 0
    reconnects: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        timeout = httpx.Timeout(10, read=None)
        async with httpx.AsyncClient(timeout=timeout) as http:
            while True:
                try:
                    async with http.stream("GET", f"{self.url}/v1/stream") as response:
                        await self._read(response)
                except httpx.HTTPError:
                    pass
                self.reconnects += 1  # dropped as too slow, or the service restarted: a fresh snapshot follows
                await asyncio.sleep(0.2)

    async def _read(self, response: httpx.Response) -> None:
        event, data = None, []
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line and event:
                self._on(event, "\n".join(data), time.perf_counter())
                event, data = None, []

    def _on(self, event: str, data: str, at: float) -> None:
        body = json.loads(data)
        if event == "snapshot":
            for r in body["regions"]:
                if r.get("level") != "regency":
                    continue
                if not self.ready.is_set():
                    self.baseline[r["region_code"]] = _decided(r.get("counts") or {})
                else:
                    self.seen[r["region_code"]].append((at, _decided(r.get("counts") or {})))
            self.ready.set()
        elif event == "indicators":
            self.updates += 1
            if body.get("level") == "regency":
                self.seen[body["region_code"]].append((at, _decided(body.get("counts") or {})))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def visible_count(self, region_code: str) -> int:
        seen = self.seen.get(region_code)
        return (max(c for _, c in seen) if seen else self.baseline.get(region_code, 0)) - \
            self.baseline.get(region_code, 0)

    def latencies(self, accepted_at: dict[str, list[float]]) -> tuple[list[float], int]:
        """Per region, the n-th registration accepted (by 2xx time) is visible when an update shows the region's
        decided count at baseline + n or more. Returns the latencies and how many were never seen."""
        latencies, unseen = [], 0
        for code, times in accepted_at.items():
            base = self.baseline.get(code, 0)
            observed = sorted(self.seen.get(code, []))
            reached, i = 0, 0
            for n, posted in enumerate(sorted(times), 1):
                while reached < n and i < len(observed):
                    at, count = observed[i]
                    reached = max(reached, count - base)
                    visible_at = at
                    i += 1
                if reached >= n:
                    latencies.append(max(0.0, visible_at - posted))
                else:
                    unseen += 1
        return latencies, unseen
