"""How the bench judges issue #24's latency target from a run's figures (no stack needed)."""

from paritrana.bench.run import _derived

RAW = {"database": {"best_rows_per_second": 5000.0}, "kafka": {"produce_per_second": 15000.0,
                                                                "consume_per_second": 20000.0}}


def figures(decided_per_second: float, offered: float, p99_ms: float, singles_decided: float | None = None) -> dict:
    out = {"field_kits": {"accepted_per_second": 700.0, "decisions_per_second": decided_per_second,
                          "processes": {}},
           "mixed_rate": {"offered_rate": offered, "dashboard_latency": {"p99_ms": p99_ms}, "processes": {}}}
    if singles_decided is not None:
        out["partner_apps"] = {"accepted_per_second": singles_decided, "decisions_per_second": singles_decided,
                               "processes": {}}
    return out


def judged(decided_per_second: float, offered: float, p99_ms: float, singles_decided: float | None = None):
    _, _, targets = _derived(figures(decided_per_second, offered, p99_ms, singles_decided), RAW, {})
    return targets["latency_p99_at_half_sustained"]["met"]


def test_latency_is_judged_at_half_the_sustained_rate() -> None:
    assert judged(600.0, 300.0, 800.0) is True
    assert judged(600.0, 300.0, 1200.0) is False
    assert judged(600.0, 250.0, 900.0) is True  # less than half offered: still a fair test


def test_latency_at_more_than_half_the_sustained_rate_is_not_judged() -> None:
    assert judged(600.0, 1000.0, 800.0) is None
    mixed_only = {"mixed_rate": {"offered_rate": 100.0, "dashboard_latency": {"p99_ms": 10.0}, "processes": {}}}
    _, _, targets = _derived(mixed_only, RAW, {})
    assert targets["latency_p99_at_half_sustained"]["met"] is None  # no sustained rate measured


def test_the_mix_sustains_what_the_singles_do() -> None:
    """Its batches are a few registrations each, so the mix costs what singles cost: half the singles' rate."""
    _, projections, _ = _derived(figures(1000.0, 200.0, 800.0, singles_decided=250.0), RAW, {})
    assert projections["mixed_sustained_per_second"] == 250.0
    assert projections["sustained_per_second"] == 1000.0  # the KPPS wave still goes at the kits' rate
    assert judged(1000.0, 125.0, 800.0, singles_decided=250.0) is True
    assert judged(1000.0, 500.0, 800.0, singles_decided=250.0) is None  # half the kits' rate is more than the mix's
