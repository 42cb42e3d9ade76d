"""The enrolment service's tables: registrations (the only place personal data is kept), the outbox of events
not yet acknowledged by the broker, and the inbox of subsidy decisions already applied."""

from sqlalchemy import JSON, BigInteger, Column, Date, DateTime, Index, Integer, MetaData, String, Table

from shared.database import Base
from shared.inbox import inbox_table
from shared.key_actions import key_actions_table
from shared.outbox import outbox_tables
from shared.vocabulary import LIVE_STATUSES


class EnrolmentBase(Base):
    __abstract__ = True
    metadata = MetaData()


inbox = inbox_table(EnrolmentBase.metadata)
outbox, outbox_lease, outbox_marks = outbox_tables(EnrolmentBase.metadata)
key_actions = key_actions_table(EnrolmentBase.metadata)

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
    Column("renews", String(36), nullable=True),  # last year's registration this one renews
    Column("replaces", String(36), nullable=True),  # the holder this one succeeds (mutasi)
    Column("waiting_arrival", BigInteger, nullable=True),  # arrival order on subsidy's waiting list
    # BPJS Ketenagakerjaan's answer to the member file (docs/enrolment.md, BPJS exchange): the membership number
    # (KPJ, personal data like the NIK), enrolled or rejected, and the reason BPJS gave for a rejection.
    Column("kpj_number", String(20), nullable=True),
    Column("bpjs_status", String(10), nullable=True),
    Column("bpjs_reason", String(200), nullable=True),
    Column("bpjs_rejection", String(20), nullable=True),  # the reason's category (domain.RejectionCategory)
)
# One live registration per NIK, programme and fiscal year, held by the database itself so concurrent intakes
# cannot both win; a renewal lives beside the year it renews.
Index("uq_registrations_live_nik", registrations.c.nik, registrations.c.programme, registrations.c.fiscal_year,
      unique=True, postgresql_where=registrations.c.status.in_(LIVE_STATUSES),
      sqlite_where=registrations.c.status.in_(LIVE_STATUSES))
# A registration is renewed once.
Index("uq_registrations_renews", registrations.c.renews, unique=True)
# The cohort a renewal reads, and a waiting registration's position in its regency/city's list.
Index("ix_registrations_cohort", registrations.c.regency_code, registrations.c.fiscal_year, registrations.c.status)
Index("ix_registrations_waiting", registrations.c.regency_code, registrations.c.fiscal_year,
      registrations.c.waiting_arrival)
# The change feed's order (by last change) and the listing's (by registration), each also within a regency/city.
Index("ix_registrations_updated", registrations.c.updated_at, registrations.c.registration_id)
Index("ix_registrations_regency", registrations.c.regency_code, registrations.c.updated_at)
Index("ix_registrations_registered", registrations.c.registered_at, registrations.c.registration_id)
Index("ix_registrations_regency_registered", registrations.c.regency_code, registrations.c.registered_at,
      registrations.c.registration_id)
# A member file is found by its region's registrations that began or ended coverage in a month.
Index("ix_registrations_bpjs_start", registrations.c.regency_code, registrations.c.fiscal_year,
      registrations.c.start_month)
Index("ix_registrations_kpj", registrations.c.kpj_number)

# Every download of a BPJS member file: the one place personal data leaves this database by design.
bpjs_downloads = Table(
    "bpjs_downloads", EnrolmentBase.metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key_id", String(16), nullable=False),
    Column("key_name", String(200), nullable=False),
    Column("region_code", String(5), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("month", Integer, nullable=False),
    Column("format", String(4), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("downloaded_at", DateTime(timezone=True), nullable=False),
)
Index("ix_bpjs_downloads_region", bpjs_downloads.c.region_code, bpjs_downloads.c.fiscal_year, bpjs_downloads.c.month)

# Every import of BPJS's result file, with its counts and the rows it did not apply (row number and code only).
bpjs_imports = Table(
    "bpjs_imports", EnrolmentBase.metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("key_id", String(16), nullable=False),
    Column("region_code", String(5), nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("enrolled", Integer, nullable=False),
    Column("rejected", Integer, nullable=False),
    Column("unchanged", Integer, nullable=False),
    Column("mismatched", Integer, nullable=False),
    Column("mismatches", JSON, nullable=False),
    Column("imported_at", DateTime(timezone=True), nullable=False),
)
