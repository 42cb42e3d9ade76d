"""What API keys change in a service, recorded as such: the services' half of the audit trail (issue #22).

Staff act through the office, which keeps its own trail with the staff member's name. An admin key may still act on
a service directly (automation, the command line's HTTP clients), and a partner key may end or replace a member, so
each service appends every change a key makes to its own ``key_actions`` table, in the same transaction as the change
itself: the change and its record are committed together or not at all. The office copies these entries into its
trail (skipping those made with its own key, which it has already recorded under the staff member's name), so one
append-only trail lists them all.

Entries are append-only (no update or delete path here, and database triggers refuse both), and hold no personal
data: registrations by id, amounts, counts and statuses, never a NIK, name, phone, birth date or KPJ number.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel
from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.access import Principal, require_scope
from shared.access.dependencies import forbid_outside
from shared.access.keys import NATIONAL
from shared.database import Database
from shared.vocabulary import REGION_PATTERN

TABLE = "key_actions"


def key_actions_table(metadata: MetaData) -> Table:
    """The table, added to a service's metadata (its migration creates it with `create_key_actions`)."""
    return Table(TABLE, metadata, *_columns(), Index("ix_key_actions_region_action", "region_code", "action_id"))


def _columns() -> list[Column[Any]]:
    return [
        Column("action_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("key_id", String(16), nullable=False),
        Column("key_name", String(200), nullable=False),
        Column("ip", String(45), nullable=True),
        Column("action", String(48), nullable=False),
        Column("region_code", String(13), nullable=True),
        Column("subject", String(64), nullable=True),
        Column("before", JSON, nullable=True),
        Column("after", JSON, nullable=True),
    ]


def create_key_actions(op: Any) -> None:
    """For a service's Alembic migration: the table and the triggers that make it append-only on either database."""
    op.create_table(TABLE, *_columns())
    op.create_index("ix_key_actions_region_action", TABLE, ["region_code", "action_id"])
    refusal = f"{TABLE} is append-only"
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"CREATE FUNCTION {TABLE}_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
                   f"BEGIN RAISE EXCEPTION '{refusal}'; END $$")
        op.execute(f"CREATE TRIGGER {TABLE}_no_update BEFORE UPDATE OR DELETE ON {TABLE} "
                   f"FOR EACH ROW EXECUTE FUNCTION {TABLE}_append_only()")
        op.execute(f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {TABLE}_append_only()")
    else:
        for verb in ("UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER {TABLE}_no_{verb.lower()} BEFORE {verb} ON {TABLE} "
                       f"BEGIN SELECT RAISE(ABORT, '{refusal}'); END")


def drop_key_actions(op: Any) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"DROP TABLE {TABLE}")
        op.execute(f"DROP FUNCTION {TABLE}_append_only()")
    else:
        op.drop_table(TABLE)


async def record_key_action(session: AsyncSession, table: Table, principal: Principal, at: datetime, action: str,
                            region_code: str | None, subject: str | None = None, *,
                            before: dict[str, Any] | None = None, after: dict[str, Any] | None = None) -> None:
    """Append one entry in the caller's transaction. `before` and `after` hold no personal data."""
    await session.execute(insert(table).values(
        at=at, key_id=principal.key_id, key_name=principal.name[:200], ip=principal.source_ip, action=action,
        region_code=region_code, subject=subject, before=before, after=after))


class KeyActionOut(BaseModel):
    """One entry: the key (id and name), when, from which address, the action, its region and subject, and the
    values before and after."""

    action_id: int
    at: datetime
    key_id: str
    key_name: str
    ip: str | None
    action: str
    region_code: str | None
    subject: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


async def key_actions_after(session: AsyncSession, table: Table, regions: Sequence[str], after_id: int,
                            limit: int) -> list[KeyActionOut]:
    """Entries after `after_id`, oldest first, in the given regions (a province covers its regencies/cities)."""
    query = select(table).where(table.c.action_id > after_id).order_by(table.c.action_id).limit(limit)
    if NATIONAL not in regions:
        query = query.where(or_(*[or_(table.c.region_code == code, table.c.region_code.like(f"{code}.%"))
                                  for code in regions]))
    return [KeyActionOut(**{**r, "at": r["at"] if r["at"].tzinfo else r["at"].replace(tzinfo=UTC)})
            for r in (await session.execute(query)).mappings()]


class KeyActionsOut(BaseModel):
    items: list[KeyActionOut]
    next_after: int | None


def key_actions_router(table: Table) -> APIRouter:
    """`GET /v1/audit/key-actions`: the service's entries for an admin key's regions, oldest first, paged forward."""
    router = APIRouter(prefix="/v1/audit", tags=["audit"])

    @router.get("/key-actions", response_model=KeyActionsOut,
                summary="Changes API keys made in this service, oldest first (append-only)",
                description="Every change a key made here, in the key's regions: who (key id and name), when, from "
                            "which address, what, and the values before and after; no personal data. Page forward "
                            "with `after` set to the previous page's `next_after`.")
    async def key_actions(request: Request, principal: Annotated[Principal, Depends(require_scope("admin"))],
                          after: Annotated[int, Query(ge=0)] = 0,
                          region_code: Annotated[str | None, Query(pattern=REGION_PATTERN)] = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Any:
        regions: tuple[str, ...] = principal.regions
        if region_code is not None:
            forbid_outside(principal, region_code)
            regions = (region_code,)
        database: Database = request.app.state.database
        async with database.reading() as session:
            entries = await key_actions_after(session, table, regions, after, limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return KeyActionsOut(items=entries, next_after=entries[-1].action_id if more else None)

    return router
