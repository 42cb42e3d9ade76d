"""How long the two rebuilds take over the run's events, each as its operator command in a subprocess, into an
empty database of the same backend so the live services are not disturbed: `paritrana subsidy replay` and
`paritrana award rebuild`."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import time
from typing import Any

from paritrana.bench.stack import Stack

REPORTED = re.compile(r"replayed (\d+) events in ([\d.]+)s")
COMMANDS = {"subsidy": ["subsidy", "replay"], "award": ["award", "rebuild"]}


async def timed_replay(stack: Stack, service: str, timeout: float = 900) -> dict[str, Any]:
    url = await stack.scratch_database(f"replay_{service}")
    env = stack.env | {f"PARITRANA_{service.upper()}_DATABASE_URL": url,
                       "PARITRANA_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap_servers}
    started = time.perf_counter()
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "paritrana", *COMMANDS[service]], env=env, capture_output=True,
        text=True, timeout=timeout, cwd=str(stack.data_dir.parent) if stack.data_dir else None)
    wall = time.perf_counter() - started
    found = REPORTED.search(result.stdout)
    if result.returncode != 0 or found is None:
        return {"command": f"paritrana {' '.join(COMMANDS[service])}", "ok": False,
                "error": (result.stderr or result.stdout)[-2000:]}
    events, seconds = int(found.group(1)), float(found.group(2))
    return {"command": f"paritrana {' '.join(COMMANDS[service])}", "ok": True, "events": events,
            "seconds": seconds, "events_per_second": round(events / seconds, 1) if seconds else 0.0,
            "wall_seconds_with_process_start": round(wall, 2),
            "projected_seconds_for_1m_events": round(1_000_000 * seconds / events, 1) if events else None}
