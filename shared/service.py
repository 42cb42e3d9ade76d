"""What every service process is made of, so each service only adds its routes, handlers and workers.

A service's lifespan: migrate its database and the access store, then start the producer, the consumers and any
background workers (such as the outbox relay) as tasks. The API answers at once; /readyz says 503 until the
database and broker are reachable. On shutdown (SIGTERM) workers and consumers finish what they hold, commit, and
the process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, Protocol

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel

from shared import garbage_collection
from shared.access import AccessStore, Principal, require_scope
from shared.access.rate_limit import RateLimiter
from shared.clock import Clock
from shared.database import Database
from shared.http import BodyGuard, ErrorBody, HttpProblem, install_error_handlers
from shared.kafka import EventConsumer, EventProducer, Handler
from shared.kafka.consuming import BUSY_FETCH_WAIT_MS
from shared.observability import configure_logging, health_router
from shared.settings import ServiceName, Settings
from shared.vocabulary import IsoDateTime

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_SECONDS = 8.0
LAG_INTERVAL_SECONDS = 5.0
LAG_TIMEOUT_SECONDS = 2.0
WAL_CHECK_SECONDS = 5.0


# What every service's routes depend on, read from app.state (Runtime.app puts it there). Each is async: FastAPI
# runs a plain function dependency in its thread pool, a hand-off to another thread for every request
# (docs/benchmark.md).

async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.clock
    return clock


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_database)]
ClockDep = Annotated[Clock, Depends(get_clock)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


class Worker(Protocol):
    async def run(self) -> None: ...
    async def stop(self) -> None: ...


async def every(seconds: float, action: Callable[[], Awaitable[None]], stopping: asyncio.Event) -> None:
    """Run `action` now and then every `seconds`, until `stopping` is set: a service's periodic upkeep."""
    while not stopping.is_set():
        await action()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)


class Server(uvicorn.Server):
    """uvicorn's server, waking once a second instead of ten times when idle.

    uvicorn's main loop sleeps 100 ms at a time to refresh its Date header (once a second) and to see whether it
    should stop. In an idle stack those wake-ups were a good part of each process's CPU, four processes over. This
    one wakes once a second, and a stop signal wakes it at once, so stopping takes no longer than before."""

    tick_seconds = 1.0
    _stop_asked: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop, self._stop_asked = asyncio.get_running_loop(), asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 10) % 864000  # on_tick counts tenths of a second
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_asked.wait(), self.tick_seconds)
            should_exit = await self.on_tick(counter)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._loop is not None and self._stop_asked is not None:
            self._loop.call_soon_threadsafe(self._stop_asked.set)


def serve(app: str, host: str, port: int, access_log: bool) -> None:
    """Run a service's app factory (`module:function`) until SIGTERM or SIGINT."""
    config = uvicorn.Config(app, factory=True, host=host, port=port, log_config=None, access_log=access_log,
                            timeout_graceful_shutdown=8, lifespan="on")
    Server(config).run()


class Runtime:
    """One service's database, access store, producer, consumers and background workers."""

    def __init__(self, name: ServiceName, settings: Settings, migrations: Path) -> None:
        self.name, self.settings = name, settings
        self.database = Database(settings.database_url(name), migrations=migrations,
                                 version_table=f"alembic_version_{name}")
        self.access = AccessStore.from_url(settings.database_url("access"))
        self.producer = EventProducer(settings, name)
        self.clock = Clock(settings.clock_start)
        self.consumers: list[EventConsumer] = []
        self.workers: list[Worker] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self._stopping = asyncio.Event()

    def consume(self, topics: Sequence[str], handler: Handler, max_records: int = 500,
                busy_fetch_wait_ms: int = BUSY_FETCH_WAIT_MS) -> EventConsumer:
        consumer = EventConsumer(self.settings, self.name, topics, handler, producer=self.producer,
                                 max_records=max_records, busy_fetch_wait_ms=busy_fetch_wait_ms)
        self.consumers.append(consumer)
        return consumer

    def add_worker(self, worker: Worker) -> None:
        self.workers.append(worker)

    async def start(self) -> None:
        await self.access.database.migrate()
        await self.database.migrate()
        self._tasks.append(asyncio.create_task(self._start_kafka(), name=f"{self.name}-kafka"))
        on_sqlite = [d for d in (self.database, self.access.database) if d.sqlite_path is not None]
        if on_sqlite:
            self._every(WAL_CHECK_SECONDS, functools.partial(self._keep_wal_bounded, on_sqlite), "wal")
        if self.settings.gc_full_collection_seconds > 0:
            self._every(self.settings.gc_full_collection_seconds, garbage_collection.FullPasses(), "gc")

    def _every(self, seconds: float, action: Callable[[], Awaitable[None]], name: str) -> None:
        self._tasks.append(asyncio.create_task(every(seconds, action, self._stopping), name=f"{self.name}-{name}"))

    async def _start_kafka(self) -> None:
        try:
            await self.producer.start(self._stopping)
        except asyncio.CancelledError:
            return
        for runnable in [*self.consumers, *self.workers]:
            self._tasks.append(asyncio.create_task(runnable.run(), name=f"{self.name}-{type(runnable).__name__}"))
        self._every(LAG_INTERVAL_SECONDS, self._report_lag, "lag")

    async def _report_lag(self) -> None:
        # A gauge is not worth holding up a stop for: asked of a broker that has just gone away, the look-up waited
        # out the whole request timeout, and a service stopping at that moment took its full grace to stop.
        for consumer in self.consumers:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(LAG_TIMEOUT_SECONDS):
                    await consumer.lag()

    async def _keep_wal_bounded(self, databases: list[Database]) -> None:
        for database in databases:
            try:
                await database.checkpoint_wal()
            except Exception as exc:
                log.warning("%s: WAL checkpoint failed (%s)", self.name, type(exc).__name__)

    async def stop(self) -> None:
        self._stopping.set()
        for runnable in [*self.workers, *self.consumers]:
            await runnable.stop()
        if self._tasks:
            done, pending = await asyncio.wait(self._tasks, timeout=SHUTDOWN_GRACE_SECONDS)
            for task in pending:
                log.warning("%s: task %s still running %.0f s after the stop; cancelling it", self.name,
                            task.get_name(), SHUTDOWN_GRACE_SECONDS)
                task.cancel()
            for task in done:
                if not task.cancelled() and task.exception() is not None:
                    log.error("%s: task %s failed: %r", self.name, task.get_name(), task.exception())
        await self.producer.stop()
        await self.database.dispose()
        await self.access.close()

    async def ready(self) -> dict[str, bool]:
        return {
            "database": await self.database.ping(),
            "access_store": await self.access.database.ping(),
            "broker": await self.producer.ping(),
        }

    def app(self, routers: Sequence[APIRouter], *, title: str, description: str, version: str = "1.0.0",
            max_body_bytes: int = 1_048_576, upload_paths: Sequence[str] = (),
            also_accept: tuple[str, ...] = ()) -> FastAPI:
        configure_logging(self.name, self.settings.log_level, self.settings.log_json, self.settings.access_log)
        runtime = self

        @contextlib.asynccontextmanager
        async def lifespan(app: FastAPI) -> AsyncIterator[None]:
            await runtime.start()
            try:
                yield
            finally:
                await runtime.stop()

        app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
        app.state.runtime = runtime
        app.state.access = runtime.access
        app.state.rate_limiter = RateLimiter(runtime.settings.rate_limit_per_second, runtime.settings.rate_limit_burst)
        app.state.settings = runtime.settings
        app.state.clock = runtime.clock
        app.state.database = runtime.database
        install_error_handlers(app)
        app.add_middleware(BodyGuard, max_bytes=max_body_bytes, upload_paths=upload_paths, also_accept=also_accept)
        app.include_router(health_router({
            "database": runtime.database.ping,
            "access_store": runtime.access.database.ping,
            "broker": runtime.producer.ping,
        }))
        app.include_router(clock_router)
        for router in routers:
            app.include_router(router)
        document_shared_answers(app)
        return app


# Answers every service gives from shared code rather than from its routes: the body guard and the key check.
BODY_ANSWERS = {"400": "The body is not valid JSON", "413": "The body is over the size limit",
                "415": "The body is not application/json"}
KEY_ANSWERS = {"401": "No API key, or an unknown or revoked one", "403": "The key lacks the scope, or the region",
               "429": "Over the key's rate limit; see Retry-After"}


def _needs_key(route: APIRoute) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependency = pending.pop()
        if getattr(dependency.call, "__name__", "").startswith("require_"):
            return True
        pending.extend(dependency.dependencies)
    return False


def document_shared_answers(app: FastAPI) -> None:
    """List the body guard's and the key check's statuses in each route's OpenAPI responses, so a client (and the
    schema fuzzing in tests/security) sees every status a route can answer."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            error_schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(error_schema.pop("$defs", {}))
            components.setdefault("ErrorBody", error_schema)
            error = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
            for context in iter_route_contexts(app.routes):
                route = context.original_route
                if not isinstance(route, APIRoute) or not route.include_in_schema:
                    continue
                answers = {**(BODY_ANSWERS if route.body_field is not None else {}),
                           **(KEY_ANSWERS if _needs_key(route) else {})}
                for method in route.methods or ():
                    operation = schema["paths"].get(context.path_format, {}).get(method.lower())
                    for status, description in answers.items() if operation else ():
                        operation["responses"].setdefault(status, {"description": description, "content": error})
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


class ClockIn(BaseModel):
    now: IsoDateTime


# The service clock: readable by anyone, settable by an admin in dev mode only (demos move a stack into the fiscal
# year they show). A production clock is the system clock.
clock_router = APIRouter(tags=["operations"])


def _clock_view(clock: Clock, settings: Settings) -> dict[str, Any]:
    return {"now": clock.now().isoformat(), "today": clock.today().isoformat(), "settable": settings.mode == "dev"}


@clock_router.get("/v1/clock", summary="The service's clock")
async def read_clock(clock: ClockDep, settings: SettingsDep) -> dict[str, Any]:
    return _clock_view(clock, settings)


@clock_router.put("/v1/clock", summary="Move the service's clock (dev mode, admin)",
                  responses={403: {"description": "Not an admin key, or not in dev mode"}})
async def set_clock(body: ClockIn, _admin: Annotated[Principal, Depends(require_scope("admin"))], clock: ClockDep,
                    settings: SettingsDep) -> dict[str, Any]:
    if settings.mode != "dev":
        raise HttpProblem(403, "clock_fixed", "The clock can only be moved in dev mode.", field="now")
    clock.set(body.now)
    return _clock_view(clock, settings)
