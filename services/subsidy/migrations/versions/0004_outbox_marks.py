"""The outbox relay's knowledge of the broker's log: marks per partition, and delivered_before on the lease row

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
    op.create_table(
        "outbox_marks",
        sa.Column("topic", sa.String(128), primary_key=True),
        sa.Column("partition", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("first_offset", sa.BigInteger, nullable=False),
        sa.Column("last_offset", sa.BigInteger, nullable=False),
    )
    with op.batch_alter_table("outbox_lease") as batch:
        batch.add_column(sa.Column("delivered_before", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_lease") as batch:
        batch.drop_column("delivered_before")
    op.drop_table("outbox_marks")
