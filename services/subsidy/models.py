"""The subsidy service's tables: premium rates, budgets and their funding lines, each registration's decision, the
monthly ledger, closed invoices, and the inbox and outbox that make consuming and publishing exactly once.

Money columns are whole rupiah in BIGINT: a province's yearly allocation passes 2^31 rupiah easily.
"""

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    UniqueConstraint,
    false,
)

from shared.database import Base
from shared.inbox import inbox_table
from shared.key_actions import key_actions_table
from shared.outbox import outbox_tables


class SubsidyBase(Base):
    __abstract__ = True
    metadata = MetaData()


metadata = SubsidyBase.metadata
Id = BigInteger().with_variant(Integer, "sqlite")

inbox = inbox_table(metadata)
outbox, outbox_lease, outbox_marks = outbox_tables(metadata)
key_actions = key_actions_table(metadata)

# One row per component of a programme's premium and the period it is in force (valid_to inclusive, None: open).
rates = Table(
    "rates", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("programme", String(64), nullable=False),
    Column("component", String(16), nullable=False),
    Column("amount_rupiah", BigInteger, nullable=False),
    Column("valid_from", Date, nullable=False),
    Column("valid_to", Date, nullable=True),
    Column("legal_reference", String(200), nullable=False),
)

budgets = Table(
    "budgets", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("region_code", String(5), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("allocation_rupiah", BigInteger, nullable=False),
    Column("committed_rupiah", BigInteger, nullable=False),
    Column("funded_members", Integer, nullable=False),
    # Bumped by every change of lines: budget.allocated event ids derive from it.
    Column("revision", Integer, nullable=False),
    # Bit per threshold already published (80, 95, 100), so each goes out once in the budget's life.
    Column("thresholds_published", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    # What a registration the budget cannot cover now does: waits for money (wait) or is denied (deny).
    Column("funding_policy", String(4), nullable=False, server_default="wait"),
    # A late grant covers from the month it is funded, or with this, from as far back as intake's backdating allows.
    Column("backdate_late_grants", Boolean, nullable=False, server_default=false()),
    # Months a replaced holder released, held for the successor: no waiting registration may take them.
    Column("reserved_rupiah", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("region_code", "fiscal_year", name="uq_budgets_region_year"),
)

funding_lines = Table(
    "funding_lines", metadata,
    Column("budget_id", Integer, ForeignKey("budgets.id"), primary_key=True),
    Column("line_id", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("source", String(20), nullable=False),
    Column("amount_rupiah", BigInteger, nullable=False),
    Column("legal_reference", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Every addition, change and removal of a line, with what it was before: amendments are never silent.
funding_line_changes = Table(
    "funding_line_changes", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("budget_id", Integer, ForeignKey("budgets.id"), nullable=False),
    Column("revision", Integer, nullable=False),
    Column("line_id", String(64), nullable=False),
    Column("change", String(10), nullable=False),  # added | changed | removed
    Column("source", String(20), nullable=False),
    Column("amount_before_rupiah", BigInteger, nullable=True),
    Column("amount_after_rupiah", BigInteger, nullable=True),
    Column("legal_reference", String(200), nullable=False),
    Column("changed_by", String(64), nullable=False),
    Column("changed_at", DateTime(timezone=True), nullable=False),
)
Index("ix_funding_line_changes_budget", funding_line_changes.c.budget_id, funding_line_changes.c.id)

registrations = Table(
    "registrations", metadata,
    Column("registration_id", String(36), primary_key=True),
    Column("regency_code", String(5), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("programme", String(64), nullable=False),
    Column("start_month", Integer, nullable=False),
    Column("last_month", Integer, nullable=False),  # last month still covered; start_month - 1 once all released
    Column("status", String(10), nullable=False),  # shared.vocabulary.SubsidyStatus
    Column("budget_id", Integer, ForeignKey("budgets.id"), nullable=True),
    Column("funding_region_code", String(5), nullable=True),
    Column("funding_line_id", String(64), nullable=True),
    Column("granted_rupiah", BigInteger, nullable=False),
    Column("released_rupiah", BigInteger, nullable=False),
    Column("decided_at", DateTime(timezone=True), nullable=False),
    Column("released_at", DateTime(timezone=True), nullable=True),
    # A replaced holder's released rupiah held in its budget for the successor, until the successor is decided.
    Column("reserved_rupiah", BigInteger, nullable=False, server_default="0"),
)
Index("ix_registrations_budget_decided", registrations.c.budget_id, registrations.c.decided_at)
Index("ix_registrations_budget_released", registrations.c.budget_id, registrations.c.released_at)

# The waiting list: registrations no budget could cover when they arrived, in arrival order (id). A row leaves it
# in the same transaction as its registration's guarded move out of "waiting", so it is funded or denied once.
# It keeps what a late subsidy.granted must say about the worker: no personal data, the pseudonym and bands only.
waiting = Table(
    "waiting", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("registration_id", String(36), nullable=False, unique=True),
    Column("regency_code", String(5), nullable=False),
    Column("fiscal_year", Integer, nullable=False),
    Column("programme", String(64), nullable=False),
    Column("start_month", Integer, nullable=False),
    Column("last_month", Integer, nullable=False),
    Column("worker_ref", String(64), nullable=False),
    Column("category", String(40), nullable=False),
    Column("sex", String(1), nullable=False),
    Column("age_band", String(8), nullable=False),
    Column("since", DateTime(timezone=True), nullable=False),
)
Index("ix_waiting_queue", waiting.c.fiscal_year, waiting.c.regency_code, waiting.c.id)

# Coverage per funding region and month (the truth), plus late changes to closed months carried into this one.
ledger_months = Table(
    "ledger_months", metadata,
    Column("region_code", String(5), primary_key=True),
    Column("fiscal_year", Integer, primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("members", Integer, nullable=False),
    Column("amount_rupiah", BigInteger, nullable=False),
    Column("adjustment_members", Integer, nullable=False),
    Column("adjustment_rupiah", BigInteger, nullable=False),
)

adjustments = Table(
    "adjustments", metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("region_code", String(5), nullable=False),
    Column("registration_id", String(36), nullable=False),
    Column("covered_year", Integer, nullable=False),
    Column("covered_month", Integer, nullable=False),
    Column("billed_year", Integer, nullable=False),
    Column("billed_month", Integer, nullable=False),
    Column("members", Integer, nullable=False),
    Column("amount_rupiah", BigInteger, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
Index("ix_adjustments_billed", adjustments.c.billed_year, adjustments.c.billed_month, adjustments.c.region_code)

# One row per billing month. Consumers share-lock the months they write and closing updates the row, so a close
# and a ledger change never interleave: the change lands before the freeze, or becomes an adjustment after it.
billing_months = Table(
    "billing_months", metadata,
    Column("fiscal_year", Integer, primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("closed_at", DateTime(timezone=True), nullable=True),
)

invoices = Table(
    "invoices", metadata,
    Column("fiscal_year", Integer, primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("region_code", String(5), primary_key=True),
    Column("members", Integer, nullable=False),
    Column("amount_rupiah", BigInteger, nullable=False),
    Column("adjustment_members", Integer, nullable=False),
    Column("adjustment_rupiah", BigInteger, nullable=False),
    Column("amount_due_rupiah", BigInteger, nullable=False),
    Column("closed_at", DateTime(timezone=True), nullable=False),
)

# A frozen invoice recorded as paid to BPJS Ketenagakerjaan: once, with who recorded it. A paid month stays paid;
# later changes to it are adjustments billed in an open month, as for any closed month.
invoice_payments = Table(
    "invoice_payments", metadata,
    Column("fiscal_year", Integer, primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("region_code", String(5), primary_key=True),
    Column("invoiced_rupiah", BigInteger, nullable=False),
    Column("paid_rupiah", BigInteger, nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("reference", String(64), nullable=False),
    Column("recorded_by", String(16), nullable=False),
    Column("recorded_by_name", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

# The last bill BPJS sent for a region's month, as compared with the invoice (totals; member lines are not kept).
bpjs_bills = Table(
    "bpjs_bills", metadata,
    Column("fiscal_year", Integer, primary_key=True),
    Column("month", Integer, primary_key=True),
    Column("region_code", String(5), primary_key=True),
    Column("billed_members", Integer, nullable=False),
    Column("billed_rupiah", BigInteger, nullable=False),
    Column("differences", Integer, nullable=False),
    Column("recorded_by", String(16), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)
