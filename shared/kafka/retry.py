"""One retry policy for whatever waits on the broker or the database, on tenacity: capped exponential backoff with
jitter, for as long as it takes, ended by the service stopping.

Each caller says what is worth retrying and how a retry is logged; the policy does the rest. ``retrying`` drives a
call; ``Backoff`` gives the same delays to a loop that is not one call retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.errors import KafkaError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception
from tenacity.wait import wait_base

# One logger for the package, so its lines read as they did when it was one module.
log = logging.getLogger(__package__)

# Past this many failures in a row every delay is the cap anyway; a larger power of two overflows a float.
LONGEST_EXPONENT = 64


class Stopped(Exception):
    """The service began stopping while a retry waited: whatever was being retried is given up, not failed."""


class CappedBackoff(wait_base):
    """initial·2ⁿ⁻¹ seconds after the n-th failure in a row, at most `cap`, times a random factor between 0.5 and 1
    so that replicas that failed together do not retry together."""

    def __init__(self, initial: float = 0.2, cap: float = 5.0) -> None:
        self.initial, self.cap = initial, cap

    def delay(self, failures: int) -> float:
        return float(min(self.cap, self.initial * 2 ** min(failures - 1, LONGEST_EXPONENT)) * random.uniform(0.5, 1.0))

    def __call__(self, retry_state: RetryCallState) -> float:
        return self.delay(retry_state.attempt_number)


Retryable = type[Exception] | tuple[type[Exception], ...] | Callable[[Exception], bool]


def retrying(retry_on: Retryable, on_retry: Callable[[Exception, float], None], *, initial: float = 0.2,
             cap: float = 5.0, stopping: asyncio.Event | None = None,
             pause: Callable[[float], Awaitable[None]] | None = None) -> AsyncRetrying:
    """The policy, ready to drive a call (``await retrying(...)(function, *args)``): the call is made again for as long
    as it fails with an error `retry_on` accepts (a type, types, or a test); any other error is raised at once.

    Before each wait, ``on_retry(error, delay)`` (the caller's log line). A wait is ``pause(delay)`` if given (say a
    sleep that new work ends early), else a sleep that `stopping` ends early. Once `stopping` is set, the wait raises
    Stopped instead of trying again. One policy object drives one call at a time (tenacity keeps a call's state on
    it), so concurrent callers each make their own."""
    def worth_retrying(exc: BaseException) -> bool:
        if not isinstance(exc, Exception):
            return False  # cancellation and the like end the call at once
        return isinstance(exc, retry_on) if isinstance(retry_on, (type, tuple)) else retry_on(exc)

    def announce(state: RetryCallState) -> None:
        assert state.outcome is not None  # tenacity announces a wait only after a failed attempt
        exc = state.outcome.exception()
        assert isinstance(exc, Exception)
        on_retry(exc, state.upcoming_sleep)

    async def wait(delay: float) -> None:
        if stopping is not None and stopping.is_set():
            raise Stopped
        if pause is not None:
            await pause(delay)
        elif stopping is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stopping.wait(), delay)
        else:
            await asyncio.sleep(delay)
        if stopping is not None and stopping.is_set():
            raise Stopped

    return AsyncRetrying(wait=CappedBackoff(initial, cap), retry=retry_if_exception(worth_retrying),
                         before_sleep=announce, sleep=wait, reraise=True)


class Backoff:
    """The policy's delays for a loop that tenacity does not drive (one that keeps running after a success rather
    than returning): ask next_delay() after each failure, reset() after a success."""

    def __init__(self, initial: float = 0.2, cap: float = 5.0) -> None:
        self._wait, self._failures = CappedBackoff(initial, cap), 0

    def next_delay(self) -> float:
        self._failures += 1
        return self._wait.delay(self._failures)

    def reset(self) -> None:
        self._failures = 0


async def start_with_backoff(make: Callable[[], Any], what: str, stopping: asyncio.Event | None = None) -> Any:
    """Start a fresh aiokafka client until the broker answers: a broker that is not up yet is waited for. Raises
    CancelledError if `stopping` is set meanwhile."""

    async def start() -> Any:
        client = make()
        try:
            await client.start()
        except (KafkaError, OSError):
            await _close_quietly(client)
            raise
        return client

    def waiting(exc: Exception, delay: float) -> None:
        log.warning("%s: broker not reachable (%s), retrying in %.1fs", what, type(exc).__name__, delay)

    try:
        return await retrying((KafkaError, OSError), waiting, stopping=stopping)(start)
    except Stopped:
        raise asyncio.CancelledError from None


async def _close_quietly(client: Any) -> None:
    try:
        close = getattr(client, "stop", None) or client.close
        await close()
    except Exception:
        pass
