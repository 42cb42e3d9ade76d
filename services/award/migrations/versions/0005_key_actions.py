"""What API keys change here, append-only: the award service's half of the audit trail (shared/key_actions.py)

Revision ID: 0005
Revises: 0004
"""
from alembic import op

from shared.key_actions import create_key_actions, drop_key_actions

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_key_actions(op)


def downgrade() -> None:
    drop_key_actions(op)
