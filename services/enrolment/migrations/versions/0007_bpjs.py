"""The BPJS Ketenagakerjaan exchange: each registration's KPJ number and BPJS status, the audit of member-file
downloads, and the imports of BPJS's result files

Revision ID: 0007
Revises: 0006
"""
import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("kpj_number", sa.String(20), nullable=True))
        batch.add_column(sa.Column("bpjs_status", sa.String(10), nullable=True))
        batch.add_column(sa.Column("bpjs_reason", sa.String(200), nullable=True))
        batch.add_column(sa.Column("bpjs_rejection", sa.String(20), nullable=True))
    op.create_index("ix_registrations_bpjs_start", "registrations", ["regency_code", "fiscal_year", "start_month"])
    op.create_index("ix_registrations_kpj", "registrations", ["kpj_number"])
    op.create_table(
        "bpjs_downloads",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("key_name", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(5), nullable=False),
        sa.Column("fiscal_year", sa.Integer, nullable=False),
        sa.Column("month", sa.Integer, nullable=False),
        sa.Column("format", sa.String(4), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_bpjs_downloads_region", "bpjs_downloads", ["region_code", "fiscal_year", "month"])
    op.create_table(
        "bpjs_imports",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("key_id", sa.String(16), nullable=False),
        sa.Column("region_code", sa.String(5), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("rows", sa.Integer, nullable=False),
        sa.Column("enrolled", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("unchanged", sa.Integer, nullable=False),
        sa.Column("mismatched", sa.Integer, nullable=False),
        sa.Column("mismatches", sa.JSON, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bpjs_imports")
    op.drop_index("ix_bpjs_downloads_region", "bpjs_downloads")
    op.drop_table("bpjs_downloads")
    op.drop_index("ix_registrations_kpj", "registrations")
    op.drop_index("ix_registrations_bpjs_start", "registrations")
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("bpjs_rejection")
        batch.drop_column("bpjs_reason")
        batch.drop_column("bpjs_status")
        batch.drop_column("kpj_number")
