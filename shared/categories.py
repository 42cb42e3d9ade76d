"""The worker categories regions enrol (DOMAIN.md), with the Indonesian names offices use for them.

``other`` needs a free-text description. Aliases let an import file say "Kader Posyandu" or "KPPS".
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Category:
    code: str
    name_id: str
    name_en: str
    aliases: tuple[str, ...] = ()


CATEGORIES: tuple[Category, ...] = (
    Category("rt_rw_head", "Ketua RT/RW", "RT/RW head", ("rt", "rw", "ketua rt", "ketua rw", "rt/rw")),
    Category("linmas", "Linmas", "Community protection (Linmas)", ("satlinmas", "anggota linmas")),
    Category("posyandu_cadre", "Kader Posyandu", "Posyandu health cadre", ("kader posyandu", "posyandu", "kader")),
    Category("mosque_officer", "Marbot / pengurus DKM", "Mosque officer (marbot, DKM)",
             ("marbot", "marbot masjid", "dkm", "pengurus dkm", "pengurus masjid")),
    Category("religious_teacher", "Guru ngaji", "Religious teacher", ("guru ngaji", "ustadz", "guru agama")),
    Category("ojol_driver", "Pengemudi ojek online", "Ride-hailing driver (ojol)", ("ojol", "ojek online", "ojek")),
    Category("angkot_driver", "Sopir angkot", "Minibus (angkot) driver", ("angkot", "sopir angkot", "supir angkot")),
    Category("becak_driver", "Pengemudi becak", "Becak driver", ("becak", "tukang becak")),
    Category("small_trader", "Pedagang kecil", "Small trader", ("pedagang", "pedagang kecil", "umkm", "pkl")),
    Category("farmer", "Petani", "Farmer", ("petani", "buruh tani")),
    Category("fisher", "Nelayan", "Fisher", ("nelayan",)),
    Category("cleaner", "Petugas kebersihan", "Cleaner", ("petugas kebersihan", "tukang sapu", "penyapu jalan")),
    Category("construction_labourer", "Buruh bangunan", "Construction labourer",
             ("buruh bangunan", "tukang bangunan", "kuli bangunan")),
    Category("blk_trainee", "Peserta pelatihan BLK", "Vocational (BLK) trainee", ("blk", "peserta blk")),
    Category("honorary_staff", "Tenaga honorer (non-ASN)", "Honorary (non-ASN) staff",
             ("honorer", "tenaga honorer", "non asn", "non-asn", "tenaga kontrak", "pegawai kontrak")),
    Category("election_officer", "Petugas ad hoc pemilu (KPPS, PPK, PPS)", "Ad hoc election officer",
             ("kpps", "ppk", "pps", "pantarlih", "petugas pemilu", "pengawas tps", "ptps")),
    Category("other", "Lainnya", "Other (described)", ("lainnya", "lain-lain")),
)
CATEGORY_CODES: frozenset[str] = frozenset(c.code for c in CATEGORIES)
_BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}

_NOT_WORD = re.compile(r"[^a-z0-9/ ]+")


def _key(text: str) -> str:
    return " ".join(_NOT_WORD.sub(" ", text.lower()).split())


_LOOKUP: dict[str, str] = {}
for _c in CATEGORIES:
    for _name in (_c.code, _c.code.replace("_", " "), _c.name_id, _c.name_en, *_c.aliases):
        _LOOKUP.setdefault(_key(_name), _c.code)


def category_code(text: str) -> str | None:
    """The category a code, a name or a common alias refers to (any case and spacing), or None."""
    return _LOOKUP.get(_key(text))


def category_name(code: str, lang: str = "id") -> str:
    """A category as people say it, in Bahasa Indonesia or English; an unknown code as it is."""
    found = _BY_CODE.get(code)
    return (found.name_en if lang == "en" else found.name_id) if found else code
