"""`paritrana up` (and `make run`): the broker, the topics, the three services and the office, in the foreground.

Ctrl-C or SIGTERM stops every process it started. Children also get SIGTERM from the kernel if this process dies
(PR_SET_PDEATHSIG), so nothing is left running even after a kill -9. A service that exits on its own is
restarted after a short pause, the way a process manager would.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from shared.access import AccessStore
from shared.broker import EmbeddedBroker, die_with_parent, port_in_use
from shared.kafka import ensure_topics
from shared.settings import ALL_SERVICES, SERVICES, Settings

RESTART_DELAY_SECONDS = 2.0
STOP_TIMEOUT_SECONDS = 12.0


@dataclass
class ServiceProcess:
    name: str
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    exited_at: float | None = None
    log: object = field(default=None, repr=False)


def _say(message: str) -> None:
    print(message, flush=True)


@dataclass(frozen=True)
class Prepared:
    admin_key: str
    office_key: str
    office_password: str


async def prepare(settings: Settings) -> Prepared:
    """Topics, migrations, the demo admin key, the office's key and its first admin account."""
    await ensure_topics(settings)
    store = AccessStore.from_url(settings.database_url("access"))
    try:
        await store.database.migrate()
        admin_key = await demo_admin_key(settings, store)
        office_key = await office_service_key(settings, store)
    finally:
        await store.database.dispose()
    return Prepared(admin_key, office_key, await office_admin(settings))


async def office_service_key(settings: Settings, store: AccessStore) -> str:
    """The key the office acts with on the other services (dev mode; prod sets PARITRANA_OFFICE_API_KEY)."""
    if settings.office_api_key:
        return settings.office_api_key
    path = settings.data_dir / "office.key"
    if path.exists():
        secret = path.read_text().strip()
        if await store.authenticate(secret) is not None:
            return secret
    issued = await store.create("office workspace (make run)", "staff", ["admin"], ["*"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(issued.secret + "\n")
    path.chmod(0o600)
    return issued.secret


OFFICE_ADMIN = "admin"


async def office_admin(settings: Settings) -> str:
    """The office's first account, `admin` (national, role admin), with the password kept in var/office-admin.txt;
    a new password when the file is gone."""
    from services.office import service
    from services.office.app import MIGRATIONS
    from shared.clock import Clock
    from shared.database import Database

    path = settings.data_dir / "office-admin.txt"
    database = Database(settings.database_url("office"), migrations=MIGRATIONS, version_table="alembic_version_office")
    try:
        await database.migrate()
        clock = Clock(settings.clock_start)
        accounts = {row.staff.username: row for row in await service.list_staff(database)}
        existing = accounts.get(OFFICE_ADMIN)
        if path.exists() and existing is not None and not existing.staff.disabled:
            return path.read_text().strip()
        password = secrets.token_urlsafe(12)
        if existing is None:
            await service.create_staff(database, clock, service.CLI, OFFICE_ADMIN, "Admin (make run)", "admin", ["*"],
                                       password)
        else:
            await service.reset_password(database, clock, service.CLI, OFFICE_ADMIN, password)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)
        return password
    finally:
        await database.dispose()


async def demo_admin_key(settings: Settings, store: AccessStore) -> str:
    """Reuse the admin key kept in var/admin.key while it still works; otherwise issue a new one."""
    path = settings.data_dir / "admin.key"
    if path.exists():
        secret = path.read_text().strip()
        if await store.authenticate(secret) is not None:
            return secret
    issued = await store.create("demo admin (make run)", "staff", ["admin"], ["*"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(issued.secret + "\n")
    path.chmod(0o600)
    return issued.secret


def _start_service(settings: Settings, svc: ServiceProcess, office_key: str | None = None) -> None:
    log_path = settings.data_dir / f"{svc.name}.log"
    log = open(log_path, "ab")
    env = dict(os.environ)
    if not settings.kafka_bootstrap_servers:
        env["PARITRANA_KAFKA_BOOTSTRAP_SERVERS"] = settings.bootstrap_servers
    if svc.name == "office" and office_key:
        env["PARITRANA_OFFICE_API_KEY"] = office_key
    svc.process = subprocess.Popen(
        [sys.executable, "-m", "paritrana", "serve", svc.name],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, preexec_fn=die_with_parent,
    )
    svc.log = log
    svc.exited_at = None


def _stop_services(services: list[ServiceProcess]) -> None:
    running = [s for s in services if s.process is not None and s.process.poll() is None]
    for s in running:
        s.process.send_signal(signal.SIGTERM)  # type: ignore[union-attr]
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for s in running:
        try:
            s.process.wait(max(0.1, deadline - time.monotonic()))  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            s.process.kill()  # type: ignore[union-attr]
            s.process.wait()  # type: ignore[union-attr]


def _ports_taken(settings: Settings) -> list[str]:
    """The ports this stack would listen on where something already listens, each with the setting that moves it."""
    wanted = {f"PARITRANA_{name.upper()}_PORT": (settings.host, settings.port(name)) for name in ALL_SERVICES}
    if not settings.kafka_bootstrap_servers:
        wanted["PARITRANA_EMBEDDED_BROKER_PORT"] = ("127.0.0.1", settings.embedded_broker_port)
    return [f"{host}:{port} is in use ({variable})" for variable, (host, port) in wanted.items()
            if port_in_use(host, port)]


def up(settings: Settings) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    stop_requested = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stop_requested
        stop_requested = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    taken = _ports_taken(settings)
    if taken:
        _say("cannot start: " + "; ".join(taken) + ". Another stack may be running: stop it, or choose free ports.")
        return 1
    broker: EmbeddedBroker | None = None
    services = [ServiceProcess(name) for name in ALL_SERVICES]
    try:
        if settings.kafka_bootstrap_servers:
            _say(f"Using the Kafka cluster at {settings.kafka_bootstrap_servers}")
        else:
            broker = EmbeddedBroker(settings.embedded_broker_port, settings.data_dir / "broker.log")
            broker.start()
            _say(f"Broker (Tansu, in memory)  {broker.bootstrap_servers}")
        prepared = asyncio.run(prepare(settings))
        for svc in services:
            _start_service(settings, svc, prepared.office_key)
        for name in SERVICES:
            _say(f"{name:<10} {settings.base_url(name)}   docs {settings.base_url(name)}/docs")
        _say(f"Dashboard  {settings.base_url('award')}/")
        _say(f"Office     {settings.base_url('office')}/   sign in as {OFFICE_ADMIN} with the password "
             f"{prepared.office_password} (also in {settings.data_dir / 'office-admin.txt'})")
        _say(f"Admin API key (also in {settings.data_dir / 'admin.key'}): {prepared.admin_key}")
        _say(f"Logs in {settings.data_dir}/*.log. Ctrl-C stops everything.")

        while not stop_requested:
            time.sleep(0.2)
            if stop_requested:  # Ctrl-C reaches the whole process group: what exited is stopping, not failing
                break
            for svc in services:
                if svc.process is None or svc.process.poll() is None:
                    continue
                if svc.exited_at is None:
                    svc.exited_at = time.monotonic()
                    _say(f"{svc.name} exited with {svc.process.returncode}; restarting")
                elif time.monotonic() - svc.exited_at >= RESTART_DELAY_SECONDS:
                    svc.restarts += 1
                    _start_service(settings, svc, prepared.office_key)
            if broker is not None and broker.process is not None and broker.process.poll() is not None:
                # Tansu keeps its log in memory: after a restart the topics are empty. Each service notices, and
                # publishes again what its consumers may not have read (shared/broker_log.py).
                _say("the broker exited; restarting it (its log is lost: the services publish again what was unread)")
                broker.start()
                asyncio.run(ensure_topics(settings))
        return 0
    finally:
        _stop_services(services)
        if broker is not None:
            broker.stop()
        _say("stopped")
