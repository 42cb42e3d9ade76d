"""docs/operations.md tells operators which `paritrana` commands to type: each one must exist and parse."""

import re
import shlex

import pytest

from tests.deploy.manifests import ROOT, check_cli

TEXT = (ROOT / "docs" / "operations.md").read_text()
PLACEHOLDER = re.compile(r"…|<[^>]*>")


def documented_commands() -> list[str]:
    spans = re.findall(r"`([^`\n]+)`", TEXT)
    spans += [line for block in re.findall(r"```sh\n(.*?)```", TEXT, re.DOTALL) for line in block.splitlines()]
    # `paritrana` as the command (or compose's tools service), not as a namespace (`-n paritrana`) or a name part.
    return [match.group(1).strip() for span in spans
            for match in re.finditer(r"(?<!-n )(?<![\w/-])paritrana ([^&|`\n]+)", span)]


def test_the_recovery_and_key_commands_are_documented() -> None:
    commands = " / ".join(documented_commands())
    for needed in ("enrolment republish --since", "subsidy republish --since", "award rebuild", "keys revoke",
                   "keys create", "migrate all", "topics create"):
        assert needed in commands


@pytest.mark.parametrize("command", sorted(set(documented_commands())))
def test_every_documented_command_exists_in_the_cli(command: str) -> None:
    elided = PLACEHOLDER.search(command)
    # Where arguments are elided (…, <key id>) only the command path can be checked.
    words = shlex.split(PLACEHOLDER.split(command)[0] if elided else command)
    check_cli(words, parse_arguments=not elided)
