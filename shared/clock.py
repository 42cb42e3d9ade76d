"""The service's idea of "now". Fiscal months, ages, "spent to date" and "last 30 days" all read it, so tests and
demos can run a service in another time (PARITRANA_CLOCK_START=2024-03-01T08:00:00+07:00) without touching the
system clock. The clock runs forward at real speed from wherever it was set."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

# Fiscal months turn over at midnight in Jakarta (WIB), where the APBD calendar is kept.
FISCAL_TZ = ZoneInfo("Asia/Jakarta")


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self._offset = timedelta(0)
        if start is not None:
            self.set(start)

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=FISCAL_TZ)
        self._offset = instant - datetime.now(UTC)

    def now(self) -> datetime:
        """Aware UTC datetime."""
        return datetime.now(UTC) + self._offset

    def today(self) -> date:
        """Today's date in Jakarta."""
        return self.now().astimezone(FISCAL_TZ).date()
