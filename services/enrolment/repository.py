"""Queries on the enrolment database. Every change that publishes an event writes its outbox row in the same
transaction, so a registration and its event are stored together or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.enrolment.domain import (
    IntakeVerdict,
    LiveKey,
    RegistrationRecord,
    ResultPlan,
    ValidIntake,
    ended_event,
    judge_arrivals,
    registered_event,
    rejection_end_month,
    renewal_of,
)
from services.enrolment.models import bpjs_downloads, bpjs_imports, key_actions, outbox, registrations
from shared.access import Principal
from shared.database import Database
from shared.kafka import Consumed
from shared.key_actions import record_key_action
from shared.outbox import enqueue
from shared.vocabulary import LIVE_STATUSES, STATUS_AFTER_DECISION, EndedReason

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
        return registered_event(self.intake.record(self.key_id, self.now)), self.intake.regency_code


@dataclass
class _Waiting:
    submission: Submission
    decided: asyncio.Future[IntakeVerdict] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class _Refused(Exception):
    """The successor of a replacement was not accepted: the holder's end is rolled back with it."""

    def __init__(self, verdict: IntakeVerdict) -> None:
        super().__init__(verdict.code)
        self.verdict = verdict


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
                     intakes: Sequence[ValidIntake]) -> tuple[dict[str, str], dict[LiveKey, str]]:
        """Fingerprints of the stored registrations with these ids, and the live registrations of these NIKs."""
        stored: dict[str, str] = {}
        for chunk in _chunks(sorted({c.registration_id for c in intakes})):
            result = await session.execute(select(registrations.c.registration_id, registrations.c.content_sha256)
                                           .where(registrations.c.registration_id.in_(chunk)))
            stored.update((r.registration_id, r.content_sha256) for r in result)
        return stored, await live_registrations(session, [c.nik for c in intakes])

    async def get(self, registration_id: str) -> RegistrationRecord | None:
        async with self.database.reading() as session:
            row = (await session.execute(
                select(registrations).where(registrations.c.registration_id == registration_id))).mappings().first()
        return _record(row) if row is not None else None

    async def page(self, *, grants: tuple[str, ...] | None, region: str | None, status: str | None,
                   category: str | None, updated_since: datetime | None, after: tuple[datetime, str] | None,
                   limit: int, district: str | None = None, village: str | None = None,
                   search: str | None = None) -> list[RegistrationRecord]:
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
        if district is not None:
            query = query.where(registrations.c.district_code == district)
        if village is not None:
            query = query.where(registrations.c.village_code == village)
        if search is not None:
            # A whole NIK finds its person; anything else is part of a name, in any case, and whatever apostrophe
            # or spacing it was typed with (a spreadsheet turns ' into ’; "o brien" finds O'BRIEN).
            query = query.where(registrations.c.nik == search if search.isdigit() and len(search) == 16
                                else _loosely(func.lower(registrations.c.full_name)).contains(
                                    _loosely(search.lower()), autoescape=True))
        if updated_since is not None:
            query = query.where(registrations.c.updated_at >= utc(updated_since))
        if after is not None:
            at, last_id = utc(after[0]), after[1]
            query = query.where(or_(position > at, and_(position == at, registrations.c.registration_id > last_id)))
        query = query.order_by(position, registrations.c.registration_id).limit(limit)
        async with self.database.reading() as session:
            return [_record(r) for r in (await session.execute(query)).mappings()]

    async def end(self, record: RegistrationRecord, reason: EndedReason, end_month: int, principal: Principal,
                  now: datetime) -> bool:
        """End a live registration and publish worker.ended, recorded as the key's action; False if it was not
        live (any more)."""
        async with self.database.transaction() as session:
            if not await _end(session, record, reason, end_month, now):
                return False
            await record_key_action(session, key_actions, principal, now, "registration_ended", record.regency_code,
                                    record.registration_id, before={"status": record.status},
                                    after={"status": "ended", "reason": reason, "end_month": end_month})
            return True

    async def replace(self, holder: RegistrationRecord, end_month: int, successor: ValidIntake, principal: Principal,
                      now: datetime) -> IntakeVerdict | None:
        """End the holder (replaced) and register the successor in one transaction, the holder's worker.ended
        ahead of the successor's worker.registered: both or neither. None if the holder was not live; otherwise the
        successor's verdict, and nothing is stored unless it was accepted."""
        try:
            async with self.database.transaction() as session:
                if not await _end(session, holder, "replaced", end_month, now):
                    return None
                [verdict] = judge_arrivals([successor], *await self._known(session, [successor]))
                if verdict.verdict != "accepted":
                    raise _Refused(verdict)
                key_id = principal.key_id
                await session.execute(insert(registrations), [successor.row(key_id, now, holder.registration_id)])
                record = successor.record(key_id, now, holder.registration_id)
                await enqueue(session, outbox, [(registered_event(record), record.regency_code)])
                await record_key_action(session, key_actions, principal, now, "registration_replaced",
                                        holder.regency_code, holder.registration_id,
                                        before={"status": holder.status},
                                        after={"status": "ended", "reason": "replaced", "end_month": end_month,
                                               "replaced_by": record.registration_id})
        except _Refused as refused:
            return refused.verdict
        return verdict

    async def renewed_among(self, registration_ids: Sequence[str]) -> set[str]:
        """Which of these registrations a renewal already renews."""
        found: set[str] = set()
        async with self.database.reading() as session:
            for chunk in _chunks(list(registration_ids)):
                found.update(r for r in (await session.scalars(select(registrations.c.renews).where(
                    registrations.c.renews.in_(chunk)))).all() if r is not None)
        return found

    async def cohort(self, region: str, fiscal_year: int, category: str | None) -> list[RegistrationRecord]:
        """The members a renewal from this fiscal year may renew: funded and not ended."""
        query = select(registrations).where(_in_region(region), registrations.c.fiscal_year == fiscal_year,
                                            registrations.c.status == "active")
        if category is not None:
            query = query.where(registrations.c.category == category)
        async with self.database.reading() as session:
            return [_record(r) for r in (await session.execute(
                query.order_by(registrations.c.registered_at, registrations.c.registration_id))).mappings()]

    async def renew(self, region: str, members: Sequence[RegistrationRecord], fiscal_year: int, start_month: int,
                    months: int, principal: Principal, now: datetime) -> tuple[int, int, int]:
        """Register each member's renewal with its worker.registered, a chunk per transaction (each recorded as the
        key's action). Returns (renewed, already renewed, skipped: the person already holds a live registration in
        that year)."""
        renewed = already = skipped = 0
        for chunk in _chunks(list(members)):
            for attempt in range(ITEM_ATTEMPTS):
                try:
                    counts = await self._renew_chunk(region, chunk, fiscal_year, start_month, months, principal,
                                                     now)
                    break
                except IntegrityError:
                    # The same cohort renewed at once elsewhere (the unique index on renews): look again.
                    if attempt == ITEM_ATTEMPTS - 1:
                        raise
            renewed, already, skipped = renewed + counts[0], already + counts[1], skipped + counts[2]
        return renewed, already, skipped

    async def _renew_chunk(self, region: str, chunk: Sequence[RegistrationRecord], fiscal_year: int,
                           start_month: int, months: int, principal: Principal, now: datetime
                           ) -> tuple[int, int, int]:
        async with self.database.transaction() as session:
            done = set((await session.scalars(select(registrations.c.renews).where(
                registrations.c.renews.in_([m.registration_id for m in chunk])))).all())
            live = await live_registrations(session, [m.nik for m in chunk])
            rows, already, skipped = [], 0, 0
            for m in chunk:
                if m.registration_id in done:
                    already += 1
                elif (m.nik, m.programme, fiscal_year) in live:
                    skipped += 1
                else:
                    rows.append(renewal_of(m, fiscal_year, start_month, months, principal.key_id, now))
                    live[(m.nik, m.programme, fiscal_year)] = rows[-1]["registration_id"]
            if rows:
                await session.execute(insert(registrations), rows)
                await enqueue(session, outbox, [(registered_event(_record(row)), row["regency_code"]) for row in rows])
                await record_key_action(session, key_actions, principal, now, "cohort_renewed", region,
                                        str(fiscal_year), after={"renewed": len(rows), "start_month": start_month,
                                                                 "months": months})
        return len(rows), already, skipped

    # --- the BPJS exchange ---

    async def month_changes(self, region: str, fiscal_year: int, month: int) -> list[RegistrationRecord]:
        """The region's funded registrations of the year whose coverage starts or ends in the month (the domain's
        member_changes picks the month's changes among them)."""
        query = select(registrations).where(
            _in_region(region), registrations.c.fiscal_year == fiscal_year,
            registrations.c.status.in_(("active", "ended")), registrations.c.decided_at.is_not(None),
            or_(registrations.c.start_month == month, registrations.c.end_month == month))
        async with self.database.reading() as session:
            return [_record(r) for r in (await session.execute(query)).mappings()]

    async def record_download(self, principal: Principal, region: str, fiscal_year: int, month: int, fmt: str,
                              rows: int, now: datetime) -> None:
        async with self.database.transaction() as session:
            await session.execute(insert(bpjs_downloads).values(
                key_id=principal.key_id, key_name=principal.name[:200], region_code=region, fiscal_year=fiscal_year,
                month=month, format=fmt, rows=rows, downloaded_at=now))
            # Not a change, but personal data leaving: the trail shows it beside the changes.
            await record_key_action(session, key_actions, principal, now, "bpjs_member_file_downloaded", region,
                                    f"{fiscal_year}-{month:02d}", after={"rows": rows, "format": fmt})

    async def downloads(self, region: str, fiscal_year: int, month: int) -> list[dict[str, Any]]:
        async with self.database.reading() as session:
            rows = (await session.execute(select(bpjs_downloads).where(
                bpjs_downloads.c.region_code == region, bpjs_downloads.c.fiscal_year == fiscal_year,
                bpjs_downloads.c.month == month).order_by(bpjs_downloads.c.id))).mappings().all()
        return [dict(r) | {"downloaded_at": utc(r["downloaded_at"])} for r in rows]

    async def of_niks(self, niks: Sequence[str], fiscal_year: int) -> dict[str, list[RegistrationRecord]]:
        """Every registration of these NIKs in the fiscal year, in any region, by NIK."""
        found: dict[str, list[RegistrationRecord]] = {}
        async with self.database.reading() as session:
            for chunk in _chunks(sorted(set(niks))):
                for row in (await session.execute(select(registrations).where(
                        registrations.c.nik.in_(chunk), registrations.c.fiscal_year == fiscal_year))).mappings():
                    record = _record(row)
                    found.setdefault(record.nik, []).append(record)
        return found

    async def of_kpj_numbers(self, kpj_numbers: Sequence[str], fiscal_year: int) -> dict[str, list[RegistrationRecord]]:
        """Every registration of the fiscal year holding one of these KPJ numbers, by KPJ number."""
        found: dict[str, list[RegistrationRecord]] = {}
        async with self.database.reading() as session:
            for chunk in _chunks(sorted(set(kpj_numbers))):
                for row in (await session.execute(select(registrations).where(
                        registrations.c.kpj_number.in_(chunk),
                        registrations.c.fiscal_year == fiscal_year))).mappings():
                    record = _record(row)
                    found.setdefault(record.kpj_number or "", []).append(record)
        return found

    async def apply_results(self, plan: ResultPlan, principal: Principal, region: str, fiscal_year: int, digest: str,
                            rows: int, now: datetime) -> tuple[int, int, set[str]]:
        """Store the KPJ numbers and end the rejected members (worker.ended v2, rejected_by_bpjs), with the import's
        record, in one transaction. A row changes only what is still unanswered, so a concurrent import of the same
        file changes nothing twice. Returns the import's id, how many were enrolled, and who was rejected."""
        enrolled = 0
        rejected: set[str] = set()
        async with self.database.transaction() as session:
            for e in plan.enrolled:
                result = await session.execute(update(registrations).where(
                    registrations.c.registration_id == e.registration_id,
                    or_(registrations.c.bpjs_status.is_(None), registrations.c.bpjs_status != "rejected"),
                    or_(registrations.c.bpjs_status.is_(None), registrations.c.kpj_number.is_(None))).values(
                    kpj_number=e.kpj_number, bpjs_status="enrolled", bpjs_reason=None, updated_at=now))
                enrolled += result.rowcount
            for r in plan.rejected:
                end_month = rejection_end_month(r.record)
                result = await session.execute(update(registrations).where(
                    registrations.c.registration_id == r.record.registration_id,
                    registrations.c.status == "active", registrations.c.bpjs_status.is_(None)).values(
                    status="ended", status_reason="rejected_by_bpjs", end_month=end_month, ended_at=now,
                    updated_at=now, bpjs_status="rejected", bpjs_reason=r.reason or None,
                    bpjs_rejection=r.category))
                if result.rowcount == 1:
                    rejected.add(r.record.registration_id)
                    await enqueue(session, outbox, [(ended_event(r.record, "rejected_by_bpjs", end_month, now),
                                                     r.record.regency_code)])
            unchanged = rows - enrolled - len(rejected) - len(plan.mismatches)
            import_id = (await session.execute(insert(bpjs_imports).values(
                key_id=principal.key_id, region_code=region, file_sha256=digest, rows=rows, enrolled=enrolled,
                rejected=len(rejected), unchanged=unchanged, mismatched=len(plan.mismatches),
                mismatches=[{"row": m.row, "code": m.code, "message": m.message} for m in plan.mismatches],
                imported_at=now).returning(bpjs_imports.c.id))).scalar_one()
            await record_key_action(session, key_actions, principal, now, "bpjs_results_imported", region,
                                    str(fiscal_year), after={
                                        "import_id": int(import_id), "rows": rows, "enrolled": enrolled,
                                        "rejected": len(rejected), "unchanged": unchanged,
                                        "mismatched": len(plan.mismatches), "file_sha256": digest})
        return int(import_id), enrolled, rejected

    async def bpjs_counts(self, region: str, fiscal_year: int) -> dict[tuple[str | None, str | None], int]:
        """The region's funded members of the year by BPJS status and rejection category."""
        query = (select(registrations.c.bpjs_status, registrations.c.bpjs_rejection, func.count())
                 .where(_in_region(region), registrations.c.fiscal_year == fiscal_year,
                        registrations.c.decided_at.is_not(None), registrations.c.status.in_(("active", "ended")))
                 .group_by(registrations.c.bpjs_status, registrations.c.bpjs_rejection))
        async with self.database.reading() as session:
            return {(s, c): int(n) for s, c, n in (await session.execute(query)).all()}

    async def result_import(self, import_id: int) -> dict[str, Any] | None:
        async with self.database.reading() as session:
            row = (await session.execute(select(bpjs_imports).where(bpjs_imports.c.id == import_id))).mappings().first()
        return None if row is None else dict(row) | {"imported_at": utc(row["imported_at"])}

    async def replaced_by(self, record: RegistrationRecord) -> str | None:
        """The registration that succeeds an ended holder (its `replaces` names the holder), or None. The successor
        lies in the holder's regency/city, so the regency's index bounds the search."""
        if record.status != "ended":
            return None
        async with self.database.reading() as session:
            found = (await session.execute(select(registrations.c.registration_id).where(
                registrations.c.regency_code == record.regency_code,
                registrations.c.replaces == record.registration_id).limit(1))).scalar_one_or_none()
        return None if found is None else str(found)

    async def waiting_position(self, record: RegistrationRecord) -> int | None:
        """A waiting registration's place in its regency/city's list: those who arrived before it and still wait,
        plus one."""
        if record.status != "waiting_funding" or record.waiting_arrival is None:
            return None
        async with self.database.reading() as session:
            ahead = (await session.execute(select(func.count()).select_from(registrations).where(
                registrations.c.regency_code == record.regency_code,
                registrations.c.fiscal_year == record.fiscal_year,
                registrations.c.status == "waiting_funding",
                registrations.c.waiting_arrival < record.waiting_arrival))).scalar_one()
        return int(ahead) + 1


async def live_registrations(session: AsyncSession, niks: Iterable[str]) -> dict[LiveKey, str]:
    """The live registrations of these NIKs, by (nik, programme, fiscal year)."""
    live: dict[LiveKey, str] = {}
    for chunk in _chunks(sorted(set(niks))):
        result = await session.execute(
            select(registrations.c.nik, registrations.c.programme, registrations.c.fiscal_year,
                   registrations.c.registration_id)
            .where(registrations.c.nik.in_(chunk), registrations.c.status.in_(_LIVE)))
        live.update(((r.nik, r.programme, r.fiscal_year), r.registration_id) for r in result)
    return live


async def _end(session: AsyncSession, record: RegistrationRecord, reason: EndedReason, end_month: int,
               now: datetime) -> bool:
    result = await session.execute(
        update(registrations)
        .where(registrations.c.registration_id == record.registration_id, registrations.c.status.in_(LIVE_STATUSES))
        .values(status="ended", status_reason=reason, end_month=end_month, ended_at=now, updated_at=now))
    if result.rowcount != 1:
        return False
    await enqueue(session, outbox, [(ended_event(record, reason, end_month, now), record.regency_code)])
    return True


def ordered_by(*, changes: bool) -> str:
    """The timestamp column a page is ordered by (then registration_id): the change feed's or the listing's."""
    return "updated_at" if changes else "registered_at"


NAME_SEPARATORS = ("'", "\u2019", "\u2018", "\u02bc", "`", " ")


def _loosely(name: Any) -> Any:
    """A name (SQL or text) without apostrophes of any kind or spaces, for a search that does not care how they were
    typed."""
    if isinstance(name, str):
        return "".join(c for c in name if c not in NAME_SEPARATORS)
    for separator in NAME_SEPARATORS:
        name = func.replace(name, separator, "")
    return name


def _in_region(code: str) -> Any:
    column = registrations.c.province_code if len(code) == 2 else registrations.c.regency_code
    return column == code


# Both statements run as executemany, one round for a whole batch. SQLAlchemy refuses an IN (an expanding
# parameter) in an executemany, so "pending or waiting" is spelled as two comparisons: with an IN, every batch of
# two or more decisions failed, and the consumer applied its events one transaction each (about 200 a second).
_DECIDE = (
    update(registrations)
    .where(registrations.c.registration_id == bindparam("b_id"),
           or_(registrations.c.status == "pending_funding", registrations.c.status == "waiting_funding"))
    .values(status=bindparam("b_status"), status_reason=bindparam("b_reason"), decided_at=bindparam("b_decided"),
            updated_at=bindparam("b_now"))
)
_WAITLIST = (
    update(registrations)
    .where(registrations.c.registration_id == bindparam("b_id"), registrations.c.status == "pending_funding")
    .values(status="waiting_funding", waiting_arrival=bindparam("b_arrival"), updated_at=bindparam("b_now"))
)


async def apply_decisions(session: AsyncSession, events: list[Consumed], now: datetime) -> int:
    """Move pending registrations to waiting, active or unfunded, and waiting ones to active or unfunded. Only a
    pending or waiting registration changes, so the first final decision for a registration wins and a late or
    replayed one is a no-op; other event types are ignored."""
    waitlisted: dict[str, dict[str, Any]] = {}
    final: dict[str, dict[str, Any]] = {}
    for consumed in events:
        status = STATUS_AFTER_DECISION.get(consumed.event.type)
        if status is None:
            continue
        data = consumed.event.data
        registration_id = str(data.registration_id)
        if status == "waiting_funding":
            waitlisted.setdefault(registration_id, {"b_id": registration_id, "b_arrival": data.arrival, "b_now": now})
        else:
            final.setdefault(registration_id, {
                "b_id": registration_id, "b_status": status,
                "b_reason": getattr(data, "reason", None), "b_decided": utc(data.decided_at), "b_now": now,
            })
    if waitlisted:
        await session.execute(_WAITLIST, list(waitlisted.values()))
    if final:
        await session.execute(_DECIDE, list(final.values()))
    return len(waitlisted) + len(final)
