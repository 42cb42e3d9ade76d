"""One settings object for every process, read from ``PARITRANA_*`` environment variables (and ``.env``).

Every variable is listed in README.md ("Configuration"). Defaults are the embedded ones that ``make run`` uses:
SQLite files under ``var/`` and a Tansu broker on 127.0.0.1:9092.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.vocabulary import DEFAULT_PROGRAMME

ServiceName = Literal["enrolment", "subsidy", "award", "office"]
# The three services of the event pipeline (they consume and publish on Kafka).
SERVICES: tuple[ServiceName, ...] = ("enrolment", "subsidy", "award")
# Every process `paritrana up`, compose and the Kubernetes manifests run: the pipeline and the office workspace, a
# backend-for-frontend that calls the others' APIs (services/office).
ALL_SERVICES: tuple[ServiceName, ...] = (*SERVICES, "office")

# A secret with this value is a developer placeholder: services refuse it outside dev mode.
PLACEHOLDER_SECRET = "dev-only-not-a-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARITRANA_", env_file=".env", extra="ignore", populate_by_name=True)

    mode: Literal["dev", "prod"] = "dev"
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    enrolment_port: int = 8001
    subsidy_port: int = 8002
    award_port: int = 8003
    office_port: int = 8004

    # Kafka. KAFKA_BOOTSTRAP_SERVERS (unprefixed) is honoured too: when set, `paritrana up` starts no broker.
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("PARITRANA_KAFKA_BOOTSTRAP_SERVERS", "KAFKA_BOOTSTRAP_SERVERS"),
    )
    embedded_broker_port: int = 9092
    # Tansu cannot initialise an idempotent producer (InitProducerId); Apache Kafka can and should.
    kafka_idempotence: bool = False
    # Tansu auto-creates a topic with 4 partitions when a client asks for it before `ensure_topics` has run (as
    # after a restart of the memory-only broker) and cannot add partitions later, so the embedded default
    # matches it. Production Kafka sets more, with auto-creation off.
    kafka_partitions: int = 4
    kafka_replication_factor: int = 1
    kafka_client_prefix: str = "paritrana"
    # A group (re)join waits on the session timeout: shorter means faster start-up and faster failover when a
    # consumer dies, at the cost of more heartbeats.
    kafka_session_timeout_ms: int = 6000

    # One database per service, plus the access (API key) store they all read.
    enrolment_database_url: str | None = None
    subsidy_database_url: str | None = None
    award_database_url: str | None = None
    office_database_url: str | None = None
    access_database_url: str | None = None

    # Pseudonymous worker_ref = HMAC-SHA256(NIK) with this key. Rotating it changes every worker_ref.
    worker_ref_key: str = PLACEHOLDER_SECRET

    # Per API key, per service replica: sustained requests per second and burst. A key may carry its own rate, and
    # then gets a burst sized to it (shared/access/rate_limit.py) instead of this one.
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 200

    # Start the service clock at this instant instead of the system time (demos, tests); it runs on from there.
    clock_start: datetime | None = None

    # --- enrolment (services/enrolment) ---
    # The programme's age bounds, inclusive, as of the day of registration (the age the NIK's birth date gives).
    enrolment_min_age: int = 18
    enrolment_max_age: int = 65
    enrolment_programmes: list[str] = [DEFAULT_PROGRAMME]
    # How far from the current month coverage may start: late uploads from offline kits need some backdating,
    # and regions register in December for January.
    enrolment_backdate_months: int = 2
    enrolment_advance_months: int = 3
    # A captured_at older than this (a device whose clock reset) or ahead of the server by more than the skew is
    # refused, so it cannot skew the reporting of when people were reached.
    enrolment_capture_max_age_days: int = 120
    enrolment_capture_max_skew_minutes: int = 60
    enrolment_batch_limit: int = 1000
    # Room for a full batch of items with long names and descriptions (about 1.5 KB each at most).
    enrolment_max_body_bytes: int = 4 * 1024 * 1024
    # The member file's columns and headers for BPJS Ketenagakerjaan (a YAML file); none: the Bahasa default in
    # services/enrolment/bpjs_member_file.yaml.
    bpjs_member_file_mapping: Path | None = None

    # --- subsidy (services/subsidy) ---
    # Worker events decided per polled batch, in one transaction: larger batches replay faster, smaller ones
    # hold budget rows for less time.
    subsidy_batch_size: int = 1000
    # "Projected exhaustion" extrapolates the net commitments of this many recent days.
    subsidy_pace_days: int = 30
    # How often each instance looks at the waiting lists on its own clock: funding any a budget can now cover (money
    # is also handed out at once when it arrives), and denying those whose fiscal year has ended.
    subsidy_waiting_seconds: float = 5.0

    # --- award (services/award) ---
    # The indicator definitions and composite weights (DHIS2-style YAML); unset means the shipped defaults.
    award_indicators_path: Path | None = None
    # Coalescing window: at most one indicators.updated per regency or city per this many seconds under load (a
    # province or the nation: per two, services.award.producers.ROLL_UP_INTERVALS). A region's
    # update waits up to this long behind its last one, which is most of its way to the dashboard under load.
    award_publish_interval_seconds: float = 0.5
    # Seconds between SSE heartbeat comments, so proxies keep an idle stream open.
    award_stream_heartbeat_seconds: float = 15.0
    # A caught-up consumer polls a few events at a time whatever the cap, so a grant still reaches the stream within
    # a second; behind, larger batches cut the per-event cost (one transaction and inbox claim per batch, and a
    # region's tallies change once per batch however many of its registrations the batch holds).
    award_consumer_max_records: int = 5000

    # --- office (services/office): the Disnaker workspace ---
    # Where the office calls the other services; unset means the `make run` addresses (host and ports above).
    # The field kit's address as officers' phones reach it, for the Devices page's pairing link and QR code (the same
    # PARITRANA_KIT_URL `paritrana keys create --kind field_kit` reads); unset means the enrolment service's /kit/.
    kit_url: str | None = None
    office_subsidy_url: str | None = None
    office_award_url: str | None = None
    office_enrolment_url: str | None = None
    # The API key (admin scope) the office acts with on subsidy and award once a change is approved. `make run`
    # issues one in dev mode; prod mode needs it set.
    office_api_key: str | None = None
    # A staff session ends this long after sign-in.
    office_session_hours: float = Field(default=8.0, gt=0)
    # This many wrong passwords in a row lock an account for the given minutes.
    office_lockout_attempts: int = Field(default=5, ge=1)
    office_lockout_minutes: float = Field(default=15.0, gt=0)
    # The session cookie's Secure flag; unset means on in prod mode, off in dev mode (plain http on 127.0.0.1).
    office_cookie_secure: bool | None = None
    # Optional single sign-on with the region's OpenID Connect provider (Authlib): the issuer (its discovery document
    # is {issuer}/.well-known/openid-configuration) and the office's client there. The claim named here is matched
    # with an office account's username; the account (role, regions) must exist.
    office_oidc_issuer: str | None = None
    office_oidc_client_id: str | None = None
    office_oidc_client_secret: str | None = None
    office_oidc_username_claim: str = "preferred_username"
    office_oidc_label: str = "SSO"

    # Seconds between full passes of the cyclic garbage collector in a service (shared/garbage_collection.py);
    # 0 leaves them to the collector's own thresholds.
    gc_full_collection_seconds: float = Field(default=30.0, ge=0)

    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = False

    @model_validator(mode="after")
    def _refuse_placeholders_in_prod(self) -> Settings:
        if self.mode == "prod" and self.worker_ref_key == PLACEHOLDER_SECRET:
            raise ValueError("PARITRANA_WORKER_REF_KEY is the development placeholder; set a real secret in prod mode")
        return self

    @property
    def bootstrap_servers(self) -> str:
        if self.mode == "prod" and not self.kafka_bootstrap_servers:
            # In prod the embedded broker's address would be a silent, wrong fallback: name the cluster.
            raise ValueError("KAFKA_BOOTSTRAP_SERVERS is not set; prod mode needs the Kafka cluster named explicitly")
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.embedded_broker_port}"

    def database_url(self, name: str) -> str:
        """The URL of a service's database (enrolment, subsidy, award, office) or of the access store ("access")."""
        url = getattr(self, f"{name}_database_url")
        if self.mode == "prod" and not url:
            # The SQLite default lives in the container's throw-away file system: refuse it rather than lose data.
            raise ValueError(f"PARITRANA_{name.upper()}_DATABASE_URL is not set; prod mode needs each database "
                             "named explicitly")
        return url or f"sqlite+aiosqlite:///{self.data_dir / (name + '.db')}"

    def service_key(self) -> str:
        """The office's API key for the other services (PARITRANA_OFFICE_API_KEY)."""
        if not self.office_api_key:
            raise ValueError("PARITRANA_OFFICE_API_KEY is not set; the office needs an admin API key to act on the "
                             "other services")
        return self.office_api_key

    def upstream_url(self, service: ServiceName) -> str:
        """Where the office reaches another service."""
        configured = getattr(self, f"office_{service}_url", None)
        return str(configured) if configured else self.base_url(service)

    @property
    def cookie_secure(self) -> bool:
        return self.office_cookie_secure if self.office_cookie_secure is not None else self.mode == "prod"

    def port(self, service: ServiceName) -> int:
        return int(getattr(self, f"{service}_port"))

    def base_url(self, service: ServiceName) -> str:
        return f"http://{self.host}:{self.port(service)}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
