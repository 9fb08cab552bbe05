//! End-to-end tests only (see `tests/`): a real MariaDB writes a real `server_audit` log,
//! `audit-ingest follow` stores it, `check-gen run` finds the alerts. The tests run the
//! `audit-ingest` and `check-gen` binaries of the workspace's target directory; build them first
//! (`cargo build -p ingest -p check-gen --features check-gen/full`, or `cargo test --workspace`, which
//! builds them, check-gen with every feature: this crate's dev-dependency asks for them).
