-- Mounted into /docker-entrypoint-initdb.d by compose.yaml: runs once, when the postgres
-- container starts on an empty data volume, as the POSTGRES_USER superuser (who then owns them).
-- Each service owns exactly one database; `quarterdeck migrate` creates the tables in each.
CREATE DATABASE identity;
CREATE DATABASE tenancy;
CREATE DATABASE conversation;
CREATE DATABASE tooling;
CREATE DATABASE telemetry;
