"""Which failures belong to the infrastructure and which to the work.

A database that is restarting or failing over, or a network that is briefly away, is retried and nothing is lost
(the HTTP layer answers 503 with Retry-After; consumers and the outbox relay try again). Anything else is about the
work itself (a bad event, a broken rule) and is refused or dead-lettered. Neither HTTP nor Kafka lives here, so both
can ask.
"""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError, InterfaceError, OSError, ConnectionError, asyncio.TimeoutError,
)

# SQLSTATEs of a database that is restarting or failing over, not of a bad event: class 08 (connection), 57P (admin
# or crash shutdown, "cannot connect now"), 53 (insufficient resources), and serialisation failure / deadlock.
TRANSIENT_SQLSTATES = ("08", "57P", "53", "40001", "40P01")


def is_transient(exc: BaseException) -> bool:
    """A failure of the database or the network (retry and lose nothing), as opposed to one of the work itself."""
    if isinstance(exc, DBAPIError) and (exc.connection_invalidated or str(
            getattr(exc.orig, "sqlstate", None) or "").startswith(TRANSIENT_SQLSTATES)):
        return True
    return isinstance(exc, TRANSIENT_ERRORS)
