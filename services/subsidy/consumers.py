"""The worker-event consumer: each polled batch is funded by ``service.fund_batch`` in one database transaction
(inbox claim, decisions, guarded budget commitments, ledger and outbox rows together). Offsets are committed after
it."""

from __future__ import annotations

from services.subsidy import service
from services.subsidy.domain import RateBook
from shared.clock import Clock
from shared.database import Database
from shared.kafka import Consumed


class WorkerEventHandler:
    def __init__(self, database: Database, clock: Clock, *, publish: bool = True) -> None:
        self.database, self.clock, self.publish = database, clock, publish
        self.rates: RateBook | None = None

    async def __call__(self, batch: list[Consumed]) -> None:
        if self.rates is None:
            # Rates change only with a migration, so one book serves the process's life.
            self.rates = await service.load_rate_book(self.database)
        await service.fund_batch(self.database, self.clock, batch, self.rates, publish=self.publish)
