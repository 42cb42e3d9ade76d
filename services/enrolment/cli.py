"""Operators' commands for the enrolment service: `paritrana enrolment ...`."""

from __future__ import annotations

import click

from paritrana.outbox_commands import republish_command
from services.enrolment.app import MIGRATIONS
from services.enrolment.models import outbox


@click.group()
def commands() -> None:
    """The enrolment service's operators' commands."""


commands.add_command(republish_command("enrolment", outbox, MIGRATIONS))
