"""The projection (registrations, tallies, daily, budgets), the committee's records and daily snapshots

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("registration_id", sa.String(36), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("regency_code", sa.String(5), nullable=False),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("age_band", sa.String(8), nullable=False),
        sa.Column("registered_on", sa.Date),
        sa.Column("funded_on", sa.Date),
        sa.Column("funding_region_code", sa.String(5)),
        sa.Column("granted", sa.JSON, nullable=False),
        sa.Column("released", sa.JSON, nullable=False),
        sa.Column("denied_on", sa.Date),
        sa.Column("ended_on", sa.Date),
    )
    op.create_table(
        "tallies",
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(48), primary_key=True),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "daily",
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("name", sa.String(16), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
    )
    op.create_table(
        "budgets",
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("allocation_rupiah", sa.BigInteger, nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True)),
        sa.Column("threshold_percent", sa.Integer),
    )
    op.create_table(
        "targets",
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("target_population", sa.Integer, nullable=False),
        sa.Column("source", sa.String(500), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "regulations",
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("instrument", sa.String(10)),
        sa.Column("reference", sa.String(300)),
        sa.Column("enacted_on", sa.Date),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
    )
    op.create_table(
        "innovations",
        sa.Column("innovation_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("region_code", sa.String(5), nullable=False, index=True),
        sa.Column("fiscal_year", sa.Integer, nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("points", sa.Integer, nullable=False),
        sa.Column("awarded_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "snapshots",
        sa.Column("region_code", sa.String(5), primary_key=True),
        sa.Column("fiscal_year", sa.Integer, primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("values", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("snapshots", "innovations", "regulations", "targets", "budgets", "daily", "tallies",
                  "registrations"):
        op.drop_table(table)
