"""`paritrana enrolment bpjs-file` and `paritrana enrolment bpjs-results`: the BPJS Ketenagakerjaan exchange from the
operator's machine, against the enrolment database (docs/enrolment.md, "The BPJS exchange"). Each download is
recorded like an API download, under the operator's login name."""

from __future__ import annotations

import asyncio
import getpass
import json
import re
from dataclasses import dataclass
from pathlib import Path

import click

from services.enrolment import service as enrolment
from services.enrolment.domain import RegistrationRecord
from services.enrolment.repository import Registrations
from services.subsidy import service as subsidy
from services.subsidy.api import reconciliation_report, reconciliation_workbook
from services.subsidy.domain import BilledLine, MonthNotClosed, NoInvoice, Reconciliation
from shared import spreadsheet
from shared.access import Principal
from shared.clock import Clock
from shared.database import Database
from shared.http import HttpProblem
from shared.settings import get_settings
from shared.vocabulary import RESULT_HEADERS


def _operator() -> Principal:
    return Principal("cli-operator", f"paritrana enrolment ({getpass.getuser()})", "staff", frozenset({"admin"}),
                     ("*",))


def _problem(exc: HttpProblem) -> click.UsageError:
    return click.UsageError("; ".join(e.message for e in exc.errors))


@click.command("bpjs-file")
@click.option("--region", "region_code", required=True, help="The regency/city (PP.KK) or province (PP).")
@click.option("--year", required=True, type=click.IntRange(2000, 2100), help="Fiscal year.")
@click.option("--month", required=True, type=click.IntRange(1, 12), help="The month whose changes the file holds.")
@click.option("--format", "fmt", type=click.Choice(enrolment.FORMATS), default="xlsx", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write it; default bpjs-peserta-<region>-<year>-<month>.<format> here.")
def bpjs_file_command(region_code: str, year: int, month: int, fmt: str, out: Path | None) -> None:
    """Write a region's member file for BPJS for a month: new, renewed, replacing and ended members with their
    personal data. Keep it safe: it is the one place personal data leaves the enrolment database."""
    settings = get_settings()

    async def run() -> enrolment.MemberFile:
        database = Database(settings.database_url("enrolment"))
        try:
            return await enrolment.member_file(Registrations(database), _operator(),
                                               enrolment.load_mapping(settings.bpjs_member_file_mapping),
                                               region_code, year, month, fmt, Clock(settings.clock_start).now())
        finally:
            await database.dispose()

    try:
        made = asyncio.run(run())
    except HttpProblem as exc:
        raise _problem(exc) from None
    path = out or Path(made.filename)
    path.write_bytes(made.content)
    click.echo(f"{path}: {made.rows} members")


@click.command("bpjs-results")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--region", "region_code", required=True, help="The regency/city (PP.KK) or province (PP).")
@click.option("--year", required=True, type=click.IntRange(2000, 2100), help="Fiscal year of the members answered.")
def bpjs_results_command(file: Path, region_code: str, year: int) -> None:
    """Import BPJS's result file (CSV or XLSX: NIK, KPJ, Status, Alasan). Enrolled members get their KPJ number,
    rejected ones are ended (rejected_by_bpjs) and their months released. Rows that do not match go to
    <file>.mismatches.<format> beside it; importing the file again changes nothing."""
    settings = get_settings()

    async def run() -> tuple[enrolment.ResultImport, enrolment.MemberFile | None]:
        database = Database(settings.database_url("enrolment"))
        try:
            registrations, operator = Registrations(database), _operator()
            done = await enrolment.import_results(registrations, operator, region_code, year, file.read_bytes(),
                                                  file.name, Clock(settings.clock_start).now())
            fmt = "xlsx" if file.suffix.lower() in (".xlsx", ".xlsm") else "csv"
            report = await enrolment.result_report(registrations, operator, done.import_id, fmt) \
                if done.mismatches else None
            return done, report
        finally:
            await database.dispose()

    try:
        done, report = asyncio.run(run())
    except HttpProblem as exc:
        raise _problem(exc) from None
    click.echo(f"{done.rows} rows: enrolled {done.enrolled}, rejected {done.rejected}, unchanged {done.unchanged}, "
               f"mismatched {len(done.mismatches)}")
    if report is not None:
        path = file.with_name(f"{file.stem}.mismatches.{'xlsx' if report.filename.endswith('xlsx') else 'csv'}")
        path.write_bytes(report.content)
        click.echo(f"mismatches: {path}")


# --- BPJS's bill against the invoice ---

BILL_HEADERS: dict[str, tuple[str, ...]] = {
    "nik": RESULT_HEADERS["nik"],
    "kpj_number": RESULT_HEADERS["kpj_number"],
    "amount": ("iuran", "jumlah iuran", "total iuran", "nominal", "tagihan", "jumlah tagihan", "jumlah", "amount",
               "iuran (rp)", "jumlah (rp)", "nilai tagihan"),
}
_BILL_KNOWN = spreadsheet.by_header(BILL_HEADERS)


@dataclass(frozen=True)
class BillRow:
    row: int
    nik: str
    kpj_number: str
    amount: int | None  # None: not a whole number of rupiah


def read_bill(raw: bytes, filename: str) -> list[BillRow]:
    """BPJS's per-member bill (CSV or XLSX): a NIK or KPJ column and an amount column, found as the bulk import finds
    its header. Amounts may be written 16.800, Rp16.800 or 16800."""
    _fmt, table = spreadsheet.read_table(raw, Path(filename).suffix or ".csv", _BILL_KNOWN, ("nik", "kpj_number"))
    found = spreadsheet.find_header(table, _BILL_KNOWN, ("nik", "kpj_number"))
    if found is None or "amount" not in found[1].values():
        raise click.UsageError("no header row naming the NIK or KPJ column and the amount (Iuran, Tagihan, Jumlah)")
    start, mapping = found
    rows = []
    for number, values in spreadsheet.rows_below(table, start, mapping):
        digits = re.sub(r"^Rp\s?|[.\s]", "", values.get("amount", ""), flags=re.IGNORECASE)
        rows.append(BillRow(number, values.get("nik", "").replace(" ", ""),
                            re.sub(r"[\s.\-]", "", values.get("kpj_number", "")).upper(),
                            int(digits) if digits.isdigit() else None))
    return rows


def _in_region(record: RegistrationRecord, region_code: str) -> bool:
    return record.regency_code == region_code or record.province_code == region_code


def match_bill(rows: list[BillRow], region_code: str, by_nik: dict[str, list[RegistrationRecord]],
               by_kpj: dict[str, list[RegistrationRecord]]) -> list[BilledLine]:
    """Each bill row's registration in the region, by KPJ number first, then by NIK (never by a NIK Excel turned
    into a number); None when nobody in the region matches."""
    lines = []
    for r in rows:
        candidates = by_kpj.get(r.kpj_number, []) if r.kpj_number else []
        if not candidates and re.fullmatch(r"\d{16}", r.nik):
            candidates = by_nik.get(r.nik, [])
        mine = sorted((c for c in candidates if _in_region(c, region_code) and c.decided_at is not None),
                      key=lambda c: (c.status == "active", c.registered_at))
        lines.append(BilledLine(r.row, mine[-1].registration_id if mine else None, r.amount or 0))
    return lines


async def reconcile_file(registrations: Registrations, budgets: Database, clock: Clock, raw: bytes, filename: str,
                         region_code: str, year: int, month: int) -> Reconciliation:
    rows = read_bill(raw, filename)
    lines = match_bill(rows, region_code, await registrations.of_niks([r.nik for r in rows], year),
                       await registrations.of_kpj_numbers([r.kpj_number for r in rows if r.kpj_number], year))
    return await subsidy.reconcile_bill(budgets, clock, year, month, region_code, lines, None, None, _operator())


@click.command("reconcile-bill")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--region", "region_code", required=True, help="The region billed: regency/city (PP.KK) or province.")
@click.option("--year", required=True, type=click.IntRange(2000, 2100))
@click.option("--month", required=True, type=click.IntRange(1, 12))
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="The report (.xlsx or .json); default <file>.rekonsiliasi.xlsx beside the bill.")
def reconcile_bill_command(file: Path, region_code: str, year: int, month: int, out: Path | None) -> None:
    """Compare BPJS's per-member bill (NIK or KPJ, amount) for a region's closed month with Paritrana's frozen
    invoice: members matched, billed but not funded, funded but not billed, and billed another amount. Members are
    matched by KPJ or NIK on this machine; the subsidy database only ever sees registration ids."""
    settings = get_settings()

    async def run() -> Reconciliation:
        people = Database(settings.database_url("enrolment"))
        budgets = Database(settings.database_url("subsidy"))
        try:
            return await reconcile_file(Registrations(people), budgets, Clock(settings.clock_start), file.read_bytes(),
                                        file.name, region_code, year, month)
        finally:
            await people.dispose()
            await budgets.dispose()

    try:
        result = asyncio.run(run())
    except MonthNotClosed:
        raise click.UsageError("close the month first: a bill is compared with a frozen invoice") from None
    except NoInvoice:
        raise click.UsageError("the closed month has no invoice for this region") from None
    report = reconciliation_report(result, region_code, year, month)
    path = out or file.with_name(f"{file.stem}.rekonsiliasi.xlsx")
    path.write_bytes(json.dumps(report, indent=1).encode() if path.suffix == ".json"
                     else reconciliation_workbook(report))
    click.echo(f"invoice {report['invoiced']}, bill {report['billed']}, difference {report['difference']}: "
               f"{len(result.matched)} matched, {len(result.billed_not_funded)} billed not funded, "
               f"{len(result.funded_not_billed)} funded not billed, {len(result.amount_differences)} other amounts")
    click.echo(f"report: {path}")
