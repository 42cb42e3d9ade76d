"""The waiting list, each budget's funding policy, and months reserved for a replaced holder's successor

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("budgets") as batch:
        batch.add_column(sa.Column("funding_policy", sa.String(4), nullable=False, server_default="wait"))
        batch.add_column(sa.Column("backdate_late_grants", sa.Boolean, nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("reserved_rupiah", sa.BigInteger, nullable=False, server_default="0"))
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("reserved_rupiah", sa.BigInteger, nullable=False, server_default="0"))
    op.create_table(
        "waiting",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("registration_id", sa.String(36), nullable=False, unique=True),
        sa.Column("regency_code", sa.String(5), nullable=False),
        sa.Column("fiscal_year", sa.Integer, nullable=False),
        sa.Column("programme", sa.String(64), nullable=False),
        sa.Column("start_month", sa.Integer, nullable=False),
        sa.Column("last_month", sa.Integer, nullable=False),
        sa.Column("worker_ref", sa.String(64), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("sex", sa.String(1), nullable=False),
        sa.Column("age_band", sa.String(8), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_waiting_queue", "waiting", ["fiscal_year", "regency_code", "id"])


def downgrade() -> None:
    op.drop_index("ix_waiting_queue", "waiting")
    op.drop_table("waiting")
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("reserved_rupiah")
    with op.batch_alter_table("budgets") as batch:
        batch.drop_column("reserved_rupiah")
        batch.drop_column("backdate_late_grants")
        batch.drop_column("funding_policy")
