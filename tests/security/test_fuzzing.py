"""Schema fuzzing: schemathesis drives every operation of each service's OpenAPI document against the served
service (real databases, real broker) with a national admin key. No answer may be a 5xx, and every status, header,
content type and body must be one the document declares. Every service gets every check schemathesis has (its
default), positive and negative data: a request valid by the document is accepted, an invalid one refused, and
OPTIONS lists every method of a path. schemathesis.toml beside this file says, operation by operation, what the
document cannot say in JSON Schema.

A fixed seed and a bounded number of examples keep CI short and repeatable; for a longer hunt by hand:
PARITRANA_FUZZ_EXAMPLES=200 PARITRANA_FUZZ_SEED=$RANDOM pytest tests/security/test_fuzzing.py
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from datetime import date
from pathlib import Path

import pytest

from services.subsidy.domain import RateBook, fundable_members
from tests.security.stack import Stack

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CONFIG = Path(__file__).with_name("schemathesis.toml")
# The live stream never ends, so a fuzzer request to it would only time out; tests/award covers it.
NOT_FUZZED = {"award": ["/v1/stream"]}
OPERATIONS = {"enrolment": 21, "subsidy": 18, "award": 15}  # as documented, less NOT_FUZZED

pytestmark = pytest.mark.slow


async def fuzz(stack: Stack, service: str, workdir: Path) -> str:
    """One schemathesis run against one served service; returns its report, failing the test on any finding."""
    workdir.mkdir()
    excluded = [arg for path in NOT_FUZZED.get(service, []) for arg in ("--exclude-path", path)]
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "--config-file", str(CONFIG), "run", f"{stack.servers[service].url}/openapi.json",
        "--header", f"Authorization: Bearer {stack.keys['admin']}",
        # No --checks: every check, and checks named on the command line would override the config file's.
        *excluded,
        "--max-examples", os.environ.get("PARITRANA_FUZZ_EXAMPLES", "5"),
        "--seed", os.environ.get("PARITRANA_FUZZ_SEED", "20250310"),
        "--request-timeout", "20", "--no-color",
        cwd=workdir, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    report = (await process.communicate())[0].decode(errors="replace")
    tested = re.search(r"Tested: (\d+)", report)
    generated = re.search(r"(\d+) generated", report)
    problems = []
    if process.returncode != 0:
        problems.append("findings")
    if not tested or int(tested.group(1)) != OPERATIONS[service]:
        problems.append(f"expected {OPERATIONS[service]} operations tested")
    if not generated or int(generated.group(1)) < 5 * OPERATIONS[service]:
        problems.append("too few cases generated")
    assert not problems, f"{service}: {', '.join(problems)}\n{report[-12000:]}"
    return report


async def test_every_operation_answers_as_documented_and_never_5xx(stack: Stack, tmp_path: Path) -> None:
    # The three services at once: each run waits on its service most of the time.
    reports = await asyncio.gather(*(fuzz(stack, service, tmp_path / service) for service in OPERATIONS))
    for service, report in zip(OPERATIONS, reports):
        print(service, re.search(r"\d+ generated.*", report).group(0))  # type: ignore[union-attr]


def test_budget_view_of_a_year_without_a_rate_is_not_a_server_error() -> None:
    """Found by the fuzzer: a budget viewed in a year no premium rate covers (a dev clock moved to 2000) raised
    UnpricedMonth, a 500. The gate cannot fund such months, so the view says nobody more is fundable."""
    assert fundable_members(10_000_000, RateBook([]), "bpu-jkk-jkm", 2000, date(2000, 6, 1)) == 0
