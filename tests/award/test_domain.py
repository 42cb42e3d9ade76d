"""The award's pure rules: order-independent projection, indicator expressions, normalisation and roll-up."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
import yaml

from services.award.domain import (
    ROLL_UP_INTERVALS,
    Expression,
    ProjectedRegistration,
    RegionFacts,
    Windows,
    apply_event,
    build_board,
    change,
    due_regions,
    parse_config,
    published_regions,
)
from shared.events import SubsidyWaitlisted, WorkerRegisteredV2
from tests.award.factory import Worker, at

CONFIG = parse_config(yaml.safe_load((Path(__file__).parents[2] / "services/award/indicators.yaml").read_text()))


def project(events) -> ProjectedRegistration:
    state = ProjectedRegistration.first_seen(events[0], events[0].fiscal_year)
    for e in events:
        state = apply_event(state, e)
    return state


def test_every_arrival_order_gives_the_same_projection_and_tallies():
    w = Worker("36.72", category="linmas")
    events = [w.registered(at(1)), w.denied(at(1)), w.granted(at(2)), w.ended(at(9), end_month=3),
              w.released(at(9), end_month=3)]
    states = [project(list(order)) for order in itertools.permutations(events)]
    state = states[0]
    assert len(states) == 120 and all(s == state for s in states)
    tallies, daily = change([], [state])
    # Funded (the denial was overturned), then ended: not active; 3 months stay committed to its budget.
    assert tallies == Counter({(2025, "36.72", "registered"): 1, (2025, "36.72", "granted"): 1,
                               (2025, "36.72", "ended"): 1, (2025, "36.72", "committed:01"): 16_800,
                               (2025, "36.72", "committed:02"): 16_800, (2025, "36.72", "committed:03"): 16_800})
    assert daily[(2025, "36.72", date(2025, 3, 2), "funded")] == 1
    assert (2025, "36.72", date(2025, 3, 2), "retained") not in daily


def test_the_change_between_two_states_is_the_difference_of_their_contributions():
    w = Worker("36.01", category="fisher", sex="P")
    before = project([w.granted(at(2))])
    after = apply_event(before, w.ended(at(5), end_month=3))
    tallies, daily = change([before], [after])
    assert tallies == Counter({(2025, "36.01", "active"): -1, (2025, "36.01", "cat:fisher"): -1,
                               (2025, "36.01", "sex:P"): -1, (2025, "36.01", "age:25-34"): -1,
                               (2025, "36.01", "ended"): 1})
    assert daily == Counter({(2025, "36.01", date(2025, 3, 2), "retained"): -1,
                             (2025, "36.01", date(2025, 3, 5), "ended"): 1})


@pytest.mark.parametrize("text, counts, value", [
    ("granted + denied", {"granted": 3, "denied": 1}, 4.0),
    ("(active - new_30d) / 2", {"active": 10, "new_30d": 4}, 3.0),
    ("-ended * 2", {"ended": 2}, -4.0),
    ("target", {"active": 1}, None),  # no target recorded: no value
])
def test_expressions_evaluate_over_counts(text, counts, value):
    assert Expression(text).evaluate(counts) == value


# Expressions run as compiled Python (without builtins), so nothing but + - * / over counts and numbers may parse.
@pytest.mark.parametrize("text", ["__import__('os')", "active.real", "active[0]", "active ** 2", "active > 1",
                                  "(lambda: 1)()", "active if granted else denied", "[active]", "'active'",
                                  "active; granted", "active = 1", "nik + active"])
def test_expressions_refuse_anything_but_arithmetic_over_counts(text):
    with pytest.raises(ValueError, match=r"only \+ - \* / over counts|unknown count|cannot parse"):
        Expression(text)


def test_indicators_normalise_weight_and_roll_up_to_province_and_nation():
    facts = {
        "36.72": RegionFacts(tallies=Counter({"active": 50, "cat:linmas": 50, "granted": 50, "denied": 50,
                                             "committed:01": 1_000, "committed:06": 3_000}),
                             allocation_rupiah=8_000, target=100, regulation="perda", innovation_points=20),
        "36.01": RegionFacts(tallies=Counter({"active": 10, "granted": 10}), target=300),
        "36": RegionFacts(tallies=Counter({"committed:02": 500}), allocation_rupiah=2_000),
    }
    board = build_board(facts, 2025, date(2025, 3, 20), CONFIG)
    cilegon = board.regions["36.72"]
    assert cilegon.values["coverage_rate"] == 50.0 and cilegon.values["denial_rate"] == 50.0
    assert cilegon.values["budget_utilisation"] == 50.0 and cilegon.counts["spent_rupiah"] == 1_000
    assert cilegon.contributions["coverage_rate"] == pytest.approx(12.5)  # weight 0.25 x 0.5
    assert cilegon.contributions["denial_rate"] == 0.0  # at or past the worst
    assert cilegon.contributions["regulation"] == 10.0 and cilegon.contributions["innovation"] == 10.0  # capped at best
    banten = board.regions["36"]
    assert banten.counts["active"] == 60 and banten.counts["target"] == 400
    assert banten.counts["allocation_rupiah"] == 10_000 and banten.counts["committed_rupiah"] == 4_500
    assert banten.counts["spent_rupiah"] == 1_500
    assert board.regions["ID"].counts["active"] == 60 and board.regions["ID"].level == "national"
    assert [r.region_code for r in board.ranking("regency", "36")] == ["36.72", "36.01"]

    # The publisher asks only for the regions due; they come out as in the whole board, roll-ups included.
    for only in ({"36.01"}, {"ID"}, {"36", "36.72"}):
        partial = build_board(facts, 2025, date(2025, 3, 20), CONFIG, only=only)
        assert partial.regions == {code: board.regions[code] for code in only}


def test_windows_cover_the_last_week_month_and_three_months_back():
    w = Windows.at(date(2025, 5, 31))
    assert (w.week_from, w.month_from, w.retention_cutoff) == (date(2025, 5, 25), date(2025, 5, 2), date(2025, 2, 28))


def test_waiting_counts_until_a_grant_and_a_funded_renewal_counts_as_retained_across_years():
    w = Worker("36.72", fiscal_year=2026)
    waitlisted = SubsidyWaitlisted(**w.attributes(), fiscal_year=2026, start_month=1, months=12,
                                   amount_rupiah=12 * 16_800, arrival=7, position=1, decided_at=at(2, 1, 2026))
    renewal = WorkerRegisteredV2(**w.registered(at(1, 1, 2026)).model_dump(), renews=uuid.uuid4())
    waiting = project([renewal, waitlisted])
    tallies, _ = change([], [waiting])
    assert tallies[(2026, "36.72", "waiting")] == 1 and (2026, "36.72", "renewed") not in tallies
    funded = apply_event(waiting, w.granted(at(9, 1, 2026)))
    tallies, _ = change([waiting], [funded])
    assert (tallies[(2026, "36.72", "waiting")], tallies[(2026, "36.72", "renewed")]) == (-1, 1)

    last_year = RegionFacts(tallies=Counter({"active": 4}))
    this_year = RegionFacts(tallies=Counter({"active": 3, "renewed": 3, "waiting": 1}), active_last_year=4)
    board = build_board({"36.72": this_year}, 2026, date(2026, 1, 15), CONFIG)
    values = board.regions["36.72"].values
    assert (values["retention_across_years"], values["waiting"]) == (75.0, 1.0)
    assert build_board({"36.72": last_year}, 2025, date(2025, 12, 31), CONFIG).regions["36.72"].values[
        "retention_across_years"] is None


def test_a_regency_goes_out_once_per_interval_its_province_and_the_nation_once_per_roll_up_and_never_ahead_of_it():
    interval = 0.5
    cilegon, serang_kab, bandung = (2025, "36.72"), (2025, "36.04"), (2025, "32.73")
    banten, jabar, nation = (2025, "36"), (2025, "32"), (2025, "ID")
    # Nothing published yet: every changed region goes out at once.
    pending = published_regions([cilegon])
    assert pending == {cilegon, banten, nation}
    assert due_regions(pending, {}, 0.0, interval) == pending
    last = dict.fromkeys(pending, 0.0)
    # Cilegon changes again after an interval and a bit: it is due, Banten and the nation wait for the roll-up's
    # interval.
    assert due_regions(published_regions([cilegon]), last, 1.2 * interval, interval) == {cilegon}
    last[cilegon] = 1.2 * interval
    # Cilegon changes once more; then Banten and the nation come due. Cilegon is not due
    # itself, but Banten adds it up, so it goes out in the same round: the dashboard never shows Banten's count
    # ahead of Cilegon's card. Bandung, changed too but not under Banten, waits for its own interval.
    last[bandung] = last[jabar] = 1.8 * interval
    pending = published_regions([cilegon, bandung])
    now = ROLL_UP_INTERVALS * interval
    assert due_regions(pending - {nation}, last, now, interval) == {cilegon, banten}
    # The nation adds up every region: when it goes out, every changed region goes with it.
    assert due_regions(pending, last, now, interval) == pending
    # A regency of another province that is due goes out alone.
    assert due_regions({serang_kab, (2025, "33.74")}, {(2025, "33.74"): now}, now, interval) == {serang_kab}
