"""The subsidy service: each region's premium budget, the funding gate and the monthly ledger."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.subsidy.api import router
from services.subsidy.consumers import WaitingLists, WorkerEventHandler
from services.subsidy.models import key_actions, outbox, outbox_lease, outbox_marks
from shared.key_actions import key_actions_router
from shared.outbox import OutboxRelay
from shared.service import Runtime
from shared.settings import Settings, get_settings
from shared.topics import WORKERS

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: Settings | None = None) -> FastAPI:
    runtime = Runtime("subsidy", settings or get_settings(), MIGRATIONS)
    relay = OutboxRelay(runtime.database, outbox, outbox_lease, outbox_marks, runtime.producer, "subsidy")
    runtime.add_worker(relay)
    backdate = runtime.settings.enrolment_backdate_months
    runtime.consume([WORKERS.name], WorkerEventHandler(runtime.database, runtime.clock, backdate_months=backdate),
                    max_records=runtime.settings.subsidy_batch_size)
    runtime.add_worker(WaitingLists(runtime.database, runtime.clock, runtime.settings.subsidy_waiting_seconds,
                                    backdate))
    app = runtime.app([router, key_actions_router(key_actions)], title="Paritrana subsidy",
                      description="Regional premium budgets at Rp16,800 per member-month, the funding gate, "
                                  "the monthly ledger and invoices.")
    # What the routes' dependencies read (services/subsidy/api.py); Runtime.app has put the clock and settings.
    return app
