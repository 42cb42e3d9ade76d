"""Queries on the enrolment database. Every change that publishes an event writes its outbox row in the same
transaction, so a registration and its event are stored together or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.enrolment.domain import IntakeVerdict, RegistrationRecord, ValidIntake, ended_event, judge_arrivals
from services.enrolment.models import outbox, registrations
from shared.database import Database
from shared.kafka import Consumed
from shared.outbox import enqueue
from shared.vocabulary import LIVE_STATUSES, STATUS_AFTER_DECISION, EndReason

CHUNK = 500
# The statuses inline in the SQL rather than bound: only then can SQLite see that a look-up of live NIKs lies
# inside the partial unique index uq_registrations_live_nik (status IN ('pending_funding', 'active')) and use it,
# instead of scanning every registration for each batch or single registration.
_LIVE = bindparam("live_statuses", list(LIVE_STATUSES), expanding=True, literal_execute=True)
# Attempts for one item when concurrent requests keep taking its id or NIK between the look-up and the insert.
ITEM_ATTEMPTS = 3
# Single registrations waiting together are stored in one transaction of at most this many.
GROUP_LIMIT = 500


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), CHUNK):
        yield values[start:start + CHUNK]


def utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; every stored timestamp is UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_TIMESTAMPS = ("captured_at", "decided_at", "ended_at", "registered_at", "updated_at")
_RECORD_FIELDS = [f.name for f in fields(RegistrationRecord)]


def _record(mapping: Any) -> RegistrationRecord:
    values = {name: mapping[name] for name in _RECORD_FIELDS}
    for name in _TIMESTAMPS:
        if values[name] is not None:
            values[name] = utc(values[name])
    return RegistrationRecord(**values)


@dataclass
class Submission:
    """An intake as one key submitted it at one moment."""

    intake: ValidIntake
    key_id: str
    now: datetime

    def row(self) -> dict[str, Any]:
        return self.intake.row(self.key_id, self.now)

    def outbox_entry(self) -> tuple[Any, str]:
        return self.intake.registered_event(self.now), self.intake.regency_code


@dataclass
class _Waiting:
    submission: Submission
    decided: asyncio.Future[IntakeVerdict] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class Registrations:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._waiting: list[_Waiting] = []
        self._storing: asyncio.Task[None] | None = None

    async def register(self, intakes: list[ValidIntake], key_id: str, now: datetime) -> list[IntakeVerdict]:
        """Store the accepted ones with their worker.registered events; returns one verdict per intake."""
        return await self._store([Submission(c, key_id, now) for c in intakes])

    async def register_single(self, intake: ValidIntake, key_id: str, now: datetime) -> IntakeVerdict:
        """One registration, stored in one transaction with the others waiting at the same moment (group commit).

        A transaction costs the same few round trips to the database whether it holds one registration or
        hundreds, and on SQLite only one runs at a time, so concurrent single POSTs each in their own transaction
        queue behind one another. Here they share one: requests that arrive while a group is being stored form the
        next group. Each is judged as if it had arrived alone, in arrival order (see `judge_arrivals`), and answered
        only after the commit.
        """
        waiting = _Waiting(Submission(intake, key_id, now))
        self._waiting.append(waiting)
        if self._storing is None or self._storing.done():
            self._storing = asyncio.create_task(self._store_waiting())
        return await asyncio.shield(waiting.decided)

    async def _store_waiting(self) -> None:
        while self._waiting:
            group, self._waiting = self._waiting[:GROUP_LIMIT], self._waiting[GROUP_LIMIT:]
            try:
                verdicts = await self._store([w.submission for w in group])
            except Exception as exc:
                for w in group:
                    w.decided.set_exception(exc)
            else:
                for w, verdict in zip(group, verdicts):
                    w.decided.set_result(verdict)

    async def _store(self, submissions: list[Submission]) -> list[IntakeVerdict]:
        if not submissions:
            return []
        try:
            async with self.database.transaction() as session:
                return await self._store_together(session, submissions)
        except IntegrityError:
            # A concurrent request stored one of these ids or NIKs after our look-up (PostgreSQL only: SQLite write
            # transactions run one at a time). Judge them again one by one, each in its own savepoint.
            async with self.database.transaction() as session:
                return [await self._store_one(session, s) for s in submissions]

    async def _store_together(self, session: AsyncSession, submissions: list[Submission]) -> list[IntakeVerdict]:
        intakes = [s.intake for s in submissions]
        verdicts = judge_arrivals(intakes, *await self._known(session, intakes))
        accepted = [s for s, v in zip(submissions, verdicts) if v.verdict == "accepted"]
        # The same insert order in every transaction keeps two overlapping batches from deadlocking on the index.
        accepted.sort(key=lambda s: (s.intake.nik, s.intake.registration_id))
        if accepted:
            await session.execute(insert(registrations), [s.row() for s in accepted])
            await enqueue(session, outbox, [s.outbox_entry() for s in accepted])
        return verdicts

    async def _store_one(self, session: AsyncSession, submission: Submission) -> IntakeVerdict:
        for _ in range(ITEM_ATTEMPTS):
            [verdict] = judge_arrivals([submission.intake], *await self._known(session, [submission.intake]))
            if verdict.verdict != "accepted":
                return verdict
            try:
                async with session.begin_nested():
                    await session.execute(insert(registrations), [submission.row()])
                    await enqueue(session, outbox, [submission.outbox_entry()])
                return verdict
            except IntegrityError:
                continue  # the winner has committed by now, so the next look-up sees it
        raise RuntimeError("registration kept conflicting with concurrent inserts")

    async def _known(self, session: AsyncSession,
                     intakes: Sequence[ValidIntake]) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
        """Fingerprints of the stored registrations with these ids, and the live registrations of these NIKs."""
        stored: dict[str, str] = {}
        for chunk in _chunks(sorted({c.registration_id for c in intakes})):
            result = await session.execute(select(registrations.c.registration_id, registrations.c.content_sha256)
                                           .where(registrations.c.registration_id.in_(chunk)))
            stored.update((r.registration_id, r.content_sha256) for r in result)
        live: dict[tuple[str, str], str] = {}
        for chunk in _chunks(sorted({c.nik for c in intakes})):
            result = await session.execute(
                select(registrations.c.nik, registrations.c.programme, registrations.c.registration_id)
                .where(registrations.c.nik.in_(chunk), registrations.c.status.in_(_LIVE)))
            live.update(((r.nik, r.programme), r.registration_id) for r in result)
        return stored, live

    async def get(self, registration_id: str) -> RegistrationRecord | None:
        async with self.database.reading() as session:
            row = (await session.execute(
                select(registrations).where(registrations.c.registration_id == registration_id))).mappings().first()
        return _record(row) if row is not None else None

    async def page(self, *, grants: tuple[str, ...] | None, region: str | None, status: str | None,
                   category: str | None, updated_since: datetime | None, after: tuple[datetime, str] | None,
                   limit: int) -> list[RegistrationRecord]:
        """Without updated_since, the listing: registrations in (registered_at, registration_id) order. Neither ever
        changes, so a registration keeps its place while others are added or ended, and a client paging through
        gets every registration that existed when it began exactly once.

        With updated_since, the change feed: (updated_at, registration_id) order, so a client syncing with
        updated_since and the cursor sees every change: a registration that changes moves to the end and comes
        round again. `after` is the last row's values of the mode's order (see `ordered_by`)."""
        position = registrations.c[ordered_by(changes=updated_since is not None)]
        query = select(registrations)
        if grants is not None:
            query = query.where(or_(*(_in_region(g) for g in grants)))
        if region is not None:
            query = query.where(_in_region(region))
        if status is not None:
            query = query.where(registrations.c.status == status)
        if category is not None:
            query = query.where(registrations.c.category == category)
        if updated_since is not None:
            query = query.where(registrations.c.updated_at >= utc(updated_since))
        if after is not None:
            at, last_id = utc(after[0]), after[1]
            query = query.where(or_(position > at, and_(position == at, registrations.c.registration_id > last_id)))
        query = query.order_by(position, registrations.c.registration_id).limit(limit)
        async with self.database.reading() as session:
            return [_record(r) for r in (await session.execute(query)).mappings()]

    async def end(self, record: RegistrationRecord, reason: EndReason, end_month: int, now: datetime) -> bool:
        """End a live registration and publish worker.ended; False if it was not live (any more)."""
        async with self.database.transaction() as session:
            result = await session.execute(
                update(registrations)
                .where(registrations.c.registration_id == record.registration_id,
                       registrations.c.status.in_(LIVE_STATUSES))
                .values(status="ended", status_reason=reason, end_month=end_month, ended_at=now, updated_at=now))
            if result.rowcount != 1:
                return False
            await enqueue(session, outbox, [(ended_event(record, reason, end_month, now), record.regency_code)])
        return True


def ordered_by(*, changes: bool) -> str:
    """The timestamp column a page is ordered by (then registration_id): the change feed's or the listing's."""
    return "updated_at" if changes else "registered_at"


def _in_region(code: str) -> Any:
    column = registrations.c.province_code if len(code) == 2 else registrations.c.regency_code
    return column == code


_DECIDE = (
    update(registrations)
    .where(registrations.c.registration_id == bindparam("b_id"), registrations.c.status == "pending_funding")
    .values(status=bindparam("b_status"), status_reason=bindparam("b_reason"), decided_at=bindparam("b_decided"),
            updated_at=bindparam("b_now"))
)


async def apply_decisions(session: AsyncSession, events: list[Consumed], now: datetime) -> int:
    """Move pending registrations to active or unfunded. Only a pending registration changes, so the first decision
    for a registration wins and a late or replayed one is a no-op; other event types are ignored."""
    first: dict[str, dict[str, Any]] = {}
    for consumed in events:
        status = STATUS_AFTER_DECISION.get(consumed.event.type)
        if status is None:
            continue
        data = consumed.event.data
        first.setdefault(str(data.registration_id), {
            "b_id": str(data.registration_id), "b_status": status,
            "b_reason": getattr(data, "reason", None), "b_decided": utc(data.decided_at), "b_now": now,
        })
    if first:
        await session.execute(_DECIDE, list(first.values()))
    return len(first)
