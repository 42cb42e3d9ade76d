"""The stack exactly as `make run` starts it (`paritrana up` as a subprocess), on free ports and fresh databases,
with what the fault scenarios need: its children's PIDs, their readiness, their metrics, the supervisor's output
and the operators' commands, run with the stack's own environment."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from paritrana.invariants import check_databases
from shared.database import Database
from shared.outbox import backlog
from shared.service import LAG_INTERVAL_SECONDS
from shared.settings import SERVICES
from tests.foundation.test_stack import wait_all_ready
from tests.support import stack_environment


@dataclass
class RunningStack:
    backend: str
    root: Path
    env: dict[str, str]
    ports: dict[str, int]
    database_urls: dict[str, str]
    process: subprocess.Popen[bytes]
    started_at: datetime
    admin_key: str = ""
    databases: dict[str, Database] = field(default_factory=dict)
    # Poison the suite put on the topics since the broker last lost its log: (topic, value).
    injected_poison: list[tuple[str, bytes]] = field(default_factory=list)
    # The broker lost its log: the topics hold only what the services sent again, not the whole history.
    history_lost: bool = False
    regions_used: int = 0

    @classmethod
    def start(cls, backend: str, root: Path, database_urls: dict[str, str]) -> RunningStack:
        env, ports = stack_environment(
            root,
            PARITRANA_KAFKA_SESSION_TIMEOUT_MS="2000",
            # The driver is one key sending a steady stream; the limiter is another suite's subject.
            PARITRANA_RATE_LIMIT_PER_SECOND="10000",
            PARITRANA_RATE_LIMIT_BURST="10000",
            PARITRANA_LOG_JSON="true",
        )
        for name, url in database_urls.items():
            env[f"PARITRANA_{name.upper()}_DATABASE_URL"] = url
        root.mkdir(parents=True, exist_ok=True)
        started_at = datetime.now(UTC).replace(microsecond=0)
        output = open(root / "supervisor.out", "wb")
        process = subprocess.Popen([sys.executable, "-m", "paritrana", "up"], env=env, cwd=root, stdout=output,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        output.close()
        stack = cls(backend, root, env, ports, database_urls, process, started_at)
        status = wait_all_ready(ports, timeout=90)
        if set(status.values()) != {200}:
            stack.stop()
            raise RuntimeError(f"the stack did not become ready: {status}\n{stack.output()[-3000:]}")
        stack.admin_key = (root / "var" / "admin.key").read_text().strip()
        stack.databases = {name: Database(database_urls[name]) for name in SERVICES}
        return stack

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode

    async def dispose(self) -> None:
        for database in self.databases.values():
            await database.dispose()

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def urls(self) -> dict[str, str]:
        return {name: self.url(name) for name in SERVICES}

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.ports['broker']}"

    def output(self) -> str:
        """What the supervisor has printed so far (starts, exits with their codes, restarts)."""
        return (self.root / "supervisor.out").read_text(errors="replace")

    def service_log(self, service: str) -> str:
        return (self.root / "var" / f"{service}.log").read_text(errors="replace")

    def _children(self) -> list[psutil.Process]:
        try:
            return psutil.Process(self.process.pid).children()
        except psutil.NoSuchProcess:
            return []

    def pid(self, name: str) -> int | None:
        """The live PID of a service ("enrolment", ...) or of the broker ("broker"), as the supervisor runs it."""
        for child in self._children():
            try:
                if child.status() == psutil.STATUS_ZOMBIE:
                    continue
                cmdline = child.cmdline()
            except psutil.NoSuchProcess:
                continue
            is_broker = bool(cmdline) and "tansu" in Path(cmdline[0]).name
            if (is_broker if name == "broker" else cmdline[-2:] == ["serve", name]):
                return child.pid
        return None

    async def wait_replaced(self, name: str, old_pid: int, timeout: float = 60.0) -> int:
        """Wait until the supervisor runs a new process for `name` (and, for a service, it answers /readyz 200)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid(name)
            if pid is not None and pid != old_pid and (name == "broker" or await self.ready(name)):
                return pid
            await asyncio.sleep(0.2)
        raise AssertionError(f"{name} was not restarted within {timeout}s (old pid {old_pid}); supervisor said:\n"
                             + self.output()[-2000:])

    async def wait_exit(self, pid: int, timeout: float) -> float:
        """Seconds until a process has exited (a zombie the supervisor has not reaped yet counts as exited)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        while loop.time() - started < timeout:
            try:
                if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                    break
            except psutil.NoSuchProcess:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"process {pid} still running after {timeout}s")
        return loop.time() - started

    async def ready(self, service: str) -> bool:
        try:
            async with httpx.AsyncClient(timeout=2) as http:
                return (await http.get(f"{self.url(service)}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    async def metric(self, service: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
        """One metric's samples from a service's /metrics: {sorted labels: value}."""
        from prometheus_client.parser import text_string_to_metric_families

        async with httpx.AsyncClient(timeout=5) as http:
            text = (await http.get(f"{self.url(service)}/metrics")).text
        return {tuple(sorted(s.labels.items())): s.value
                for family in text_string_to_metric_families(text) for s in family.samples if s.name == name}

    async def outbox_backlog(self, service: str) -> int:
        from services.enrolment.models import outbox as enrolment_outbox
        from services.subsidy.models import outbox as subsidy_outbox

        tables = {"enrolment": enrolment_outbox, "subsidy": subsidy_outbox}
        return await backlog(self.databases[service], tables[service])

    async def put_history_back(self) -> str:
        """What an operator runs to have the whole history on the topics again (for `award rebuild`): republish
        everything stored since the stack started, and wait until both outboxes have sent it."""
        said = [await self.command(service, "republish", "--since", self.started_at.isoformat())
                for service in ("enrolment", "subsidy")]
        for service in ("enrolment", "subsidy"):
            for _ in range(600):
                if await self.outbox_backlog(service) == 0:
                    break
                await asyncio.sleep(0.2)
        self.history_lost = False
        return "; ".join(said)

    async def undecided(self) -> int:
        """Registrations enrolment holds that subsidy has not decided yet: the business view of consumer lag."""
        return len((await check_databases(**self.databases)).undecided)

    async def consumed(self) -> dict[tuple[str, str], float]:
        """paritrana_events_consumed_total per (service, topic), over every service."""
        totals: dict[tuple[str, str], float] = {}
        for service in SERVICES:
            for labels, value in (await self.metric(service, "paritrana_events_consumed_total")).items():
                key = (dict(labels)["service"], dict(labels)["topic"])
                totals[key] = totals.get(key, 0) + value
        return totals

    async def watch_lag_drain(self, service: str, timeout: float, drained: float) -> tuple[float, float]:
        """Watch a service's paritrana_consumer_lag on /metrics until its total is at most `drained` (traffic keeps
        flowing, so an exact 0 is a matter of luck) in a figure reported after this call began: the lag is refreshed
        every LAG_INTERVAL_SECONDS. Returns (the highest total seen, seconds until drained)."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        peak = 0.0
        while loop.time() - started < timeout:
            samples = await self.metric(service, "paritrana_consumer_lag")
            total = sum(samples.values())
            peak = max(peak, total)
            if samples and total <= drained and loop.time() - started > LAG_INTERVAL_SECONDS + 0.5:
                return peak, loop.time() - started
            await asyncio.sleep(0.25)
        raise AssertionError(f"{service}'s consumer lag did not drain within {timeout}s (peak {peak:g})")

    async def command(self, *args: str, database_urls: dict[str, str] | None = None,
                      timeout: float = 120.0) -> str:
        """Run `paritrana ARGS` as an operator would, with the stack's environment; return what it printed."""
        env = dict(self.env)
        env["PARITRANA_KAFKA_BOOTSTRAP_SERVERS"] = self.bootstrap_servers
        for name, url in (database_urls or {}).items():
            env[f"PARITRANA_{name.upper()}_DATABASE_URL"] = url
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "paritrana", *args, env=env, cwd=self.root,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output = (await asyncio.wait_for(process.communicate(), timeout))[0].decode(errors="replace")
        if process.returncode != 0:
            raise AssertionError(f"paritrana {' '.join(args)} failed ({process.returncode}):\n{output[-3000:]}")
        return output.strip()
