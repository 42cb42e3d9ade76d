"""The services' key actions copied into the audit trail: where each entry came from, and how far each service's
entries have been copied

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
    # Adding columns is DDL, which the append-only triggers (0001) do not guard; existing entries keep nulls.
    with op.batch_alter_table("audit_entries", recreate="never") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=True))
        batch.add_column(sa.Column("source_entry_id", sa.BigInteger, nullable=True))
    op.create_index("uq_audit_source_entry", "audit_entries", ["source", "source_entry_id"], unique=True)
    op.create_table(
        "audit_sources",
        sa.Column("source", sa.String(16), primary_key=True),
        sa.Column("copied_through", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("audit_sources")
    op.drop_index("uq_audit_source_entry", "audit_entries")
    with op.batch_alter_table("audit_entries", recreate="never") as batch:
        batch.drop_column("source_entry_id")
        batch.drop_column("source")
