"""The enrolment use cases: register one worker, register a batch, end a registration, replace a member by a
successor, renew a cohort into the next fiscal year, read and list them, and apply the subsidy service's decisions.
Routes, the decisions consumer and the operators' commands call these; they hold no HTTP shapes."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from prometheus_client import Counter

from services.enrolment.contract import read_intake
from services.enrolment.domain import (
    BadMapping,
    IntakeRules,
    MemberFileMapping,
    Problem,
    RegistrationRecord,
    ResultMismatch,
    ResultRow,
    ValidIntake,
    end_month_for,
    judge_intake,
    judge_results,
    member_changes,
    member_row,
    remaining_months,
)
from services.enrolment.models import inbox
from services.enrolment.repository import Registrations, apply_decisions
from shared import regions, spreadsheet
from shared.access import Principal
from shared.access.dependencies import forbid_outside
from shared.categories import CATEGORIES, category_code
from shared.clock import FISCAL_TZ
from shared.database import Database
from shared.http import FieldError, HttpProblem
from shared.inbox import claim_new
from shared.kafka import Consumed
from shared.regions import region
from shared.vocabulary import LAST_MONTH, LIVE_STATUSES, RESULT_HEADERS, EndReason

BPJS_RESULTS = Counter("paritrana_enrolment_bpjs_results_total", "Rows of BPJS result files by outcome", ["outcome"])
BPJS_REJECTIONS = Counter("paritrana_enrolment_bpjs_rejections_total", "Members BPJS rejected, by category of reason",
                          ["category"])
REGISTRATIONS = Counter("paritrana_enrolment_registrations_total", "Registration items by outcome", ["outcome"])
OUTCOMES = ("accepted", "duplicate", "conflict", "invalid")
Outcome = Literal["accepted", "duplicate", "conflict", "invalid"]
# A region no non-national key covers: 403 for unknown ids, exactly as for ids outside the key.
NOWHERE = ""
OUTSIDE_REGION = Problem("regency_code", "outside_region", "This key may not act in that region.")


def field_errors(problems: list[Problem]) -> list[FieldError]:
    return [FieldError(field=p.field, code=p.code, message=p.message) for p in problems]


def judge_submission(raw: Any, rules: IntakeRules,
                     now: datetime) -> tuple[ValidIntake | None, list[Problem]]:
    """One submitted registration through the contract and the rules: the intake, or every problem of both."""
    form, problems = read_intake(raw)
    intake, broken_rules = judge_intake(form, rules, now)
    return intake, problems + broken_rules


@dataclass
class ItemResult:
    """What became of one submitted registration."""

    outcome: Outcome
    registration_id: str | None
    problems: list[Problem] = field(default_factory=list)
    existing_registration_id: str | None = None
    # The registration as first accepted, for a single registration's answer (accepted or duplicate).
    accepted: RegistrationRecord | None = None


async def register_one(registrations: Registrations, rules: IntakeRules, principal: Principal, raw: Any,
                       now: datetime) -> ItemResult:
    intake, problems = judge_submission(raw, rules, now)
    if intake is None:
        REGISTRATIONS.labels("invalid").inc()
        return ItemResult("invalid", None, problems)
    forbid_outside(principal, intake.regency_code)
    verdict = await registrations.register_single(intake, principal.key_id, now)
    REGISTRATIONS.labels(verdict.verdict).inc()
    if verdict.verdict == "accepted":
        return ItemResult("accepted", intake.registration_id, accepted=intake.record(principal.key_id, now))
    if verdict.verdict == "duplicate":
        return ItemResult("duplicate", intake.registration_id,
                          accepted=await registrations.get(intake.registration_id))
    return ItemResult("conflict", intake.registration_id, verdict.problems, verdict.existing_registration_id)


async def register_batch(registrations: Registrations, rules: IntakeRules, principal: Principal, items: list[Any],
                         now: datetime) -> list[ItemResult]:
    """One result per item, in order; never all-or-nothing."""
    if len(items) > rules.batch_limit:
        raise HttpProblem(422, "too_long", f"A batch holds at most {rules.batch_limit} items.", field="items")
    results: list[ItemResult | None] = [None] * len(items)
    intakes, positions = [], []
    for index, item in enumerate(items):
        intake, problems = judge_submission(item, rules, now)
        if intake is not None and not principal.may_act_in(intake.regency_code):
            intake, problems = None, [OUTSIDE_REGION]
        if intake is None:
            results[index] = ItemResult("invalid", _submitted_id(item), problems)
        else:
            intakes.append(intake)
            positions.append(index)
    verdicts = await registrations.register(intakes, principal.key_id, now)
    for index, intake, verdict in zip(positions, intakes, verdicts):
        results[index] = ItemResult(verdict.verdict, intake.registration_id, verdict.problems,
                                    verdict.existing_registration_id)
    done = [r for r in results if r is not None]
    for outcome in OUTCOMES:
        REGISTRATIONS.labels(outcome).inc(sum(r.outcome == outcome for r in done))
    return done


def _submitted_id(item: Any) -> str | None:
    """The id of an invalid item, when it is a UUID, so a field kit can match the result to its record."""
    raw_id = item.get("registration_id") if isinstance(item, dict) else None
    return canonical_id(raw_id) if isinstance(raw_id, str) else None


def canonical_id(value: str) -> str | None:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


async def visible(registrations: Registrations, principal: Principal, registration_id: str) -> RegistrationRecord:
    """A registration the key may see: 403 outside its regions, and for a regional key also when unknown."""
    canonical = canonical_id(registration_id)
    record = await registrations.get(canonical) if canonical else None
    if record is None:
        if not principal.national:
            forbid_outside(principal, NOWHERE)
        raise HttpProblem(404, "not_found", "No registration has this id.")
    forbid_outside(principal, record.regency_code)
    return record


async def end(registrations: Registrations, principal: Principal, registration_id: str, reason: EndReason,
              requested_end: str | None, now: datetime) -> RegistrationRecord:
    """End a live registration's coverage, publishing worker.ended; resending the same end returns it ended."""
    record = await visible(registrations, principal, registration_id)
    end_month, problems = end_month_for(requested_end, record.fiscal_year, record.start_month, record.months,
                                        now.astimezone(FISCAL_TZ).date())
    if end_month is None:
        [problem] = problems
        raise HttpProblem(422, problem.code, problem.message, field=problem.field)
    await registrations.end(record, reason, end_month, principal, now)
    current = await registrations.get(record.registration_id)
    assert current is not None
    if current.status == "ended" and current.status_reason == reason and (
            requested_end is None or current.end_month == end_month):
        return current
    raise HttpProblem(409, "registration_not_live", "Only a pending, waiting or active registration can be ended.")


# --- replacing a member (mutasi) ---

def _successor_form(raw: Any, holder: RegistrationRecord, start_month: int, months: int
                    ) -> tuple[Any, list[Problem]]:
    """The successor's registration with the holder's place, category and remaining months filled in; a place or
    category of its own is a problem, and so is a coverage."""
    if not isinstance(raw, dict):
        return raw, []
    problems = []
    if raw.get("coverage") is not None:
        problems.append(Problem("successor.coverage", "not_allowed",
                                "A successor covers the holder's remaining months: leave coverage out."))
    given_region = raw.get("regency_code")
    if given_region is not None and given_region != holder.regency_code:
        problems.append(Problem("successor.regency_code", "not_holders_region",
                                "A successor works in the holder's regency/city."))
    given_category = raw.get("category")
    if given_category is not None and (not isinstance(given_category, str)
                                       or category_code(given_category) != holder.category):
        problems.append(Problem("successor.category", "not_holders_category",
                                "A successor takes the holder's place in the holder's category."))
    form = raw | {"regency_code": holder.regency_code, "category": holder.category,
                  "coverage": {"start_month": f"{holder.fiscal_year}-{start_month:02d}", "months": months}}
    if holder.category_description is not None and raw.get("category_description") is None:
        form["category_description"] = holder.category_description
    return form, problems


def _as_successor(problems: list[Problem]) -> list[Problem]:
    return [p if p.field and p.field.startswith("successor") else
            Problem(f"successor.{p.field}" if p.field else "successor", p.code, p.message) for p in problems]


async def replace(registrations: Registrations, rules: IntakeRules, principal: Principal, holder_id: str, raw: Any,
                  requested_end: str | None, now: datetime) -> tuple[RegistrationRecord, bool]:
    """End a live registration as replaced and register its successor in the same place and category for the
    months left, atomically. (successor, created); resending the same replacement returns the successor."""
    holder = await visible(registrations, principal, holder_id)
    successor_id = canonical_id(raw["registration_id"]) if isinstance(raw, dict) and isinstance(
        raw.get("registration_id"), str) else None
    if holder.status not in LIVE_STATUSES:
        existing = await registrations.get(successor_id) if successor_id else None
        if existing is not None and existing.replaces == holder.registration_id:
            return existing, False
        raise HttpProblem(409, "registration_not_live", "Only a pending, waiting or active registration can be "
                                                        "replaced.")
    end_month, problems = end_month_for(requested_end, holder.fiscal_year, holder.start_month, holder.months,
                                        now.astimezone(FISCAL_TZ).date())
    if end_month is None:
        [problem] = problems
        raise HttpProblem(422, problem.code, problem.message, field=problem.field)
    rest = remaining_months(holder, end_month)
    if rest is None:
        raise HttpProblem(422, "no_months_left", "The holder's coverage has no month left after its end month for a "
                                                 "successor.", field="end_month")
    form, problems = _successor_form(raw, holder, *rest)
    intake, more = judge_submission(form, rules, now)
    problems += _as_successor(more)
    if intake is None or problems:
        raise HttpProblem.listing(422, field_errors(problems))
    verdict = await registrations.replace(holder, end_month, intake, principal, now)
    if verdict is None:
        raise HttpProblem(409, "registration_not_live", "Only a pending, waiting or active registration can be "
                                                        "replaced.")
    if verdict.verdict != "accepted":
        extra = {"existing_registration_id": verdict.existing_registration_id} \
            if verdict.existing_registration_id else None
        raise HttpProblem.listing(409, field_errors(_as_successor(verdict.problems)), extra)
    successor = await registrations.get(intake.registration_id)
    assert successor is not None
    return successor, True


# --- renewing a cohort into the next fiscal year ---

@dataclass(frozen=True)
class Renewal:
    """What a renewal did, or with dry_run would do."""

    cohort: int  # members funded and not ended in from_year
    renewable: int  # of them, not renewed yet
    renewed: int
    already_renewed: int
    skipped_live: int  # the person already has a live registration in to_year
    member_months: int  # what the renewals (would) ask to be covered for
    dry_run: bool


async def renew(registrations: Registrations, principal: Principal, region_code: str, from_year: int, to_year: int,
                category: str | None, start_month: int, months: int, dry_run: bool, now: datetime) -> Renewal:
    """Renew a region's members of one fiscal year into the next: each becomes a registration of its own, linked to
    the one it renews, that passes next year's funding gate (and waiting list) like any other. Idempotent: a
    member is renewed once however often this runs. Ended, unfunded and waiting members are not renewed."""
    if region(region_code) is None:
        raise HttpProblem(422, "unknown_region", "No province or regency/city has this code.", field="region_code")
    forbid_outside(principal, region_code)
    if to_year != from_year + 1:
        raise HttpProblem(422, "not_next_year", "A renewal is into the next fiscal year: to_year must be "
                                                "from_year + 1.", field="to_year")
    if start_month + months - 1 > LAST_MONTH:
        raise HttpProblem(422, "months_out_of_range", f"Coverage must be 1 to {LAST_MONTH + 1 - start_month} months: "
                                                      "the months left in the fiscal year from the start month.",
                          field="months")
    members = await registrations.cohort(region_code, from_year, category_filter(category))
    if dry_run:
        done = await registrations.renewed_among([m.registration_id for m in members])
        renewable = len(members) - len(done)
        return Renewal(len(members), renewable, 0, len(done), 0, renewable * months, True)
    renewed, already, skipped = await registrations.renew(region_code, members, to_year, start_month, months,
                                                          principal, now)
    return Renewal(len(members), len(members) - already, renewed, already, skipped, renewed * months, False)


def reference_for(principal: Principal, rules: IntakeRules, today: date) -> dict[str, Any]:
    """What a capturing client (the field kit) needs to check a registration before it has signal: the key's
    regencies/cities with their districts and villages, every district a NIK may name, the categories and the
    intake rules, with the service's date. A national key gets no villages: there are some 83,000, and a device's
    key is regional."""
    mine = [r for r in regions.regencies() if principal.may_act_in(r.code)]
    districts = [(code, regions.district_name(code) or "") for r in mine for code in regions.districts_of(r.code)]
    villages = [] if principal.national else [
        (w.code, w.name) for code, _name in districts for w in regions.villages_of(code)]
    return {
        "key": {"key_id": principal.key_id, "name": principal.name, "kind": principal.kind,
                "regions": list(principal.regions), "scopes": sorted(principal.scopes),
                "may_read": principal.has_scope("registrations:read")},
        "today": today,
        "rules": {"min_age": rules.min_age, "max_age": rules.max_age, "programmes": list(rules.programmes),
                  "backdate_months": rules.backdate_months, "advance_months": rules.advance_months,
                  "capture_max_age_days": rules.capture_max_age.days,
                  "capture_max_skew_minutes": int(rules.capture_max_skew.total_seconds() // 60),
                  "batch_limit": rules.batch_limit},
        "categories": [{"code": c.code, "name_id": c.name_id, "name_en": c.name_en} for c in CATEGORIES],
        "regencies": [{"code": r.code, "name": r.name, "kind": r.kind} for r in mine],
        "districts": [{"code": code, "name": name} for code, name in districts],
        "villages": [{"code": code, "name": name} for code, name in villages],
        "nik_districts": regions.all_districts(),
    }


def category_filter(category: str | None) -> str | None:
    """The listing's category filter as a code: any name or alias the intake takes."""
    if category is None:
        return None
    code = category_code(category)
    if code is None:
        raise HttpProblem(422, "unknown_category", "The category is not a known worker category.", field="category")
    return code


async def apply_subsidy_decisions(database: Database, batch: list[Consumed], now: datetime) -> None:
    """Record every event of the batch in the inbox and apply the new decisions, in one transaction."""
    # Ahead of the intake's writers (SQLite): in a million-registration wave this consumer otherwise fell
    # 729,094 decisions behind, and partners read their registrations back as pending for minutes.
    async with database.transaction(first=True) as session:
        fresh = await claim_new(session, inbox, batch)
        await apply_decisions(session, fresh, now)


# --- the BPJS Ketenagakerjaan exchange ---

DEFAULT_MAPPING = Path(__file__).parent / "bpjs_member_file.yaml"
FORMATS = ("xlsx", "csv")
MEDIA_TYPES = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "csv": "text/csv; charset=utf-8"}


def load_mapping(path: Path | None = None) -> MemberFileMapping:
    """The member file's mapping (YAML): the given file, or the Bahasa default."""
    try:
        return MemberFileMapping.parse(yaml.safe_load((path or DEFAULT_MAPPING).read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise BadMapping(f"the member file mapping cannot be read: {type(exc).__name__}") from None


def _known_region_for_admin(principal: Principal, region_code: str) -> None:
    if region(region_code) is None:
        raise HttpProblem(422, "unknown_region", "No province or regency/city has this code.", field="region")
    forbid_outside(principal, region_code)


@dataclass(frozen=True)
class MemberFile:
    content: bytes
    rows: int
    filename: str
    media_type: str


async def member_file(registrations: Registrations, principal: Principal, mapping: MemberFileMapping,
                      region_code: str, fiscal_year: int, month: int, fmt: str, now: datetime) -> MemberFile:
    """The month's member file for BPJS for a region, its download recorded (who, when, region, month, rows). Only
    an admin key for the region gets it: it is the one place personal data leaves this database by design."""
    _known_region_for_admin(principal, region_code)
    changes = member_changes(await registrations.month_changes(region_code, fiscal_year, month), month)
    content = spreadsheet.write_table(mapping.headers, [member_row(c, mapping) for c in changes], fmt, mapping.sheet)
    await registrations.record_download(principal, region_code, fiscal_year, month, fmt,
                                        len(changes), now)
    name = f"bpjs-peserta-{region_code.replace('.', '')}-{fiscal_year:04d}-{month:02d}.{fmt}"
    return MemberFile(content, len(changes), name, MEDIA_TYPES[fmt])


_RESULT_KNOWN = spreadsheet.by_header(RESULT_HEADERS)


def read_result_file(raw: bytes, filename: str) -> list[ResultRow]:
    """BPJS's result file (CSV or XLSX) with the bulk import's header detection: the first row naming the NIK column
    and one more known column is the header. A NIK cell holding a number stays as Excel holds it, so it never
    matches."""
    suffix = Path(filename).suffix or ".csv"
    try:
        _fmt, table = spreadsheet.read_table(raw, suffix, _RESULT_KNOWN)
    except ValueError:
        raise HttpProblem(422, "unsupported_file", "The file must be .csv or .xlsx.", field="file") from None
    except Exception:  # a damaged workbook: openpyxl's errors vary
        raise HttpProblem(422, "unreadable_file", "The file cannot be read as CSV or XLSX.", field="file") from None
    found = spreadsheet.find_header(table, _RESULT_KNOWN)
    if found is None or "status" not in found[1].values():
        raise HttpProblem(422, "no_header", f"No header row in the first {spreadsheet.HEADER_SEARCH_ROWS} rows naming "
                                            "the NIK and status columns (NIK, KPJ, Status, Alasan).", field="file")
    start, mapping = found
    return [ResultRow(number, values.get("nik", ""), values.get("kpj_number", ""), values.get("status", ""),
                      values.get("reason", "")) for number, values in spreadsheet.rows_below(table, start, mapping)]


@dataclass(frozen=True)
class ResultImport:
    import_id: int
    rows: int
    enrolled: int
    rejected: int
    unchanged: int
    mismatches: list[ResultMismatch]
    rejections: dict[str, int]  # by category of reason


async def lookup(registrations: Registrations, principal: Principal, fiscal_year: int, niks: list[str],
                 kpj_numbers: list[str]) -> tuple[dict[str, list[RegistrationRecord]],
                                                  dict[str, list[RegistrationRecord]]]:
    """The fiscal year's registrations of these NIKs and of these KPJ numbers, in the key's regions only."""
    def mine(found: dict[str, list[RegistrationRecord]]) -> dict[str, list[RegistrationRecord]]:
        kept = {key: [r for r in records if principal.may_act_in(r.regency_code)] for key, records in found.items()}
        return {key: records for key, records in kept.items() if records}

    return (mine(await registrations.of_niks(niks, fiscal_year)),
            mine(await registrations.of_kpj_numbers(kpj_numbers, fiscal_year)))


async def import_results(registrations: Registrations, principal: Principal, region_code: str, fiscal_year: int,
                         raw: bytes, filename: str, now: datetime) -> ResultImport:
    """Apply BPJS's answer for a region's members: KPJ numbers to the enrolled, an end (rejected_by_bpjs, every month
    released) to the rejected. Mismatched rows are reported, never applied; importing the same file again changes
    nothing."""
    _known_region_for_admin(principal, region_code)
    rows = read_result_file(raw, filename)
    niks = [r.nik.replace(" ", "").replace(".", "") for r in rows]
    plan = judge_results(rows, region_code, fiscal_year, await registrations.of_niks(niks, fiscal_year))
    digest = hashlib.sha256(raw).hexdigest()
    import_id, enrolled, ended = await registrations.apply_results(plan, principal, region_code, fiscal_year, digest,
                                                                   len(rows), now)
    rejections: dict[str, int] = {}
    for r in plan.rejected:
        if r.record.registration_id in ended:
            rejections[r.category] = rejections.get(r.category, 0) + 1
    for category, count in rejections.items():
        BPJS_REJECTIONS.labels(category).inc(count)
    rejected = len(ended)
    unchanged = len(rows) - enrolled - rejected - len(plan.mismatches)
    for outcome, count in (("enrolled", enrolled), ("rejected", rejected), ("unchanged", unchanged),
                           ("mismatched", len(plan.mismatches))):
        BPJS_RESULTS.labels(outcome).inc(count)
    return ResultImport(import_id, len(rows), enrolled, rejected, unchanged, plan.mismatches, rejections)


async def result_report(registrations: Registrations, principal: Principal, import_id: int, fmt: str) -> MemberFile:
    """An import's mismatched rows as CSV or XLSX: row number, code and message, never the row's NIK or KPJ."""
    found = await registrations.result_import(import_id)
    if found is None:
        if not principal.national:
            forbid_outside(principal, NOWHERE)
        raise HttpProblem(404, "not_found", "No import has this id.")
    forbid_outside(principal, found["region_code"])
    rows = [[m["row"], m["code"], m["message"]] for m in found["mismatches"]]
    content = spreadsheet.write_table(["Baris", "Kode", "Pesan"], rows, fmt, "Tidak cocok")
    return MemberFile(content, len(rows), f"bpjs-hasil-{import_id}-tidak-cocok.{fmt}", MEDIA_TYPES[fmt])


@dataclass(frozen=True)
class BpjsSummary:
    funded: int  # members funded in the year (active, or ended after being funded)
    enrolled: int
    rejected: int
    unanswered: int
    rejections: dict[str, int]  # by category of reason


async def bpjs_summary(registrations: Registrations, principal: Principal, region_code: str,
                       fiscal_year: int) -> BpjsSummary:
    """Where BPJS's answers stand for a region's year, without personal data: what the award service and a
    treasurer count."""
    if region(region_code) is None:
        raise HttpProblem(422, "unknown_region", "No province or regency/city has this code.", field="region")
    forbid_outside(principal, region_code)
    counts = await registrations.bpjs_counts(region_code, fiscal_year)
    by_status: dict[str | None, int] = {}
    rejections: dict[str, int] = {}
    for (status, category), n in counts.items():
        by_status[status] = by_status.get(status, 0) + n
        if status == "rejected":
            rejections[category or "other"] = rejections.get(category or "other", 0) + n
    return BpjsSummary(sum(counts.values()), by_status.get("enrolled", 0), by_status.get("rejected", 0),
                       by_status.get(None, 0), rejections)
