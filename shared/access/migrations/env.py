from shared.access.keys import AccessBase
from shared.database import run_migrations

run_migrations(AccessBase.metadata)
