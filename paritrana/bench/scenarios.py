"""The three scenarios: field kits posting batches, partner apps posting single registrations, and a mixed run at
a fixed offered rate for the POST-to-dashboard latency. Each returns its figures as a plain dict."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import httpx

from paritrana.bench.probes import PipelineWatch, StreamWatch
from paritrana.bench.processes import ProcessMonitor, ProcessSample
from paritrana.client import ApiError, AsyncClient
from shared.kafka.consuming import QUIET_AFTER_SECONDS


def percentiles(values: list[float]) -> dict[str, float | None]:
    """p50/p95/p99 (nearest rank) and the maximum, in milliseconds."""
    if not values:
        return {"p50_ms": None, "p95_ms": None, "p99_ms": None, "max_ms": None, "n": 0}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, max(0, int(round(p * len(ordered))) - 1))], 1)

    return {"p50_ms": rank(0.50), "p95_ms": rank(0.95), "p99_ms": rank(0.99),
            "max_ms": round(1000 * ordered[-1], 1), "n": len(ordered)}


# Connections per partner-app client: one for its own requests in turn, more for the mixed run's overlapping ones.
APP_CONNECTIONS = 16


@dataclass
class Context:
    client: AsyncClient  # field kits, budgets
    apps: list[AsyncClient]  # one per partner-app client
    http: httpx.AsyncClient
    urls: dict[str, str]
    pids: dict[str, int]
    drain_timeout: float


class Intake:
    """Tally of what the scenario sent and what enrolment answered."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.request_seconds: list[float] = []
        self.first_sent: float | None = None
        self.last_answer: float | None = None
        self.accepted_at: dict[str, list[float]] = defaultdict(list)

    def sent(self) -> float:
        now = time.perf_counter()
        self.first_sent = self.first_sent or now
        return now

    def answered(self, started: float) -> float:
        now = time.perf_counter()
        self.request_seconds.append(now - started)
        self.last_answer = now
        return now

    @property
    def accepted(self) -> int:
        return self.outcomes["accepted"]

    @property
    def seconds(self) -> float:
        return (self.last_answer or 0) - (self.first_sent or 0)


async def _post_batch(ctx: Context, intake: Intake, items: list[dict[str, Any]], watch: PipelineWatch) -> None:
    started = intake.sent()
    try:
        response = await ctx.client.register_batch(items)
    except (ApiError, httpx.HTTPError):
        intake.outcomes["failed"] += len(items)  # after the client's retries: reported, and the run goes on
        return
    answered = intake.answered(started)
    for item, result in zip(items, response["results"]):
        intake.outcomes[result["status"]] += 1
        if result["status"] == "accepted":
            intake.accepted_at[item["regency_code"]].append(answered)
    watch.accepted = intake.accepted


async def _post_single(app: AsyncClient, intake: Intake, item: dict[str, Any], watch: PipelineWatch | None) -> None:
    started = intake.sent()
    try:
        await app.register(item)
        outcome = "accepted"
    except ApiError as error:
        outcome = {409: "conflict", 422: "invalid"}.get(error.status, "failed")
    except httpx.HTTPError:
        outcome = "failed"
    answered = intake.answered(started)
    intake.outcomes[outcome] += 1
    if outcome == "accepted":
        intake.accepted_at[item["regency_code"]].append(answered)
    if watch is not None:
        watch.accepted = intake.accepted


async def _measured(ctx: Context, name: str, drive: Any, stream: StreamWatch | None = None) -> dict[str, Any]:
    """Runs `drive(intake, watch)`, then waits for the pipeline to catch up, and gathers every figure."""
    watch = PipelineWatch(ctx.http, ctx.urls)
    monitor = ProcessMonitor({**ctx.pids, "bench_client": os.getpid()})
    await watch.start()
    monitor.start()
    intake = Intake()
    started = time.perf_counter()
    extra = await drive(intake, watch) or {}
    intake_end = time.perf_counter() - started
    caught_up = await watch.until_caught_up(intake.accepted, ctx.drain_timeout)
    wall = time.perf_counter() - started
    await watch.stop()
    samples = await monitor.stop()
    processes = {k: v.figures(wall) for k, v in samples.items()}

    decided = watch.decided()
    granted = watch.delta(lambda c: c.decisions.get("granted", 0))
    denied = watch.delta(lambda c: c.decisions.get("denied", 0))
    award_events = watch.delta(lambda c: c.consumed.get(("award", "enrolment.workers"), 0)
                               + c.consumed.get(("award", "subsidy.decisions"), 0))
    updates = watch.delta(lambda c: c.award_updates)
    pipeline_seconds = caught_up if caught_up is not None else wall
    figures: dict[str, Any] = {
        "scenario": name,
        "sent": sum(intake.outcomes.values()),
        "outcomes": dict(intake.outcomes),
        "accepted": intake.accepted,
        "intake_seconds": round(intake.seconds, 3),
        "accepted_per_second": round(intake.accepted / intake.seconds, 1) if intake.seconds else 0.0,
        "request_latency": percentiles(intake.request_seconds),
        "decided": int(decided),
        "granted": int(granted),
        "denied": int(denied),
        "caught_up": caught_up is not None,
        "pipeline_seconds": round(pipeline_seconds, 3),
        # End to end: every accepted registration decided and counted by award, over the time from the first POST.
        "decisions_per_second": round(decided / pipeline_seconds, 1) if pipeline_seconds else 0.0,
        "award_events": int(award_events),
        "award_events_per_second": round(award_events / pipeline_seconds, 1) if pipeline_seconds else 0.0,
        "award_updates": int(updates),
        "award_updates_per_second": round(updates / pipeline_seconds, 1) if pipeline_seconds else 0.0,
        "drain_seconds_after_intake": round(pipeline_seconds - intake_end, 3) if caught_up is not None else None,
        "lag": watch.lag_summary(intake_end),
        "processes": processes,
        # CPU per unit of work: each process's CPU over the scenario (intake and drain) divided by the registrations
        # accepted, and award's divided by the indicator updates it published (all its CPU, consuming included).
        "cpu_ms_per_registration": _per(samples, intake.accepted),
        "award_cpu_ms_per_update": _per(samples, updates).get("award"),
        **extra,
    }
    if stream is not None:
        # The stream's last updates trail the pipeline by up to the coalescing window: give them time to arrive.
        deadline = time.perf_counter() + 5
        while time.perf_counter() < deadline and any(
                stream.visible_count(code) < len(times) for code, times in intake.accepted_at.items()):
            await asyncio.sleep(0.25)
        latencies, unseen = stream.latencies(intake.accepted_at)
        figures["dashboard_latency"] = percentiles(latencies) | {"unseen": unseen,
                                                                  "stream_updates": stream.updates,
                                                                  "stream_reconnects": stream.reconnects}
    return figures


def _per(samples: dict[str, ProcessSample], units: float) -> dict[str, float]:
    """CPU milliseconds per unit for each process ({} without units)."""
    if not units:
        return {}
    return {name: round(1000 * sample.cpu_seconds / units, 3) for name, sample in samples.items()}


async def field_kits(ctx: Context, items: list[dict[str, Any]], kits: int, batch_size: int = 500) -> dict[str, Any]:
    """K kits, each posting its next batch of 500 as soon as the previous one is answered."""
    batches = [items[i:i + batch_size] for i in range(0, len(items), batch_size)]

    async def drive(intake: Intake, watch: PipelineWatch) -> dict[str, Any]:
        queue = iter(batches)

        async def kit() -> None:
            for batch in queue:
                await _post_batch(ctx, intake, batch, watch)

        await asyncio.gather(*(kit() for _ in range(kits)))
        return {"kits": kits, "batch_size": batch_size, "batches": len(batches)}

    return await _measured(ctx, "field_kits", drive)


async def partner_apps(ctx: Context, items: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    """C partner-app clients, each posting its next single registration as soon as the previous one is answered."""

    async def drive(intake: Intake, watch: PipelineWatch) -> dict[str, Any]:
        queue = iter(items)

        async def app(client: AsyncClient) -> None:
            for item in queue:
                await _post_single(client, intake, item, watch)

        await asyncio.gather(*(app(client) for client in ctx.apps[:clients]))
        return {"clients": clients}

    return await _measured(ctx, "partner_apps", drive)


# The mixed scenario's share of registrations sent in field-kit batches; the rest go as partner apps' singles.
MIXED_BATCH_SHARE = 0.6


async def mixed_rate(ctx: Context, items: list[dict[str, Any]], rate: float, kits: int,
                     batch_share: float = MIXED_BATCH_SHARE, tick: float = 0.05,
                     max_in_flight: int = 512) -> dict[str, Any]:
    """An offered `rate` of registrations per second for len(items)/rate seconds, whatever the answers: every tick,
    the registrations due go out, `batch_share` of them in a batch from the next kit and the rest as singles.
    Latency runs from each POST's 2xx to the award stream showing its region's decided count reaching it."""
    stream = StreamWatch(ctx.urls["award"])
    stream.start()
    await asyncio.wait_for(stream.ready.wait(), 30)

    async def drive(intake: Intake, watch: PipelineWatch) -> dict[str, Any]:
        tasks: set[asyncio.Task[None]] = set()
        skipped = 0

        def launch(coro: Any) -> None:
            nonlocal skipped
            if len(tasks) >= max_in_flight:
                coro.close()
                skipped += 1  # the system is not keeping up with the offered rate: counted, not queued forever
                return
            task = asyncio.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        started, sent, kit, singles = time.perf_counter(), 0, 0, 0
        while sent < len(items):
            due = min(len(items), int((time.perf_counter() - started) * rate) + 1)
            chunk, sent = items[sent:due], max(sent, due)
            cut = int(round(len(chunk) * batch_share))
            if cut:
                kit = (kit + 1) % max(1, kits)
                batch = [item | {"channel": "field_kit", "device_id": f"bench-mix-kit-{kit:04d}"}
                         for item in chunk[:cut]]
                launch(_post_batch(ctx, intake, batch, watch))
            for item in chunk[cut:]:
                singles += 1
                launch(_post_single(ctx.apps[singles % len(ctx.apps)], intake, item, watch))
            await asyncio.sleep(tick)
        offered_seconds = time.perf_counter() - started
        await asyncio.gather(*list(tasks), return_exceptions=True)
        return {"offered_rate": rate, "offered_seconds": round(offered_seconds, 2), "batch_share": batch_share,
                "not_sent_overloaded": skipped}

    try:
        return await _measured(ctx, "mixed_rate", drive, stream)
    finally:
        await stream.stop()


async def peer(apps: list[AsyncClient], peer_pid: int, items: list[dict[str, Any]], clients: int) -> dict[str, Any]:
    """The partner-app scenario against the peer (paritrana/bench/peer.py): the same closed loop of C clients, each
    posting its next single registration as soon as the previous one is answered. The peer has no pipeline, so
    its figures are the intake's."""
    monitor = ProcessMonitor({"peer": peer_pid, "bench_client": os.getpid()})
    monitor.start()
    intake = Intake()
    started = time.perf_counter()
    queue = iter(items)

    async def app(client: AsyncClient) -> None:
        for item in queue:
            await _post_single(client, intake, item, None)

    await asyncio.gather(*(app(client) for client in apps[:clients]))
    wall = time.perf_counter() - started
    samples = await monitor.stop()
    return {
        "scenario": "peer",
        "sent": sum(intake.outcomes.values()),
        "outcomes": dict(intake.outcomes),
        "accepted": intake.accepted,
        "intake_seconds": round(intake.seconds, 3),
        "accepted_per_second": round(intake.accepted / intake.seconds, 1) if intake.seconds else 0.0,
        "request_latency": percentiles(intake.request_seconds),
        "processes": {k: v.figures(wall) for k, v in samples.items()},
        "cpu_ms_per_registration": _per(samples, intake.accepted),
        "clients": clients,
    }


async def idle(pids: dict[str, int], seconds: float, settle: float = QUIET_AFTER_SECONDS + 3) -> dict[str, Any]:
    """Each process's CPU while nothing is sent and nothing is scraped for `seconds`, after `settle` seconds: for
    the last coalesced updates and commits to go out, and for the consumers to find nothing long enough to fetch at
    their quiet pace (shared.kafka.consuming), as a stack that has stopped being used does."""
    await asyncio.sleep(settle)
    monitor = ProcessMonitor(pids, interval=seconds)  # one RSS sample at the start: the bench stays quiet too
    monitor.start()
    started = time.perf_counter()
    await asyncio.sleep(seconds)
    wall = time.perf_counter() - started
    samples = await monitor.stop()
    processes = {name: {"cpu_seconds": round(s.cpu_seconds, 3),
                        "cpu_percent_of_one_core": round(100 * s.cpu_seconds / wall, 2)} for name, s in samples.items()}
    total = sum(s.cpu_seconds for s in samples.values())
    return {"seconds": round(wall, 2), "settle_seconds": settle, "processes": processes,
            "total_cpu_percent_of_one_core": round(100 * total / wall, 2)}
