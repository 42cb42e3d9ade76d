"""Premium rates (seeded), budgets and funding lines with their history, decisions, the monthly ledger and invoices

Revision ID: 0003
Revises: 0002
"""
from datetime import date

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")
TZ = sa.DateTime(timezone=True)

# The BPU package bpu-jkk-jkm: JKK at least Rp10,000 and JKM Rp6,800 a month (PP 44/2015). PP 49/2020 cut both
# contributions by 99% for August 2020 to January 2021 (COVID-19 relief); the rate in force is 1% of each.
RATES = [
    ("bpu-jkk-jkm", "jkk", 10_000, date(2015, 7, 1), date(2020, 7, 31), "PP 44/2015"),
    ("bpu-jkk-jkm", "jkk", 100, date(2020, 8, 1), date(2021, 1, 31), "PP 49/2020 (keringanan iuran 99%)"),
    ("bpu-jkk-jkm", "jkk", 10_000, date(2021, 2, 1), None, "PP 44/2015"),
    ("bpu-jkk-jkm", "jkm", 6_800, date(2015, 7, 1), date(2020, 7, 31), "PP 44/2015"),
    ("bpu-jkk-jkm", "jkm", 68, date(2020, 8, 1), date(2021, 1, 31), "PP 49/2020 (keringanan iuran 99%)"),
    ("bpu-jkk-jkm", "jkm", 6_800, date(2021, 2, 1), None, "PP 44/2015"),
]


def upgrade() -> None:
    rates = op.create_table(
        "rates",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("programme", sa.String(64), nullable=False),
        sa.Column("component", sa.String(16), nullable=False),
        sa.Column("amount_rupiah", sa.BigInteger, nullable=False),
        sa.Column("valid_from", sa.Date, nullable=False),
        sa.Column("valid_to", sa.Date, nullable=True),
        sa.Column("legal_reference", sa.String(200), nullable=False),
    )
    op.bulk_insert(rates, [
        {"programme": p, "component": c, "amount_rupiah": a, "valid_from": f, "valid_to": t, "legal_reference": r}
        for p, c, a, f, t, r in RATES
    ])
    op.create_table(
        "budgets",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(5), nullable=False),
        sa.Column("fiscal_year", sa.Integer, nullable=False),
        sa.Column("allocation_rupiah", sa.BigInteger, nullable=False),
        sa.Column("committed_rupiah", sa.BigInteger, nullable=False),
        sa.Column("funded_members", sa.Integer, nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("thresholds_published", sa.Integer, nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.UniqueConstraint("region_code", "fiscal_year", name="uq_budgets_region_year"),
    )
    op.create_table(
        "funding_lines",
        sa.Column("budget_id", sa.Integer, sa.ForeignKey("budgets.id"), primary_key=True),
        sa.Column("line_id", sa.String(64), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("amount_rupiah", sa.BigInteger, nullable=False),
        sa.Column("legal_reference", sa.String(200), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
    )
    op.create_table(
        "funding_line_changes",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("budget_id", sa.Integer, sa.ForeignKey("budgets.id"), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("line_id", sa.String(64), nullable=False),
        sa.Column("change", sa.String(10), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("amount_before_rupiah", sa.BigInteger, nullable=True),
        sa.Column("amount_after_rupiah", sa.BigInteger, nullable=True),
        sa.Column("legal_reference", sa.String(200), nullable=False),
        sa.Column("changed_by", sa.String(64), nullable=False),
        sa.Column("changed_at", TZ, nullable=False),
    )
    op.create_index("ix_funding_line_changes_budget", "funding_line_changes", ["budget_id", "id"])
    op.create_table(
        "registrations",
        sa.Column("registration_id", sa.String(36), primary_key=True),
        sa.Column("regency_code", sa.String(5), nullable=False),
        sa.Column("fiscal_year", sa.Integer, nullable=False),
        sa.Column("programme", sa.String(64), nullable=False),
        sa.Column("start_month", sa.Integer, nullable=False),
        sa.Column("last_month", sa.Integer, nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("budget_id", sa.Integer, sa.ForeignKey("budgets.id"), nullable=True),
        sa.Column("funding_region_code", sa.String(5), nullable=True),
        sa.Column("funding_line_id", sa.String(64), nullable=True),
        sa.Column("granted_rupiah", sa.BigInteger, nullable=False),
        sa.Column("released_rupiah", sa.BigInteger, nullable=False),
        sa.Column("decided_at", TZ, nullable=False),
        sa.Column("released_at", TZ, nullable=True),
    )
    op.create_index("ix_registrations_budget_decided", "registrations", ["budget_id", "decided_at"])
    op.create_index("ix_registrations_budget_released", "registrations", ["budget_id", "released_at"])
    op.create_table(
        "ledger_months",
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("month", sa.Integer, primary_key=True),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("amount_rupiah", sa.BigInteger, nullable=False),
        sa.Column("adjustment_members", sa.Integer, nullable=False),
        sa.Column("adjustment_rupiah", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "adjustments",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(5), nullable=False),
        sa.Column("registration_id", sa.String(36), nullable=False),
        sa.Column("covered_year", sa.Integer, nullable=False),
        sa.Column("covered_month", sa.Integer, nullable=False),
        sa.Column("billed_year", sa.Integer, nullable=False),
        sa.Column("billed_month", sa.Integer, nullable=False),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("amount_rupiah", sa.BigInteger, nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
    )
    op.create_index("ix_adjustments_billed", "adjustments", ["billed_year", "billed_month", "region_code"])
    op.create_table(
        "billing_months",
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("month", sa.Integer, primary_key=True),
        sa.Column("closed_at", TZ, nullable=True),
    )
    op.create_table(
        "invoices",
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("month", sa.Integer, primary_key=True),
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("members", sa.Integer, nullable=False),
        sa.Column("amount_rupiah", sa.BigInteger, nullable=False),
        sa.Column("adjustment_members", sa.Integer, nullable=False),
        sa.Column("adjustment_rupiah", sa.BigInteger, nullable=False),
        sa.Column("amount_due_rupiah", sa.BigInteger, nullable=False),
        sa.Column("closed_at", TZ, nullable=False),
    )


def downgrade() -> None:
    for table in ("invoices", "billing_months", "adjustments", "ledger_months", "registrations",
                  "funding_line_changes", "funding_lines", "budgets", "rates"):
        op.drop_table(table)
