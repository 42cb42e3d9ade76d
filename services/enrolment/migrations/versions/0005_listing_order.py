"""Indexes for the listing's order, (registered_at, registration_id), overall and within a regency/city

The listing pages by registration rather than by last change, so a registration ended while an officer pages
through a region is still listed once.

Revision ID: 0005
Revises: 0004
"""
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_registrations_registered", "registrations", ["registered_at", "registration_id"])
    op.create_index("ix_registrations_regency_registered", "registrations",
                    ["regency_code", "registered_at", "registration_id"])


def downgrade() -> None:
    op.drop_index("ix_registrations_regency_registered", "registrations")
    op.drop_index("ix_registrations_registered", "registrations")
