from services.office.models import OfficeBase
from shared.database import run_migrations

run_migrations(OfficeBase.metadata)
