"""Garbage-collector settings for Paritrana's long-running processes (services, replays, the bench).

CPython's cyclic collector runs a young-generation pass every 700 net allocations and now and then a full pass
over every tracked object. Each event or registration allocates hundreds of objects (pydantic models,
SQLAlchemy rows and parameters, aiokafka records), so the collector ran all the time, and its full passes walked
everything loaded at start-up as well: region tables, schemas, compiled statements, none of which ever becomes
garbage. Reference counting frees nearly all of our objects anyway; the collector is only for cycles.

Measured with `paritrana bench --scenario kits --scenario singles --registrations 40000 --singles 4000`, one run
each on the same 2-core machine, before and after (docs/benchmark.md): field-kit intake 3,377 -> 4,592/s,
end-to-end decisions 1,194 -> 1,679/s, single POSTs 198 -> 275/s, award rebuild 6,608 -> 7,700 events/s, subsidy
replay unchanged (4,783 -> 4,536), peak RSS per service within 10 MB.
"""

from __future__ import annotations

import gc

# A young-generation pass per 100,000 net allocations instead of 700, and fewer older passes per young one (50
# and 100 instead of 10 and 10). Cyclic garbage waits longer, which costs a little memory, not correctness.
THRESHOLDS = (100_000, 50, 100)


def tune() -> None:
    gc.set_threshold(*THRESHOLDS)


def freeze_loaded() -> None:
    """Move every object alive now (modules, tables, schemas) out of the collector's sight for good: call once
    start-up has loaded what the process will keep."""
    gc.collect()
    gc.freeze()


# A scheduled full pass is skipped while the collector's young count stays under this many net allocations and no
# young pass ran: cyclic garbage is never freed by reference counting, so it stays in that count until a pass, and
# a quiet service has at most this many objects of it waiting. At most LONGEST_SKIP passes in a row are skipped, for
# garbage made of objects that were already old (they are not in the count).
QUIET_ALLOCATIONS = 5_000
LONGEST_SKIP = 9


class FullPasses:
    """The full passes a service schedules every PARITRANA_GC_FULL_COLLECTION_SECONDS.

    Counts fall as fast as they rise when reference counting frees an object, so with these thresholds a steady
    service almost never reaches a full pass by itself, and cyclic garbage that had lived long enough to reach the
    oldest generation stayed for good. A full pass walks every object the process keeps (after a load, caches and
    pools of tens of thousands), so an idle stack spent a quarter of its CPU on passes that found nothing new to
    look at: a quiet service skips them, up to LONGEST_SKIP in a row."""

    def __init__(self) -> None:
        self._young_passes = _young_passes()
        self._skipped = 0

    async def __call__(self) -> None:
        quiet = _young_passes() == self._young_passes and gc.get_count()[0] < QUIET_ALLOCATIONS
        if quiet and self._skipped < LONGEST_SKIP:
            self._skipped += 1
            return
        gc.collect()
        self._skipped = 0
        self._young_passes = _young_passes()


def _young_passes() -> int:
    return int(gc.get_stats()[0]["collections"])
