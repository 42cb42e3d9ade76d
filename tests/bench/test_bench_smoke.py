"""`paritrana bench --smoke` (what `make bench-smoke` runs): the whole benchmark, small, on SQLite. Speed is never
asserted here; the run must finish, write a complete results file, and its counts must agree with each other and
with the databases."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCENARIOS = ("field_kits", "partner_apps", "mixed_rate")
PROCESSES = ("broker", "enrolment", "subsidy", "award", "bench_client")


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    output = tmp_path_factory.mktemp("bench") / "smoke.json"
    run = subprocess.run([sys.executable, "-m", "paritrana", "bench", "--smoke", "--output", str(output)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert f"results: {output}" in run.stdout
    assert "Scenarios" in run.stdout and "Raw limits" in run.stdout  # the terminal table
    return json.loads(Path(output).read_text())


def test_machine_versions_and_parameters_are_recorded(result: dict) -> None:
    machine, versions, parameters = result["machine"], result["versions"], result["parameters"]
    assert machine["logical_cores"] >= 1 and machine["memory_gb"] > 0 and machine["cpu_model"]
    assert versions["python"].startswith("3.11") and versions["packages"]["aiokafka"]
    assert len(versions["git_commit"] or "") == 40
    assert parameters["db"] == "sqlite" and parameters["smoke"] is True
    assert result["budgets"]["seeded"] + result["budgets"]["kept"] == 514


def test_every_scenario_accepts_what_it_sent_and_decides_every_accepted_registration(result: dict) -> None:
    assert set(result["scenarios"]) == set(SCENARIOS)
    for name, s in result["scenarios"].items():
        assert s["sent"] == sum(s["outcomes"].values()) > 0, name
        assert s["accepted"] == s["outcomes"]["accepted"] == s["sent"], (name, s["outcomes"])
        assert s["caught_up"] and s["decided"] == s["accepted"] == s["granted"] + s["denied"], name
        assert s["accepted_per_second"] > 0 and s["decisions_per_second"] > 0, name
        assert s["request_latency"]["n"] > 0 and s["request_latency"]["p50_ms"] <= s["request_latency"]["p99_ms"]
        # award counts each registration and its decision
        assert s["award_events"] >= 2 * s["accepted"] and s["award_updates"] > 0, name
        assert s["lag"]["series"] and s["lag"]["series"][-1]["undecided"] == 0, name
        for process in PROCESSES:
            figures = s["processes"][process]
            assert figures["cpu_seconds"] > 0 and figures["peak_rss_mb"] > 0, (name, process)
            assert s["cpu_ms_per_registration"][process] == pytest.approx(
                1000 * figures["cpu_seconds"] / s["accepted"], abs=0.02 * 1000 / s["accepted"]), (name, process)
        assert s["award_cpu_ms_per_update"] == pytest.approx(
            1000 * s["processes"]["award"]["cpu_seconds"] / s["award_updates"], abs=10 / s["award_updates"]), name
    kits = result["scenarios"]["field_kits"]
    assert kits["batches"] == -(-kits["sent"] // kits["batch_size"])


def test_the_mixed_run_sees_every_registration_on_the_award_stream(result: dict) -> None:
    mixed = result["scenarios"]["mixed_rate"]
    latency = mixed["dashboard_latency"]
    assert latency["unseen"] == 0 and latency["n"] == mixed["accepted"]
    assert 0 <= latency["p50_ms"] <= latency["p95_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert latency["stream_updates"] > 0


def test_the_peer_takes_the_same_singles_with_the_same_client(result: dict) -> None:
    peer, singles = result["peer"], result["scenarios"]["partner_apps"]
    assert result["parameters"]["scenarios"] == ["kits", "singles", "peer", "mixed"]
    # The same bodies: every one accepted once by the peer's own database, none refused as a duplicate.
    assert peer["sent"] == peer["accepted"] == singles["sent"] == singles["accepted"], peer["outcomes"]
    assert peer["clients"] == singles["clients"] and peer["accepted_per_second"] > 0
    assert peer["request_latency"]["n"] == peer["sent"]
    assert peer["processes"]["peer"]["cpu_seconds"] > 0 and peer["processes"]["peer"]["peak_rss_mb"] > 0
    assert set(peer["cpu_ms_per_registration"]) == {"peer", "bench_client"}
    assert result["ratios"]["singles_vs_peer"] == pytest.approx(
        singles["accepted_per_second"] / peer["accepted_per_second"], abs=0.001)
    assert result["targets"]["singles_vs_peer"]["measured"] == result["ratios"]["singles_vs_peer"]


def test_idle_cpu_is_measured_per_process_for_the_configured_time(result: dict) -> None:
    idle = result["idle"]
    assert result["parameters"]["idle_seconds"] == 3.0  # the smoke run's; a full run idles 30 s
    assert 3.0 <= idle["seconds"] < 6
    assert set(idle["processes"]) == {"supervisor", "broker", "enrolment", "subsidy", "award", "office"}  # all of it
    for name, figures in idle["processes"].items():
        assert figures["cpu_seconds"] >= 0, name
        assert figures["cpu_percent_of_one_core"] == pytest.approx(
            100 * figures["cpu_seconds"] / idle["seconds"], abs=0.1), name
    assert idle["total_cpu_percent_of_one_core"] == pytest.approx(
        sum(f["cpu_percent_of_one_core"] for f in idle["processes"].values()), abs=0.1)
    assert result["targets"]["idle"]["measured"] == idle["total_cpu_percent_of_one_core"]


def test_raw_limits_replays_and_consistency_cover_the_same_events(result: dict) -> None:
    total = sum(s["accepted"] for s in result["scenarios"].values())
    raw = result["raw"]
    assert raw["database"]["rows"] == result["scenarios"]["field_kits"]["accepted"]
    assert raw["database"]["best_rows_per_second"] > 0
    assert raw["kafka"]["messages"] >= 1000 and raw["kafka"]["produce_per_second"] > 0
    assert raw["kafka"]["consume_per_second"] > 0 and raw["kafka"]["value_bytes"] > 100
    subsidy, award = result["replay"]["subsidy"], result["replay"]["award"]
    assert subsidy["ok"] and award["ok"], result["replay"]
    assert subsidy["events"] == total  # every worker.registered on enrolment.workers
    assert award["events"] >= 2 * total  # both topics: registrations, decisions, budgets
    consistency = result["consistency"]
    assert consistency["holds"], consistency
    assert consistency["invariants"][0].startswith(f"registrations {total}, decisions {total} ")
    assert result["ratios"]["batch_intake_vs_raw_db_insert"] > 0
    assert result["projections"]["kpps_wave_minutes"] > 0
    assert set(result["targets"]) >= {"batch_intake", "single_intake", "latency_p99", "replay_1m", "memory",
                                      "kpps_wave", "batch_vs_raw_insert", "singles_vs_peer",
                                      "decisions_vs_raw_kafka", "idle", "award_cpu_per_single",
                                      "latency_p99_at_half_sustained"}
