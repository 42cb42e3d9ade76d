"""The BPJS Ketenagakerjaan exchange end to end: a region's member file for a month, BPJS's answer (KPJ numbers,
rejections whose months fund the waiting list, unknown NIKs reported), and importing that answer again."""

from __future__ import annotations

import csv
import io
import json
import logging
import re

from openpyxl import Workbook, load_workbook
from sqlalchemy import select

from paritrana.invariants import InvariantReport, check_databases
from services.enrolment.models import bpjs_downloads, outbox, registrations
from shared.events import parse_event
from tests.enrolment.sample import item, synthetic_nik
from tests.security.stack import Stack
from tests.support import eventually

REGION = "36.03"  # Kabupaten Tangerang: no other test of this module's stack uses it
FUNDED = 98
WAITING = 3
YEARLY = 16_800 * 10  # March to December
CSV = {"Content-Type": "text/csv"}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


async def statuses(stack: Stack, ids: list[str]) -> list[str]:
    async with stack.client("enrolment") as c:
        answers = [await c.get(f"/v1/registrations/{i}") for i in ids]
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200][:1]
    return [a.json()["status"] for a in answers]


async def stored(stack: Stack, ids: list[str]) -> dict[str, dict]:
    async with stack.servers["enrolment"].runtime.database.reading() as session:
        rows = (await session.execute(select(registrations).where(
            registrations.c.registration_id.in_(ids)))).mappings().all()
    return {r["registration_id"]: dict(r) for r in rows}


async def outbox_events(stack: Stack, service: str) -> list:
    from services.subsidy.models import outbox as subsidy_outbox

    table = outbox if service == "enrolment" else subsidy_outbox
    async with stack.servers[service].runtime.database.reading() as session:
        return [parse_event(p) for p in (await session.execute(select(table.c.payload))).scalars().all()]


def kpj_of(index: int) -> str:
    return f"25{index:09d}"


async def test_member_file_results_and_their_import_again(stack: Stack, caplog) -> None:
    caplog.set_level(logging.INFO)
    members = [item(REGION, full_name=f"Peserta Sintetis {chr(65 + i % 26)}") for i in range(FUNDED + WAITING)]
    async with stack.client("subsidy") as subsidy:
        body = {"lines": [{"line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": FUNDED * YEARLY,
                           "legal_reference": "Perda Kab. Tangerang 1/2024"}]}
        assert (await subsidy.put(f"/v1/budgets/{REGION}/2025/lines", json=body)).status_code == 200
    async with stack.client("enrolment", "banten") as banten:
        answer = await banten.post("/v1/registrations/batch", json={"items": members})
        assert answer.json()["counts"]["accepted"] == FUNDED + WAITING
    ids = [m["registration_id"] for m in members]
    await eventually(lambda: _settled(stack, ids), timeout=60, interval=0.5)
    funded = [m for m, s in zip(members, await statuses(stack, ids)) if s == "active"]
    waiting = [m for m, s in zip(members, await statuses(stack, ids)) if s == "waiting_funding"]
    assert (len(funded), len(waiting)) == (FUNDED, WAITING)

    # --- 1. the member file: exactly the month's changes, as stored; only an admin key of the region ---
    query = {"region": REGION, "year": 2025, "month": 3}
    async with stack.client("enrolment", "banten_admin") as admin, \
            stack.client("enrolment", "jabar_admin") as other, stack.client("enrolment", "banten") as writer:
        as_csv = await admin.get("/v1/bpjs/member-file", params=query | {"format": "csv"})
        as_xlsx = await admin.get("/v1/bpjs/member-file", params=query)
        april = await admin.get("/v1/bpjs/member-file", params=query | {"month": 4, "format": "csv"})
        assert (await other.get("/v1/bpjs/member-file", params=query)).status_code == 403
        assert (await writer.get("/v1/bpjs/member-file", params=query)).status_code == 403
        audit = (await admin.get("/v1/bpjs/member-file/downloads", params=query)).json()
    assert as_csv.status_code == 200 and as_xlsx.status_code == 200
    rows = csv_rows(as_csv.content)
    assert len(rows) == FUNDED and as_csv.headers["x-row-count"] == str(FUNDED)
    assert csv_rows(april.content) == []
    truth = await stored(stack, [m["registration_id"] for m in funded])
    by_id = {r["ID Registrasi"]: r for r in rows}
    assert set(by_id) == set(truth)
    for registration_id, row in by_id.items():
        record = truth[registration_id]
        assert (row["NIK"], row["Nama Lengkap"], row["Tanggal Lahir"]) == \
            (record["nik"], record["full_name"], record["birth_date"].isoformat())
        assert (row["Jenis Perubahan"], row["Program"], row["Awal Kepesertaan"], row["Akhir Kepesertaan"],
                row["Jumlah Bulan"], row["Iuran per Bulan (Rp)"], row["Total Iuran (Rp)"]) == \
            ("BARU", "JKK + JKM", "2025-03", "2025-12", "10", "16800", str(YEARLY))
    sheet = load_workbook(io.BytesIO(as_xlsx.content)).active
    table = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert table[0][:3] == ["Jenis Perubahan", "NIK", "Nama Lengkap"] and len(table) == FUNDED + 1
    assert {r[1] for r in table[1:]} == {t["nik"] for t in truth.values()}  # text, never a number
    assert [(d["format"], d["rows"]) for d in audit["downloads"]] == [("csv", FUNDED), ("xlsx", FUNDED),
                                                                     ] and audit["downloads"][0]["key_name"] == \
        "banten_admin"
    async with stack.servers["enrolment"].runtime.database.reading() as session:
        months = (await session.execute(select(bpjs_downloads.c.month).where(
            bpjs_downloads.c.region_code == REGION))).scalars().all()
    assert sorted(months) == [3, 3, 4]

    # --- 2. BPJS's answer: 95 enrolled, 3 rejected, 2 unknown ---
    enrolled, rejected = funded[:95], funded[95:]
    unknown = [synthetic_nik("360301"), synthetic_nik("360301")]
    lines = ["HASIL VERIFIKASI PESERTA BPU", "", "NIK;No KPJ;Status;Alasan"]
    lines += [f"{m['nik']};{kpj_of(i)};Terdaftar;" for i, m in enumerate(enrolled)]
    lines += [f"{m['nik']};;Ditolak;Terdaftar sebagai peserta PU" for m in rejected]
    lines += [f"{nik};{kpj_of(900 + i)};Terdaftar;" for i, nik in enumerate(unknown)]
    result_file = "\n".join(lines).encode()
    async with stack.client("enrolment", "banten_admin") as admin, stack.client("enrolment", "jabar_admin") as other:
        params = {"region": REGION, "year": 2025}
        assert (await other.post("/v1/bpjs/results", params=params, content=result_file,
                                 headers=CSV)).status_code == 403
        first = (await admin.post("/v1/bpjs/results", params=params, content=result_file, headers=CSV)).json()
        report = await admin.get(first["report"], params={"format": "csv"})
    assert (first["rows"], first["enrolled"], first["rejected"], first["mismatched"]) == (100, 95, 3, 2)
    assert first["rejections"] == {"wage_earner": 3}
    assert [(m["row"], m["code"]) for m in first["mismatches"]] == [(102, "unknown_nik"), (103, "unknown_nik")]
    assert [r["Kode"] for r in csv_rows(report.content)] == ["unknown_nik", "unknown_nik"]
    assert not any(nik in report.text for nik in unknown)

    after = await stored(stack, [m["registration_id"] for m in funded])
    for i, m in enumerate(enrolled):
        assert (after[m["registration_id"]]["kpj_number"], after[m["registration_id"]]["bpjs_status"]) == \
            (kpj_of(i), "enrolled")
    async with stack.client("enrolment", "banten") as reader:
        seen = (await reader.get(f"/v1/registrations/{enrolled[7]['registration_id']}")).json()

    assert (seen["bpjs_status"], seen["worker"]["kpj_number"]) == ("enrolled", kpj_of(7))
    for m in rejected:
        row = after[m["registration_id"]]
        assert (row["status"], row["status_reason"], row["bpjs_status"], row["end_month"]) == \
            ("ended", "rejected_by_bpjs", "rejected", 2)
    # The rejected members' months went back to the budget, and funded the waiting list.
    await eventually(lambda: _all(stack, [m["registration_id"] for m in waiting], "active"), timeout=60,
                     interval=0.5)
    async with stack.client("enrolment", "banten") as reader:
        summary = (await reader.get("/v1/bpjs/summary", params={"region": REGION, "year": 2025})).json()
    # The waiting members the released months funded are BPJS's next answer.
    assert (summary["funded"], summary["enrolled"], summary["rejected"], summary["unanswered"],
            summary["rejections"]) == (FUNDED + WAITING, 95, 3, WAITING, {"wage_earner": 3})
    released = [e for e in await outbox_events(stack, "subsidy") if e.type == "subsidy.released"
                and e.subject in {m["registration_id"] for m in rejected}]
    assert sorted(e.data.amount_rupiah for e in released) == [YEARLY] * 3
    ended = [e for e in await outbox_events(stack, "enrolment") if e.type == "worker.ended"]
    assert [(e.dataversion, e.data.reason, e.data.end_month) for e in ended] == [(2, "rejected_by_bpjs", 2)] * 3

    # --- importing the same file again changes nothing ---
    async with stack.client("enrolment", "banten_admin") as admin:
        again = (await admin.post("/v1/bpjs/results", params=params, content=result_file, headers=CSV)).json()
    assert (again["enrolled"], again["rejected"], again["unchanged"], again["mismatched"]) == (0, 0, 98, 2)
    assert await stored(stack, [m["registration_id"] for m in funded]) == after
    assert len([e for e in await outbox_events(stack, "enrolment") if e.type == "worker.ended"]) == 3

    # --- a later month's file: the rejected are not BPJS's business, an ended member is ---
    async with stack.client("enrolment", "banten") as writer:
        assert (await writer.post(f"/v1/registrations/{enrolled[0]['registration_id']}/end",
                                  json={"reason": "moved", "end_month": "2025-05"})).status_code == 200
    async with stack.client("enrolment", "banten_admin") as admin:
        may = csv_rows((await admin.get("/v1/bpjs/member-file", params=query | {"month": 5, "format": "csv"})).content)
    assert [(r["Jenis Perubahan"], r["NIK"], r["No KPJ"], r["Akhir Kepesertaan"]) for r in may] == \
        [("BERHENTI", enrolled[0]["nik"], kpj_of(0), "2025-05")]

    # Every invariant of `paritrana check` holds: decisions agree with statuses, budgets with grants less
    # releases, the ledger with the invoices.
    async def holds() -> InvariantReport | None:
        report = await check_databases(**{name: server.runtime.database for name, server in stack.servers.items()})
        return report if report.holds else None
    await eventually(holds, timeout=30, interval=0.5)

    # --- no NIK or KPJ number in events or logs ---
    needles = {m["nik"] for m in members} | {kpj_of(i) for i in range(95)}
    texts = [json.dumps(e.model_dump(mode="json")) for s in ("enrolment", "subsidy", "award")
             for e in (await outbox_events(stack, s) if s != "award" else [])]
    texts.append(caplog.text)
    async with stack.client("enrolment", None) as anyone:
        texts.append((await anyone.get("/metrics")).text)
    assert not [n for n in needles if any(n in t for t in texts)]
    # Counted by category of reason (the counter lives as long as the process: both backends add to it).
    counted = re.search(r'paritrana_enrolment_bpjs_rejections_total\{category="wage_earner"\} (\S+)', texts[-1])
    assert counted and float(counted.group(1)) >= 3


async def _settled(stack: Stack, ids: list[str]) -> bool:
    found = await statuses(stack, ids)
    return found.count("active") == FUNDED and found.count("waiting_funding") == WAITING


async def _all(stack: Stack, ids: list[str], status: str) -> bool:
    return set(await statuses(stack, ids)) == {status}


async def test_a_nik_stored_as_a_number_is_never_matched(stack: Stack) -> None:
    member = item(REGION)
    async with stack.client("enrolment", "banten") as banten:
        assert (await banten.post("/v1/registrations", json=member)).status_code == 201
    book = Workbook()
    sheet = book.active
    sheet.append(["Daftar hasil"])
    sheet.append(["NIK", "KPJ", "Status", "Alasan"])
    sheet.append([int(member["nik"]), "25000000777", "Terdaftar", None])
    sheet.append([member["nik"], "25000000777", "diterima", None])
    sheet.append(["12345", "25000000777", "Terdaftar", None])
    sheet.append([member["nik"], "25000000777", "mungkin", None])
    raw = io.BytesIO()
    book.save(raw)
    async with stack.client("enrolment", "banten_admin") as admin:
        answer = await admin.post("/v1/bpjs/results", params={"region": REGION, "year": 2025}, content=raw.getvalue(),
                                  headers={"Content-Type": XLSX})
        no_header = await admin.post("/v1/bpjs/results", params={"region": REGION, "year": 2025},
                                     content=b"a;b\n1;2\n", headers=CSV)
        as_text = await admin.post("/v1/bpjs/results", params={"region": REGION, "year": 2025},
                                   content=b"a;b\n1;2\n", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200, answer.text
    codes = [(m["row"], m["code"]) for m in answer.json()["mismatches"]]
    # The number is refused; the same NIK as text is still pending its funding decision here, so it is unknown to
    # the funded members.
    assert codes[0] == (3, "nik_as_number") and (5, "nik_format") in codes
    assert answer.json()["enrolled"] == 0
    assert (no_header.status_code, no_header.json()["errors"][0]["code"]) == (422, "no_header")
    assert as_text.status_code == 415
