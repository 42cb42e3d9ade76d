"""Bad input at the intake edge (POST /v1/registrations and /batch) and in the CSV/XLSX import path: each rejected
item gets a clear per-field error that does not repeat the value, and nothing of it is stored, queued or published.
Odd but valid input (apostrophes, single names, SQL- and HTML-looking text) is stored and echoed verbatim, as data.
"""

from __future__ import annotations

import asyncio
import csv
import json
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from sqlalchemy import func, select, text

from paritrana.bulk_import import ImportOptions, read_file, registration_id_for, run_import
from paritrana.client import Client
from services.enrolment.domain import IntakeRules
from services.enrolment.models import outbox, registrations
from shared.events import parse_event
from shared.kafka import read_to_end
from shared.topics import WORKERS
from tests.enrolment.sample import CLOCK_START, item, synthetic_nik
from tests.security.stack import CILEGON, Stack

MAX_BODY = 4 * 1024 * 1024  # PARITRANA_ENROLMENT_MAX_BODY_BYTES default


def nik(ddmmyy: str, district: str = "367201", serial: str = "0417") -> str:
    return f"{district}{ddmmyy}{serial}"


# (what, NIK, the error code on field "nik"). The service clock is 10 March 2025, so 1990 births are 35.
BAD_NIKS = [
    ("day 32", nik("320190"), "nik_birth_date"),
    ("day 00", nik("000190"), "nik_birth_date"),
    ("month 13", nik("151390"), "nik_birth_date"),
    ("month 00", nik("150090"), "nik_birth_date"),
    ("31 April", nik("310490"), "nik_birth_date"),
    ("29 February, not a leap year", nik("290297"), "nik_birth_date"),
    ("29 February + 40, not a leap year", nik("690297"), "nik_birth_date"),
    ("women's day 72", nik("720190"), "nik_birth_date"),
    ("day 40 (women's 0)", nik("400190"), "nik_birth_date"),
    ("women's 31 April", nik("710490"), "nik_birth_date"),
    ("unknown province", nik("150190", district="990101"), "nik_unknown_district"),
    ("unknown district", nik("150190", district="367299"), "nik_unknown_district"),
    ("serial 0000", nik("150190", serial="0000"), "nik_serial"),
    ("a letter O for a zero", "3672O11501900417", "nik_format"),
    ("Arabic-Indic digits", "٣٦٧٢٠١١٥٠١٩٠٠٤١٧", "nik_format"),
    ("15 digits", nik("150190")[:15], "nik_format"),
    ("17 digits", nik("150190") + "1", "nik_format"),
    ("empty", "", "missing"),
    ("a number, not a string", 3672011501900417, "type"),
    ("a JSON float", 3672011501900417.0, "type"),
    ("a spreadsheet's number, scientific", "3.67201150190042E+15", "nik_as_number"),
    ("a spreadsheet's number with .0", nik("150190")[:15] + ".0", "nik_as_number"),
    ("too young (born 2010)", nik("150110"), "age_out_of_range"),
]
GOOD_NIKS = [
    ("29 February in a leap year", nik("290296", serial="0901")),
    ("29 February in a leap year, a woman", nik("690296", serial="0902")),
    ("women's day 41", nik("410190", serial="0903")),
    ("women's day 71 (31 January)", nik("710190", serial="0904")),
    ("2000 was a leap year", nik("290200", serial="0905")),
    ("dots and dashes", "36.72.01-150190-0906"),
    ("Excel's leading apostrophe", "'" + nik("150190", serial="0907")),
]
ODD_NAMES = ["Ma'ruf", "Nur'aini", "Nur\u2019aini", "Sukarno", "Ṣāliḥ", "O'Neil-Daeng",
             "Robert'); DROP TABLE registrations;--", "<script>alert('x')</script>", "\" OR \"\"=\"", "Siti  \t Contoh"]


async def stored(stack: Stack, registration_id: str) -> dict[str, int]:
    """Rows about a registration id: in the registrations table and in the outbox (sent or not)."""
    async with stack.servers["enrolment"].runtime.database.reading() as session:
        rows = (await session.execute(select(func.count()).select_from(registrations)
                                      .where(registrations.c.registration_id == registration_id))).scalar_one()
        payloads = (await session.execute(select(outbox.c.payload))).scalars().all()
    return {"rows": rows, "events": sum(parse_event(p).subject == registration_id for p in payloads)}


async def published_subjects(stack: Stack) -> set[str]:
    """Every subject on enrolment.workers, read from the start of each partition up to its end."""
    return {parse_event(m.value).subject
            async for batch in read_to_end(stack.settings.bootstrap_servers, [WORKERS.name], client_id="bad-input-scan")
            for m in batch}


def assert_clear_error(body: dict[str, Any], field: str, code: str, secret: object = None) -> None:
    errors = body["errors"]
    assert {"field", "code", "message"} <= set(errors[0]), body
    assert (field, code) in {(e["field"], e["code"]) for e in errors}, body
    assert all(e["message"] for e in errors)
    if secret not in (None, ""):
        assert str(secret) not in json.dumps(body, ensure_ascii=False), "an error repeated the submitted value"


@pytest.fixture(scope="module")
async def rejected(stack: Stack) -> AsyncIterator[list[str]]:
    """Ids of everything the tests below saw rejected: after them, none may be stored or on the topic."""
    ids: list[str] = []
    yield ids
    await asyncio.sleep(1)  # the relay publishes right after a commit; give anything queued its chance
    assert not set(ids) & await published_subjects(stack)
    async with stack.servers["enrolment"].runtime.database.reading() as session:
        rows = set((await session.execute(select(registrations.c.registration_id))).scalars())
        queued = {parse_event(p).subject for p in (await session.execute(select(outbox.c.payload))).scalars()}
    assert not set(ids) & (rows | queued)


# --- the HTTP edge ----------------------------------------------------------------------------------------------

async def test_malformed_json_is_400(stack: Stack) -> None:
    async with stack.client("enrolment", "banten") as c:
        for path in ("/v1/registrations", "/v1/registrations/batch"):
            for body in (b'{"nik": ', b"{'single': 'quotes'}", b"\xff\xfe", b"[1, 2,]", b"NaN-ish"):
                response = await c.post(path, content=body, headers={"Content-Type": "application/json"})
                assert response.status_code == 400, (path, body, response.text)
                assert_clear_error(response.json(), "body", "malformed_json")


async def test_a_body_that_is_not_json_is_415(stack: Stack) -> None:
    body = json.dumps(item(CILEGON))
    async with stack.client("enrolment", "banten") as c:
        for path in ("/v1/registrations", "/v1/registrations/batch"):
            for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x",
                                 "text/csv", "application/xml", None):
                headers = {"Content-Type": content_type} if content_type else {}
                response = await c.post(path, content=body.encode(), headers=headers)
                assert response.status_code == 415, (path, content_type, response.text)
                assert_clear_error(response.json(), "body", "unsupported_media_type")


async def test_bodies_over_the_limit_are_413_declared_or_streamed(stack: Stack, rejected: list[str]) -> None:
    big = item(CILEGON, officer_id="x" * 64)
    filler = {"items": [big] * 20_000}  # ~8 MB: over 4 MiB
    raw = json.dumps(filler).encode()
    assert len(raw) > MAX_BODY
    rejected.append(big["registration_id"])

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked transfer encoding
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start:start + 64 * 1024]

    async with stack.client("enrolment", "banten") as c:
        declared = await c.post("/v1/registrations/batch", content=raw, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413 and declared.json()["errors"][0]["code"] == "body_too_large"
        streamed = await c.post("/v1/registrations/batch", content=chunks(),
                                headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413 and streamed.json()["errors"][0]["code"] == "body_too_large"
        single = await c.post("/v1/registrations", content=chunks(), headers={"Content-Type": "application/json"})
        assert single.status_code == 413
        # The service still answers normally afterwards.
        assert (await c.post("/v1/registrations", json=item(CILEGON))).status_code == 201


async def test_huge_strings_and_arrays_are_refused_by_field(stack: Stack, rejected: list[str]) -> None:
    cases = [
        ("full_name", "A" * 100_000, "too_long"),
        ("officer_id", "B" * 5_000, "too_long"),
        ("category_description", "C" * 5_000, "too_long"),
        ("full_name", ["SITI"] * 10_000, "type"),
        ("nik", [nik("150190")] * 1000, "type"),
        ("phone", {"nested": ["0812"] * 1000}, "type"),
    ]
    async with stack.client("enrolment", "banten") as c:
        for field, value, code in cases:
            body = item(CILEGON, **{field: value})
            if field == "category_description":
                body["category"] = "other"
            rejected.append(body["registration_id"])
            response = await c.post("/v1/registrations", json=body)
            assert response.status_code == 422, (field, response.text[:300])
            assert_clear_error(response.json(), field, code)
            assert len(response.content) < 2000  # the error does not echo the value back
        too_many = {"items": [item(CILEGON) for _ in range(1001)]}
        rejected.extend(i["registration_id"] for i in too_many["items"])
        response = await c.post("/v1/registrations/batch", json=too_many)
        assert response.status_code == 422
        assert_clear_error(response.json(), "items", "too_long")
        for body in ({}, {"items": "not a list"}, {"items": [], "extra": 1}, [item(CILEGON)]):
            response = await c.post("/v1/registrations/batch", json=body)
            assert response.status_code == 422 and response.json()["errors"], (body, response.text)


async def test_control_characters_are_refused_per_field(stack: Stack, rejected: list[str]) -> None:
    async with stack.client("enrolment", "banten") as c:
        for field in ("full_name", "device_id", "officer_id"):
            for character in ("\x00", "\x07", "\x1b[31m", "\u202e", "\x7f"):
                body = item(CILEGON, **{field: f"SITI{character}CONTOH"})
                rejected.append(body["registration_id"])
                response = await c.post("/v1/registrations", json=body)
                assert response.status_code == 422, (field, repr(character), response.text)
                assert_clear_error(response.json(), field, "invalid_characters")


@pytest.mark.parametrize("what,value,code", BAD_NIKS, ids=[b[0] for b in BAD_NIKS])
async def test_every_bad_nik_is_refused_with_a_reason_and_never_echoed(stack: Stack, rejected: list[str], what: str,
                                                                       value: object, code: str) -> None:
    body = item(CILEGON, nik=value)
    rejected.append(body["registration_id"])
    async with stack.client("enrolment", "banten") as c:
        response = await c.post("/v1/registrations", json=body)
        assert response.status_code == 422, (what, response.text)
        assert_clear_error(response.json(), "nik", code, secret=value)
        # The same item in a batch, next to a good one: judged on its own, the good one goes through.
        good, bad = item(CILEGON), item(CILEGON, nik=value)
        rejected.append(bad["registration_id"])
        batch = (await c.post("/v1/registrations/batch", json={"items": [good, bad]})).json()
    assert [r["status"] for r in batch["results"]] == ["accepted", "invalid"]
    assert_clear_error(batch["results"][1], "nik", code, secret=value)
    assert await stored(stack, good["registration_id"]) == {"rows": 1, "events": 1}


@pytest.mark.parametrize("what,value", GOOD_NIKS, ids=[g[0] for g in GOOD_NIKS])
async def test_nik_edge_cases_that_are_real_dates_are_accepted(stack: Stack, what: str, value: str) -> None:
    body = item(CILEGON, nik=value)
    async with stack.client("enrolment", "banten") as c:
        response = await c.post("/v1/registrations", json=body)
        assert response.status_code == 201, (what, response.text)
        day = int(value.lstrip("'").replace(".", "").replace("-", "")[6:8])
        assert response.json()["sex"] == ("P" if day > 40 else "L")
        assert value not in response.text  # write answers carry no personal data


async def test_odd_but_valid_names_are_stored_and_echoed_verbatim_as_data(stack: Stack) -> None:
    async with stack.client("enrolment", "banten") as c:
        for name in ODD_NAMES:
            body = item(CILEGON, full_name=name, device_id="<img src=x onerror=alert(1)>",
                        officer_id="1' OR '1'='1")
            created = await c.post("/v1/registrations", json=body)
            assert created.status_code == 201, (name, created.text)
            read = await c.get(f"/v1/registrations/{body['registration_id']}")
            assert read.status_code == 200 and read.headers["content-type"] == "application/json"
            stored_name = read.json()["worker"]["full_name"]
            assert stored_name == " ".join(name.split()).upper(), (name, stored_name)
            assert read.json()["device_id"] == "<img src=x onerror=alert(1)>"
            assert read.json()["officer_id"] == "1' OR '1'='1"
            assert "&lt;" not in read.text  # JSON data, neither escaped nor interpreted
    async with stack.servers["enrolment"].runtime.database.reading() as session:  # the table is still there
        names = set((await session.execute(text("SELECT full_name FROM registrations"))).scalars())
    assert "ROBERT'); DROP TABLE REGISTRATIONS;--" in names and "<SCRIPT>ALERT('X')</SCRIPT>" in names


# --- the CSV/XLSX import path -------------------------------------------------------------------------------------

IMPORT_HEADERS = ["No", "NIK", "Nama Lengkap", "No HP", "Jenis Pekerjaan", "Kecamatan"]


def import_rows(fmt: str) -> tuple[list[list[Any]], dict[int, tuple[str, str]], list[str]]:
    """Rows with one bad value each (row number -> column and code expected in the report), and good odd ones.
    A workbook cannot hold control characters at all, so only the CSV carries one."""
    rows: list[list[Any]] = []
    expected: dict[int, tuple[str, str]] = {}
    for _what, value, code in BAD_NIKS:
        if code in ("missing", "type"):
            continue
        rows.append([len(rows) + 1, value, "Siti Contoh", "0812-3456-7890", "Kader Posyandu", "36.72.01"])
        expected[len(rows) + 1] = ("NIK", code)
    names = [("A" * 300, "too_long"), ("B4ambang", "invalid_name")]
    for name, code in names + ([("SITI\x07CONTOH", "invalid_characters")] if fmt == "csv" else []):
        rows.append([len(rows) + 1, synthetic_nik("367201"), name, "", "Linmas", "36.72.01"])
        expected[len(rows) + 1] = ("Nama Lengkap", code)
    rows.append([len(rows) + 1, synthetic_nik("367201"), "Siti Contoh", "12345", "Linmas", "36.72.01"])
    expected[len(rows) + 1] = ("No HP", "invalid_phone")
    good = []
    for name in ("Ma'ruf", "Nur'aini", "Sukarno", "Robert'); DROP TABLE registrations;--", "<b>Budi</b>"):
        value = synthetic_nik("367201")
        rows.append([len(rows) + 1, value, name, "", "Linmas", "36.72.01"])
        good.append(value)
    return rows, expected, good


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_the_import_path_reports_every_bad_row_and_stores_only_the_good(stack: Stack, tmp_path: Path,
                                                                              fmt: str) -> None:
    rows, expected, good = import_rows(fmt)
    path = tmp_path / f"kantor.{fmt}"
    if fmt == "csv":
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f, delimiter=";").writerows([IMPORT_HEADERS, *rows])
    else:
        book = Workbook()
        for row in [IMPORT_HEADERS, *rows]:
            book.active.append(row)
        book.save(path)

    def run():
        source = read_file(path)
        with Client(stack.keys["banten"], enrolment_url=stack.servers["enrolment"].url) as client:
            return source, run_import(source, ImportOptions(region=CILEGON), rules=IntakeRules("unused-locally"),
                                      now=datetime.fromisoformat(CLOCK_START), client=client)

    source, summary = await asyncio.to_thread(run)
    assert summary.accepted == len(good) and summary.invalid == len(expected), summary
    if fmt == "csv":
        with summary.report.open(encoding="utf-8") as f:  # type: ignore[union-attr]
            report = list(csv.reader(f))[1:]
    else:
        report = [list(r) for r in load_workbook(summary.report).active.iter_rows(min_row=2, values_only=True)]
    assert {(int(r[0]), r[1], r[3]) for r in report} == {(row, column, code)
                                                         for row, (column, code) in expected.items()}
    report_text = path.with_name(summary.report.name).read_bytes()  # type: ignore[union-attr]
    assert all(str(rows[n - 2][1]).encode() not in report_text for n in expected)  # no NIK in the error report
    async with stack.servers["enrolment"].runtime.database.reading() as session:
        niks = set((await session.execute(select(registrations.c.nik))).scalars())
        ids = set((await session.execute(select(registrations.c.registration_id))).scalars())
    assert set(good) <= niks
    bad_ids = {registration_id_for(source, r) for r in source.rows if r.number in expected}
    assert not bad_ids & ids
    assert not any(str(rows[n - 2][1]) in niks for n in expected if expected[n][1] != "nik_already_registered")


async def test_unreadable_import_files_are_refused_before_anything_is_sent(tmp_path: Path) -> None:
    empty = tmp_path / "kosong.csv"
    empty.write_bytes(b"")
    wrong = tmp_path / "daftar.pdf"
    wrong.write_bytes(b"%PDF-1.4")
    for path in (empty, wrong):
        with pytest.raises(ValueError):
            read_file(path)
    broken = tmp_path / "rusak.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(Exception):
        read_file(broken)
