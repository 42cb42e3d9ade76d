"""The bench's /metrics probe over a real socket: a server that drops a connection without answering (as uvicorn
may when a kept-alive connection is reused just as its idle timeout closes it) costs one retry, not the run."""

import asyncio

import httpx

from paritrana.bench.probes import scrape

METRICS = b'paritrana_decisions_total{outcome="granted"} 3.0\n'


async def test_a_dropped_connection_is_scraped_again() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        if connections > 1:
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s"
                         % (len(METRICS), METRICS))
            await writer.drain()
        writer.close()  # the first connection closes having read the request and answered nothing

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, httpx.AsyncClient() as http:
        counters = await scrape(http, {"enrolment": f"http://127.0.0.1:{port}"})
    assert connections == 2 and counters.decisions == {"granted": 3.0}
