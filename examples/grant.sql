-- Least-privilege account for audit-ingest. Run as an administrator:
--   mysql < examples/grant.sql
-- Replace the password, or better, create the account with an authentication plugin of your choice.
-- The tables live in the `percona` database (the one the DSN names).
CREATE DATABASE IF NOT EXISTS percona CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'audit_ingest'@'localhost' IDENTIFIED BY 'change-me';
CREATE USER IF NOT EXISTS 'audit_ingest'@'127.0.0.1' IDENTIFIED BY 'change-me';
-- CREATE to make the three tables on first start (or apply `audit-ingest schema` as an admin and drop
-- CREATE); SELECT/INSERT/UPDATE for records and checkpoints; DELETE only for --retention.
GRANT CREATE, SELECT, INSERT, UPDATE, DELETE ON percona.* TO 'audit_ingest'@'localhost';
GRANT CREATE, SELECT, INSERT, UPDATE, DELETE ON percona.* TO 'audit_ingest'@'127.0.0.1';

-- The PMM agent only reads. pmm-agent runs checks with the monitoring account of the service:
GRANT SELECT ON percona.* TO 'pmm'@'localhost';
