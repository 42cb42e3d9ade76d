"""The one retry policy (shared/kafka/retry.py): capped exponential backoff with jitter, retrying only what it is told
is worth it, and ended by the service stopping."""

import asyncio
import time

import pytest
from aiokafka import AIOKafkaProducer

from shared.kafka import Backoff, Stopped, retrying, start_with_backoff
from tests.support import free_port


def test_delays_double_up_to_the_cap_with_jitter_and_a_long_outage_never_overflows_them() -> None:
    backoff = Backoff(initial=0.2, cap=5.0)
    delays = [backoff.next_delay() for _ in range(2000)]  # a broker away for hours
    for failures, delay in enumerate(delays[:5]):
        assert 0.5 * 0.2 * 2**failures <= delay <= 0.2 * 2**failures
    assert all(2.5 <= delay <= 5.0 for delay in delays[5:])
    backoff.reset()
    assert backoff.next_delay() <= 0.2


async def test_a_call_is_made_again_while_it_fails_with_what_is_worth_retrying() -> None:
    attempts: list[int] = []
    announced: list[tuple[str, float]] = []

    async def flaky() -> str:
        attempts.append(len(attempts) + 1)
        if len(attempts) < 3:
            raise ConnectionError("database away")
        return "done"

    policy = retrying(ConnectionError, lambda exc, delay: announced.append((type(exc).__name__, delay)), initial=0.01)
    assert await policy(flaky) == "done"
    assert attempts == [1, 2, 3]
    assert [name for name, _ in announced] == ["ConnectionError", "ConnectionError"]
    assert 0.005 <= announced[0][1] <= 0.01 and 0.01 <= announced[1][1] <= 0.02


async def test_any_other_error_is_raised_at_once() -> None:
    attempts: list[int] = []

    async def broken() -> None:
        attempts.append(1)
        raise ValueError("a bad event")

    with pytest.raises(ValueError):
        await retrying(lambda exc: isinstance(exc, ConnectionError), lambda exc, delay: None)(broken)
    assert attempts == [1]


async def test_the_service_stopping_ends_a_wait_at_once() -> None:
    stopping = asyncio.Event()

    async def away() -> None:
        raise ConnectionError("broker away")

    asyncio.get_running_loop().call_later(0.2, stopping.set)
    started = time.monotonic()
    with pytest.raises(Stopped):
        await retrying(ConnectionError, lambda exc, delay: None, initial=30.0, cap=30.0, stopping=stopping)(away)
    assert time.monotonic() - started < 5, "waited out the delay instead of stopping"


async def test_a_client_waits_for_its_broker_with_fresh_clients_until_the_service_stops() -> None:
    stopping = asyncio.Event()
    port = free_port()  # nothing listens there
    made: list[AIOKafkaProducer] = []

    def make() -> AIOKafkaProducer:
        made.append(AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{port}", request_timeout_ms=1000))
        return made[-1]

    asyncio.get_running_loop().call_later(1.5, stopping.set)
    with pytest.raises(asyncio.CancelledError):
        await start_with_backoff(make, "test producer", stopping)
    assert len(made) >= 2 and len(set(map(id, made))) == len(made)
