"""The services' garbage-collector schedule (shared/garbage_collection.py)."""

import asyncio
import gc
import weakref
from collections.abc import Iterator

import pytest

from shared.garbage_collection import LONGEST_SKIP, QUIET_ALLOCATIONS, FullPasses
from shared.service import every


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: reference counting alone never frees it


@pytest.fixture
def collector_off() -> Iterator[None]:
    """The collector's own thresholds must not do the work these tests are about."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _old_garbage() -> weakref.ref[_Node]:
    """A cycle that survives a full pass, so it sits in the oldest generation as long-lived objects do, and then
    becomes garbage."""
    node = _Node()
    freed = weakref.ref(node)
    gc.collect()
    del node
    gc.collect(0)
    gc.collect(1)
    assert freed() is not None, "younger passes do not look at the oldest generation"
    return freed


def _full_passes_so_far() -> int:
    return int(gc.get_stats()[2]["collections"])


async def test_a_service_frees_old_cyclic_garbage_on_its_own_schedule(collector_off):
    """With the tuned thresholds a steady service never reached a full pass; its runtime schedules one."""
    freed = _old_garbage()
    stopping = asyncio.Event()
    collector = asyncio.create_task(every(0.01, FullPasses(), stopping))
    for _ in range(200):
        if freed() is None:
            break
        await asyncio.sleep(0.01)
    stopping.set()
    await asyncio.wait_for(collector, 1)
    assert freed() is None


async def test_a_quiet_service_skips_full_passes_but_not_for_long(collector_off):
    freed = _old_garbage()
    passes = FullPasses()  # after the young passes that aged the garbage
    before = _full_passes_so_far()
    for _ in range(LONGEST_SKIP):
        await passes()
    assert _full_passes_so_far() == before, "nothing was allocated, so the passes were skipped"
    assert freed() is not None
    await passes()
    assert _full_passes_so_far() == before + 1
    assert freed() is None, "old garbage waits at most LONGEST_SKIP passes"


async def test_garbage_made_since_the_last_pass_is_collected_at_the_next(collector_off):
    passes = FullPasses()
    await passes()
    garbage = [_Node() for _ in range(QUIET_ALLOCATIONS)]
    freed = weakref.ref(garbage[-1])
    del garbage
    assert freed() is not None, "cycles are not freed by reference counting"
    await passes()
    assert freed() is None


async def test_a_young_pass_since_the_last_full_pass_means_the_service_was_busy(collector_off):
    passes = FullPasses()
    await passes()
    before = _full_passes_so_far()
    gc.collect(0)  # as the collector's thresholds do under load
    await passes()
    assert _full_passes_so_far() == before + 1
