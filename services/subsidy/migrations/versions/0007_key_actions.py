"""What API keys change here, append-only: the subsidy service's half of the audit trail (shared/key_actions.py)

Revision ID: 0007
Revises: 0006
"""
from alembic import op

from shared.key_actions import create_key_actions, drop_key_actions

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_key_actions(op)


def downgrade() -> None:
    drop_key_actions(op)
