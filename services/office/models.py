"""The office's tables: staff accounts, their sessions, change requests (maker-checker) and the audit trail.

``audit_entries`` is append-only: the application has no update or delete path for it, and database triggers
(migration 0001) refuse both on SQLite and PostgreSQL. Besides the office's own entries it holds copies of what API
keys changed directly in the other services (their ``key_actions``), so one trail lists both.
"""

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text

from shared.database import Base


class OfficeBase(Base):
    __abstract__ = True
    metadata = MetaData()


metadata = OfficeBase.metadata

staff = Table(
    "staff", metadata,
    Column("staff_id", String(16), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("display_name", String(200), nullable=False),
    Column("role", String(16), nullable=False),
    Column("regions", JSON, nullable=False),
    # argon2id, in the library's encoded form (parameters and salt included).
    Column("password_hash", String(200), nullable=False),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until", DateTime(timezone=True), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("disabled_at", DateTime(timezone=True), nullable=True),
)

sessions = Table(
    "sessions", metadata,
    # SHA-256 of the cookie's random token: a copy of this table signs no one in.
    Column("token_sha256", String(64), primary_key=True),
    Column("staff_id", String(16), nullable=False, index=True),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

change_requests = Table(
    "change_requests", metadata,
    Column("change_id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("region_code", String(13), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    # What takes effect on approval, and what stood when it was submitted.
    Column("payload", JSON, nullable=False),
    Column("before", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("submitted_by", String(16), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("decided_by", String(16), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("comment", Text, nullable=True),
    # Why an approved change did not take effect (the other service's error code), when it did not.
    Column("outcome", String(200), nullable=True),
    Index("ix_change_requests_region_status", "region_code", "status"),
)

audit_entries = Table(
    "audit_entries", metadata,
    Column("entry_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    # Who: a staff account (its id and username at the time) or an API key; never a member's personal data.
    Column("actor_kind", String(8), nullable=False),
    Column("actor_id", String(16), nullable=False),
    Column("actor_name", String(64), nullable=False),
    Column("ip", String(45), nullable=True),
    Column("action", String(48), nullable=False),
    # The region acted in; null for account events (sign-in, accounts).
    Column("region_code", String(13), nullable=True),
    Column("subject", String(64), nullable=True),
    Column("before", JSON, nullable=True),
    Column("after", JSON, nullable=True),
    # Entries copied from a service's key actions (shared/key_actions.py): the service and its entry's id.
    Column("source", String(16), nullable=True),
    Column("source_entry_id", BigInteger, nullable=True),
    Index("ix_audit_region_entry", "region_code", "entry_id"),
    Index("uq_audit_source_entry", "source", "source_entry_id", unique=True),
)

# How far each service's key actions have been copied into audit_entries (the last copied action_id).
audit_sources = Table(
    "audit_sources", metadata,
    Column("source", String(16), primary_key=True),
    Column("copied_through", BigInteger, nullable=False),
)
