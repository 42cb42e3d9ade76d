"""The worker-event consumer: each polled batch is funded by ``service.fund_batch`` in one database transaction
(inbox claim, decisions, guarded budget commitments, waiting lists, ledger and outbox rows together). Offsets are
committed after it. Beside it, ``WaitingLists`` runs on the service's clock: the end of a fiscal year, and any
waiting list a budget can cover."""

from __future__ import annotations

import asyncio
import logging

from services.subsidy import service
from services.subsidy.domain import RateBook
from shared.clock import Clock
from shared.database import Database
from shared.kafka import Consumed
from shared.service import every

log = logging.getLogger(__name__)


class WorkerEventHandler:
    def __init__(self, database: Database, clock: Clock, *, publish: bool = True, backdate_months: int = 0) -> None:
        self.database, self.clock, self.publish, self.backdate_months = database, clock, publish, backdate_months
        self.rates: RateBook | None = None

    async def __call__(self, batch: list[Consumed]) -> None:
        if self.rates is None:
            # Rates change only with a migration, so one book serves the process's life.
            self.rates = await service.load_rate_book(self.database)
        await service.fund_batch(self.database, self.clock, batch, self.rates, publish=self.publish,
                                 backdate_months=self.backdate_months)


class WaitingLists:
    """Every few seconds: deny whoever waits in a fiscal year the clock has left behind, and fund any waiting list
    a budget can now cover. Each instance runs one; the database decides who funds a registration, so each is
    funded once."""

    def __init__(self, database: Database, clock: Clock, seconds: float, backdate_months: int) -> None:
        self.database, self.clock, self.seconds, self.backdate_months = database, clock, seconds, backdate_months
        self._stopping = asyncio.Event()

    async def settle(self) -> None:
        try:
            await service.settle_waiting_lists(self.database, self.clock, self.backdate_months)
        except Exception as exc:  # the database may be away: the next round tries again
            log.warning("subsidy: settling the waiting lists failed (%s)", type(exc).__name__)

    async def run(self) -> None:
        await every(self.seconds, self.settle, self._stopping)

    async def stop(self) -> None:
        self._stopping.set()
