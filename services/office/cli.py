"""Staff accounts of the office workspace: `paritrana staff create|list|disable|password`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import click

GROUP = "staff"  # the command group's name: `paritrana staff ...`


async def _with_database(action: Callable[[Any, Any], Awaitable[Any]]) -> Any:
    from services.office.app import MIGRATIONS
    from shared.clock import Clock
    from shared.database import Database
    from shared.settings import get_settings

    settings = get_settings()
    database = Database(settings.database_url("office"), migrations=MIGRATIONS,
                        version_table="alembic_version_office")
    try:
        await database.migrate()
        return await action(database, Clock(settings.clock_start))
    finally:
        await database.dispose()


@click.group()
def commands() -> None:
    """Staff accounts of the office workspace (services/office)."""


@commands.command("create")
@click.argument("username")
@click.option("--role", type=click.Choice(["operator", "verifier", "head", "viewer", "admin"]), required=True)
@click.option("--region", "regions", multiple=True, required=True,
              help="PP (a province), PP.KK (a regency/city) or * (national). Repeat for several.")
@click.option("--name", "display_name", default="", help="The name shown on the pages (default: the username).")
@click.password_option(help="At least 12 characters (prompted for, twice, when not given).")
def create(username: str, role: str, regions: tuple[str, ...], display_name: str, password: str) -> None:
    """Create a staff account; the password is hashed with argon2id and never stored."""
    from services.office import service
    from services.office.domain import Refused

    try:
        account = asyncio.run(_with_database(lambda db, clock: service.create_staff(
            db, clock, service.CLI, username, display_name, role, list(regions), password)))
    except Refused as refused:
        raise click.BadParameter(str(refused)) from None
    click.echo(f"created {account.username} ({account.role}, {', '.join(account.regions)}), id {account.staff_id}")


@commands.command("list")
def list_accounts() -> None:
    """Every staff account, without passwords."""
    from services.office import service

    for row in asyncio.run(_with_database(lambda db, _clock: service.list_staff(db))):
        state = "disabled" if row.staff.disabled else ("locked" if row.locked_until else "active")
        click.echo(f"{row.staff.staff_id}  {row.staff.username:<24} {row.staff.role:<9} "
                   f"{','.join(row.staff.regions):<20} {state}")


@commands.command("disable")
@click.argument("username")
def disable(username: str) -> None:
    """Disable an account; its sessions end at once."""
    from services.office import service

    if not asyncio.run(_with_database(lambda db, clock: service.disable_staff(db, clock, service.CLI, username))):
        raise click.ClickException(f"no active account {username}")
    click.echo(f"disabled {username}")


@commands.command("password")
@click.argument("username")
@click.password_option(help="At least 12 characters.")
def password(username: str, password: str) -> None:
    """Set a new password; this also unlocks and re-enables the account."""
    from services.office import service
    from services.office.domain import Refused

    try:
        found = asyncio.run(_with_database(lambda db, clock: service.reset_password(
            db, clock, service.CLI, username, password)))
    except Refused as refused:
        raise click.BadParameter(str(refused)) from None
    if not found:
        raise click.ClickException(f"no account {username}")
    click.echo(f"password set for {username}")
