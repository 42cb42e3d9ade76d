"""The operator's commands on a service's outbox, the same for every service that has one: `paritrana SERVICE
republish --since TIME`. Each service's cli.py adds them to its group."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import click
from sqlalchemy import Table

from shared.clock import FISCAL_TZ
from shared.database import Database
from shared.outbox import republish
from shared.settings import get_settings


def parse_since(text: str) -> datetime:
    """An operator's --since: an ISO date or date-time; without an offset it is Jakarta time (WIB)."""
    since = datetime.fromisoformat(text.strip())
    if since.tzinfo is None:
        since = since.replace(tzinfo=FISCAL_TZ)
    return since.astimezone(UTC)  # stored timestamps are UTC (SQLite keeps no zone)


def republish_command(service: str, outbox: Table, migrations: Path) -> click.Command:
    """`paritrana SERVICE republish --since TIME`, the same for every service with an outbox."""

    @click.command("republish")
    @click.option("--since", "since_text", required=True, metavar="TIME",
                  help="ISO date or date-time, e.g. 2025-03-01 or 2025-03-01T08:00:00+07:00 (no offset means WIB).")
    def command(since_text: str) -> None:
        """Send every event stored since TIME again, with its original id (consumers skip what they already have).

        The rows are marked unsent; the running service's outbox relay publishes them in their original order (or
        the next one to start does). Use it after the broker lost its log.
        """
        try:
            since = parse_since(since_text)
        except ValueError:
            raise click.BadParameter("use an ISO date or date-time", param_hint="--since") from None

        async def run() -> int:
            database = Database(get_settings().database_url(service), migrations=migrations,
                                version_table=f"alembic_version_{service}")
            try:
                await database.migrate()
                return await republish(database, outbox, since)
            finally:
                await database.dispose()

        count = asyncio.run(run())
        click.echo(f"{count} events marked for republishing; the {service} relay is sending them")

    return command
