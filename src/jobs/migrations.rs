//! The SQL migrations embedded in the binary (by build.rs) and the sqlx
//! `Migrator` over them: what `sqlx::migrate!` produced, without compiling
//! sqlx's proc macro and a second copy of sqlx for it (issue 16).

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::AssertSqlSafe;
use sqlx::SqlSafeStr;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// The PostgreSQL job table's migrations (`migrations/`).
pub(super) fn postgres() -> Migrator {
    migrator(embedded::POSTGRES)
}

/// The SQLite job table's migrations (`migrations-sqlite/`).
pub(super) fn sqlite() -> Migrator {
    migrator(embedded::SQLITE)
}

/// Version, description and checksum as sqlx's own resolver makes them from
/// `<version>_<description>.sql`, so databases migrated by `sqlx::migrate!`
/// see the same migrations.
fn migrator(files: &'static [(&'static str, &'static str)]) -> Migrator {
    let migrations = files
        .iter()
        .map(|(name, sql)| {
            let (version, rest) = name.split_once('_').expect("<version>_<description>.sql");
            let version = version
                .parse()
                .expect("a migration's version is an integer");
            let description = rest.trim_end_matches(".sql").replace('_', " ");
            Migration::new(
                version,
                Cow::Owned(description),
                MigrationType::Simple,
                AssertSqlSafe(*sql).into_sql_str(),
                sql.starts_with("-- no-transaction"),
            )
        })
        .collect();
    Migrator::with_migrations(migrations)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// sqlx's run-time resolver reads the directories as `sqlx::migrate!`
    /// did: the embedded migrations must match it field for field, or a
    /// database migrated before would refuse them (checksum mismatch).
    #[tokio::test]
    async fn the_embedded_migrations_are_those_sqlx_reads_from_the_directories() {
        for (dir, embedded) in [("migrations", postgres()), ("migrations-sqlite", sqlite())] {
            let read = Migrator::new(std::path::Path::new(dir)).await.unwrap();
            let fields = |m: &Migrator| {
                m.iter()
                    .map(|m| {
                        let sql = m.sql.as_str().to_owned();
                        let checksum = m.checksum.to_vec();
                        let description = m.description.to_string();
                        (
                            m.version,
                            description,
                            m.migration_type,
                            sql,
                            checksum,
                            m.no_tx,
                        )
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(fields(&embedded), fields(&read), "{dir}");
        }
    }
}
