"""BPJS Ketenagakerjaan's bills compared with the frozen invoices, and the invoices' payments

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invoice_payments",
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("month", sa.Integer, primary_key=True),
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("invoiced_rupiah", sa.BigInteger, nullable=False),
        sa.Column("paid_rupiah", sa.BigInteger, nullable=False),
        sa.Column("paid_on", sa.Date, nullable=False),
        sa.Column("reference", sa.String(64), nullable=False),
        sa.Column("recorded_by", sa.String(16), nullable=False),
        sa.Column("recorded_by_name", sa.String(200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "bpjs_bills",
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("month", sa.Integer, primary_key=True),
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("billed_members", sa.Integer, nullable=False),
        sa.Column("billed_rupiah", sa.BigInteger, nullable=False),
        sa.Column("differences", sa.Integer, nullable=False),
        sa.Column("recorded_by", sa.String(16), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bpjs_bills")
    op.drop_table("invoice_payments")
