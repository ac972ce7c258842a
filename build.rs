//! Embeds the SQL migrations in the binary, as `sqlx::migrate!` would, without
//! sqlx's `macros` feature: that proc macro compiles sqlx-core, both database
//! drivers and the bundled SQLite a second time (for the host) in every cold
//! build (issue 16). Writes `$OUT_DIR/migrations.rs` with one
//! `(file name, include_str!(…))` list per directory; src/jobs/migrations.rs
//! turns them into sqlx `Migrator`s at run time.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let out = std::env::var("OUT_DIR").expect("OUT_DIR");
    let mut code = String::new();
    for (constant, dir_name) in [("POSTGRES", "migrations"), ("SQLITE", "migrations-sqlite")] {
        println!("cargo:rerun-if-changed={dir_name}");
        let dir = Path::new(&manifest).join(dir_name);
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|entry| entry.expect("a migration directory entry").path())
            .filter(|path| path.is_file() && path.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        writeln!(code, "pub(super) const {constant}: &[(&str, &str)] = &[").unwrap();
        for path in files {
            let name = path
                .file_name()
                .unwrap()
                .to_str()
                .expect("a UTF-8 file name");
            // Relative to the manifest, not this checkout's absolute path: a
            // target directory shared by two checkouts (a worktree) must not
            // read the other one's files.
            let relative = format!("/{dir_name}/{name}");
            writeln!(
                code,
                "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), {relative:?}))),"
            )
            .unwrap();
        }
        writeln!(code, "];").unwrap();
    }
    std::fs::write(Path::new(&out).join("migrations.rs"), code).expect("writing migrations.rs");
}
