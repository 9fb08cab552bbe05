-- Least-privilege accounts for audit-ingest (writes the audit tables) and the PMM agent (reads them).
-- Runs as written on MariaDB 10.6+ and MySQL 8.0 / 8.4 / Percona Server 8.x: the statements for one
-- kind of server only are in executable comments (`/*M!` runs on MariaDB only, `/*!80014` on MySQL
-- 8.0.14+ only; MariaDB skips MySQL's 8.x comments). Run it as an administrator ON EVERY SERVER
-- whose audit log audit-ingest reads (the primary and each replica: in the default local mode nothing
-- audit-ingest writes replicates, and neither does this file):
--   mysql -u root -p < examples/grant.sql
-- Replace the passwords (or create the accounts with an authentication plugin of your choice first:
-- IF NOT EXISTS leaves an existing account and its password alone, so an existing PMM monitoring
-- account `pmm` keeps its own).
--
-- Each account exists for 'localhost' (Unix socket) and '127.0.0.1' (TCP, what the DSNs of the
-- README use): with skip_name_resolve=ON a TCP login from 127.0.0.1 never matches 'localhost'. Add
-- the host names or addresses other clients connect from in the same way.
SET SESSION sql_log_bin = 0;
CREATE DATABASE IF NOT EXISTS percona CHARACTER SET utf8mb4;

CREATE USER IF NOT EXISTS 'audit_ingest'@'localhost' IDENTIFIED BY 'change-me';
CREATE USER IF NOT EXISTS 'audit_ingest'@'127.0.0.1' IDENTIFIED BY 'change-me';
-- CREATE to make the tables on first start (or apply `audit-ingest schema --apply` as an admin and
-- drop CREATE); SELECT/INSERT/UPDATE for records and checkpoints; DELETE for --retention and
-- `audit-ingest sources remove`; ALTER only for `audit-ingest schema --apply` upgrading an older
-- layout in place.
GRANT CREATE, ALTER, SELECT, INSERT, UPDATE, DELETE ON percona.* TO 'audit_ingest'@'localhost';
GRANT CREATE, ALTER, SELECT, INSERT, UPDATE, DELETE ON percona.* TO 'audit_ingest'@'127.0.0.1';

-- Replication safety (local mode, the default): audit-ingest runs SET SESSION sql_log_bin = 0 on every
-- connection and stops if it may not; on a replica with read_only=ON it must still write its own
-- tables (super_read_only=ON blocks every account, this one too: audit-ingest then waits and says so).
-- MariaDB 10.5.2+: BINLOG ADMIN turns sql_log_bin off for the session, READ_ONLY ADMIN writes on a
-- read_only replica (before 10.5.2 both came with SUPER).
/*M!100502 GRANT BINLOG ADMIN, READ_ONLY ADMIN ON *.* TO 'audit_ingest'@'localhost' */;
/*M!100502 GRANT BINLOG ADMIN, READ_ONLY ADMIN ON *.* TO 'audit_ingest'@'127.0.0.1' */;
-- MySQL 8.0.14+ / 8.4 and Percona Server 8.0 / 8.4: SESSION_VARIABLES_ADMIN sets sql_log_bin for the
-- session, CONNECTION_ADMIN writes on a read_only replica.
/*!80014 GRANT SESSION_VARIABLES_ADMIN, CONNECTION_ADMIN ON *.* TO 'audit_ingest'@'localhost' */;
/*!80014 GRANT SESSION_VARIABLES_ADMIN, CONNECTION_ADMIN ON *.* TO 'audit_ingest'@'127.0.0.1' */;
-- Central mode (`--mode central`, many hosts writing one store whose binary log replicates it) needs
-- neither: grant only the table privileges above on the store.

-- The PMM agent only reads. pmm-agent runs the checks with the monitoring account of the service
-- (`pmm-admin add mysql --username pmm ...`); `check-gen run --dsn mysql://pmm:change-me@127.0.0.1:3306/`
-- runs them the same way.
CREATE USER IF NOT EXISTS 'pmm'@'localhost' IDENTIFIED BY 'change-me';
CREATE USER IF NOT EXISTS 'pmm'@'127.0.0.1' IDENTIFIED BY 'change-me';
GRANT SELECT ON percona.* TO 'pmm'@'localhost';
GRANT SELECT ON percona.* TO 'pmm'@'127.0.0.1';
