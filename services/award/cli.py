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


@commands.command()
@click.argument("region_code")
@click.argument("year", type=int)
@click.option("--format", "kind", type=click.Choice(["pdf", "xlsx"]), default="pdf", show_default=True)
@click.option("--lang", type=click.Choice(["id", "en"]), default="id", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="The file to write; paritrana-REGION-YEAR.FORMAT by default")
def report(region_code: str, year: int, kind: str, lang: str, out: str | None) -> None:
    """Write a region's evidence pack for a fiscal year (the same as GET /v1/reports/REGION/YEAR.pdf|.xlsx).

    Reads the award database this configuration points at; aggregates only, no personal data.
    """
    from pathlib import Path

    from services.award import service
    from services.award.api import WEIGHTS_NOTE
    from services.award.app import MIGRATIONS, load_config
    from shared.clock import Clock
    from shared.database import Database
    from shared.regions import region
    from shared.settings import get_settings

    if region(region_code) is None:
        raise click.BadParameter("no province or regency/city has this code", param_hint="REGION_CODE")
    settings = get_settings()
    config = load_config(settings)

    async def run() -> bytes | None:
        database = Database(settings.database_url("award"), migrations=MIGRATIONS,
                            version_table="alembic_version_award")
        try:
            await database.migrate()
            pack = await service.evidence_pack(database, config, Clock(settings.clock_start), region_code, year,
                                               WEIGHTS_NOTE)
            if pack is None:
                return None
            language = "en" if lang == "en" else "id"
            return await (service.render_pdf(pack, language) if kind == "pdf" else service.render_xlsx(pack, language))
        finally:
            await database.dispose()

    content = asyncio.run(run())
    if content is None:
        raise click.ClickException(f"nothing is recorded for {region_code} in {year}")
    path = Path(out or f"paritrana-{region_code}-{year}.{kind}")
    path.write_bytes(content)
    click.echo(f"wrote {path} ({len(content):,} bytes)")
