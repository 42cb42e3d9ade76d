"""Operators' commands for the award service: `paritrana award ...`."""

import asyncio

import click


@click.group()
def commands() -> None:
    """The award service's operators' commands."""


@commands.command()
def rebuild() -> None:
    """Drop the projection and replay enrolment.workers and subsidy.decisions from the beginning.

    Targets, regulations, innovation notes and published daily snapshots are kept.
    """
    from services.award.app import MIGRATIONS
    from services.award.service import RebuildReport
    from services.award.service import rebuild as replay
    from shared.database import Database
    from shared.settings import get_settings

    settings = get_settings()

    async def run() -> RebuildReport:
        database = Database(settings.database_url("award"), migrations=MIGRATIONS,
                            version_table="alembic_version_award", plan_each_execution=True)  # filled from empty
        try:
            await database.migrate()
            return await replay(settings, database)
        finally:
            await database.dispose()

    report = asyncio.run(run())
    click.echo(f"replayed {report.events} events in {report.seconds:.1f}s"
               + (f" ({report.skipped} invalid, skipped)" if report.skipped else ""))
