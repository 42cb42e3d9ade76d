"""Queries of the office service. The audit trail is only ever inserted into and read: there is no function here
that updates or deletes an entry, and the database refuses it anyway (migration 0001's triggers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from services.office.domain import Staff
from services.office.models import audit_entries, audit_sources, change_requests, sessions, staff
from shared.access.keys import NATIONAL
from shared.database import changed_rows


@dataclass(frozen=True)
class StaffRow:
    staff: Staff
    password_hash: str
    failed_attempts: int
    locked_until: datetime | None
    created_at: datetime


def _staff(row: Row[Any]) -> StaffRow:
    return StaffRow(
        Staff(row.staff_id, row.username, row.display_name, row.role, tuple(row.regions), row.disabled_at is not None),
        row.password_hash, row.failed_attempts, _utc(row.locked_until), _utc(row.created_at))


def _utc(value: datetime | None) -> datetime | None:
    from datetime import UTC

    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def add_staff(session: AsyncSession, account: Staff, password_hash: str, now: datetime) -> None:
    await session.execute(insert(staff).values(
        staff_id=account.staff_id, username=account.username, display_name=account.display_name, role=account.role,
        regions=list(account.regions), password_hash=password_hash, failed_attempts=0, created_at=now))


async def staff_by_username(session: AsyncSession, username: str) -> StaffRow | None:
    row = (await session.execute(select(staff).where(staff.c.username == username))).first()
    return _staff(row) if row else None


async def staff_by_id(session: AsyncSession, staff_id: str) -> StaffRow | None:
    row = (await session.execute(select(staff).where(staff.c.staff_id == staff_id))).first()
    return _staff(row) if row else None


async def all_staff(session: AsyncSession) -> list[StaffRow]:
    return [_staff(r) for r in await session.execute(select(staff).order_by(staff.c.username))]


async def set_attempts(session: AsyncSession, staff_id: str, failed: int, locked_until: datetime | None) -> None:
    await session.execute(update(staff).where(staff.c.staff_id == staff_id).values(
        failed_attempts=failed, locked_until=locked_until))


async def set_password(session: AsyncSession, staff_id: str, password_hash: str) -> None:
    await session.execute(update(staff).where(staff.c.staff_id == staff_id).values(
        password_hash=password_hash, failed_attempts=0, locked_until=None, disabled_at=None))


async def disable_staff(session: AsyncSession, staff_id: str, now: datetime) -> bool:
    result = await session.execute(update(staff).where(staff.c.staff_id == staff_id, staff.c.disabled_at.is_(None))
                                   .values(disabled_at=now))
    await session.execute(delete(sessions).where(sessions.c.staff_id == staff_id))
    return bool(result.rowcount)  # type: ignore[attr-defined]


# --- sessions ---

async def add_session(session: AsyncSession, token_sha256: str, staff_id: str, csrf_token: str, now: datetime,
                      expires_at: datetime) -> None:
    await session.execute(delete(sessions).where(sessions.c.expires_at < now))
    await session.execute(insert(sessions).values(token_sha256=token_sha256, staff_id=staff_id,
                                                  csrf_token=csrf_token, created_at=now, expires_at=expires_at))


async def session_staff(session: AsyncSession, token_sha256: str, now: datetime) -> tuple[StaffRow, str] | None:
    row = (await session.execute(select(sessions).where(sessions.c.token_sha256 == token_sha256))).first()
    if row is None or _utc(row.expires_at) <= now:  # type: ignore[operator]
        return None
    account = await staff_by_id(session, row.staff_id)
    if account is None or account.staff.disabled:
        return None
    return account, row.csrf_token


async def drop_session(session: AsyncSession, token_sha256: str) -> None:
    await session.execute(delete(sessions).where(sessions.c.token_sha256 == token_sha256))


# --- change requests ---

@dataclass(frozen=True)
class ChangeRow:
    change_id: str
    kind: str
    region_code: str
    fiscal_year: int
    payload: dict[str, Any]
    before: dict[str, Any]
    status: str
    submitted_by: str
    submitted_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    outcome: str | None


def _change(row: Row[Any]) -> ChangeRow:
    return ChangeRow(row.change_id, row.kind, row.region_code, row.fiscal_year, row.payload, row.before, row.status,
                     row.submitted_by, _utc(row.submitted_at), row.decided_by,  # type: ignore[arg-type]
                     _utc(row.decided_at), row.comment, row.outcome)


async def add_change(session: AsyncSession, change: ChangeRow) -> None:
    await session.execute(insert(change_requests).values(**change.__dict__))


async def change_by_id(session: AsyncSession, change_id: str, *, for_update: bool = False) -> ChangeRow | None:
    query = select(change_requests).where(change_requests.c.change_id == change_id)
    row = (await session.execute(query.with_for_update() if for_update else query)).first()
    return _change(row) if row else None


async def decide_change(session: AsyncSession, change_id: str, status: str, decided_by: str, now: datetime,
                        comment: str, outcome: str | None) -> bool:
    """Only a pending change is decided: two deciders at once, one wins."""
    result = await session.execute(
        update(change_requests).where(change_requests.c.change_id == change_id, change_requests.c.status == "pending")
        .values(status=status, decided_by=decided_by, decided_at=now, comment=comment, outcome=outcome))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def drop_file(session: AsyncSession, change_id: str, payload: dict[str, Any]) -> None:
    """Forget an uploaded file (members' personal data) once its change is decided: the counts stay in `before`."""
    await session.execute(update(change_requests).where(change_requests.c.change_id == change_id)
                          .values(payload={k: v for k, v in payload.items() if k != "file"}))


async def pending_changes(session: AsyncSession, kind: str, region_code: str, fiscal_year: int) -> list[ChangeRow]:
    """A region's changes of one kind still waiting for a decision in a fiscal year (a handful at most)."""
    rows = await session.execute(select(change_requests).where(
        change_requests.c.kind == kind, change_requests.c.region_code == region_code,
        change_requests.c.fiscal_year == fiscal_year, change_requests.c.status == "pending"))
    return [_change(r) for r in rows]


def _in_regions(column: Any, regions: tuple[str, ...]) -> Any:
    if NATIONAL in regions:
        return None
    return or_(*[or_(column == code, column.like(f"{code}.%")) for code in regions])


async def changes(session: AsyncSession, regions: tuple[str, ...], status: str | None = None,
                  limit: int = 100) -> list[ChangeRow]:
    query = select(change_requests).order_by(change_requests.c.submitted_at.desc()).limit(limit)
    scope = _in_regions(change_requests.c.region_code, regions)
    if scope is not None:
        query = query.where(scope)
    if status:
        query = query.where(change_requests.c.status == status)
    return [_change(r) for r in await session.execute(query)]


# --- the audit trail (insert and read only) ---

@dataclass(frozen=True)
class AuditEntry:
    entry_id: int
    at: datetime
    actor_kind: str
    actor_id: str
    actor_name: str
    ip: str | None
    action: str
    region_code: str | None
    subject: str | None
    before: Any
    after: Any
    source: str | None = None  # the service a key acted on directly; None for the office's own entries


async def append_audit(session: AsyncSession, *, at: datetime, actor_kind: str, actor_id: str, actor_name: str,
                       ip: str | None, action: str, region_code: str | None, subject: str | None = None,
                       before: Any = None, after: Any = None) -> None:
    await session.execute(insert(audit_entries).values(
        at=at, actor_kind=actor_kind, actor_id=actor_id, actor_name=actor_name, ip=ip, action=action,
        region_code=region_code, subject=subject, before=before, after=after))


async def audit_page(session: AsyncSession, region_code: str | None, *, action: str | None = None,
                     actor: str | None = None, before_id: int | None = None,
                     limit: int = 50) -> list[AuditEntry]:
    """Newest first; `region_code` covers the region and, for a province, its regencies/cities; None: all.
    Paging is by entry id (`before_id`), so a page does not shift while new entries arrive."""
    query = select(audit_entries).order_by(audit_entries.c.entry_id.desc()).limit(limit)
    if region_code is not None:
        scope = _in_regions(audit_entries.c.region_code, (region_code,))
        if scope is not None:
            query = query.where(scope)
    if action:
        query = query.where(audit_entries.c.action == action)
    if actor:
        query = query.where(audit_entries.c.actor_name == actor)
    if before_id is not None:
        query = query.where(audit_entries.c.entry_id < before_id)
    return [AuditEntry(r.entry_id, _utc(r.at), r.actor_kind, r.actor_id,  # type: ignore[arg-type]
                       r.actor_name, r.ip, r.action, r.region_code, r.subject, r.before, r.after, r.source)
            for r in await session.execute(query)]


async def copied_through(session: AsyncSession, source: str) -> int:
    """The last of a service's key actions already copied into the trail (0: none yet)."""
    found = (await session.execute(select(audit_sources.c.copied_through).where(
        audit_sources.c.source == source))).scalar_one_or_none()
    return int(found or 0)


async def copy_key_actions(session: AsyncSession, source: str, was: int, through: int,
                           entries: list[dict[str, Any]]) -> bool:
    """Append a service's key actions after `was` and move its mark to `through`, in the caller's transaction;
    False (and nothing should be committed) when another copier moved the mark first."""
    if was == 0:
        moved = (await session.execute(select(func.count()).select_from(audit_sources).where(
            audit_sources.c.source == source))).scalar_one() == 0
        if moved:
            await session.execute(insert(audit_sources).values(source=source, copied_through=through))
    else:
        moved = changed_rows(await session.execute(update(audit_sources).where(
            audit_sources.c.source == source, audit_sources.c.copied_through == was).values(
            copied_through=through))) == 1
    if moved and entries:
        await session.execute(insert(audit_entries), [{**e, "source": source} for e in entries])
    return bool(moved)


async def audit_count(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(audit_entries))).scalar_one())
