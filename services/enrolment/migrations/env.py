from services.enrolment.models import EnrolmentBase
from shared.database import run_migrations

run_migrations(EnrolmentBase.metadata)
