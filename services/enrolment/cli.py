"""Operators' commands for the enrolment service: `paritrana enrolment ...`."""

from __future__ import annotations

import click

from paritrana.bpjs import bpjs_file_command, bpjs_results_command
from paritrana.outbox_commands import republish_command
from paritrana.renewal import renew_command
from services.enrolment.app import MIGRATIONS
from services.enrolment.models import outbox


@click.group()
def commands() -> None:
    """The enrolment service's operators' commands."""


commands.add_command(republish_command("enrolment", outbox, MIGRATIONS))
commands.add_command(renew_command)
commands.add_command(bpjs_file_command)
commands.add_command(bpjs_results_command)
