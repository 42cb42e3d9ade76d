"""The stack under test: started with `paritrana up` in a temporary data directory on free ports (SQLite files, or
fresh PostgreSQL databases created here and dropped afterwards), or a stack that is already running."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from shared.settings import ALL_SERVICES, SERVICES, Settings

# The bench measures the system, not the per-key limiter protecting it; the key it uses gets this rate.
UNLIMITED_RATE = 1_000_000
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresDatabases:
    """Fresh databases on a PostgreSQL server, dropped by `drop()`."""

    admin_url: str
    created: list[str] = field(default_factory=list)

    async def create(self, purpose: str) -> str:
        import asyncpg

        name = f"paritrana_bench_{uuid.uuid4().hex[:8]}_{purpose}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        base = self.admin_url.rsplit("/", 1)[0]
        return f"{base}/{name}".replace("postgresql://", "postgresql+asyncpg://", 1)

    async def drop(self) -> None:
        import asyncpg

        if not self.created:
            return
        conn = await asyncpg.connect(self.admin_url)
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
        self.created.clear()

    async def server_version(self) -> str:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            return await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()


@dataclass
class Stack:
    """What the bench needs to know about the stack: URLs, an admin key, environment, processes, databases."""

    urls: dict[str, str]
    admin_key: str
    env: dict[str, str]
    database_urls: dict[str, str]
    bootstrap_servers: str
    backend: str
    pids: dict[str, int] = field(default_factory=dict)
    postgres: PostgresDatabases | None = None
    data_dir: Path | None = None
    _process: subprocess.Popen[bytes] | None = None
    _tmp: str | None = None

    async def scratch_database(self, purpose: str) -> str:
        """An empty database of the same backend, for a replay to rebuild into."""
        if self.postgres is not None:
            return await self.postgres.create(purpose)
        directory = Path(self._tmp or tempfile.mkdtemp(prefix="paritrana-bench-replay-"))
        self._tmp = str(directory)
        path = directory / f"replay-{purpose}-{uuid.uuid4().hex[:6]}.db"
        return f"sqlite+aiosqlite:///{path}"

    async def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self._process.wait, 30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                await asyncio.to_thread(self._process.wait)
        if self.postgres is not None:
            await self.postgres.drop()
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PARITRANA_") and k != "KAFKA_BOOTSTRAP_SERVERS"}


async def wait_ready(urls: dict[str, str], timeout: float, process: subprocess.Popen[bytes] | None = None,
                     path: str = "/readyz") -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as http:
        pending = dict(urls)
        while pending:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"{process.args!r} exited with {process.returncode} before it was ready")
            for name, url in list(pending.items()):
                try:
                    if (await http.get(f"{url}{path}")).status_code == 200:
                        del pending[name]
                except httpx.HTTPError:
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready within {timeout:.0f}s: {', '.join(pending)}")
            await asyncio.sleep(0.2)


def _children(process: subprocess.Popen[bytes]) -> dict[str, int]:
    """Every process of the stack, `paritrana up` itself (the supervisor) and the office included, so that the idle
    figure is the whole stack's."""
    pids: dict[str, int] = {"supervisor": process.pid}
    for child in psutil.Process(process.pid).children(recursive=True):
        try:
            cmdline = " ".join(child.cmdline())
        except psutil.Error:
            continue
        for name in ALL_SERVICES:
            if f"serve {name}" in cmdline:
                pids[name] = child.pid
        if "tansu" in cmdline or re.search(r"\bbroker --listener-url\b", cmdline):
            pids["broker"] = child.pid
    return pids


async def start_stack(backend: str, postgres_url: str = DEFAULT_POSTGRES_URL, timeout: float = 120.0,
                      extra_env: dict[str, str] | None = None) -> Stack:
    """`paritrana up` in a temporary data directory, on free ports, with the per-key rate limit out of the way."""
    tmp = tempfile.mkdtemp(prefix="paritrana-bench-")
    data_dir = Path(tmp) / "var"
    ports = {name: free_port() for name in SERVICES}
    broker_port = free_port()
    office_port = free_port()
    env = _clean_env() | {
        "PARITRANA_DATA_DIR": str(data_dir),
        "PARITRANA_ENROLMENT_PORT": str(ports["enrolment"]),
        "PARITRANA_SUBSIDY_PORT": str(ports["subsidy"]),
        "PARITRANA_AWARD_PORT": str(ports["award"]),
        "PARITRANA_OFFICE_PORT": str(office_port),
        "PARITRANA_EMBEDDED_BROKER_PORT": str(broker_port),
        "PARITRANA_RATE_LIMIT_PER_SECOND": str(UNLIMITED_RATE),
        "PARITRANA_RATE_LIMIT_BURST": str(UNLIMITED_RATE),
        "PARITRANA_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    postgres = None
    database_urls = {name: f"sqlite+aiosqlite:///{data_dir / (name + '.db')}" for name in (*SERVICES, "access")}
    if backend == "postgresql":
        postgres = PostgresDatabases(postgres_url)
        for name in (*SERVICES, "access"):
            database_urls[name] = await postgres.create(name)
            env[f"PARITRANA_{name.upper()}_DATABASE_URL"] = database_urls[name]
    data_dir.mkdir(parents=True)
    log = open(data_dir / "up.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "paritrana", "up"], env=env, cwd=tmp, stdout=log,
                               stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    stack = Stack(urls=urls, admin_key="", env=env, database_urls=database_urls,
                  bootstrap_servers=f"127.0.0.1:{broker_port}", backend=backend, postgres=postgres,
                  data_dir=data_dir, _process=process, _tmp=tmp)
    try:
        await wait_ready(urls, timeout, process)
        stack.admin_key = (data_dir / "admin.key").read_text().strip()
        stack.pids = _children(process)
    except BaseException:
        await stack.stop()
        raise
    return stack


def _listening_pid(port: int) -> int | None:
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port and conn.pid:
                return conn.pid
    except psutil.Error:
        return None
    return None


async def use_running_stack(settings: Settings, postgres_url: str = DEFAULT_POSTGRES_URL) -> Stack:
    """The stack these settings describe (the same PARITRANA_* variables it was started with). A fresh admin key
    with no practical rate limit is issued in its access store; processes are found by their listening ports."""
    from shared.access import AccessStore

    urls = {name: settings.base_url(name) for name in SERVICES}
    await wait_ready(urls, 10)
    store = AccessStore.from_url(settings.database_url("access"))
    try:
        await store.database.migrate()
        issued = await store.create(f"bench {uuid.uuid4().hex[:6]}", "staff", ["admin"], ["*"], UNLIMITED_RATE)
    finally:
        await store.database.dispose()
    database_urls = {name: settings.database_url(name) for name in (*SERVICES, "access")}
    backend = "postgresql" if database_urls["enrolment"].startswith("postgresql") else "sqlite"
    pids = {name: pid for name in ALL_SERVICES if (pid := _listening_pid(settings.port(name)))}
    broker_port = int(settings.bootstrap_servers.rsplit(":", 1)[1])
    if (pid := _listening_pid(broker_port)) is not None:
        pids["broker"] = pid
    return Stack(urls=urls, admin_key=issued.secret, env=dict(os.environ), database_urls=database_urls,
                 bootstrap_servers=settings.bootstrap_servers, backend=backend, pids=pids, data_dir=settings.data_dir,
                 postgres=PostgresDatabases(postgres_url) if backend == "postgresql" else None)
