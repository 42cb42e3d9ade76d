"""Synthetic registrations for the enrolment tests: made-up NIKs (valid structure, known districts) and names."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta
from typing import Any

from shared import regions

# The service clock in these tests: fiscal year 2025, March.
CLOCK_START = "2025-03-10T09:00:00+07:00"
TODAY = date(2025, 3, 10)
CAPTURED_AT = "2025-03-08T10:15:00+07:00"

_serials = itertools.count(1)


def synthetic_nik(district: str = "367201", *, birth: date | None = None, female: bool = False) -> str:
    """A structurally valid NIK that no two calls in one test run share."""
    n = next(_serials)
    birth = birth or date(1975, 1, 1) + timedelta(days=(n * 37) % 9000)
    day = birth.day + (40 if female else 0)
    return f"{district}{day:02d}{birth.month:02d}{birth.year % 100:02d}{n % 9999 + 1:04d}"


def item(regency: str = "36.72", **overrides: Any) -> dict[str, Any]:
    district = overrides.pop("nik_district", regions.districts_of(regency)[0].replace(".", ""))
    body: dict[str, Any] = {
        "registration_id": str(uuid.uuid4()),
        "nik": synthetic_nik(district),
        "full_name": "Siti Contoh",
        "phone": "0812-3456-7890",
        "category": "kader posyandu",
        "regency_code": regency,
        "coverage": {"start_month": "2025-03", "months": 10},
        "channel": "field_kit",
        "device_id": "kit-0042",
        "captured_at": CAPTURED_AT,
    }
    body.update(overrides)
    return body
