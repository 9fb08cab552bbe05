//! Embeds the default `checks/` and `templates/` of the workspace, so the binary runs from anywhere.
//! Generates `$OUT_DIR/embedded.rs` with one `include_str!` a file, sorted by path for stable output.
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, prefix: &str, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            collect(&path, &format!("{prefix}{name}/"), out);
        } else {
            out.push((format!("{prefix}{name}"), path));
        }
    }
}

fn emit(f: &mut fs::File, konst: &str, dir: &Path) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect(dir, "", &mut files);
    files.sort();
    writeln!(f, "pub static {konst}: &[(&str, &str)] = &[").expect("write embedded.rs");
    for (name, path) in files {
        println!("cargo:rerun-if-changed={}", path.display());
        writeln!(f, "    ({name:?}, include_str!({:?})),", path.display().to_string()).expect("write embedded.rs");
    }
    writeln!(f, "];").expect("write embedded.rs");
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("embedded.rs");
    let mut f = fs::File::create(out).expect("create embedded.rs");
    emit(&mut f, "CHECKS", &root.join("checks"));
    emit(&mut f, "TEMPLATES", &root.join("templates"));
}
