"""The services' garbage-collector schedule (shared/garbage_collection.py)."""

import asyncio
import gc
import weakref

from shared.garbage_collection import full_pass
from shared.service import every


class _Node:
    def __init__(self) -> None:
        self.me = self  # a cycle: reference counting alone never frees it


async def test_a_service_frees_old_cyclic_garbage_on_its_own_schedule():
    """With the tuned thresholds a steady service never reached a full pass; its runtime schedules one."""
    gc.disable()  # the collector's own thresholds must not do the work this test is about
    try:
        node = _Node()
        freed = weakref.ref(node)
        gc.collect()  # it survives a full pass, so it now sits in the oldest generation, as long-lived objects do
        del node
        gc.collect(0)
        gc.collect(1)
        assert freed() is not None, "younger passes do not look at the oldest generation"

        stopping = asyncio.Event()
        collector = asyncio.create_task(every(0.05, full_pass, stopping))
        for _ in range(100):
            if freed() is None:
                break
            await asyncio.sleep(0.02)
        stopping.set()
        await asyncio.wait_for(collector, 1)
        assert freed() is None
    finally:
        gc.enable()
