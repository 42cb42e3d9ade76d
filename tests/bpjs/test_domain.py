"""The BPJS exchange's pure rules: which registrations a month's member file holds, how BPJS's answer is judged,
and how a bill is compared with the invoice."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from services.enrolment.domain import (
    BadMapping,
    MemberFileMapping,
    RegistrationRecord,
    ResultRow,
    judge_results,
    member_changes,
    member_row,
    rejection_category,
    rejection_end_month,
)
from services.enrolment.service import load_mapping
from services.subsidy.domain import BilledLine, reconcile

T = datetime(2025, 3, 10, tzinfo=UTC)


def record(n: int, **changes) -> RegistrationRecord:
    base = RegistrationRecord(
        registration_id=f"00000000-0000-0000-0000-{n:012d}", nik=f"36720141{n:08d}"[:16], worker_ref="a" * 64,
        full_name="Siti Contoh", phone="+6281234567890", sex="P", birth_date=date(1980, 1, 1), age_band="45-54",
        nik_district_code="36.72.01", category="posyandu_cadre", category_description=None, province_code="36",
        regency_code="36.72", district_code="36.72.01", village_code=None, programme="bpu-jkk-jkm",
        fiscal_year=2025, start_month=3, months=10, channel="field_kit", device_id=None, officer_id=None,
        captured_at=T, key_id="k", status="active", status_reason=None, decided_at=T, end_month=None, ended_at=None,
        registered_at=T, updated_at=T)
    return dataclasses.replace(base, **changes)


def test_a_months_changes_are_funded_starts_and_ends_of_that_month() -> None:
    records = [
        record(1), record(2, renews="x"), record(3, replaces="y"),
        record(4, status="ended", status_reason="moved", end_month=3),  # starts and ends in March: both
        record(5, start_month=4),  # next month's
        record(6, status="ended", status_reason="rejected_by_bpjs", end_month=2, bpjs_status="rejected"),
        record(7, decided_at=None, status="ended", end_month=3),  # never funded
        record(8, status="ended", status_reason="replaced", start_month=1, end_month=3),
    ]
    changes = [(c.change, c.record.registration_id[-1]) for c in member_changes(records, 3)]
    assert changes == [("new", "1"), ("new", "4"), ("renewed", "2"), ("replaced", "3"), ("ended", "4"),
                       ("ended", "8")]


def test_a_member_row_follows_the_mapping_and_keeps_text_as_text() -> None:
    mapping = load_mapping()
    [change] = member_changes([record(1, village_code="36.72.01.1001")], 3)
    row = dict(zip(mapping.headers, member_row(change, mapping)))
    assert (row["Jenis Perubahan"], row["NIK"], row["Jenis Kelamin"], row["Program"], row["Total Iuran (Rp)"]) == \
        ("BARU", record(1).nik, "Perempuan", "JKK + JKM", 168_000)
    assert (row["Kabupaten/Kota"], row["Pekerjaan"], row["Akhir Kepesertaan"]) == \
        ("Kota Cilegon", "Kader Posyandu", "2025-12")
    with pytest.raises(BadMapping):
        MemberFileMapping.parse({"columns": [{"field": "password", "header": "x"}]})


def rows(*cells: tuple[str, str, str, str]) -> list[ResultRow]:
    return [ResultRow(i + 2, *c) for i, c in enumerate(cells)]


def test_judging_bpjs_answer() -> None:
    a, b, c, other = record(1), record(2), record(3, kpj_number="25000000003", bpjs_status="enrolled"), \
        record(4, regency_code="32.73", province_code="32")
    known = {r.nik: [r] for r in (a, b, c, other)}
    plan = judge_results(rows(
        (a.nik, "25-0000-0001", "Terdaftar", ""),
        (b.nik, "", "DITOLAK", "Peserta aktif PU di perusahaan"),
        (c.nik, "25000000003", "enrolled", ""),  # as stored: unchanged
        ("3.67201410000000E+15", "25000000009", "enrolled", ""),
        (other.nik, "25000000004", "enrolled", ""),
        ("3672014199999999", "25000000005", "enrolled", ""),
        (a.nik, "25000000001", "enrolled", ""),
        (c.nik.replace("3", "3"), "x", "maybe", ""),
    ), "36.72", 2025, known)
    assert [(e.registration_id, e.kpj_number) for e in plan.enrolled] == [(a.registration_id, "2500000001")]
    assert [(r.record.registration_id, r.category) for r in plan.rejected] == [(b.registration_id, "wage_earner")]
    assert plan.unchanged == 1
    assert [(m.row, m.code) for m in plan.mismatches] == [(5, "nik_as_number"), (6, "other_region"),
                                                         (7, "unknown_nik"), (8, "repeated_nik"),
                                                         (9, "repeated_nik")]
    changed = judge_results(rows((c.nik, "25000000099", "enrolled", "")), "36", 2025, known)
    assert [m.code for m in changed.mismatches] == ["kpj_differs"]
    assert rejection_end_month(record(1, start_month=1)) == 0


@pytest.mark.parametrize(("reason", "category"), [
    ("Terdaftar sebagai peserta PU", "wage_earner"), ("NIK sudah terdaftar", "already_member"),
    ("Data tidak sesuai Dukcapil", "data_mismatch"), ("Peserta meninggal dunia", "deceased"), ("", "other")])
def test_rejections_are_counted_by_category_of_reason(reason: str, category: str) -> None:
    assert rejection_category(reason) == category


def test_a_bill_with_one_extra_one_missing_and_one_wrong_amount_has_exactly_those_three_differences() -> None:
    funded = {"a": 16_800, "b": 16_800, "c": 16_800, "d": 16_800}
    billed = [BilledLine(2, "a", 16_800), BilledLine(3, "b", 16_800), BilledLine(4, "c", 20_000),
              BilledLine(5, None, 16_800)]
    result = reconcile(4, 4 * 16_800, funded, billed)
    assert [x.registration_id for x in result.matched] == ["a", "b"]
    assert [(x.row, x.billed_rupiah) for x in result.billed_not_funded] == [(5, 16_800)]
    assert [x.registration_id for x in result.funded_not_billed] == ["d"]
    assert [(x.registration_id, x.funded_rupiah, x.billed_rupiah) for x in result.amount_differences] == \
        [("c", 16_800, 20_000)]
    assert (result.differences, result.difference_rupiah) == (3, 3_200)
    totals = reconcile(4, 4 * 16_800, funded, None, 4, 4 * 16_800)
    assert (totals.per_member, totals.differences) == (False, 0)
    assert reconcile(4, 4 * 16_800, funded, None, 4, 1).differences == 1
