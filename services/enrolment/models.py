"""The enrolment service's tables: registrations (the only place personal data is kept), the outbox of events
not yet acknowledged by the broker, and the inbox of subsidy decisions already applied."""

from sqlalchemy import Column, Date, DateTime, Index, Integer, MetaData, String, Table

from shared.database import Base
from shared.inbox import inbox_table
from shared.outbox import outbox_tables
from shared.vocabulary import LIVE_STATUSES


class EnrolmentBase(Base):
    __abstract__ = True
    metadata = MetaData()


inbox = inbox_table(EnrolmentBase.metadata)
outbox, outbox_lease, outbox_marks = outbox_tables(EnrolmentBase.metadata)

registrations = Table(
    "registrations", EnrolmentBase.metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("content_sha256", String(64), nullable=False),
    Column("nik", String(16), nullable=False),
    Column("worker_ref", String(64), nullable=False),
    Column("full_name", String(200), nullable=False),
    Column("phone", String(20), nullable=True),
    Column("sex", String(1), nullable=False),
    Column("birth_date", Date, nullable=False),
    Column("age_band", String(8), nullable=False),
    Column("nik_district_code", String(8), nullable=False),
    Column("category", String(40), nullable=False),
    Column("category_description", String(200), nullable=True),
    Column("province_code", String(2), nullable=False),
    Column("regency_code", String(5), nullable=False),
    Column("district_code", String(8), nullable=True),
    Column("village_code", String(13), nullable=True),
    Column("programme", String(64), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("start_month", Integer, nullable=False),
    Column("months", Integer, nullable=False),
    Column("channel", String(20), nullable=False),
    Column("device_id", String(64), nullable=True),
    Column("officer_id", String(64), nullable=True),
    Column("captured_at", DateTime(timezone=True), nullable=False),
    Column("key_id", String(16), nullable=False),
    Column("status", String(20), nullable=False),
    Column("status_reason", String(40), nullable=True),
    Column("decided_at", DateTime(timezone=True), nullable=True),
    Column("end_month", Integer, nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("registered_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# One live registration per NIK and programme, held by the database itself so concurrent intakes cannot both win.
Index("uq_registrations_live_nik", registrations.c.nik, registrations.c.programme, unique=True,
      postgresql_where=registrations.c.status.in_(LIVE_STATUSES),
      sqlite_where=registrations.c.status.in_(LIVE_STATUSES))
# The change feed's order (by last change) and the listing's (by registration), each also within a regency/city.
Index("ix_registrations_updated", registrations.c.updated_at, registrations.c.registration_id)
Index("ix_registrations_regency", registrations.c.regency_code, registrations.c.updated_at)
Index("ix_registrations_registered", registrations.c.registered_at, registrations.c.registration_id)
Index("ix_registrations_regency_registered", registrations.c.regency_code, registrations.c.registered_at,
      registrations.c.registration_id)
