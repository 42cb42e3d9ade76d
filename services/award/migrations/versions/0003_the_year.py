"""The projection of a region's year: when a registration began waiting for funding, and whether it renews last
year's

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.add_column(sa.Column("waitlisted_on", sa.Date, nullable=True))
        batch.add_column(sa.Column("renews", sa.Boolean, nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("registrations") as batch:
        batch.drop_column("renews")
        batch.drop_column("waitlisted_on")
