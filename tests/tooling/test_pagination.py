"""The client's listing is an iterator over pages, sync and async, against the real enrolment service."""

import asyncio

from paritrana.client import AsyncClient, Client
from tests.tooling.test_offline_queue import kit_items


async def test_listing_walks_every_page(enrolment):
    items = kit_items(25, seed=9)
    async with AsyncClient(enrolment.key, enrolment_url=enrolment.url) as client:
        result = await client.register_batch(items)
        assert result["counts"]["accepted"] == 25
        seen = [r["registration_id"] async for r in client.registrations(region="36.72", page_size=7)]
    assert sorted(seen) == sorted(i["registration_id"] for i in items)

    def sync_walk() -> list[str]:
        with Client(enrolment.key, enrolment_url=enrolment.url) as c:
            return [r["registration_id"] for r in c.registrations(region="36", page_size=10)]

    assert sorted(await asyncio.to_thread(sync_walk)) == sorted(seen)
