"""The field kit's offline queue against a real enrolment service behind a link that drops connections."""

from __future__ import annotations

import asyncio
from datetime import date

import httpx

from paritrana.client import Client, RetryPolicy
from paritrana.offline_queue import CONFLICT, NEEDS_CORRECTION, SENT, OfflineQueue
from paritrana.synthetic import WorkerFactory, registration_payload


class DroppingLink:
    """A TCP proxy in front of the service. On the connections it is told to drop, it lets the request through
    and cuts the line as the answer starts: the server has done the work, the kit never hears back."""

    def __init__(self, upstream_port: int, drop_connections: set[int]) -> None:
        self.upstream_port, self.drop = upstream_port, drop_connections
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        drop = self.connections in self.drop
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cut: bool) -> None:
            try:
                while data := await reader.read(65536):
                    if cut:
                        client_writer.transport.abort()
                        return
                    writer.write(data)
                    await writer.drain()
            except (ConnectionError, asyncio.CancelledError):
                pass
            finally:
                writer.close()

        await asyncio.gather(pipe(client_reader, up_writer, False), pipe(up_reader, client_writer, drop))


def kit_items(n: int, seed: int) -> list[dict]:
    factory = WorkerFactory(seed=seed, regency_codes=["36.72"], reference_date=date.today())
    today = date.today()
    return [registration_payload(w, factory.registration_id(), start_month=f"{today:%Y-%m}", months=1,
                                 device_id="kit-0042") for w in factory.workers(n)]


async def test_sync_through_a_dropping_link_ends_consistent(enrolment, tmp_path):
    items = kit_items(1_203, seed=5)
    items[10]["phone"] = "12345"
    items[20]["phone"] = "999"
    already = items[30]
    with Client(enrolment.key, enrolment_url=enrolment.url) as direct:  # registered elsewhere before the kit syncs
        twin = dict(already, registration_id="0" * 8 + already["registration_id"][8:])
        await asyncio.to_thread(direct.register, twin)

    queue = OfflineQueue(tmp_path / "kit-0042.sqlite", batch_size=250)
    for item in items:
        queue.enqueue(item)
    assert queue.summary() == {"pending": 1_203, "sent": 0, "needs_correction": 0, "conflict": 0}

    link = DroppingLink(enrolment.server.port, drop_connections={1, 3})
    port = await link.start()
    # One connection per request, so "the first and third connection" are the first and third uploads.
    client = Client(enrolment.key, enrolment_url=f"http://127.0.0.1:{port}", retry=RetryPolicy(attempts=1),
                    transport=httpx.HTTPTransport(limits=httpx.Limits(max_keepalive_connections=0)))
    reports = []
    for _ in range(6):
        report = await asyncio.to_thread(queue.sync, client)
        reports.append(report)
        if not report.interrupted:
            break
    assert [r.interrupted for r in reports] == [True, True, False]
    # Both cut-off uploads (batches 1 and 2) reached the server: resent, they come back as duplicates.
    assert sum(r.duplicates for r in reports) == 500 - 1 - 1 - 1  # less the invalid ones and the conflict
    assert queue.summary() == {"pending": 0, "sent": 1_200, "needs_correction": 2, "conflict": 1}
    assert await enrolment.count() == 1_201

    conflict = queue.items(CONFLICT)[0]
    assert conflict.registration_id == already["registration_id"]
    assert conflict.existing_registration_id.startswith("00000000")
    to_fix = queue.items(NEEDS_CORRECTION)
    assert {e["code"] for item in to_fix for e in item.errors} == {"invalid_phone"}
    for item in to_fix:
        queue.correct(item.registration_id, {"phone": "0812-1111-2222"})
    report = await asyncio.to_thread(queue.sync, client)
    assert report.accepted == 2 and not report.interrupted
    assert queue.summary() == {"pending": 0, "sent": 1_202, "needs_correction": 0, "conflict": 1}
    assert await enrolment.count() == 1_203
    assert len(queue.items(SENT)) == 1_202
    client.close()
    await link.stop()
    queue.close()
