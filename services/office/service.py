"""The office's use cases: accounts, sign-in with lockout, sessions, budget amendments under maker-checker, and the
audit trail every one of them writes to."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.exc import IntegrityError

from services.office import repository as repo
from services.office.clients import Upstream, UpstreamError
from services.office.domain import (
    BudgetTerms,
    Line,
    LockoutPolicy,
    Refused,
    Staff,
    after_failure,
    check_account,
    check_decision,
    is_locked,
    line_changes,
)
from shared.clock import Clock
from shared.database import Database

log = logging.getLogger(__name__)

BUDGET_LINES = "budget_lines"

# How other kinds of change take effect once approved (billing_service.py registers its own): kind -> a call of the
# other service's API that answers what is recorded in the audit trail, or raises UpstreamError.
Apply = Callable[[Upstream, "repo.ChangeRow"], Awaitable[dict[str, Any]]]
APPLIERS: dict[str, Apply] = {}


@lru_cache
def hasher() -> PasswordHasher:
    return PasswordHasher()  # argon2id with the library's current recommended parameters


@lru_cache
def _dummy_hash() -> str:
    # Unknown usernames are checked against this, so they take as long as a wrong password.
    return hasher().hash(secrets.token_urlsafe(16))


def _hash(password: str) -> str:
    return hasher().hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Actor:
    """Who acts, for the audit trail: a staff member, an API key, or the command line on the server."""

    kind: str
    actor_id: str
    name: str
    ip: str | None = None

    @classmethod
    def of(cls, staff: Staff, ip: str | None) -> Actor:
        return cls("staff", staff.staff_id, staff.username, ip)


CLI = Actor("cli", "cli", "paritrana staff")


async def _audit(session: Any, clock: Clock, actor: Actor, action: str, region_code: str | None,
                 subject: str | None = None, before: Any = None, after: Any = None) -> None:
    await repo.append_audit(session, at=clock.now(), actor_kind=actor.kind, actor_id=actor.actor_id,
                            actor_name=actor.name, ip=actor.ip, action=action, region_code=region_code,
                            subject=subject, before=before, after=after)


# --- accounts ---

async def create_staff(database: Database, clock: Clock, actor: Actor, username: str, display_name: str, role: str,
                       regions: list[str], password: str) -> Staff:
    check_account(username, role, regions, password)
    password_hash = await asyncio.to_thread(_hash, password)
    account = Staff(uuid.uuid4().hex[:16], username, display_name or username, role, tuple(regions))
    async with database.transaction() as session:
        if await repo.staff_by_username(session, username) is not None:
            raise Refused("username_taken")
        await repo.add_staff(session, account, password_hash, clock.now())
        await _audit(session, clock, actor, "staff_created", None, account.staff_id,
                     after={"username": username, "role": role, "regions": regions})
    return account


async def list_staff(database: Database) -> list[repo.StaffRow]:
    async with database.reading() as session:
        return await repo.all_staff(session)


async def disable_staff(database: Database, clock: Clock, actor: Actor, username: str) -> bool:
    async with database.transaction() as session:
        found = await repo.staff_by_username(session, username)
        if found is None or not await repo.disable_staff(session, found.staff.staff_id, clock.now()):
            return False
        await _audit(session, clock, actor, "staff_disabled", None, found.staff.staff_id,
                     after={"username": username})
        return True


async def reset_password(database: Database, clock: Clock, actor: Actor, username: str, password: str) -> bool:
    found = None
    async with database.reading() as session:
        found = await repo.staff_by_username(session, username)
    if found is None:
        return False
    check_account(username, found.staff.role, list(found.staff.regions), password)
    password_hash = await asyncio.to_thread(_hash, password)
    async with database.transaction() as session:
        await repo.set_password(session, found.staff.staff_id, password_hash)
        await _audit(session, clock, actor, "password_reset", None, found.staff.staff_id,
                     after={"username": username})
    return True


# --- sign-in and sessions ---

@dataclass(frozen=True)
class SignedIn:
    token: str
    csrf_token: str
    staff: Staff


async def sign_in(database: Database, clock: Clock, policy: LockoutPolicy, session_hours: float, username: str,
                  password: str, ip: str | None) -> SignedIn:
    """A new session, or Refused("bad_credentials" | "locked"). An unknown name and a wrong password look alike."""
    async with database.reading() as session:
        found = await repo.staff_by_username(session, username)
    now = clock.now()
    if found is None or found.staff.disabled:
        await asyncio.to_thread(_verify, _dummy_hash(), password)
        raise Refused("bad_credentials")
    account = found.staff
    actor = Actor.of(account, ip)
    if is_locked(found.locked_until, now):
        async with database.transaction() as session:
            await _audit(session, clock, actor, "sign_in_refused_locked", None, account.staff_id)
        raise Refused("locked")
    if not await asyncio.to_thread(_verify, found.password_hash, password):
        async with database.transaction() as session:
            current = await repo.staff_by_id(session, account.staff_id)
            failed, locked_until = after_failure(current.failed_attempts if current else 0, now, policy)
            await repo.set_attempts(session, account.staff_id, failed, locked_until)
            await _audit(session, clock, actor, "sign_in_failed", None, account.staff_id)
            if locked_until is not None:
                await _audit(session, clock, actor, "account_locked", None, account.staff_id,
                             after={"locked_until": locked_until.isoformat()})
        raise Refused("locked" if locked_until is not None else "bad_credentials")
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with database.transaction() as session:
        await repo.set_attempts(session, account.staff_id, 0, None)
        await repo.add_session(session, token_digest(token), account.staff_id, csrf_token, now,
                               now + timedelta(hours=session_hours))
        await _audit(session, clock, actor, "signed_in", None, account.staff_id)
    return SignedIn(token, csrf_token, account)


async def sign_in_vouched(database: Database, clock: Clock, session_hours: float, username: str, via: str,
                          ip: str | None) -> SignedIn:
    """A new session for an account an identity provider vouched for (single sign-on): no password here, so no
    lockout either; the account must exist and be enabled, or Refused("no_account")."""
    async with database.reading() as session:
        found = await repo.staff_by_username(session, username)
    if found is None or found.staff.disabled:
        raise Refused("no_account")
    now = clock.now()
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    async with database.transaction() as session:
        await repo.add_session(session, token_digest(token), found.staff.staff_id, csrf_token, now,
                               now + timedelta(hours=session_hours))
        await _audit(session, clock, Actor.of(found.staff, ip), "signed_in", None, found.staff.staff_id,
                     after={"via": via})
    return SignedIn(token, csrf_token, found.staff)


async def current_staff(database: Database, clock: Clock, token: str) -> tuple[Staff, str] | None:
    """The staff member and CSRF token of a live session, or None."""
    async with database.reading() as session:
        found = await repo.session_staff(session, token_digest(token), clock.now())
    return (found[0].staff, found[1]) if found else None


async def sign_out(database: Database, clock: Clock, token: str, actor: Actor) -> None:
    async with database.transaction() as session:
        await repo.drop_session(session, token_digest(token))
        await _audit(session, clock, actor, "signed_out", None, actor.actor_id)


# --- maker-checker: budget amendments ---

def _budget_json(lines: list[Line], terms: BudgetTerms) -> dict[str, Any]:
    return {"lines": [line.as_json() for line in lines], "terms": terms.as_json()}


async def submit_budget_lines(database: Database, clock: Clock, staff: Staff, ip: str | None, region_code: str,
                              year: int, lines: list[Line], before: list[Line], terms: BudgetTerms = BudgetTerms(),
                              terms_before: BudgetTerms = BudgetTerms()) -> str:
    """Store an amendment (every line after it, and the budget's terms) as a pending change: nothing reaches subsidy
    until approval."""
    if not staff.may("submit"):
        raise Refused("not_a_maker")
    if not staff.may_act_in(region_code):
        raise Refused("outside_region")
    if not line_changes(before, lines) and terms == terms_before:
        raise Refused("nothing_changes")
    change_id = str(uuid.uuid4())
    now = clock.now()
    wanted, current = _budget_json(lines, terms), _budget_json(before, terms_before)
    async with database.transaction() as session:
        await repo.add_change(session, repo.ChangeRow(
            change_id, BUDGET_LINES, region_code, year, wanted, current, "pending",
            staff.staff_id, now, None, None, None, None))
        await _audit(session, clock, Actor.of(staff, ip), "budget_amendment_submitted", region_code, change_id,
                     before=current, after=wanted | {"fiscal_year": year})
    return change_id


def budget_change_terms(change: repo.ChangeRow) -> tuple[BudgetTerms | None, BudgetTerms | None]:
    """A budget change's terms before and after; None for a change submitted before the office carried terms."""
    if "terms" not in change.payload:
        return None, None
    return BudgetTerms.from_json(change.before.get("terms")), BudgetTerms.from_json(change.payload["terms"])


async def decide(database: Database, clock: Clock, upstream: Upstream, staff: Staff, ip: str | None, change_id: str,
                 approve: bool, comment: str) -> repo.ChangeRow:
    """Approve (the change takes effect through subsidy's API) or reject a pending change; never one's own."""
    async with database.reading() as session:
        change = await repo.change_by_id(session, change_id)
    if change is None:
        raise Refused("unknown_change")
    check_decision(staff, change.submitted_by, change.status, change.region_code)
    comment = comment.strip()[:1000]
    actor = Actor.of(staff, ip)
    status, outcome, applied = ("rejected", None, None)
    effect: dict[str, Any] | None = None
    if approve:
        if not comment:
            comment = "-"
        try:
            if change.kind in APPLIERS:
                effect = await APPLIERS[change.kind](upstream, change)
            else:
                wanted = [Line.from_json(x) for x in change.payload["lines"]]
                terms_before, terms = budget_change_terms(change)
                current, current_terms = await upstream.lines(change.region_code, change.fiscal_year)
                if current != [Line.from_json(x) for x in change.before["lines"]] or (
                        terms_before is not None and current_terms != terms_before):
                    raise Refused("budget_changed_since")
                applied = await upstream.put_lines(change.region_code, change.fiscal_year, wanted, terms)
            status = "approved"
        except UpstreamError as exc:
            if exc.status == 0 or exc.status >= 500 or exc.status in (401, 403, 429):
                raise Refused("upstream_unavailable", exc.code) from None
            status, outcome = "failed", exc.code
    elif not comment:
        raise Refused("comment_required")
    async with database.transaction() as session:
        if not await repo.decide_change(session, change_id, status, staff.staff_id, clock.now(), comment, outcome):
            raise Refused("already_decided")
        if "file" in change.payload:  # an uploaded file is kept only until the change is decided
            await repo.drop_file(session, change_id, change.payload)
        action = {"approved": "change_approved", "rejected": "change_rejected", "failed": "change_failed"}[status]
        after: dict[str, Any] = {"comment": comment, "kind": change.kind}
        if applied is not None:
            after["changes"] = applied.get("changes", [])
            after["allocation_rupiah"] = applied.get("allocation_rupiah")
        if outcome:
            after["outcome"] = outcome
        await _audit(session, clock, actor, action, change.region_code, change_id, before=change.before,
                     after=after)
        if effect is not None:
            await _audit(session, clock, actor, "change_applied", change.region_code, change_id,
                         after={"kind": change.kind, **effect})
        decided = await repo.change_by_id(session, change_id)
    assert decided is not None
    return decided


async def changes_for(database: Database, staff: Staff, status: str | None = None) -> list[repo.ChangeRow]:
    async with database.reading() as session:
        return await repo.changes(session, staff.regions, status)


async def change(database: Database, change_id: str) -> repo.ChangeRow | None:
    async with database.reading() as session:
        return await repo.change_by_id(session, change_id)


async def usernames(database: Database, staff_ids: set[str]) -> dict[str, str]:
    async with database.reading() as session:
        found = [await repo.staff_by_id(session, staff_id) for staff_id in staff_ids]
    return {row.staff.staff_id: row.staff.username for row in found if row is not None}


async def audit_page(database: Database, region_code: str | None, action: str | None, actor: str | None,
                     before_id: int | None, limit: int = 50) -> list[repo.AuditEntry]:
    async with database.reading() as session:
        return await repo.audit_page(session, region_code, action=action, actor=actor, before_id=before_id,
                                     limit=limit)


# --- what keys changed directly in the other services, copied into the trail ---

KEY_ACTION_SOURCES = ("enrolment", "subsidy", "award")
KEY_ACTIONS_PAGE = 500
# The Audit page copies before it shows the trail, so the background copy only keeps the trail whole meanwhile.
KEY_ACTIONS_EVERY_SECONDS = 60.0


def _copied(action: dict[str, Any]) -> dict[str, Any]:
    return {"at": datetime.fromisoformat(action["at"]), "actor_kind": "key", "actor_id": action["key_id"],
            "actor_name": action["key_name"][:64], "ip": action["ip"], "action": action["action"],
            "region_code": action["region_code"], "subject": (action["subject"] or "")[:64] or None,
            "before": action["before"], "after": action["after"], "source_entry_id": action["action_id"]}


async def copy_key_actions(database: Database, upstream: Upstream) -> int:
    """Copy into the trail what API keys changed directly in enrolment, subsidy and award since the last copy, and
    return how many entries were added. The office's own key is skipped: what it did is in the trail already, under
    the staff member who did it. Two offices copying at once never copy an entry twice (a mark per service, moved
    with a compare-and-set in the same transaction as the entries). A service that cannot answer now is copied
    later: the Audit page and the background copier run this again."""
    added = 0
    for source in KEY_ACTION_SOURCES:
        try:
            added += await _copy_from(database, upstream, source)
        except UpstreamError as exc:
            log.warning("key actions of %s not copied now: it answered %s", source, exc)
    return added


async def _copy_from(database: Database, upstream: Upstream, source: str) -> int:
    added = 0
    while True:
        async with database.reading() as session:
            was = await repo.copied_through(session, source)
        items = (await upstream.key_actions(source, was, KEY_ACTIONS_PAGE))["items"]
        if not items:
            return added
        entries = [_copied(a) for a in items if a["key_id"] != upstream.key_id]
        try:
            async with database.transaction() as session:
                moved = await repo.copy_key_actions(session, source, was, int(items[-1]["action_id"]), entries)
        except IntegrityError:
            moved = False  # another office inserted the first mark or the same entries first
        if not moved:
            return added
        added += len(entries)
        if len(items) < KEY_ACTIONS_PAGE:
            return added
