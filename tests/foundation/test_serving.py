"""The services' uvicorn server wakes once a second when idle, and a stop signal still ends it at once."""

import signal
import threading
import time

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sse_starlette.sse import AppStatus

from shared.service import Server
from tests.support import free_port


@pytest.fixture
def sse_streams_restored():
    """sse-starlette hooks uvicorn's handle_exit and then ends every stream of the process for good: without this,
    award's stream tests that run after this one in the same process would get no snapshot."""
    yield
    AppStatus.should_exit = False


def test_a_stop_signal_ends_the_server_without_waiting_for_its_next_tick(sse_streams_restored):
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    port = free_port()
    server = Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    server.tick_seconds = 3600.0  # were the signal not to wake it, the server would run for an hour
    # In a thread of its own, as uvicorn leaves signals alone off the main thread: handle_exit is called as the
    # signal handler would call it, and the test process is not sent the signal again afterwards.
    serving = threading.Thread(target=server.run, daemon=True)
    serving.start()
    answer = None
    for _ in range(200):
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/ping")
            break
        except httpx.TransportError:
            time.sleep(0.05)
    assert answer is not None and answer.json() == {"pong": "yes"}
    assert "date" in answer.headers  # the first tick, which sets the Date header, has run

    server.handle_exit(signal.SIGTERM, None)
    serving.join(30)
    assert not serving.is_alive()
