from services.subsidy.models import SubsidyBase
from shared.database import run_migrations

run_migrations(SubsidyBase.metadata)
