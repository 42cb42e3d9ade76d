"""The award's rules, free of I/O: how events shape a registration's projection, what each registration adds to its
region's tallies, how tallies roll up, how indicators are computed from definitions, normalised, weighted and ranked.

A registration's contribution to the tallies is a function of its projected state alone, and that state merges
events commutatively (flags, earliest dates, schedules by month). So events may arrive in any order, across the two
topics, and the aggregates come out the same; a batch changes the tallies by contribution(after) - contribution(before).
"""

from __future__ import annotations

import ast
import math
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.categories import CATEGORY_CODES
from shared.clock import FISCAL_TZ
from shared.events import (
    SubsidyDenied,
    SubsidyGranted,
    SubsidyReleased,
    SubsidyWaitlisted,
    WorkerAttributes,
    WorkerEnded,
    WorkerRegistered,
    WorkerRegisteredV2,
)
from shared.regions import region, region_name
from shared.vocabulary import NATIONAL_CODE

Level = Literal["regency", "province", "national"]
RegulationStatus = Literal["none", "in_preparation", "perkada", "perda"]
# A Perkada is the head of region's regulation: a governor's, a bupati's or a mayor's.
PerkadaInstrument = Literal["pergub", "perbup", "perwali"]
PERKADA_BY_KIND: dict[str, PerkadaInstrument] = {"provinsi": "pergub", "kabupaten": "perbup", "kota": "perwali"}

# Counts every region has, so indicator expressions may use them; "target" is absent when no target is recorded.
# "waiting": waiting for funding now; "renewed": funded renewals of last year's members; "active_last_year": the
# members still active at the end of the year before, whom those renewals retain.
COUNT_NAMES = (
    "active", "target", "registered", "granted", "denied", "ended", "new_7d", "new_30d", "funded_3m", "retained_3m",
    "categories_active", "categories_total", "allocation_rupiah", "committed_rupiah", "spent_rupiah",
    "regulation_points", "innovation_points", "waiting", "renewed", "active_last_year",
)
RETENTION_MONTHS = 3


def jakarta_day(instant: datetime) -> date:
    return instant.astimezone(FISCAL_TZ).date()


def as_of_day(fiscal_year: int, today: date) -> date:
    """The day a fiscal year's time-dependent counts are taken at: today, or the year's last day once it is over."""
    return min(today, date(fiscal_year, 12, 31))


def months_before(day: date, months: int) -> date:
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    month += 1
    last = (date(year + (month == 12), month % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month, min(day.day, last))


# --- a registration's projection ---

@dataclass(frozen=True)
class ProjectedRegistration:
    registration_id: str
    fiscal_year: int
    regency_code: str
    province_code: str
    category: str
    sex: str
    age_band: str
    registered_on: date | None = None
    funded_on: date | None = None
    funding_region_code: str | None = None
    granted: Mapping[int, int] = field(default_factory=dict)  # month -> rupiah
    released: Mapping[int, int] = field(default_factory=dict)
    denied_on: date | None = None
    ended_on: date | None = None
    waitlisted_on: date | None = None
    renews: bool = False  # renews a registration of the year before: the member is retained across years

    @classmethod
    def first_seen(cls, data: WorkerAttributes, fiscal_year: int) -> ProjectedRegistration:
        return cls(str(data.registration_id), fiscal_year, data.regency_code, data.province_code, data.category,
                   data.sex, data.age_band)

    @property
    def key(self) -> tuple[str, int]:
        return self.registration_id, self.fiscal_year

    @property
    def active(self) -> bool:
        return self.funded_on is not None and self.ended_on is None

    @property
    def waiting(self) -> bool:
        return (self.waitlisted_on is not None and self.funded_on is None and self.denied_on is None
                and self.ended_on is None)


def _earliest(current: date | None, new: date) -> date:
    return new if current is None or new < current else current


def apply_event(state: ProjectedRegistration, data: WorkerAttributes) -> ProjectedRegistration:
    """The projection after one worker or subsidy event; the result does not depend on the order events come in."""
    if isinstance(data, WorkerRegistered):
        renews = state.renews or (isinstance(data, WorkerRegisteredV2) and data.renews is not None)
        return replace(state, registered_on=_earliest(state.registered_on, jakarta_day(data.registered_at)),
                       renews=renews)
    if isinstance(data, SubsidyWaitlisted):
        return replace(state, waitlisted_on=_earliest(state.waitlisted_on, jakarta_day(data.decided_at)))
    if isinstance(data, SubsidyGranted):
        granted = dict(state.granted) | {m.month: m.amount_rupiah for m in data.schedule}
        return replace(state, funded_on=_earliest(state.funded_on, jakarta_day(data.decided_at)),
                       funding_region_code=data.funding_region_code, granted=granted)
    if isinstance(data, SubsidyDenied):
        return replace(state, denied_on=_earliest(state.denied_on, jakarta_day(data.decided_at)))
    if isinstance(data, SubsidyReleased):
        # A release returns the months after the coverage ended: the member is no longer active.
        released = dict(state.released) | {m.month: m.amount_rupiah for m in data.schedule}
        return replace(state, released=released, ended_on=_earliest(state.ended_on, jakarta_day(data.released_at)))
    if isinstance(data, WorkerEnded):
        return replace(state, ended_on=_earliest(state.ended_on, jakarta_day(data.ended_at)))
    raise TypeError(f"not a registration event: {type(data).__name__}")


TallyKey = tuple[str, str]  # (region_code, name)
DailyKey = tuple[str, date, str]  # (region_code, day, name)


def contribution(state: ProjectedRegistration) -> tuple[Counter[TallyKey], Counter[DailyKey]]:
    """What one registration adds to the tallies and to the daily series of its region (and its funding budget)."""
    tallies: Counter[TallyKey] = Counter()
    daily: Counter[DailyKey] = Counter()
    regency = state.regency_code
    if state.registered_on is not None:
        tallies[regency, "registered"] += 1
        daily[regency, state.registered_on, "registered"] += 1
    if state.waiting:
        tallies[regency, "waiting"] += 1
    if state.funded_on is not None:
        tallies[regency, "granted"] += 1
        if state.renews:
            tallies[regency, "renewed"] += 1
        daily[regency, state.funded_on, "funded"] += 1
        if state.active:
            daily[regency, state.funded_on, "retained"] += 1
            for name in ("active", f"cat:{state.category}", f"sex:{state.sex}", f"age:{state.age_band}"):
                tallies[regency, name] += 1
        budget = state.funding_region_code or regency
        for month, amount in state.granted.items():
            net = amount - state.released.get(month, 0)
            if net:
                tallies[budget, f"committed:{month:02d}"] += net
    elif state.denied_on is not None:
        # A denial later overturned by a grant is not a denial any more.
        tallies[regency, "denied"] += 1
        daily[regency, state.denied_on, "denied"] += 1
    if state.ended_on is not None:
        tallies[regency, "ended"] += 1
        daily[regency, state.ended_on, "ended"] += 1
    return tallies, daily


YearTallyKey = tuple[int, str, str]  # (fiscal_year, region_code, name)
YearDailyKey = tuple[int, str, date, str]  # (fiscal_year, region_code, day, name)


def change(before: Iterable[ProjectedRegistration],
           after: Iterable[ProjectedRegistration]) -> tuple[Counter[YearTallyKey], Counter[YearDailyKey]]:
    """The tally and daily deltas, per fiscal year, that turn the before states into the after states (no zeros)."""
    tallies: Counter[YearTallyKey] = Counter()
    daily: Counter[YearDailyKey] = Counter()
    for sign, states in ((-1, before), (1, after)):
        for state in states:
            t, d = contribution(state)
            for (region_code, name), value in t.items():
                tallies[state.fiscal_year, region_code, name] += sign * value
            for (region_code, day, name), value in d.items():
                daily[state.fiscal_year, region_code, day, name] += sign * value
    return (Counter({k: v for k, v in tallies.items() if v}), Counter({k: v for k, v in daily.items() if v}))


Region = tuple[int, str]  # (fiscal_year, region_code): one snapshot on award.indicators


def published_regions(stored: Iterable[Region]) -> set[Region]:
    """The (fiscal_year, region) snapshots a change to these stored region codes alters: the region itself, its
    province and the nation."""
    out = set()
    for fiscal_year, code in stored:
        out.update({(fiscal_year, code), (fiscal_year, code[:2]), (fiscal_year, NATIONAL_CODE)})
    return out


# A province and the nation change with every registration under them, so under load they are due at every
# interval, and a round that publishes one adds up its whole province, or every regency for the nation. They go out
# at most once per this many intervals, a regency or city once per interval: its own registrations reach the
# dashboard as soon, in rounds that cost less.
ROLL_UP_INTERVALS = 2


def next_due(region: Region, last: dict[Region, float], interval: float) -> float:
    """When a region may next be published: an interval after its last update, ROLL_UP_INTERVALS for a province
    or the nation."""
    published = last.get(region)
    if published is None:
        return -math.inf
    return published + interval * (1 if len(region[1]) == 5 else ROLL_UP_INTERVALS)


def due_regions(pending: set[Region], last: dict[Region, float], now: float, interval: float) -> set[Region]:
    """The pending regions to publish now. A province or the nation takes with it the changed regions it adds up,
    due or not: its board holds them anyway, and a dashboard never shows a province ahead of its own regencies."""
    due = {region for region in pending if next_due(region, last, interval) <= now}
    roll_ups = {region for region in due if len(region[1]) != 5}
    if roll_ups:
        due |= {(year, code) for year, code in pending
                if (year, code[:2]) in roll_ups or (year, NATIONAL_CODE) in roll_ups}
    return due


# --- indicator definitions ---

_OPERATORS = (ast.Add, ast.Sub, ast.Mult, ast.Div)


class Expression:
    """An arithmetic expression over count names (+ - * / and parentheses), parsed once and checked."""

    def __init__(self, text: str) -> None:
        self.text = text
        try:
            tree = ast.parse(text, mode="eval")
        except SyntaxError:
            raise ValueError(f"cannot parse expression {text!r}") from None
        self.names = self._check(tree.body)
        # Checked to hold only numbers, count names and + - * /, so Python's own evaluator runs it, with no
        # builtins: this runs for every indicator of every region published, several hundred times a second.
        self._code = compile(tree, f"<indicator {text!r}>", "eval")

    def _check(self, node: ast.AST) -> set[str]:
        if isinstance(node, ast.BinOp) and isinstance(node.op, _OPERATORS):
            return self._check(node.left) | self._check(node.right)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self._check(node.operand)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return set()
        if isinstance(node, ast.Name):
            if node.id not in COUNT_NAMES:
                raise ValueError(f"unknown count {node.id!r} in {self.text!r}; known: {', '.join(COUNT_NAMES)}")
            return {node.id}
        raise ValueError(f"only + - * / over counts and numbers are allowed: {self.text!r}")

    def evaluate(self, counts: Mapping[str, float]) -> float | None:
        """The value, or None when a count it needs is missing."""
        if not self.names <= counts.keys():
            return None
        return float(eval(self._code, _NO_BUILTINS, counts))  # only what _check admitted


_NO_BUILTINS: dict[str, Any] = {"__builtins__": {}}


class Normalise(BaseModel):
    model_config = ConfigDict(extra="forbid")
    worst: float
    best: float

    @model_validator(mode="after")
    def _distinct(self) -> Normalise:
        if self.worst == self.best:
            raise ValueError("normalise.worst and normalise.best must differ")
        return self

    def apply(self, value: float) -> float:
        return min(1.0, max(0.0, (value - self.worst) / (self.best - self.worst)))


class IndicatorDefinition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    numerator: str
    denominator: str
    factor: float
    unit: str
    description: str
    name_id: str | None = Field(None, description="The name in Bahasa Indonesia (the dashboard and the evidence pack)")
    description_id: str | None = Field(None, description="The description in Bahasa Indonesia")
    unit_id: str | None = Field(None, description="The unit in Bahasa Indonesia")
    normalise: Normalise

    @model_validator(mode="after")
    def _parse(self) -> IndicatorDefinition:
        self.expressions  # parses both now: a bad definition fails when the config loads
        return self

    @cached_property
    def expressions(self) -> tuple[Expression, Expression]:
        """Parsed once. A cached property lives in the instance's dict; a pydantic private attribute is reached
        through the model's __getattr__, which cost about 5% of the award service's CPU on a singles run."""
        return Expression(self.numerator), Expression(self.denominator)

    def value(self, counts: Mapping[str, float]) -> float | None:
        numerator_expression, denominator_expression = self.expressions
        numerator = numerator_expression.evaluate(counts)
        denominator = denominator_expression.evaluate(counts)
        if numerator is None or not denominator:
            return None
        return round(numerator / denominator * self.factor, 6)


class IndicatorConfig(BaseModel):
    """The indicator definitions, the regulation points and the composite weights (unofficial defaults)."""

    model_config = ConfigDict(extra="forbid")
    indicators: list[IndicatorDefinition]
    regulation_points: dict[RegulationStatus, float]
    weights: dict[str, float]

    @model_validator(mode="after")
    def _consistent(self) -> IndicatorConfig:
        ids = [d.id for d in self.indicators]
        if len(set(ids)) != len(ids):
            raise ValueError("indicator ids must be unique")
        unknown = set(self.weights) - set(ids)
        if unknown:
            raise ValueError(f"weights for unknown indicators: {', '.join(sorted(unknown))}")
        if any(w < 0 for w in self.weights.values()) or abs(sum(self.weights.values()) - 1) > 1e-9:
            raise ValueError("weights must be non-negative and sum to 1")
        missing = set(get_args(RegulationStatus)) - set(self.regulation_points)
        if missing:
            raise ValueError(f"regulation_points lacks {', '.join(sorted(missing))}")
        return self


def parse_config(document: Any) -> IndicatorConfig:
    return IndicatorConfig.model_validate(document)


# --- regions' facts, rolled up ---

@dataclass
class RegionFacts:
    """What the projection and the admin records say about one region code, before roll-up."""

    tallies: Counter[str] = field(default_factory=Counter)
    window: Counter[str] = field(default_factory=Counter)  # new_7d, new_30d, funded_3m, retained_3m
    allocation_rupiah: int = 0
    threshold_percent: int | None = None  # the highest budget.threshold-crossed of the region's own budget
    target: int | None = None
    regulation: RegulationStatus = "none"
    innovation_points: int = 0
    active_last_year: int = 0  # the region's active members at the end of the fiscal year before


@dataclass(frozen=True)
class RegionIndicators:
    region_code: str
    name: str
    level: Level
    province_code: str | None
    counts: dict[str, int]
    values: dict[str, float | None]
    contributions: dict[str, float]
    score: float


@dataclass(frozen=True)
class Board:
    """Every region's indicators for one fiscal year, as of one day."""

    fiscal_year: int
    as_of: date
    regions: dict[str, RegionIndicators]

    def ranking(self, level: Literal["regency", "province"], province: str | None = None) -> list[RegionIndicators]:
        """Ranked best first. Ties: higher coverage rate, then more active members, then the lower region code."""
        entries = [r for r in self.regions.values()
                   if r.level == level and (province is None or r.province_code == province)]
        return sorted(entries, key=lambda r: (-r.score, -(r.values.get("coverage_rate") or 0.0),
                                              -r.counts.get("active", 0), r.region_code))


def _rolled_up(parts: Iterable[RegionFacts], own: RegionFacts | None) -> RegionFacts:
    """A province (or the nation) from its parts: sums of tallies, windows and allocations. Its own target, if
    recorded, replaces the sum of its parts'; regulation and innovation are its own."""
    total = RegionFacts()
    targets = []
    for part in parts:
        total.tallies.update(part.tallies)
        total.window.update(part.window)
        total.allocation_rupiah += part.allocation_rupiah
        total.active_last_year += part.active_last_year
        if part.target is not None:
            targets.append(part.target)
    if own is not None:
        total.tallies.update(own.tallies)
        total.allocation_rupiah += own.allocation_rupiah
        total.regulation, total.innovation_points = own.regulation, own.innovation_points
        total.threshold_percent = own.threshold_percent
    total.target = own.target if own is not None and own.target is not None else (sum(targets) if targets else None)
    return total


def counts_of(facts: RegionFacts, fiscal_year: int, as_of: date, config: IndicatorConfig) -> dict[str, int]:
    """The flat counts indicator expressions read, plus the breakdowns (cat:*, sex:*, age:*) the dashboard shows."""
    t = facts.tallies
    spent_through = 12 if fiscal_year < as_of.year else as_of.month if fiscal_year == as_of.year else 0
    committed = {int(name[10:]): value for name, value in t.items() if name.startswith("committed:")}
    counts = {
        "active": t["active"], "registered": t["registered"], "granted": t["granted"], "denied": t["denied"],
        "ended": t["ended"], "new_7d": facts.window["new_7d"], "new_30d": facts.window["new_30d"],
        "funded_3m": facts.window["funded_3m"], "retained_3m": facts.window["retained_3m"],
        "categories_active": sum(1 for c in CATEGORY_CODES if t[f"cat:{c}"] > 0),
        "categories_total": len(CATEGORY_CODES),
        "allocation_rupiah": facts.allocation_rupiah,
        "committed_rupiah": sum(committed.values()),
        "spent_rupiah": sum(v for m, v in committed.items() if m <= spent_through),
        "regulation_points": int(config.regulation_points.get(facts.regulation, 0)),
        "innovation_points": facts.innovation_points,
        "waiting": t["waiting"], "renewed": t["renewed"], "active_last_year": facts.active_last_year,
    }
    if facts.target is not None:
        counts["target"] = facts.target
    if facts.threshold_percent is not None:
        counts["budget_threshold_percent"] = facts.threshold_percent
    for name, value in sorted(t.items()):
        if name.startswith(("cat:", "sex:", "age:")) and value:
            counts[name] = value
    return counts


def indicators(code: str, level: Level, facts: RegionFacts, fiscal_year: int, as_of: date,
               config: IndicatorConfig) -> RegionIndicators:
    counts = counts_of(facts, fiscal_year, as_of, config)
    values = {d.id: d.value(counts) for d in config.indicators}
    contributions = {}
    for d in config.indicators:
        value = values[d.id]
        normalised = d.normalise.apply(value) if value is not None else 0.0
        contributions[d.id] = round(100 * config.weights.get(d.id, 0.0) * normalised, 4)
    score = round(sum(contributions.values()), 4)
    return RegionIndicators(code, region_name(code), level, None if level == "national" else code[:2], counts, values,
                            contributions, score)


def build_board(facts: Mapping[str, RegionFacts], fiscal_year: int, today: date,
                config: IndicatorConfig, only: Collection[str] | None = None) -> Board:
    """Indicators for every regency with facts, every province with facts of its own or in a regency, and the
    nation. ``facts`` is keyed by region code as stored: regency PP.KK, a province's own PP, the nation's ID.

    ``only`` limits the regions whose indicators are computed: the publisher's due regions (or a province stream's),
    as computing every region each second took about a fifth of the award service's samples in a field-kit run.
    Roll-ups still sum every part."""
    def wanted(code: str) -> bool:
        return only is None or code in only

    as_of = as_of_day(fiscal_year, today)
    regencies = {code: f for code, f in facts.items() if len(code) == 5}
    regencies_of: dict[str, list[RegionFacts]] = {}
    for code, f in regencies.items():
        regencies_of.setdefault(code[:2], []).append(f)
    provinces = sorted({code[:2] for code in facts if code != NATIONAL_CODE})
    board: dict[str, RegionIndicators] = {}
    province_facts = {}
    for province in provinces:
        if not (wanted(province) or wanted(NATIONAL_CODE)):
            continue
        province_facts[province] = _rolled_up(regencies_of.get(province, ()), facts.get(province))
        if wanted(province):
            board[province] = indicators(province, "province", province_facts[province], fiscal_year, as_of, config)
    for code, f in regencies.items():
        if wanted(code):
            board[code] = indicators(code, "regency", f, fiscal_year, as_of, config)
    if wanted(NATIONAL_CODE):
        nation = _rolled_up(province_facts.values(), facts.get(NATIONAL_CODE))
        board[NATIONAL_CODE] = indicators(NATIONAL_CODE, "national", nation, fiscal_year, as_of, config)
    return Board(fiscal_year, as_of, board)


# --- the committee's records ---

@dataclass(frozen=True)
class Target:
    region_code: str
    fiscal_year: int
    target_population: int
    source: str
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class Regulation:
    region_code: str
    status: RegulationStatus
    instrument: PerkadaInstrument | None
    reference: str | None
    enacted_on: date | None
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True)
class Innovation:
    innovation_id: int
    region_code: str
    fiscal_year: int
    title: str
    note: str
    points: int
    awarded_by: str
    created_at: datetime


class RecordRefused(ValueError):
    """A committee record that does not make sense for its region, naming the field at fault."""

    def __init__(self, field: str, code: str, message: str) -> None:
        super().__init__(message)
        self.field, self.code, self.message = field, code, message


def check_regulation(region_code: str, status: RegulationStatus, instrument: PerkadaInstrument | None,
                     reference: str | None, enacted_on: date | None) -> None:
    """Raise RecordRefused when a regulation record does not make sense for this region."""
    if status == "perkada":
        found = region(region_code)
        expected = PERKADA_BY_KIND.get(found.kind) if found else None
        if instrument is None:
            raise RecordRefused("instrument", "missing", "A Perkada needs its instrument: pergub, perbup or perwali.")
        if expected is not None and instrument != expected:
            raise RecordRefused("instrument", "wrong_instrument", f"This region's Perkada is a {expected}.")
    elif instrument is not None:
        raise RecordRefused("instrument", "not_allowed", "Only a Perkada has an instrument.")
    if status in ("perkada", "perda"):
        if not reference:
            raise RecordRefused("reference", "missing", "An enacted regulation needs its reference (number and year).")
        if enacted_on is None:
            raise RecordRefused("enacted_on", "missing", "An enacted regulation needs its date.")


# --- the history a region's charts draw ---

@dataclass(frozen=True)
class DayCounts:
    """One day's registrations, newly funded members, ends and denials in a region."""

    day: date
    registered: int
    funded: int
    ended: int
    denied: int


@dataclass(frozen=True)
class SnapshotPoint:
    """The day's last published indicator values of a region."""

    day: date
    score: float
    values: dict[str, float | None]


@dataclass(frozen=True)
class Windows:
    """The day ranges the time-dependent counts cover, as of one day (all inclusive)."""

    as_of: date
    week_from: date
    month_from: date
    retention_cutoff: date

    @classmethod
    def at(cls, as_of: date) -> Windows:
        return cls(as_of, as_of - timedelta(days=6), as_of - timedelta(days=29), months_before(as_of, RETENTION_MONTHS))
