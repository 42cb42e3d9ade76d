"""The dashboard's vendored province map (services/award/static/provinces.json, made by
scripts/simplify_boundaries.py): small, every province a code the API knows, and its licence written down."""

from __future__ import annotations

import json
from pathlib import Path

from shared.regions import region

STATIC = Path(__file__).resolve().parents[2] / "services" / "award" / "static"


def test_the_province_map_is_small_and_keyed_by_kemendagri_codes() -> None:
    path = STATIC / "provinces.json"
    assert path.stat().st_size < 60_000  # the page stays light
    document = json.loads(path.read_text(encoding="utf-8"))
    codes = [p["code"] for p in document["provinces"]]
    assert len(codes) == len(set(codes)) == 33
    for province in document["provinces"]:
        found = region(province["code"])
        assert found is not None and found.kind == "provinsi", province["code"]
        assert province["d"].startswith("M") and province["d"].endswith("Z")
    assert {"36", "31", "82", "75"} <= set(codes)
    assert "Natural Earth" in document["source"] and "ISC" in document["source"]
    assert "public domain" in (STATIC / "LICENSE.provinces.txt").read_text(encoding="utf-8")
