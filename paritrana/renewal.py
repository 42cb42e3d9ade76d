"""`paritrana enrolment renew`: renew a region's members into the next fiscal year from the operator's machine, and
say what it costs at that year's rates and what it leaves of that year's budget (read from subsidy's database)."""

from __future__ import annotations

import asyncio

import click
from lokal import format_rupiah

from services.enrolment import service as enrolment
from services.enrolment.repository import Registrations
from services.subsidy import service as subsidy
from shared.access import Principal
from shared.clock import Clock
from shared.database import Database
from shared.http import HttpProblem
from shared.settings import get_settings

OPERATOR = Principal("cli-operator", "paritrana enrolment renew", "staff", frozenset({"admin"}), ("*",))


@click.command("renew")
@click.option("--region", "region_code", required=True, help="The cohort's regency/city (PP.KK) or province (PP).")
@click.option("--from", "from_year", required=True, type=int, help="The fiscal year the members are covered in.")
@click.option("--to", "to_year", required=True, type=int, help="The year to renew them into (--from + 1).")
@click.option("--category", help="Only this category (code, name or alias).")
@click.option("--start-month", default=1, show_default=True, type=click.IntRange(1, 12),
              help="First covered month of the new year.")
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 12), help="Months covered.")
@click.option("--dry-run", is_flag=True, help="Only count, and price at the new year's rates.")
def renew_command(region_code: str, from_year: int, to_year: int, category: str | None, start_month: int,
                  months: int, dry_run: bool) -> None:
    """Renew every member of a region funded and not ended in --from into --to: each becomes a registration linked
    to the one it renews and passes the new year's funding gate and waiting list. Running it again renews nobody
    twice."""
    settings = get_settings()

    async def run() -> tuple[enrolment.Renewal, subsidy.RenewalCost]:
        registrations = Database(settings.database_url("enrolment"))
        budgets = Database(settings.database_url("subsidy"))
        try:
            result = await enrolment.renew(Registrations(registrations), OPERATOR, region_code, from_year, to_year,
                                           category, start_month, months, dry_run, Clock(settings.clock_start).now())
            cost = await subsidy.renewal_cost(budgets, region_code, to_year,
                                              result.renewable if dry_run else result.renewed, start_month, months)
            return result, cost
        finally:
            await registrations.dispose()
            await budgets.dispose()

    try:
        result, cost = asyncio.run(run())
    except HttpProblem as exc:
        raise click.UsageError("; ".join(e.message for e in exc.errors)) from None
    verb = "would renew" if dry_run else "renewed"
    click.echo(f"cohort {result.cohort}: {verb} {result.renewable if dry_run else result.renewed}, already renewed "
               f"{result.already_renewed}, skipped (live in {to_year}) {result.skipped_live}")
    click.echo(f"cost at {to_year} rates: {format_rupiah(cost.cost_rupiah)} for {result.member_months} member-months")
    if cost.remaining_rupiah is None:
        click.echo(f"no {to_year} budget yet: the renewals wait for it")
    else:
        assert cost.left_after_rupiah is not None
        click.echo(f"{to_year} budget left: {format_rupiah(cost.remaining_rupiah)} now, "
                   f"{format_rupiah(cost.left_after_rupiah)} after")
