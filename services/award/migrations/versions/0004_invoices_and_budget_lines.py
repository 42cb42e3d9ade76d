"""The evidence pack's budget: each budget's funding lines (with their legal references) and the months invoiced to
BPJS Ketenagakerjaan and paid

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("budgets") as batch:
        batch.add_column(sa.Column("lines", sa.JSON, nullable=True))
    op.create_table(
        "invoices",
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("month", sa.Integer, primary_key=True),
        sa.Column("members", sa.Integer),
        sa.Column("invoiced_rupiah", sa.BigInteger),
        sa.Column("issued_at", sa.DateTime(timezone=True)),
        sa.Column("paid_rupiah", sa.BigInteger),
        sa.Column("paid_on", sa.Date),
        sa.Column("payment_reference", sa.String(200)),
        sa.Column("paid_at", sa.DateTime(timezone=True)),
    )


def downgrade() -> None:
    op.drop_table("invoices")
    with op.batch_alter_table("budgets") as batch:
        batch.drop_column("lines")
