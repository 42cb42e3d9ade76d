"""Prod mode (the image's default) refuses the embedded fallbacks: a container must be told where its databases
and its Kafka cluster are, or it would quietly keep data in its own throw-away file system."""

import pytest

from shared.settings import Settings

SECRET = "a-real-secret"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "PARITRANA_KAFKA_BOOTSTRAP_SERVERS", "PARITRANA_ENROLMENT_DATABASE_URL",
                 "PARITRANA_SUBSIDY_DATABASE_URL", "PARITRANA_AWARD_DATABASE_URL", "PARITRANA_ACCESS_DATABASE_URL",
                 "PARITRANA_MODE"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("database", ["enrolment", "subsidy", "award", "access"])
def test_prod_refuses_a_database_left_to_the_sqlite_default(database: str) -> None:
    settings = Settings(_env_file=None, mode="prod", worker_ref_key=SECRET)
    with pytest.raises(ValueError, match=f"PARITRANA_{database.upper()}_DATABASE_URL"):
        settings.database_url(database)
    named = Settings(_env_file=None, mode="prod", worker_ref_key=SECRET,
                     **{f"{database}_database_url": "postgresql://u@db/x"})
    assert named.database_url(database) == "postgresql://u@db/x"


def test_prod_refuses_the_embedded_broker_address() -> None:
    with pytest.raises(ValueError, match="KAFKA_BOOTSTRAP_SERVERS"):
        _ = Settings(_env_file=None, mode="prod", worker_ref_key=SECRET).bootstrap_servers
    assert Settings(_env_file=None, mode="prod", worker_ref_key=SECRET,
                    kafka_bootstrap_servers="kafka:9092").bootstrap_servers == "kafka:9092"


def test_dev_keeps_the_embedded_defaults() -> None:
    settings = Settings(_env_file=None, mode="dev")
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.database_url("access").startswith("sqlite+aiosqlite:///")
