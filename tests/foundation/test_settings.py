import pytest
from pydantic import ValidationError

from shared.settings import PLACEHOLDER_SECRET, Settings


def test_unprefixed_kafka_bootstrap_servers_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.bootstrap_servers == "kafka:9092"


def test_embedded_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("KAFKA_BOOTSTRAP_SERVERS", "PARITRANA_KAFKA_BOOTSTRAP_SERVERS", "PARITRANA_DATA_DIR",
                "PARITRANA_ENROLMENT_DATABASE_URL"):
        monkeypatch.delenv(var, raising=False)
    settings = Settings(_env_file=None)
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.database_url("enrolment") == "sqlite+aiosqlite:///var/enrolment.db"
    assert (settings.enrolment_port, settings.subsidy_port, settings.award_port) == (8001, 8002, 8003)
    assert settings.kafka_idempotence is False


def test_prod_mode_refuses_the_placeholder_secret() -> None:
    with pytest.raises(ValidationError, match="WORKER_REF_KEY"):
        Settings(mode="prod", worker_ref_key=PLACEHOLDER_SECRET)
    assert Settings(mode="prod", worker_ref_key="a-real-secret").mode == "prod"
    assert Settings(mode="dev", worker_ref_key=PLACEHOLDER_SECRET).mode == "dev"
