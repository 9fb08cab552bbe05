-- Least-privilege account for audit-ingest. Run as an administrator ON EVERY SERVER whose audit log
-- it reads (the primary and each replica: in the default local mode nothing audit-ingest writes
-- replicates, and neither do these statements if you run them with sql_log_bin = 0):
--   mysql < examples/grant.sql
-- Replace the password, or better, create the account with an authentication plugin of your choice.
-- The tables live in the `percona` database (the one the DSN names).
SET SESSION sql_log_bin = 0;
CREATE DATABASE IF NOT EXISTS percona CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'audit_ingest'@'localhost' IDENTIFIED BY 'change-me';
CREATE USER IF NOT EXISTS 'audit_ingest'@'127.0.0.1' IDENTIFIED BY 'change-me';
-- CREATE to make the tables on first start (or apply `audit-ingest schema --apply` as an admin and
-- drop CREATE); SELECT/INSERT/UPDATE for records and checkpoints; DELETE only for --retention; ALTER
-- only for `audit-ingest schema --apply` upgrading an older layout in place.
GRANT CREATE, ALTER, SELECT, INSERT, UPDATE, DELETE ON percona.* TO 'audit_ingest'@'localhost';
GRANT CREATE, ALTER, SELECT, INSERT, UPDATE, DELETE ON percona.* TO 'audit_ingest'@'127.0.0.1';

-- Replication safety (local mode, the default): audit-ingest runs SET SESSION sql_log_bin = 0 on every
-- connection and stops if it may not. Keep ONE of the two blocks below, for your server.
--
-- MariaDB 10.5.2 and later: BINLOG ADMIN lets a session turn sql_log_bin off (before 10.5.2: SUPER).
-- READ_ONLY ADMIN lets it write its own tables on a replica with read_only=ON.
GRANT BINLOG ADMIN, READ_ONLY ADMIN ON *.* TO 'audit_ingest'@'localhost';
GRANT BINLOG ADMIN, READ_ONLY ADMIN ON *.* TO 'audit_ingest'@'127.0.0.1';
--
-- MySQL 8.0.14+ / 8.4 and Percona Server 8.0 / 8.4: SESSION_VARIABLES_ADMIN sets sql_log_bin for the
-- session; CONNECTION_ADMIN lets it write on a replica with read_only=ON (super_read_only=ON blocks
-- every account, this one too: audit-ingest then waits and says so).
-- GRANT SESSION_VARIABLES_ADMIN, CONNECTION_ADMIN ON *.* TO 'audit_ingest'@'localhost';
-- GRANT SESSION_VARIABLES_ADMIN, CONNECTION_ADMIN ON *.* TO 'audit_ingest'@'127.0.0.1';
--
-- Central mode (`--mode central`, many hosts writing one store whose binary log replicates it) needs
-- neither: grant only the table privileges above on the store.

-- The PMM agent only reads. pmm-agent runs checks with the monitoring account of the service:
GRANT SELECT ON percona.* TO 'pmm'@'localhost';
