"""BPJS's per-member bill, reconciled in the browser: the office reads the uploaded bill file (NIK or KPJ and an amount
per member) with `paritrana subsidy reconcile-bill`'s own reader and matcher (paritrana.bpjs.read_bill and match_bill,
reused, not copied), matches its rows to the registrations enrolment's look-up finds for them, and sends
subsidy only row numbers, registration ids and amounts (the `lines` form of POST /v1/invoices/{y}/{m}/{region}/bill).
No NIK or KPJ number leaves this module: the page and the audit trail see row numbers, ids and rupiah."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import click

from paritrana.bpjs import BillRow, match_bill, read_bill
from services.enrolment.domain import RegistrationRecord
from services.office.clients import Upstream
from services.office.domain import Refused

MAX_BILL_FILE_BYTES = 4 * 1024 * 1024
LOOKUP_CHUNK = 10_000  # NIKs and KPJ numbers per look-up request (enrolment takes up to 50,000)
NIK = re.compile(r"\d{16}")


@dataclass(frozen=True)
class Listed:
    """What match_bill reads of a registration, from enrolment's listing."""

    registration_id: str
    regency_code: str
    province_code: str
    status: str
    decided_at: datetime | None
    registered_at: datetime


def _instant(value: str | None) -> datetime | None:
    if not value:
        return None
    found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _listed(ref: dict[str, Any]) -> RegistrationRecord:
    return cast(RegistrationRecord, Listed(
        ref["registration_id"], ref["regency_code"], ref["province_code"], ref["status"], _instant(ref["decided_at"]),
        _instant(ref["registered_at"]) or datetime.min.replace(tzinfo=UTC)))


async def registrations_of(up: Upstream, rows: list[BillRow], year: int) -> tuple[
        dict[str, list[RegistrationRecord]], dict[str, list[RegistrationRecord]]]:
    """The bill's NIKs' and KPJ numbers' registrations of the fiscal year, as the CLI's of_niks and of_kpj_numbers
    give them, from enrolment's look-up: ids, places, statuses and dates, nothing else of the people."""
    niks = sorted({r.nik for r in rows if NIK.fullmatch(r.nik)})  # match_bill matches by no other NIK
    kpj_numbers = sorted({r.kpj_number for r in rows if 0 < len(r.kpj_number) <= 32})
    by_nik: dict[str, list[RegistrationRecord]] = {}
    by_kpj: dict[str, list[RegistrationRecord]] = {}
    for start in range(0, max(len(niks), len(kpj_numbers)), LOOKUP_CHUNK):
        found: dict[str, Any] = await up.json(up.enrolment, "POST", "/v1/registrations/lookup", json={
            "fiscal_year": year, "niks": niks[start:start + LOOKUP_CHUNK],
            "kpj_numbers": kpj_numbers[start:start + LOOKUP_CHUNK]})
        by_nik.update({nik: [_listed(ref) for ref in refs] for nik, refs in found["by_nik"].items()})
        by_kpj.update({kpj: [_listed(ref) for ref in refs] for kpj, refs in found["by_kpj_number"].items()})
    return by_nik, by_kpj


async def bill_lines(up: Upstream, raw: bytes, filename: str, region_code: str, year: int) -> list[dict[str, Any]]:
    """The bill file's rows as subsidy's lines: {row, registration_id or None, amount_rupiah}.
    Refused("bill_file_too_large" | "bill_unreadable_file" | "bill_no_header" | "bill_empty")."""
    if len(raw) > MAX_BILL_FILE_BYTES:
        raise Refused("bill_file_too_large")
    try:
        rows = read_bill(raw, filename)
    except click.UsageError:
        raise Refused("bill_no_header") from None
    except Exception:
        raise Refused("bill_unreadable_file") from None
    if not rows:
        raise Refused("bill_empty")
    by_nik, by_kpj = await registrations_of(up, rows, year)
    return [{"row": line.row, "registration_id": line.registration_id, "amount_rupiah": line.amount_rupiah}
            for line in match_bill(rows, region_code, by_nik, by_kpj)]


async def reconcile_lines(up: Upstream, year: int, month: int, region_code: str,
                          lines: list[dict[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = await up.json(up.subsidy, "POST", f"/v1/invoices/{year}/{month}/{region_code}/bill",
                                          json={"lines": lines})
    return found
