"""Probes, metrics, alerts and the dashboard refer to endpoints and metrics the services really have."""

from __future__ import annotations

import importlib
import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from shared.settings import ALL_SERVICES, Settings
from tests.deploy.manifests import DEPLOY, build, by_kind

SERVICES = ALL_SERVICES  # every process the manifests run, the office included

# Series that come from elsewhere: Prometheus itself and kube-state-metrics.
EXTERNAL = {"up", "kube_deployment_status_replicas_unavailable", "kube_deployment_status_replicas_available",
            "kube_deployment_spec_replicas"}
# Labels Prometheus adds to every scraped series (the ServiceMonitor's target labels) and the histogram bucket.
TARGET_LABELS = {"namespace", "pod", "service", "job", "instance", "container", "endpoint", "le"}


def registered_metrics() -> dict[str, set[str]]:
    """Every paritrana_* series name the services export, with its label names."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.app")
    importlib.import_module("shared.outbox")
    found: dict[str, set[str]] = {}
    for name, collector in REGISTRY._names_to_collectors.items():
        if name.startswith("paritrana_"):
            found[name] = set(getattr(collector, "_labelnames", ()))
    return found


def metric_names(expression: str) -> set[str]:
    without_strings = re.sub(r'"[^"]*"', "", expression)
    without_ranges = re.sub(r"\[[^\]]*\]", "", without_strings)
    return {word for word in re.findall(r"\b([a-z_][a-z0-9_]*)\b\s*(?=[{(\s)]|$)", without_ranges)
            if word.startswith(("paritrana_", "kube_")) or word == "up"}


def grouping_labels(expression: str) -> set[str]:
    return {label.strip() for group in re.findall(r"\bby\s*\(([^)]*)\)", expression)
            for label in group.split(",") if label.strip()}


@pytest.fixture(scope="module")
def metrics() -> dict[str, set[str]]:
    return registered_metrics()


@pytest.fixture(scope="module")
def resources() -> list[dict[str, Any]]:
    return build(DEPLOY / "base")


def alert_rules(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    rule = by_kind(resources, "PrometheusRule")["paritrana"]
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"] if "alert" in r}


def check_expression(expression: str, metrics: dict[str, set[str]]) -> None:
    names = metric_names(expression)
    assert names, f"no metric in {expression!r}"
    for name in names - EXTERNAL:
        assert name in metrics, f"{name} is not a metric any service exports"
    labels = set().union(*(metrics.get(name, set()) for name in names)) | TARGET_LABELS
    if names & EXTERNAL:
        labels |= {"deployment"}
    unknown = grouping_labels(expression) - labels
    assert not unknown, f"{expression!r} groups by {unknown}, which its metrics do not carry"


@pytest.mark.parametrize("service", SERVICES)
async def test_every_service_answers_the_probe_and_metrics_endpoints(service: str, tmp_path: Path) -> None:
    module = importlib.import_module(f"services.{service}.app")
    app = module.create_app(Settings(_env_file=None, data_dir=tmp_path))
    # No lifespan runs, so nothing is started: the process is alive but not ready (no producer, no broker).
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://probe") as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["broker"] is False
        exposition = await client.get("/metrics")
        assert exposition.status_code == 200 and "paritrana_consumer_lag" in exposition.text


def test_the_required_alerts_exist_on_the_metrics_the_issue_names(resources: list[dict[str, Any]]) -> None:
    rules = alert_rules(resources)
    expressions = {name: rule["expr"] for name, rule in rules.items()}

    def alert_on(metric: str) -> str:
        matching = [name for name, expr in expressions.items() if metric in metric_names(expr)]
        assert matching, f"no alert on {metric}"
        return expressions[matching[0]]

    assert "deriv(paritrana_outbox_backlog" in alert_on("paritrana_outbox_backlog"), "growing, not merely large"
    assert re.search(r">\s*\d+", alert_on("paritrana_consumer_lag"))
    assert "increase(paritrana_dead_letters_total" in alert_on("paritrana_dead_letters_total")
    assert re.search(r">\s*0\.95\b", alert_on("paritrana_budget_utilisation_ratio"))
    assert alert_on("kube_deployment_status_replicas_unavailable")
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        assert rule["annotations"]["summary"], name


def test_alert_expressions_use_exported_metrics_and_their_labels(resources: list[dict[str, Any]],
                                                                 metrics: dict[str, set[str]]) -> None:
    assert {"region_code", "fiscal_year"} <= metrics["paritrana_budget_utilisation_ratio"]
    for name, rule in alert_rules(resources).items():
        check_expression(rule["expr"], metrics)


def test_the_expression_checks_catch_a_wrong_metric_or_label(metrics: dict[str, set[str]]) -> None:
    with pytest.raises(AssertionError, match="paritrana_outbox_lag"):
        check_expression("max by (service) (paritrana_outbox_lag) > 1", metrics)
    with pytest.raises(AssertionError, match="region"):
        check_expression("max by (region) (paritrana_budget_utilisation_ratio) > 0.95", metrics)


def test_service_monitor_scrapes_every_service_on_its_http_port(resources: list[dict[str, Any]]) -> None:
    monitor = by_kind(resources, "ServiceMonitor")["paritrana"]
    selector = monitor["spec"]["selector"]["matchLabels"]
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["honorLabels"] is True, "keep the metrics' own `service` label"
    selected = [s for s in by_kind(resources, "Service").values()
                if selector.items() <= s["metadata"]["labels"].items()]
    assert {s["metadata"]["name"] for s in selected} == set(SERVICES)
    for service in selected:
        assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}


def test_grafana_dashboard_is_shipped_and_queries_exported_metrics(resources: list[dict[str, Any]],
                                                                    metrics: dict[str, set[str]]) -> None:
    config_map = by_kind(resources, "ConfigMap")["paritrana-grafana-dashboard"]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(config_map["data"]["grafana-dashboard.json"])
    assert dashboard["uid"] and dashboard["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert "datasource" in variables
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    queried = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            expression = target["expr"].replace("$namespace", "x")
            check_expression(expression, metrics)
            queried |= metric_names(expression)
    for required in ("paritrana_outbox_backlog", "paritrana_consumer_lag", "paritrana_dead_letters_total",
                     "paritrana_budget_utilisation_ratio", "paritrana_decisions_total"):
        assert required in queried, f"the dashboard does not show {required}"
