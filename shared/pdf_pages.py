"""What every PDF of the project prints on its pages (ReportLab): a footer and the page number, and the document's
dates taken from the data rather than the clock, so the same data gives the same bytes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import TimeStamp

INK = colors.HexColor("#1f2933")


def page_decoration(current_at: datetime, footer: str, page_word: str) -> Callable[[Any, Any], None]:
    """The `onFirstPage`/`onLaterPages` hook of a SimpleDocTemplate built with `invariant=True`."""

    def decorate(canvas: Any, document: Any) -> None:
        if document.page == 1:
            stamp = TimeStamp(invariant=True)  # the data's time, not the clock's
            utc = current_at.astimezone(UTC)
            stamp.t, stamp.lt = utc.timestamp(), utc.timetuple()
            stamp.YMDhms = tuple(stamp.lt)[:6]
            canvas._doc._timeStamp = stamp
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.setFillColor(INK)
        canvas.drawString(15 * mm, 10 * mm, footer)
        canvas.drawRightString(A4[0] - 15 * mm, 10 * mm, f"{page_word} {document.page}")
        canvas.restoreState()

    return decorate
