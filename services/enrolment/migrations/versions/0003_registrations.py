"""Registrations, with one live registration per NIK and programme enforced by a partial unique index

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('pending_funding', 'active')")


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("registration_id", sa.String(36), primary_key=True),
        sa.Column("content_sha256", sa.String(64), nullable=False),
        sa.Column("nik", sa.String(16), nullable=False),
        sa.Column("worker_ref", sa.String(64), nullable=False),
        sa.Column("full_name", sa.String(200), nullable=False),
        sa.Column("phone", sa.String(20), nullable=True),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("birth_date", sa.Date, nullable=False),
        sa.Column("age_band", sa.String(8), nullable=False),
        sa.Column("nik_district_code", sa.String(8), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("category_description", sa.String(200), nullable=True),
        sa.Column("province_code", sa.String(2), nullable=False),
        sa.Column("regency_code", sa.String(5), nullable=False),
        sa.Column("district_code", sa.String(8), nullable=True),
        sa.Column("village_code", sa.String(13), nullable=True),
        sa.Column("programme", sa.String(64), nullable=False),
        sa.Column("fiscal_year", sa.Integer, nullable=False),
        sa.Column("start_month", sa.Integer, nullable=False),
        sa.Column("months", sa.Integer, nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("device_id", sa.String(64), nullable=True),
        sa.Column("officer_id", sa.String(64), nullable=True),
        sa.Column("captured_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_reason", sa.String(40), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_month", sa.Integer, nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("uq_registrations_live_nik", "registrations", ["nik", "programme"], unique=True,
                    postgresql_where=LIVE, sqlite_where=LIVE)
    op.create_index("ix_registrations_updated", "registrations", ["updated_at", "registration_id"])
    op.create_index("ix_registrations_regency", "registrations", ["regency_code", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_registrations_regency", "registrations")
    op.drop_index("ix_registrations_updated", "registrations")
    op.drop_index("uq_registrations_live_nik", "registrations")
    op.drop_table("registrations")
