"""What API keys change here, append-only: the enrolment service's half of the audit trail (shared/key_actions.py)

Revision ID: 0008
Revises: 0007
"""
from alembic import op

from shared.key_actions import create_key_actions, drop_key_actions

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_key_actions(op)


def downgrade() -> None:
    drop_key_actions(op)
