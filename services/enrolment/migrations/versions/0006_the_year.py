"""A region's year: waiting for funding, renewals linked to the year they renew, successors to their holders

A live registration is now one per NIK, programme and fiscal year (a renewal lives beside the year it renews), and
waiting for funding is live too.

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

LIVE = sa.text("status IN ('pending_funding', 'waiting_funding', 'active')")
LIVE_BEFORE = sa.text("status IN ('pending_funding', 'active')")


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("renews", sa.String(36), nullable=True))
        batch.add_column(sa.Column("replaces", sa.String(36), nullable=True))
        batch.add_column(sa.Column("waiting_arrival", sa.BigInteger, nullable=True))
    op.drop_index("uq_registrations_live_nik", "registrations")
    op.create_index("uq_registrations_live_nik", "registrations", ["nik", "programme", "fiscal_year"], unique=True,
                    postgresql_where=LIVE, sqlite_where=LIVE)
    op.create_index("uq_registrations_renews", "registrations", ["renews"], unique=True)
    op.create_index("ix_registrations_cohort", "registrations", ["regency_code", "fiscal_year", "status"])
    op.create_index("ix_registrations_waiting", "registrations", ["regency_code", "fiscal_year", "waiting_arrival"])


def downgrade() -> None:
    op.drop_index("ix_registrations_waiting", "registrations")
    op.drop_index("ix_registrations_cohort", "registrations")
    op.drop_index("uq_registrations_renews", "registrations")
    op.drop_index("uq_registrations_live_nik", "registrations")
    op.create_index("uq_registrations_live_nik", "registrations", ["nik", "programme"], unique=True,
                    postgresql_where=LIVE_BEFORE, sqlite_where=LIVE_BEFORE)
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("waiting_arrival")
        batch.drop_column("replaces")
        batch.drop_column("renews")
