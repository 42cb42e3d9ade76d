#!/bin/sh
# Runs once, when the PostgreSQL volume is first initialised: one login role and one database per service, plus
# the access store that every service reads. A service's role owns only its own database, so the award or subsidy
# credentials cannot read enrolment's personal data.
set -eu

for name in enrolment subsidy award office access; do
  var="$(echo "$name" | tr '[:lower:]' '[:upper:]')_DB_PASSWORD"
  password="$(printenv "$var" || true)"
  if [ -z "$password" ]; then
    echo "postgres-init: $var is not set" >&2
    exit 1
  fi
  psql --variable=ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
       --set=name="$name" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
