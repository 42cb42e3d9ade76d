"""The client's listing is an iterator over pages, sync and async, against the real enrolment service. Without
updated_since it is the listing (each registration once, in order of registration); with it, the change feed."""

import asyncio
from collections import Counter

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


async def test_listing_returns_each_registration_once_while_others_are_added_and_ended(enrolment):
    items = kit_items(40, seed=11)
    existing, added = items[:30], items[30:]
    existing_ids = {i["registration_id"] for i in existing}
    async with AsyncClient(enrolment.key, enrolment_url=enrolment.url) as client:
        assert (await client.register_batch(existing))["counts"]["accepted"] == 30
        seen, statuses, ended, ended_before_listed = [], {}, set(), set()
        async for registration in client.registrations(region="36.72", page_size=4):
            rid = registration["registration_id"]
            seen.append(rid)
            statuses[rid] = registration["status"]
            # Meanwhile offices end registrations already listed and others not yet reached (ending changes
            # updated_at), and kits register more.
            if len(seen) % 2 and rid not in ended:
                await client.end(rid, "moved")
                ended.add(rid)
            if len(seen) % 4 == 0:
                ahead = next((i["registration_id"] for i in reversed(existing)
                              if i["registration_id"] not in ended | set(seen)), None)
                if ahead:
                    await client.end(ahead, "request")
                    ended.add(ahead)
                    ended_before_listed.add(ahead)
            if len(seen) % 3 == 0 and added:
                assert (await client.register(added.pop()))["status"] == "pending_funding"
        again = [r["registration_id"] async for r in client.registrations(region="36.72", page_size=9)]

    counts = Counter(seen)
    assert {i: counts[i] for i in existing_ids} == dict.fromkeys(existing_ids, 1)
    assert set(seen) <= {i["registration_id"] for i in items} and max(counts.values()) == 1
    assert not added and ended_before_listed, "registrations were added and ended while the listing ran"
    assert {statuses[i] for i in ended_before_listed} == {"ended"}
    # A stable order: listed again, the registrations come in the same order although many of them changed.
    assert [i for i in again if i in existing_ids] == [i for i in seen if i in existing_ids]


async def test_the_change_feed_returns_changed_registrations_and_each_change_again(enrolment):
    items = kit_items(12, seed=13)
    async with AsyncClient(enrolment.key, enrolment_url=enrolment.url) as client:
        assert (await client.register_batch(items))["counts"]["accepted"] == 12
        ended = [await client.end(i["registration_id"], "moved") for i in items[:5]]
        since = min(e["updated_at"] for e in ended)
        changed = [r async for r in client.registrations(region="36.72", updated_since=since, page_size=2)]

        # A syncing client sees a registration again when it changes after it was listed.
        unchanged = items[5]["registration_id"]
        synced = []
        async for registration in client.registrations(region="36.72", updated_since="2000-01-01T00:00:00Z",
                                                       page_size=3):
            synced.append((registration["registration_id"], registration["status"]))
            if registration["registration_id"] == unchanged and registration["status"] != "ended":
                await client.end(unchanged, "died")

    assert sorted(r["registration_id"] for r in changed) == sorted(i["registration_id"] for i in items[:5])
    assert {r["status"] for r in changed} == {"ended"}
    assert [status for rid, status in synced if rid == unchanged] == ["pending_funding", "ended"]
    assert [r["updated_at"] for r in changed] == sorted(r["updated_at"] for r in changed)
