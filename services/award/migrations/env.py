from services.award.models import AwardBase
from shared.database import run_migrations

run_migrations(AwardBase.metadata)
