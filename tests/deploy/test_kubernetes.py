"""deploy/: the kustomize base and every overlay, rendered as `kustomize build` would and checked against the
Kubernetes API schemas (kubernetes-validate, offline) and against the code the pods run."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from kubernetes_validate import utils as kubernetes_schemas

from shared.settings import ALL_SERVICES, Settings
from shared.topics import TOPICS
from tests.deploy.manifests import (
    DEPLOY,
    build,
    by_kind,
    check_cli,
    kustomizations,
    paritrana_invocations,
    pod_spec,
    required_env,
    settings_env_names,
)

SERVICES = ALL_SERVICES  # every process the manifests run, the office included

# The oldest Kubernetes minor still in support by the big distributions; everything here is GA long before.
KUBERNETES_VERSION = "1.30.0"
CUSTOM_KINDS = {"Kafka", "KafkaNodePool", "KafkaTopic", "ServiceMonitor", "PrometheusRule"}
SECRET_SETTINGS = {"PARITRANA_WORKER_REF_KEY", "PARITRANA_OFFICE_API_KEY",
                   *(f"PARITRANA_{d.upper()}_DATABASE_URL" for d in (*SERVICES, "access"))}

INSTALLS = kustomizations()


def test_there_is_a_base_and_a_province_overlay() -> None:
    assert DEPLOY / "base" in INSTALLS
    assert DEPLOY / "overlays" / "province" in INSTALLS


@pytest.fixture(scope="module", params=INSTALLS, ids=lambda p: str(p.relative_to(DEPLOY)))
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return build(request.param)


def config_env(resources: list[dict[str, Any]], spec: dict[str, Any]) -> dict[str, str]:
    """A container's environment: its envFrom ConfigMaps, then its env (values, or `secret:<name>/<key>`)."""
    config_maps = by_kind(resources, "ConfigMap")
    env: dict[str, str] = {}
    for source in spec.get("envFrom", []):
        name = source["configMapRef"]["name"]
        assert name in config_maps, f"envFrom names ConfigMap {name}, which is not in the build"
        env |= config_maps[name]["data"]
    for item in spec.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = f"secret:{ref['name']}/{ref['key']}"
    return env


def test_every_builtin_resource_matches_the_kubernetes_api_schema(rendered: list[dict[str, Any]]) -> None:
    checked = 0
    for resource in rendered:
        if resource["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_schemas.validate(resource, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 10


def test_the_validator_would_catch_a_broken_manifest(rendered: list[dict[str, Any]]) -> None:
    deployment = json.loads(json.dumps(by_kind(rendered, "Deployment")["subsidy"]))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/readyz"
    with pytest.raises(kubernetes_schemas.ValidationError):
        kubernetes_schemas.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_each_service_is_a_deployment_running_its_own_serve_command(rendered: list[dict[str, Any]]) -> None:
    deployments = by_kind(rendered, "Deployment")
    assert set(deployments) == set(SERVICES)
    for service, deployment in deployments.items():
        [container] = pod_spec(deployment)["containers"]
        invocations = paritrana_invocations(container.get("args", []), container.get("command"))
        assert invocations == [["serve", service]]
        check_cli(invocations[0])


def test_probes_resources_and_a_locked_down_security_context(rendered: list[dict[str, Any]]) -> None:
    defaults = Settings(_env_file=None, mode="dev")
    for service, deployment in by_kind(rendered, "Deployment").items():
        spec = pod_spec(deployment)
        [container] = spec["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == defaults.port(service), "the port the service listens on"
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{service}: {kind}"
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert "/tmp" in {m["mountPath"] for m in container["volumeMounts"]}, "the image's data dir must be writable"


def test_every_variable_is_one_settings_reads_and_secrets_come_by_reference(rendered: list[dict[str, Any]]) -> None:
    known = settings_env_names()
    for resource in rendered:
        spec = pod_spec(resource)
        for container in (spec or {}).get("containers", []):
            env = config_env(rendered, container)
            unknown = set(env) - known
            assert not unknown, f"{resource['metadata']['name']} sets {unknown}, which no service reads"
            for name in SECRET_SETTINGS & set(env):
                assert env[name].startswith("secret:"), f"{name} must come from a Secret, not a literal"
            assert not any(r["kind"] == "Secret" for r in rendered), "Secrets are created by the operator"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_a_prod_configuration_with_only_its_own_database(
        rendered: list[dict[str, Any]], service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    [container] = pod_spec(by_kind(rendered, "Deployment")[service])["containers"]
    env = config_env(rendered, container)
    assert required_env(service) <= set(env), f"{service} lacks {required_env(service) - set(env)}"
    for name in SECRET_SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PARITRANA_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("secret:", "postgresql://from-secret/") if "DATABASE_URL" in name
                           else value)
    settings = Settings(_env_file=None)
    assert settings.mode == "prod" and settings.host == "0.0.0.0"
    assert settings.kafka_idempotence is True
    assert settings.kafka_replication_factor == 3
    assert env["PARITRANA_WORKER_REF_KEY"].startswith("secret:")
    assert settings.database_url(service) and settings.database_url("access")
    assert env[f"PARITRANA_{service.upper()}_DATABASE_URL"] == f"secret:paritrana-{service}-database/url"
    for other in set(SERVICES) - {service}:
        assert f"PARITRANA_{other.upper()}_DATABASE_URL" not in env, "no credentials for another service's data"


def test_setup_job_creates_topics_and_migrates_with_every_database(rendered: list[dict[str, Any]]) -> None:
    job = by_kind(rendered, "Job")["paritrana-setup"]
    [container] = pod_spec(job)["containers"]
    invocations = paritrana_invocations(container.get("args", []), container.get("command"))
    for args in invocations:
        check_cli(args)
    assert invocations == [["topics", "create"], ["migrate", "all"]]
    env = config_env(rendered, container)
    assert SECRET_SETTINGS - {"PARITRANA_OFFICE_API_KEY"} <= set(env), "every database (the key is the office's)"


def test_disruption_budgets_and_the_enrolment_autoscaler(rendered: list[dict[str, Any]]) -> None:
    deployments = by_kind(rendered, "Deployment")
    budgets = by_kind(rendered, "PodDisruptionBudget")
    for service, deployment in deployments.items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets.values()
                    if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        assert len(covering) == 1, f"{service}: {len(covering)} PodDisruptionBudgets"
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items()
    autoscalers = by_kind(rendered, "HorizontalPodAutoscaler")
    target = autoscalers["enrolment"]["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", "enrolment")
    assert autoscalers["enrolment"]["spec"]["minReplicas"] >= 2


def test_services_select_their_pods_and_name_the_http_port(rendered: list[dict[str, Any]]) -> None:
    deployments = by_kind(rendered, "Deployment")
    for service, definition in by_kind(rendered, "Service").items():
        labels = deployments[service]["spec"]["template"]["metadata"]["labels"]
        assert definition["spec"]["selector"].items() <= labels.items()
        [port] = definition["spec"]["ports"]
        assert port["name"] == "http" and port["targetPort"] == "http"


def partitions(resources: list[dict[str, Any]]) -> int:
    return int(by_kind(resources, "ConfigMap")["paritrana-config"]["data"]["PARITRANA_KAFKA_PARTITIONS"])


def test_strimzi_kafka_three_brokers_replication_three_min_insync_two(rendered: list[dict[str, Any]]) -> None:
    [kafka] = by_kind(rendered, "Kafka").values()
    pools = by_kind(rendered, "KafkaNodePool").values()
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    assert brokers == 3
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"] for p in pools)
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == 3
    assert config["min.insync.replicas"] == 2
    assert config["offsets.topic.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False
    # The services find the cluster through its bootstrap Service and the plain listener.
    plain = next(listener for listener in kafka["spec"]["kafka"]["listeners"] if not listener["tls"])
    bootstrap = by_kind(rendered, "ConfigMap")["paritrana-config"]["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    assert bootstrap == f"{kafka['metadata']['name']}-kafka-bootstrap:{plain['port']}"
    assert kafka["spec"]["entityOperator"]["topicOperator"] is not None


def test_kafka_topics_agree_with_shared_topics(rendered: list[dict[str, Any]]) -> None:
    [kafka] = by_kind(rendered, "Kafka").values()
    declared = {t["spec"]["topicName"]: t for t in by_kind(rendered, "KafkaTopic").values()}
    assert set(declared) == {topic.name for topic in TOPICS}
    replication = int(by_kind(rendered, "ConfigMap")["paritrana-config"]["data"]["PARITRANA_KAFKA_REPLICATION_FACTOR"])
    for topic in TOPICS:
        resource = declared[topic.name]
        assert resource["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert resource["spec"]["partitions"] == partitions(rendered), "PARITRANA_KAFKA_PARTITIONS must match"
        assert resource["spec"]["replicas"] == replication == 3
        config = {key: str(value) for key, value in resource["spec"]["config"].items()}
        for key, value in topic.kafka_config().items():
            assert config.get(key) == value, f"{topic.name}: {key} is {config.get(key)}, shared/topics.py says {value}"
        assert "retention.ms" not in config if topic.compacted else True
        assert int(config["min.insync.replicas"]) == 2


def test_consumers_never_outnumber_the_partitions(rendered: list[dict[str, Any]]) -> None:
    """A partition is read by one member of a group: replicas past the partition count would only idle."""
    for service in ("subsidy", "award"):
        assert by_kind(rendered, "Deployment")[service]["spec"]["replicas"] <= partitions(rendered)


def test_overlay_patches_change_what_they_mean_to() -> None:
    base = build(DEPLOY / "base")
    province = build(DEPLOY / "overlays" / "province")
    assert by_kind(province, "Deployment")["subsidy"]["spec"]["replicas"] > by_kind(base, "Deployment")["subsidy"][
        "spec"]["replicas"]
    assert by_kind(province, "HorizontalPodAutoscaler")["enrolment"]["spec"]["maxReplicas"] > by_kind(
        base, "HorizontalPodAutoscaler")["enrolment"]["spec"]["maxReplicas"]
    [container] = pod_spec(by_kind(province, "Deployment")["subsidy"])["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", "a patch must merge, not replace"
    assert re.fullmatch(r"[\w.\-/]+:[\w.\-]+", container["image"]) and container["image"] != "paritrana:latest"
    assert all(r["metadata"].get("namespace") == "paritrana" for r in province if r["kind"] != "Namespace")


def test_a_patch_without_a_target_is_refused(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(f"resources: [{DEPLOY / 'base'}]\npatches: [{{path: p.yaml}}]\n")
    (tmp_path / "p.yaml").write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ledger}\n")
    with pytest.raises(AssertionError, match="ledger"):
        build(tmp_path)
