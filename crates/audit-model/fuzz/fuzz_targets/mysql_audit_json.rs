#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    audit_model_fuzz::check(Some("mysql-audit-json".parse().unwrap()), data);
});
