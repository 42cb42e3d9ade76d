"""Faults under load, against the stack as `make run` starts it, on SQLite and PostgreSQL.

Each scenario streams registrations (single and batch) while the fault happens, waits for quiet, and checks the
promises: every registration answered 2xx decided exactly once, budgets equal to their grants and never above the
allocation, award equal to a recount and to a rebuild, only injected poison dead-lettered, outboxes empty. See
docs/faults.md. The scenarios share one stack per backend, in this order; broker-log loss comes last but one, since
it also wipes what earlier scenarios left on the topics."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from pathlib import Path

import pytest

from shared.settings import SERVICES
from shared.topics import DECISIONS, WORKERS
from tests.faults.checks import poison, produce, read_topic
from tests.faults.scenario import RATE, SCALE, seconds
from tests.faults.stack import RunningStack
from tests.support import eventually

pytestmark = pytest.mark.slow

BROKER_PAUSE_SECONDS = min(30.0, 5.0 * SCALE)  # the 30 s in the soak; 5 s in CI
SLOW_CONSUMER_SECONDS = seconds(6)
DUPLICATES_PER_TOPIC = int(seconds(800))


async def test_kill_9_each_service_in_turn(stack: RunningStack, scenario) -> None:
    async with scenario("kill -9 each service", traffic_seconds=seconds(3) + 3 * 7) as s:
        await s.run_for(seconds(3))
        for name in SERVICES:
            old = stack.pid(name)
            assert old is not None, f"{name} is not running"
            os.kill(old, signal.SIGKILL)
            started = time.monotonic()
            new = await stack.wait_replaced(name, old)
            s.say(f"killed {name} (pid {old}) with SIGKILL; the supervisor restarted it as pid {new}, ready again "
                  f"after {time.monotonic() - started:.1f}s")
            await s.run_for(seconds(1))
        assert stack.output().count("exited with -9") >= len(SERVICES)


async def test_sigterm_each_service_drains_and_comes_back(stack: RunningStack, scenario) -> None:
    async with scenario("SIGTERM each service", traffic_seconds=seconds(3) + 3 * 7) as s:
        await s.run_for(seconds(3))
        for name in SERVICES:
            old = stack.pid(name)
            assert old is not None, f"{name} is not running"
            os.kill(old, signal.SIGTERM)
            started = time.monotonic()
            exited_after = await stack.wait_exit(old, timeout=15)
            new = await stack.wait_replaced(name, old)
            # uvicorn finishes its shutdown, then re-raises the signal it caught: the supervisor sees -15.
            log = stack.service_log(name)
            assert f"Finished server process [{old}]" in log, f"{name} did not shut down cleanly:\n{log[-2000:]}"
            s.say(f"sent SIGTERM to {name} (pid {old}): it drained and exited after {exited_after:.1f}s; "
                  f"restarted as pid {new}, ready again after {time.monotonic() - started:.1f}s")
            assert exited_after <= 10, f"{name} took {exited_after:.1f}s to stop"
            await s.run_for(seconds(1))


async def test_broker_unreachable_then_back(stack: RunningStack, scenario) -> None:
    async with scenario("broker stopped", traffic_seconds=seconds(6) + BROKER_PAUSE_SECONDS) as s:
        await s.run_for(seconds(3))
        broker = stack.pid("broker")
        assert broker is not None
        os.kill(broker, signal.SIGSTOP)  # unreachable, but its log is kept
        try:
            await s.run_for(BROKER_PAUSE_SECONDS)
            backlog = await stack.outbox_backlog("enrolment")
            gauge = sum((await stack.metric("enrolment", "paritrana_outbox_backlog")).values())
        finally:
            os.kill(broker, signal.SIGCONT)
        s.say(f"stopped the broker (SIGSTOP) for {BROKER_PAUSE_SECONDS:g}s, then SIGCONT; enrolment's outbox held "
              f"{backlog} unsent events by then, and its paritrana_outbox_backlog gauge said {gauge:g}")
        assert backlog > 0, "registrations accepted while the broker was away should wait in the outbox"
        assert gauge > 0, "the outbox backlog gauge (what the alert watches) did not see the backlog"
        assert stack.pid("broker") == broker
        await s.run_for(seconds(3))


async def test_slow_consumer_builds_lag_then_drains(stack: RunningStack, scenario) -> None:
    async with scenario("slow consumer (subsidy)", traffic_seconds=seconds(6) + SLOW_CONSUMER_SECONDS) as s:
        await s.run_for(seconds(2))
        subsidy = stack.pid("subsidy")
        assert subsidy is not None
        os.kill(subsidy, signal.SIGSTOP)
        try:
            await s.run_for(SLOW_CONSUMER_SECONDS)
            waiting = await stack.undecided()
        finally:
            os.kill(subsidy, signal.SIGCONT)
        peak, drained_after = await stack.watch_lag_drain("subsidy", timeout=60, drained=RATE)
        s.say(f"subsidy stopped for {SLOW_CONSUMER_SECONDS:g}s: {waiting} registrations waited for a decision; "
              f"after SIGCONT /metrics showed paritrana_consumer_lag up to {peak:g}, back to at most a second's "
              f"traffic ({RATE:g}) after {drained_after:.1f}s")
        assert waiting > 0, "no lag built up while subsidy was stopped"
        await s.run_for(seconds(2))


async def test_duplicate_and_out_of_order_redelivery(stack: RunningStack, scenario) -> None:
    async with scenario("duplicates, shuffled", traffic_seconds=seconds(6)) as s:
        await s.run_for(seconds(3))
        rng, copies = random.Random(6), []
        for topic in (WORKERS.name, DECISIONS.name):
            published = await read_topic(stack.bootstrap_servers, topic)
            copies += [(topic, r.key, r.value, r.headers)
                       for r in rng.sample(published, min(len(published), DUPLICATES_PER_TOPIC))]
        rng.shuffle(copies)
        consumed_before = await stack.consumed()
        sent = await produce(stack.bootstrap_servers, copies)
        s.say(f"re-produced {sent} already-published events from both topics (up to {DUPLICATES_PER_TOPIC:g} each), "
              "shuffled")
        await s.run_for(seconds(3))
        wanted = {(service, t.name): sum(1 for c in copies if c[0] == t.name)
                  for t in (WORKERS, DECISIONS) for service in t.consumers}

        async def delivered() -> dict[tuple[str, str], float] | None:
            now = await stack.consumed()
            since = {key: now.get(key, 0) - consumed_before.get(key, 0) for key in wanted}
            return since if all(since[key] >= count for key, count in wanted.items()) else None

        # Every copy reached every consumer of its topic (the counter counts events before the inbox dedupes).
        consumed = await eventually(delivered, timeout=60, interval=0.5)
        s.say("consumed since, per service and topic: "
              + ", ".join(f"{service} {topic} {count:g}" for (service, topic), count in consumed.items()))


async def test_poison_on_each_topic(stack: RunningStack, scenario) -> None:
    async with scenario("poison on each topic", traffic_seconds=seconds(6)) as s:
        await s.run_for(seconds(2))
        for topic in (WORKERS.name, DECISIONS.name):
            value = poison(topic)
            await produce(stack.bootstrap_servers, [(topic, b"36.72", value, [])])
            stack.injected_poison.append((topic, value))
            s.say(f"put one poison event on {topic}")
        await s.run_for(seconds(4))


async def test_postgresql_restart_under_load(stack: RunningStack, scenario) -> None:
    if stack.backend != "postgresql":
        pytest.skip("restarting the database server applies to PostgreSQL only")
    async with scenario("PostgreSQL restart", traffic_seconds=seconds(8)) as s:
        await s.run_for(seconds(3))
        cluster = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
        restart = await asyncio.create_subprocess_exec(
            "pg_ctlcluster", "--skip-systemctl-redirect", cluster, "main", "restart",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output = (await restart.communicate())[0].decode()
        assert restart.returncode == 0, output
        s.say(f"restarted PostgreSQL {cluster} (pg_ctlcluster restart) under load")
        await s.run_for(seconds(5))


async def test_broker_log_lost_and_recovered_by_the_services_themselves(stack: RunningStack, scenario) -> None:
    async with scenario("broker log lost", traffic_seconds=seconds(8)) as s:
        await s.run_for(seconds(3))
        broker = stack.pid("broker")
        assert broker is not None
        os.kill(broker, signal.SIGKILL)  # Tansu keeps its log in memory: the restarted broker is empty
        new = await stack.wait_replaced("broker", broker)
        stack.injected_poison.clear()  # gone with the log
        # Nobody runs a command: the scenario's checks (every registration decided once, statuses agreeing) run
        # before the history is put back on the topics for the topic and rebuild checks.
        stack.history_lost = True
        s.say(f"killed the broker (pid {broker}); the supervisor restarted it empty as pid {new}")
        await s.run_for(seconds(5))
        losses = {service: sum((await stack.metric(service, "paritrana_outbox_broker_log_lost_total")).values())
                  for service in ("enrolment", "subsidy")}
        s.say(f"log losses the outbox relays noticed: {losses}")
        assert all(losses.values()), "an outbox relay did not notice that the broker lost its log"

