"""The subsidy service's own metrics. Alert rules in deploy/ use these exact names."""

from prometheus_client import Counter, Gauge

BUDGET_UTILISATION = Gauge(
    "paritrana_budget_utilisation_ratio", "Committed over allocation per budget, 0..1", ["region_code", "fiscal_year"]
)
FUNDING_DECISIONS = Counter("paritrana_decisions_total", "Funding decisions made", ["outcome"])


def record_utilisation(region_code: str, fiscal_year: int, committed: int, allocation: int) -> None:
    BUDGET_UTILISATION.labels(region_code, str(fiscal_year)).set(committed / allocation if allocation else 0.0)
