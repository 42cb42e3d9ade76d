"""The award service's tables.

The projection (rebuilt by replay): ``registrations`` (one row per registration and fiscal year, merged from whichever
events came), ``tallies`` (running totals per region code and name), ``daily`` (per-day counts for windows and
charts), ``budgets`` (with their funding lines), ``invoices`` and the ``inbox``. The committee's records (targets,
regulations, innovations) and the published daily ``snapshots`` are not projection: a rebuild keeps them.
"""

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

from shared.database import Base
from shared.inbox import inbox_table
from shared.key_actions import key_actions_table


class AwardBase(Base):
    __abstract__ = True
    metadata = MetaData()


metadata = AwardBase.metadata
inbox = inbox_table(metadata)
key_actions = key_actions_table(metadata)

registrations = Table(
    "registrations", metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("regency_code", String(5), nullable=False),
    Column("province_code", String(2), nullable=False),
    Column("category", String(40), nullable=False),
    Column("sex", String(1), nullable=False),
    Column("age_band", String(8), nullable=False),
    Column("registered_on", Date),
    Column("funded_on", Date),
    Column("funding_region_code", String(5)),
    Column("granted", JSON, nullable=False),  # {"month": rupiah}
    Column("released", JSON, nullable=False),
    Column("denied_on", Date),
    Column("ended_on", Date),
    Column("waitlisted_on", Date),
    Column("renews", Boolean, nullable=False, server_default=false()),
)

tallies = Table(
    "tallies", metadata,
    Column("region_code", String(5), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("name", String(48), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

daily = Table(
    "daily", metadata,
    Column("region_code", String(5), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("name", String(16), primary_key=True),
    Column("value", Integer, nullable=False),
)

budgets = Table(
    "budgets", metadata,
    Column("region_code", String(5), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("allocation_rupiah", BigInteger, nullable=False),
    Column("changed_at", DateTime(timezone=True)),
    Column("threshold_percent", Integer),
    Column("lines", JSON),  # [{line_id, source, amount_rupiah, legal_reference}] of the latest allocation
)

# A budget's months invoiced to BPJS Ketenagakerjaan (invoice.issued) and paid (invoice.paid).
invoices = Table(
    "invoices", metadata,
    Column("region_code", String(5), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("members", Integer),
    Column("invoiced_rupiah", BigInteger),
    Column("issued_at", DateTime(timezone=True)),
    Column("paid_rupiah", BigInteger),
    Column("paid_on", Date),
    Column("payment_reference", String(200)),
    Column("paid_at", DateTime(timezone=True)),
)

targets = Table(
    "targets", metadata,
    Column("region_code", String(5), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("target_population", Integer, nullable=False),
    Column("source", String(500), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

regulations = Table(
    "regulations", metadata,
    Column("region_code", String(5), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("instrument", String(10)),
    Column("reference", String(300)),
    Column("enacted_on", Date),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(200), nullable=False),
)

innovations = Table(
    "innovations", metadata,
    Column("innovation_id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(5), nullable=False, index=True),
    Column("fiscal_year", Integer, nullable=False),
    Column("title", String(200), nullable=False),
    Column("note", Text, nullable=False),
    Column("points", Integer, nullable=False),
    Column("awarded_by", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

snapshots = Table(
    "snapshots", metadata,
    Column("region_code", String(5), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("score", Float, nullable=False),
    Column("values", JSON, nullable=False),
    Column("counts", JSON, nullable=False),
    Column("as_of", DateTime(timezone=True), nullable=False),
)

PROJECTION = (registrations, tallies, daily, budgets, invoices, inbox)
