"""docker-compose.yml, checked as `docker compose config` would read it, against the code it runs."""

from __future__ import annotations

import os
import re
import subprocess
from urllib.parse import urlsplit

import pytest
from sqlalchemy.engine import make_url

from shared.settings import ALL_SERVICES, Settings
from shared.topics import TOPICS
from tests.deploy.manifests import (
    ROOT,
    MissingVariable,
    built_from_this_repo,
    check_cli,
    compose,
    compose_raw,
    environment,
    interpolate,
    paritrana_invocations,
    required_env,
    settings_env_names,
)

# What an operator puts in .env (deploy/compose/env.example names them).
SECRETS = {
    "PARITRANA_WORKER_REF_KEY": "a3f1c0de" * 8,
    "POSTGRES_PASSWORD": "11" * 16,
    "ENROLMENT_DB_PASSWORD": "22" * 16,
    "SUBSIDY_DB_PASSWORD": "33" * 16,
    "AWARD_DB_PASSWORD": "44" * 16,
    "ACCESS_DB_PASSWORD": "55" * 16,
    "OFFICE_DB_PASSWORD": "66" * 16,
    "PARITRANA_OFFICE_API_KEY": "prt_0123456789abcdef_" + "k" * 32,
}
# In the order deploy/compose/postgres-init.sh creates them.
DATABASES = ("enrolment", "subsidy", "award", "office", "access")
SERVICES = ALL_SERVICES


@pytest.fixture(scope="module")
def config() -> dict:
    return compose(SECRETS)


def ours(config: dict) -> dict[str, dict]:
    return {name: service for name, service in config["services"].items() if built_from_this_repo(service)}


def test_interpolation_follows_compose_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    assert interpolate("${SET}-${UNSET:-d}-${EMPTY:-e}-${EMPTY-f}-$$SET-$SET", env) == "x-d-e--$SET-x"
    with pytest.raises(MissingVariable, match="EMPTY"):
        interpolate("${EMPTY:?needed}", env)
    assert interpolate("${EMPTY?needed}", env) == ""


@pytest.mark.parametrize("secret", sorted(SECRETS))
def test_compose_refuses_to_start_without_each_secret(secret: str) -> None:
    with pytest.raises(MissingVariable) as refused:
        compose({k: v for k, v in SECRETS.items() if k != secret})
    assert refused.value.name == secret
    with pytest.raises(MissingVariable):
        compose(SECRETS | {secret: ""})


def test_no_secret_or_password_is_written_in_the_file() -> None:
    """Every secret-bearing value takes its secret from a required variable: no default that would work."""
    for line in (ROOT / "docker-compose.yml").read_text().splitlines():
        key, _, value = line.partition(":")
        if re.search(r"(PASSWORD|_KEY|DATABASE_URL)$", key.strip()):
            assert any(f"${{{secret}:?" in value for secret in SECRETS), f"secret not from env: {line.strip()}"


def test_every_variable_set_on_the_services_is_one_settings_reads(config: dict) -> None:
    known = settings_env_names()
    assert "PARITRANA_WORKER_REF_KEY" in known and "KAFKA_BOOTSTRAP_SERVERS" in known
    services = ours(config)
    assert set(SERVICES) <= set(services)
    for name, service in services.items():
        unknown = set(environment(service)) - known
        assert not unknown, f"{name} sets {unknown}, which no service reads"


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_gets_a_prod_configuration_it_accepts(config: dict, service: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    env = environment(config["services"][service])
    assert required_env(service) <= set(env), f"{service} lacks {required_env(service) - set(env)}"
    for name in list(os.environ):
        if name.startswith("PARITRANA_") or name == "KAFKA_BOOTSTRAP_SERVERS":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(_env_file=None)
    assert settings.mode == "prod"
    assert settings.host == "0.0.0.0"
    assert settings.worker_ref_key == SECRETS["PARITRANA_WORKER_REF_KEY"]
    assert settings.kafka_idempotence is True
    kafka = environment(config["services"]["kafka"])
    assert settings.kafka_partitions == int(kafka["KAFKA_NUM_PARTITIONS"]) >= 3
    assert settings.kafka_replication_factor == int(kafka["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 1
    for database in (service, "access"):
        url = make_url(settings.database_url(database))
        assert url.drivername == "postgresql" and url.host == "postgres"
        assert url.username == url.database == database, "each database has its own role (postgres-init.sh)"
        assert url.password == SECRETS[f"{database.upper()}_DB_PASSWORD"]
    # Least privilege: a service holds no credentials for another service's database.
    for other in set(SERVICES) - {service}:
        with pytest.raises(ValueError, match=f"PARITRANA_{other.upper()}_DATABASE_URL"):
            settings.database_url(other)
    host, port = settings.bootstrap_servers.split(":")
    assert f"//{host}:{port}" in kafka["KAFKA_ADVERTISED_LISTENERS"]


def test_services_run_their_own_cli_command_on_the_make_run_ports_with_readyz_healthchecks(config: dict) -> None:
    defaults = Settings(_env_file=None, mode="dev")
    for service in SERVICES:
        spec = config["services"][service]
        invocations = paritrana_invocations(spec["command"], spec.get("entrypoint"))
        assert invocations == [["serve", service]]
        check_cli(invocations[0])
        port = defaults.port(service)
        assert f"127.0.0.1:{port}:{port}" in spec["ports"], "same URL as `make run`"
        test = " ".join(spec["healthcheck"]["test"])
        assert f"http://127.0.0.1:{port}/readyz" in test
        assert spec["depends_on"]["setup"]["condition"] == "service_completed_successfully"


def test_every_container_has_a_healthcheck_or_is_a_one_shot_job(config: dict) -> None:
    for name, spec in config["services"].items():
        one_shot = spec.get("restart") == "no"
        assert one_shot or "healthcheck" in spec, f"{name} has no healthcheck"


def test_setup_job_creates_the_topics_of_shared_topics_and_migrates_every_database(config: dict) -> None:
    setup = config["services"]["setup"]
    invocations = paritrana_invocations(setup.get("command", []), setup.get("entrypoint"))
    for args in invocations:
        check_cli(args)
    assert ["topics", "create"] in invocations
    assert ["migrate", "all"] in invocations
    # `paritrana topics create` creates shared.topics.TOPICS: the job agrees with shared/ by construction, and
    # the broker creates nothing else.
    kafka = environment(config["services"]["kafka"])
    assert kafka["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert {t.name for t in TOPICS} >= {"enrolment.workers", "subsidy.decisions", "award.indicators"}
    env = environment(setup)
    for database in DATABASES:
        assert f"PARITRANA_{database.upper()}_DATABASE_URL" in env
    assert setup["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert setup["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_kafka_is_pinned_apache_kafka_in_single_node_kraft(config: dict) -> None:
    kafka = config["services"]["kafka"]
    image, _, tag = kafka["image"].partition(":")
    assert image == "apache/kafka" and re.fullmatch(r"\d+\.\d+\.\d+", tag), "pin an exact release"
    env = environment(kafka)
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "127.0.0.1:9092:9092" in kafka["ports"], "the same broker address as `make run`"
    assert "EXTERNAL://127.0.0.1:9092" in env["KAFKA_ADVERTISED_LISTENERS"]


def test_postgres_16_creates_one_database_per_service_and_the_access_store(config: dict) -> None:
    postgres = config["services"]["postgres"]
    assert re.fullmatch(r"postgres:16(\.\d+)?", postgres["image"])
    mount = next(v for v in postgres["volumes"] if "docker-entrypoint-initdb.d" in v)
    source = mount.split(":")[0]
    script = (ROOT / source).read_text()
    assert "for name in " + " ".join(DATABASES) + ";" in script
    env = environment(postgres)
    for database in DATABASES:
        assert env[f"{database.upper()}_DB_PASSWORD"] == SECRETS[f"{database.upper()}_DB_PASSWORD"]


def test_env_example_lists_every_required_variable() -> None:
    example = (ROOT / "deploy/compose/env.example").read_text()
    required = set(re.findall(r"\$\{([A-Z_]+):\?", (ROOT / "docker-compose.yml").read_text()))
    assert required == set(SECRETS)
    for name in required:
        assert re.search(rf"^{name}=$", example, re.MULTILINE), f"{name} missing from env.example"


@pytest.mark.skipif(not os.environ.get("PARITRANA_TEST_POSTGRES_URL"), reason="needs the test PostgreSQL server")
def test_postgres_init_script_gives_each_role_its_own_database_only() -> None:
    """Run deploy/compose/postgres-init.sh against the test server, as the postgres image's entrypoint would."""
    server = urlsplit(os.environ["PARITRANA_TEST_POSTGRES_URL"])
    base = {"PGHOST": server.hostname or "127.0.0.1", "PGPORT": str(server.port or 5432),
            "PATH": os.environ["PATH"]}
    admin = base | {"PGUSER": server.username or "postgres", "PGDATABASE": "postgres"}

    def psql(sql: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-Atc", sql], env=env, capture_output=True,
                              text=True, timeout=30)

    def drop() -> None:
        for name in DATABASES:
            psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', admin)
            psql(f'DROP ROLE IF EXISTS "{name}"', admin)

    drop()
    try:
        script_env = admin | {"POSTGRES_USER": admin["PGUSER"]} | {
            f"{name.upper()}_DB_PASSWORD": SECRETS[f"{name.upper()}_DB_PASSWORD"] for name in DATABASES}
        run = subprocess.run(["sh", str(ROOT / "deploy/compose/postgres-init.sh")], env=script_env,
                             capture_output=True, text=True, timeout=60)
        assert run.returncode == 0, run.stderr
        for name in DATABASES:
            own = psql("CREATE TABLE t (id int); SELECT current_user", base | {"PGUSER": name, "PGDATABASE": name})
            assert own.returncode == 0 and own.stdout.split()[-1] == name, own.stderr
        refused = psql("SELECT 1", base | {"PGUSER": "award", "PGDATABASE": "enrolment"})
        assert refused.returncode != 0 and "permission denied" in refused.stderr
        missing = subprocess.run(["sh", str(ROOT / "deploy/compose/postgres-init.sh")],
                                 env={k: v for k, v in script_env.items() if k != "AWARD_DB_PASSWORD"},
                                 capture_output=True, text=True, timeout=60)
        assert missing.returncode != 0
    finally:
        drop()


def test_top_level_keys_are_known_and_every_named_volume_is_mounted() -> None:
    raw = compose_raw()
    assert set(raw) <= {"name", "services", "volumes", "x-paritrana", "x-paritrana-env"}
    for name, volume in raw["volumes"].items():
        assert any(f"{name}:" in str(v) for s in raw["services"].values() for v in s.get("volumes", [])), name
