"""Synthetic workers for benchmarks, demos, imports and fault tests: valid NIK structure over real district
prefixes, realistic sex and age, the category mix of DOMAIN.md, and made-up names. No real person's data.

Deterministic for a given seed, so a demo or a benchmark can be run again with the same people.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from shared.regions import districts_of, regencies
from shared.vocabulary import DEFAULT_PROGRAMME

# Weights follow the seeds: RT/RW heads and kader Posyandu are the largest groups, election officers arrive in
# waves, and the rest are steady smaller groups.
CATEGORY_MIX: tuple[tuple[str, int], ...] = (
    ("rt_rw_head", 20), ("posyandu_cadre", 18), ("election_officer", 15), ("linmas", 8), ("mosque_officer", 7),
    ("religious_teacher", 6), ("ojol_driver", 7), ("honorary_staff", 6), ("blk_trainee", 3), ("small_trader", 3),
    ("farmer", 2), ("fisher", 1), ("angkot_driver", 1), ("becak_driver", 1), ("cleaner", 1),
    ("construction_labourer", 1),
)

_GIVEN = ("Adi", "Agus", "Ahmad", "Ani", "Ayu", "Bambang", "Bayu", "Budi", "Citra", "Dedi", "Dewi", "Dian", "Eka",
          "Endang", "Fajar", "Fitri", "Gita", "Hadi", "Hendra", "Indah", "Intan", "Joko", "Kartika", "Lestari",
          "Lina", "Made", "Maya", "Nur", "Nurul", "Putri", "Rahmat", "Rina", "Rizki", "Sari", "Siti", "Slamet",
          "Sri", "Teguh", "Tri", "Umar", "Wahyu", "Wati", "Yanti", "Yusuf")
_FAMILY = ("Saputra", "Wijaya", "Santoso", "Hidayat", "Kurniawan", "Setiawan", "Pratama", "Nugroho", "Lestari",
           "Rahayu", "Susanti", "Purnama", "Halim", "Siregar", "Nasution", "Simanjuntak", "Lubis", "Harahap",
           "Wibowo", "Permana", "Gunawan", "Utami", "Ramadhan", "Maharani")
_MOBILE_PREFIXES = ("0812", "0813", "0821", "0852", "0856", "0857", "0878", "0819", "0838", "0896", "0881")


@dataclass(frozen=True)
class SyntheticWorker:
    nik: str
    full_name: str
    phone: str | None
    sex: str
    birth_date: date
    category: str
    regency_code: str
    district_code: str


@lru_cache
def _districts(regency_code: str) -> tuple[str, ...]:
    return tuple(districts_of(regency_code))


def synthetic_nik(rng: random.Random, district_code: str, birth_date: date, sex: str) -> str:
    day = birth_date.day + (40 if sex == "P" else 0)
    return (district_code.replace(".", "") + f"{day:02d}{birth_date.month:02d}{birth_date.year % 100:02d}"
            + f"{rng.randint(1, 9999):04d}")


class WorkerFactory:
    """Draws synthetic workers. `regency_codes` limits where they work (default: all 514 regencies/cities)."""

    def __init__(self, seed: int = 0, regency_codes: Sequence[str] | None = None,
                 reference_date: date | None = None, min_age: int = 18, max_age: int = 64) -> None:
        self.rng = random.Random(seed)
        self.regency_codes = list(regency_codes or [r.code for r in regencies()])
        self.reference_date = reference_date or date.today()
        self.min_age, self.max_age = min_age, max_age
        self._categories = [c for c, _ in CATEGORY_MIX]
        self._weights = [w for _, w in CATEGORY_MIX]

    def worker(self, category: str | None = None, regency_code: str | None = None) -> SyntheticWorker:
        rng = self.rng
        regency = regency_code or rng.choice(self.regency_codes)
        # Most people work where their NIK was issued; some moved there from elsewhere.
        issued_in = regency if rng.random() < 0.8 else rng.choice(self.regency_codes)
        district = rng.choice(_districts(issued_in) or _districts(regency))
        work_district = district if issued_in == regency else rng.choice(_districts(regency))
        sex = "P" if rng.random() < 0.55 else "L"  # kader Posyandu are mostly women
        age = min(self.max_age, max(self.min_age, int(rng.triangular(self.min_age, self.max_age, 42))))
        birth = self.reference_date - timedelta(days=age * 365 + rng.randint(30, 330))
        name = f"{rng.choice(_GIVEN)} {rng.choice(_FAMILY)}" if rng.random() < 0.9 else rng.choice(_GIVEN)
        phone = f"{rng.choice(_MOBILE_PREFIXES)}{rng.randint(10_000_000, 99_999_999)}" if rng.random() < 0.85 else None
        return SyntheticWorker(
            nik=synthetic_nik(rng, district, birth, sex), full_name=name, phone=phone, sex=sex, birth_date=birth,
            category=category or rng.choices(self._categories, self._weights)[0],
            regency_code=regency, district_code=work_district,
        )

    def workers(self, n: int, **kwargs: str) -> Iterator[SyntheticWorker]:
        for _ in range(n):
            yield self.worker(**kwargs)

    def registration_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


def registration_payload(worker: SyntheticWorker, registration_id: str, *, start_month: str, months: int,
                         channel: str = "field_kit", device_id: str | None = None,
                         captured_at: datetime | None = None) -> dict[str, object]:
    """The JSON body enrolment's POST /v1/registrations takes, for one synthetic worker."""
    body: dict[str, object] = {
        "registration_id": registration_id,
        "nik": worker.nik,
        "full_name": worker.full_name,
        "category": worker.category,
        "regency_code": worker.regency_code,
        "district_code": worker.district_code,
        "programme": DEFAULT_PROGRAMME,
        "coverage": {"start_month": start_month, "months": months},
        "channel": channel,
        "captured_at": (captured_at or datetime.now(UTC)).isoformat(),
    }
    if worker.phone:
        body["phone"] = worker.phone
    if device_id:
        body["device_id"] = device_id
    return body
