"""`paritrana keys create --kind field_kit` prints the kit's pairing link and the same link as a QR code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import segno

# segno's compact terminal drawing: each character is two rows of modules, light drawn as a block.
HALVES = {"█": (0, 0), " ": (1, 1), "▀": (0, 1), "▄": (1, 0)}


def modules(drawing: str) -> list[list[int]]:
    """The QR code's modules (1 dark) read back from the drawing, quiet zone included."""
    rows: list[list[int]] = []
    for line in drawing.splitlines():
        top, bottom = zip(*(HALVES[c] for c in line))
        rows += [list(top), list(bottom)]
    return rows


def keys_create(tmp_path: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARITRANA_")}
    env.update(PARITRANA_DATA_DIR=str(tmp_path / "var"), PARITRANA_ENROLMENT_PORT="8011")
    done = subprocess.run([sys.executable, "-m", "paritrana", "keys", "create", "--name", "kit-0042 Cilegon",
                           "--scope", "registrations:write", "--region", "36.72", *args],
                          env=env, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout


def test_a_field_kit_key_comes_with_its_pairing_link_and_qr_code(tmp_path: Path) -> None:
    output = keys_create(tmp_path, "--kind", "field_kit")
    secret = re.search(r"secret \(shown once\): (prt_\S+)", output).group(1)
    link = re.search(r"pairing link .*: (\S+)", output).group(1)
    # The key rides in the fragment, which no browser sends to a server.
    assert link == f"http://127.0.0.1:8011/kit/#pair={secret}"
    drawing = output.split(link, 1)[1].strip("\n")
    code = segno.make_qr(link, error="m", boost_error=False)
    expected = [list(row) for row in code.matrix_iter(border=4)]
    assert modules(drawing)[:len(expected)] == expected

    elsewhere = keys_create(tmp_path, "--kind", "field_kit", "--kit-url", "https://kit.disnaker.example/kit")
    assert re.search(r"https://kit\.disnaker\.example/kit/#pair=prt_", elsewhere)


def test_other_keys_get_no_pairing_link(tmp_path: Path) -> None:
    assert "pairing" not in keys_create(tmp_path, "--kind", "partner_app")
