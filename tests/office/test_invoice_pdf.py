"""The invoice PDF, pure: adjustments shown when the invoice has them, open or closed and paid, the same bytes for
the same data (the creation date is the data's, not the clock's)."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime

from services.office.invoice_pdf import invoice_pdf

LINE = {"region_code": "36.04", "region_name": "Kabupaten Serang", "members": 10, "amount_rupiah": 168_000,
        "adjustment_members": 0, "adjustment_rupiah": 0, "amount_due_rupiah": 168_000}
PAID = {"paid_on": "2025-04-10", "reference": "SP2D 7/BKAD/2025", "paid_rupiah": 184_800,
        "recorded_at": "2025-04-11T03:00:00"}


def text_of(content: bytes, tmp_path) -> str:
    path = tmp_path / "invoice.pdf"
    path.write_bytes(content)
    return subprocess.run(["/usr/bin/pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def test_a_closed_paid_invoice_with_adjustments(tmp_path) -> None:
    line = LINE | {"adjustment_members": 1, "adjustment_rupiah": 16_800, "amount_due_rupiah": 184_800}
    found = {"status": "closed", "closed_at": "2025-04-01T00:05:00Z", "invoices": [line]}
    made = invoice_pdf("36.04", "Kabupaten Serang", 2025, 3, found, PAID)
    assert made == invoice_pdf("36.04", "Kabupaten Serang", 2025, 3, found, PAID,
                               now=datetime(2030, 1, 1, tzinfo=UTC)), "the clock does not change the bytes"
    text = text_of(made, tmp_path)
    for expected in ("Kabupaten Serang", "36.04", "Maret 2025", "Ditutup", "Rp184.800", "Rp168.000", "Rp16.800",
                     "Penyesuaian", "SP2D 7/BKAD/2025", "10 April 2025", "Data per 11 April 2025"):
        assert expected in text, (expected, text)
    english = text_of(invoice_pdf("36.04", "Kabupaten Serang", 2025, 3, found, PAID, "en"), tmp_path)
    assert "Amount due" in english and "March 2025" in english and "Adjustments" in english


def test_an_open_month_says_it_is_not_final(tmp_path) -> None:
    found = {"status": "open", "closed_at": None, "invoices": [LINE]}
    text = text_of(invoice_pdf("36.04", "Kabupaten Serang", 2025, 3, found, None,
                               now=datetime(2025, 3, 20, 5, tzinfo=UTC)), tmp_path)
    assert "belum final" in text and "Belum dibayar" in text and "Rp168.000" in text
    assert "Penyesuaian" not in text, "no adjustment columns without adjustments"
