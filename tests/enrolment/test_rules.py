"""The intake contract (services/enrolment/contract.py) and rules (domain.py) together, as service.judge_submission
applies them: normalisation, every validation, duplicates, end months. Pure functions, so these run without a
database or broker."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from services.enrolment.api import EXAMPLE_ITEM, EXAMPLE_OTHER
from services.enrolment.domain import IntakeRules, end_month_for, judge_arrivals
from services.enrolment.service import judge_submission as validate
from tests.enrolment.sample import item, synthetic_nik

RULES = IntakeRules(worker_ref_key="k")
NOW = datetime(2025, 3, 10, 2, 0, tzinfo=UTC)  # 09:00 WIB


def problems(body: dict, rules: IntakeRules = RULES, now: datetime = NOW) -> set[tuple[str | None, str]]:
    registration, errors = validate(body, rules, now)
    assert (registration is None) == bool(errors)
    for error in errors:  # a message names the rule, never the value that broke it
        for value in ((body.get("nik"), body.get("phone"), body.get("full_name")) if isinstance(body, dict) else ()):
            if isinstance(value, str) and len(value) > 3:
                assert value not in error.message
    return {(e.field, e.code) for e in errors}


def valid(body: dict, now: datetime = NOW):
    registration, errors = validate(body, RULES, now)
    assert errors == [], errors
    return registration


@pytest.mark.parametrize(("birth_digits", "sex", "birth"), [
    ("290200", "L", date(2000, 2, 29)),   # 29 February of a leap year
    ("690200", "P", date(2000, 2, 29)),   # the same day for a woman: day + 40
    ("410190", "P", date(1990, 1, 1)),
    ("711299", "P", date(1999, 12, 31)),
    ("100307", "L", date(2007, 3, 10)),   # eighteen today
    ("110359", "L", date(1959, 3, 11)),   # sixty-five until tomorrow
])
def test_sex_and_birth_date_come_from_the_nik(birth_digits: str, sex: str, birth: date) -> None:
    registration = valid(item(nik=f"367201{birth_digits}0007"))
    assert (registration.sex, registration.birth_date) == (sex, birth)


@pytest.mark.parametrize(("nik", "code"), [
    ("3672012902010001", "nik_birth_date"),   # 29 February 2001 did not exist
    ("3672016902010001", "nik_birth_date"),   # nor for women
    ("3672010001900001", "nik_birth_date"),   # day 00
    ("3672014001900001", "nik_birth_date"),   # day 40 = a woman's day 0
    ("3672017201900001", "nik_birth_date"),   # day 72 = a woman's 32nd
    ("3672011513900001", "nik_birth_date"),   # month 13
    ("3672011203900000", "nik_serial"),
    ("3672991203900001", "nik_unknown_district"),
    ("0072011203900001", "nik_unknown_district"),
    ("3699011203900001", "nik_unknown_district"),
    ("36720112039O0001", "nik_format"),       # letter O for zero
    ("367201120390001", "nik_format"),        # 15 digits
    ("36720112039000011", "nik_format"),      # 17 digits
    ("3672011203900001x", "nik_format"),
    ("٣672011203900001", "nik_format"),       # non-ASCII digit
    ("3672011103070001", "age_out_of_range"),  # seventeen: turns eighteen tomorrow
    ("3672011003590001", "age_out_of_range"),  # sixty-six today
    ("3672010312250001", "nik_birth_date"),   # 3 December 2025: not born yet
    ("''3672011203900001", "nik_format"),     # one apostrophe marks text; a second is not Excel's
    ("3672'011203900001", "nik_format"),      # nor one inside
    # A NIK held as a number by a spreadsheet has lost its last digit, however it is written out:
    ("3.6720112039E+15", "nik_as_number"),
    ("3,67201120390000E+15", "nik_as_number"),  # Indonesian locale: decimal comma
    ("3.67201e15", "nik_as_number"),
    ("'3.67201E+15", "nik_as_number"),
    ("367201120390000.0", "nik_as_number"),   # without this rule the dot goes and 3672011203900000 is registered
    ("3672011203900010,00", "nik_as_number"),
    ("3.672.011.203.900.010", "nik_as_number"),  # thousands separators of the Indonesian locale
    ("3,672,011,203,900,010", "nik_as_number"),
])
def test_nik_problems(nik: str, code: str) -> None:
    assert problems(item(nik=nik)) == {("nik", code)}


def test_nik_must_be_a_string_and_present() -> None:
    assert problems(item(nik=3672011203900001)) == {("nik", "type")}
    assert problems(item(nik="  ")) == {("nik", "missing")}


def test_whitespace_case_and_nik_formatting_are_normalised_not_rejected() -> None:
    plain = item(nik="3672011203900001", full_name="Budi Sampel", phone="081234567890")
    messy = plain | {"nik": " 3672.0112-0390 0001 ", "full_name": "  budi\tSAMPEL ", "phone": "+62 812-3456-7890",
                     "category": " KADER  posyandu ", "channel": "FIELD_KIT", "programme": "BPU-JKK-JKM",
                     "registration_id": plain["registration_id"].upper(),
                     "captured_at": "2025-03-08T03:15:00Z"}
    a, b = valid(plain), valid(messy)
    assert (b.nik, b.full_name, b.phone, b.category, b.channel) == (
        "3672011203900001", "BUDI SAMPEL", "+6281234567890", "posyandu_cadre", "field_kit")
    assert a.fingerprint == b.fingerprint
    assert valid(plain | {"full_name": "Budi Sampe"}).fingerprint != a.fingerprint
    # Excel's text mark, from a cell that was already Text or a CSV written for Excel, is the same NIK.
    for quoted in ("'3672011203900001", " '3672 0112 0390 0001"):
        quoted_registration = valid(plain | {"nik": quoted})
        assert (quoted_registration.nik, quoted_registration.fingerprint) == (a.nik, a.fingerprint)


def test_places_must_exist_and_nest() -> None:
    assert problems(item(regency_code="36.99")) == {("regency_code", "unknown_regency")}
    assert problems(item(regency_code="3672")) == {("regency_code", "unknown_regency")}
    assert problems(item(district_code="32.73.01")) == {("district_code", "district_outside_regency")}
    assert problems(item(district_code="36.72.99")) == {("district_code", "unknown_district")}
    assert problems(item(village_code="32.73.01.1001")) == {("village_code", "village_outside_regency")}
    assert problems(item(district_code="36.72.02", village_code="36.72.01.1001")) == {
        ("village_code", "village_outside_district")}
    assert problems(item(village_code="36.72.01.9999")) == {("village_code", "unknown_village")}
    registration = valid(item(village_code="36.72.01.1002"))
    assert (registration.district_code, registration.village_code) == ("36.72.01", "36.72.01.1002")


def test_phone_category_and_programme() -> None:
    assert problems(item(phone="12345")) == {("phone", "invalid_phone")}
    assert problems(item(phone="0856")) == {("phone", "invalid_phone")}
    assert valid(item(phone="(021) 555-1234")).phone == "+62215551234"
    assert valid(item(phone=None)).phone is None
    assert problems(item(category="other")) == {("category_description", "missing")}
    assert valid(item(category="other", category_description=" Juru  parkir ")).category_description == "Juru parkir"
    assert valid(item(category="KPPS")).category == "election_officer"
    assert problems(item(category="astronaut")) == {("category", "unknown_category")}
    assert problems(item(programme="jht")) == {("programme", "unknown_programme")}
    assert problems(item(device_id="kit\x00")) == {("device_id", "invalid_characters")}


@pytest.mark.parametrize(("coverage", "expected"), [
    ({"start_month": "2025-05", "months": 8}, set()),               # May to December
    ({"start_month": "2025-05", "months": 9}, {("coverage.months", "months_out_of_range")}),
    ({"start_month": "2025-03", "months": 0}, {("coverage.months", "months_out_of_range")}),
    ({"start_month": "2025-03", "months": 11}, {("coverage.months", "months_out_of_range")}),
    ({"start_month": "2025-03", "months": "3"}, {("coverage.months", "type")}),
    ({"start_month": "2025-03", "months": True}, {("coverage.months", "type")}),
    ({"start_month": "2025-01", "months": 12}, set()),           # two months back is allowed
    ({"start_month": "2024-12", "months": 1}, {("coverage.start_month", "start_month_too_early")}),
    ({"start_month": "2025-06", "months": 7}, set()),            # three months ahead is allowed
    ({"start_month": "2025-07", "months": 6}, {("coverage.start_month", "start_month_too_late")}),
    ({"start_month": "2025-3", "months": 6}, {("coverage.start_month", "invalid_month")}),
    ({"start_month": "2025-03"}, {("coverage.months", "missing")}),
    ({"start_month": "2025-03", "months": 3, "end": 1}, {("coverage.end", "extra_forbidden")}),
])
def test_coverage_within_the_fiscal_year_and_the_intake_window(coverage: dict, expected: set) -> None:
    assert problems(item(coverage=coverage)) == expected


def test_december_registrations_may_start_in_january() -> None:
    december = datetime(2025, 12, 15, 2, 0, tzinfo=UTC)
    registration = valid(item(coverage={"start_month": "2026-01", "months": 12}, captured_at="2025-12-14T10:00:00"),
                         now=december)
    assert (registration.fiscal_year, registration.start_month, registration.months) == (2026, 1, 12)


def test_capture_time() -> None:
    assert valid(item(captured_at="2025-03-08T10:15:00")).captured_at == datetime(2025, 3, 8, 3, 15,
                                                                                   tzinfo=UTC)  # WIB
    assert problems(item(captured_at="2025-03-11T10:00:00+07:00")) == {("captured_at", "captured_in_future")}
    assert problems(item(captured_at="1970-01-01T00:00:00Z")) == {("captured_at", "captured_too_long_ago")}
    assert problems(item(captured_at="yesterday")) == {("captured_at", "invalid_datetime")}


def test_every_problem_is_listed_at_once() -> None:
    body = {"registration_id": "nope", "nik": "12", "full_name": "4444", "phone": "x", "category": "?",
            "regency_code": "99.99", "coverage": {"start_month": "2025-13", "months": 20}, "channel": "fax",
            "captured_at": "soon", "sex": "P"}
    assert problems(body) == {
        ("registration_id", "invalid_uuid"), ("nik", "nik_format"), ("full_name", "invalid_name"),
        ("phone", "invalid_phone"), ("category", "unknown_category"), ("regency_code", "unknown_regency"),
        ("coverage.start_month", "invalid_month"), ("coverage.months", "months_out_of_range"),
        ("channel", "unknown_channel"), ("captured_at", "invalid_datetime"), ("sex", "extra_forbidden"),
    }
    assert problems({}) >= {("nik", "missing"), ("full_name", "missing"), ("coverage", "missing"),
                            ("regency_code", "missing"), ("registration_id", "missing"), ("channel", "missing")}
    assert problems([]) == {("body", "type")}


def test_a_batch_is_judged_as_if_its_items_came_one_by_one() -> None:
    a = valid(item())
    a_again = valid(item(registration_id=a.registration_id, nik=a.nik))
    same_nik = valid(item(nik=a.nik))
    reused_id = valid(item(registration_id=a.registration_id))
    verdicts = judge_arrivals([a, a_again, same_nik, reused_id], stored={}, live={})
    assert [d.verdict for d in verdicts] == ["accepted", "duplicate", "conflict", "conflict"]
    assert verdicts[2].existing_registration_id == a.registration_id
    assert verdicts[3].code == "registration_id_conflict"
    stored = judge_arrivals([a], stored={a.registration_id: a.fingerprint},
                            live={(a.nik, a.programme): a.registration_id})
    assert stored[0].verdict == "duplicate"
    other = valid(item(nik=synthetic_nik()))
    [verdict] = judge_arrivals([other], stored={}, live={(other.nik, other.programme, other.fiscal_year): "x"})
    assert verdict.existing_registration_id == "x"


def test_end_month_defaults_to_the_current_month_inside_the_coverage() -> None:
    today = date(2025, 6, 20)
    assert end_month_for(None, 2025, 3, 10, today) == (6, [])
    assert end_month_for(None, 2025, 8, 5, today) == (8, [])     # not started yet: its first month
    assert end_month_for(None, 2025, 1, 3, today) == (3, [])     # already run out: its last month
    assert end_month_for(None, 2024, 1, 12, today) == (12, [])
    assert end_month_for("2025-04", 2025, 3, 10, today) == (4, [])
    assert end_month_for("2025-02", 2025, 3, 10, today)[1][0].code == "end_month_outside_coverage"
    assert end_month_for("2026-04", 2025, 3, 10, today)[1][0].code == "end_month_outside_coverage"


def test_the_openapi_examples_are_valid_registrations() -> None:
    march = datetime(2025, 3, 21, 2, 0, tzinfo=UTC)
    assert valid(EXAMPLE_ITEM, now=march).sex == "P"
    assert valid(EXAMPLE_OTHER, now=march).category == "other"


def test_the_domain_does_not_reach_for_the_http_edge() -> None:
    """The rules report their own Problem; the routes turn it into the HTTP error body."""
    probe = "import sys, services.enrolment.domain; print(sorted(m for m in sys.modules if m.split('.')[0] in " \
            "('fastapi', 'starlette') or m == 'shared.http'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).parents[2])
    assert result.stdout.strip() == "[]"
