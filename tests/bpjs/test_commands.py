"""The BPJS exchange from the operator's machine: `paritrana enrolment bpjs-file`, `paritrana enrolment
bpjs-results` and `paritrana subsidy reconcile-bill`, run as an operator runs them, against the stack's databases."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import sys
from pathlib import Path

from openpyxl import Workbook
from sqlalchemy import select

from services.enrolment.models import bpjs_downloads
from tests.enrolment.sample import CLOCK_START, item
from tests.security.stack import Stack
from tests.support import eventually

REGION = "36.01"  # Kabupaten Pandeglang
MONTHLY = 16_800


async def paritrana(stack: Stack, cwd: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITRANA_")}
    env |= {"PARITRANA_ENROLMENT_DATABASE_URL": stack.settings.enrolment_database_url or "",
            "PARITRANA_SUBSIDY_DATABASE_URL": stack.settings.subsidy_database_url or "",
            "PARITRANA_CLOCK_START": CLOCK_START, "PARITRANA_DATA_DIR": str(cwd / "var"), "PARITRANA_LOG_JSON": "false"}
    process = await asyncio.create_subprocess_exec(sys.executable, "-m", "paritrana", *args, env=env, cwd=cwd,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await asyncio.wait_for(process.communicate(), 120))[0].decode(errors="replace")
    assert process.returncode == 0, f"paritrana {' '.join(args)}: {output[-3000:]}"
    return output


async def test_the_monthly_exchange_from_the_command_line(stack: Stack, tmp_path: Path) -> None:
    members = [item(REGION) for _ in range(3)]
    async with stack.client("subsidy") as subsidy:
        body = {"lines": [{"line_id": "apbd-2025", "source": "apbd_kabkota", "amount_rupiah": 10 * 10 * MONTHLY,
                           "legal_reference": "Perda Kab. Pandeglang 1/2024"}]}
        assert (await subsidy.put(f"/v1/budgets/{REGION}/2025/lines", json=body)).status_code == 200
    async with stack.client("enrolment", "banten") as banten:
        assert (await banten.post("/v1/registrations/batch", json={"items": members})).status_code == 200

        async def active() -> bool:
            return all([(await banten.get(f"/v1/registrations/{m['registration_id']}")).json()["status"] == "active"
                        for m in members])
        await eventually(active, timeout=60, interval=0.5)

    said = await paritrana(stack, tmp_path, "enrolment", "bpjs-file", "--region", REGION, "--year", "2025",
                           "--month", "3", "--format", "csv", "--out", "maret.csv")
    assert "maret.csv: 3 members" in said
    rows = list(csv.DictReader(io.StringIO((tmp_path / "maret.csv").read_text(encoding="utf-8-sig"))))
    assert sorted(r["NIK"] for r in rows) == sorted(m["nik"] for m in members)
    async with stack.servers["enrolment"].runtime.database.reading() as session:
        [who] = (await session.execute(select(bpjs_downloads.c.key_name).where(
            bpjs_downloads.c.region_code == REGION))).scalars().all()
    assert who.startswith("paritrana enrolment (")

    book = Workbook()
    sheet = book.active
    sheet.append(["NIK", "No KPJ", "Status", "Alasan"])
    sheet.append([members[0]["nik"], "25111000001", "Terdaftar", None])
    sheet.append([members[1]["nik"], "25111000002", "Terdaftar", None])
    sheet.append([int(members[2]["nik"]), "25111000003", "Terdaftar", None])  # Excel turned it into a number
    book.save(tmp_path / "hasil.xlsx")
    said = await paritrana(stack, tmp_path, "enrolment", "bpjs-results", "hasil.xlsx", "--region", REGION,
                           "--year", "2025")
    assert "3 rows: enrolled 2, rejected 0, unchanged 0, mismatched 1" in said
    assert (tmp_path / "hasil.mismatches.xlsx").exists()
    again = await paritrana(stack, tmp_path, "enrolment", "bpjs-results", "hasil.xlsx", "--region", REGION,
                            "--year", "2025")
    assert "enrolled 0, rejected 0, unchanged 2, mismatched 1" in again

    async with stack.client("subsidy") as national:
        assert (await national.post("/v1/billing/2025/3/close")).status_code == 200
    (tmp_path / "tagihan.csv").write_text(
        f"No KPJ,NIK,Tagihan\n25111000001,,16800\n,{members[1]['nik']},16800\n", encoding="utf-8")
    said = await paritrana(stack, tmp_path, "subsidy", "reconcile-bill", "tagihan.csv", "--region", REGION,
                           "--year", "2025", "--month", "3", "--out", "laporan.json")
    report = json.loads((tmp_path / "laporan.json").read_text())
    assert (len(report["matched"]), report["funded_not_billed"][0]["registration_id"], report["difference"]) == \
        (2, members[2]["registration_id"], "-Rp16.800")
    assert "2 matched, 0 billed not funded, 1 funded not billed, 0 other amounts" in said
