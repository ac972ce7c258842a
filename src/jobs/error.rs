//! The job store's one error type: what a caller can act on, without sqlx.

/// A statement of the job table that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached now (refused, restarting, pool
    /// exhausted): the request may be retried later.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The database's disk is full: nothing can be written.
    #[error("the database's disk is full: {0}")]
    DiskFull(#[source] sqlx::Error),
    /// A value the database cannot store (a NUL byte in a text column, a
    /// timestamp out of its range). Requests are checked before they reach
    /// the store, so this is a missed check, answered as the caller's mistake.
    #[error("the database refused a value: {0}")]
    InvalidValue(#[source] sqlx::Error),
    /// Anything else: a bug, a corrupt row.
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> StoreError {
        match &error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => StoreError::Unavailable(error),
            // A FATAL error is one that ends the session: a connection that
            // could not start (database restarting, refusing connections) or
            // was terminated. Whatever its code, the database is not there.
            sqlx::Error::Database(database) if is_fatal(database.as_ref()) => {
                StoreError::Unavailable(error)
            }
            sqlx::Error::Database(database) => match database_code(database.as_ref()).as_deref() {
                // PostgreSQL: connection exceptions (08…), shutting down or
                // starting up (57P01-57P03), too many connections (53300).
                Some(code)
                    if code.starts_with("08")
                        || matches!(code, "57P01" | "57P02" | "57P03" | "53300") =>
                {
                    StoreError::Unavailable(error)
                }
                // PostgreSQL `disk_full`; SQLite `SQLITE_FULL` (13).
                Some("53100" | "13") => StoreError::DiskFull(error),
                // SQLite `SQLITE_BUSY` (5) past its busy timeout, `SQLITE_IOERR` (10…).
                Some("5" | "10") => StoreError::Unavailable(error),
                // PostgreSQL data exceptions: NUL in text (22021), `\u0000`
                // in jsonb (22P05), a timestamp out of range (22008).
                Some(code) if code.starts_with("22") => StoreError::InvalidValue(error),
                _ => StoreError::Other(error),
            },
            _ => StoreError::Other(error),
        }
    }
}

fn is_fatal(error: &dyn sqlx::error::DatabaseError) -> bool {
    use sqlx::postgres::{PgDatabaseError, PgSeverity};
    error
        .try_downcast_ref::<PgDatabaseError>()
        .is_some_and(|pg| matches!(pg.severity(), PgSeverity::Fatal | PgSeverity::Panic))
}

/// The code to classify: PostgreSQL's SQLSTATE as is; SQLite's extended
/// result code reduced to its primary code (`SQLITE_IOERR_WRITE` 778 → 10).
fn database_code(error: &dyn sqlx::error::DatabaseError) -> Option<String> {
    let code = error.code()?.into_owned();
    if error
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .is_none()
    {
        return Some(code);
    }
    Some(match code.parse::<u32>() {
        Ok(number) => (number & 0xff).to_string(),
        Err(_) => code,
    })
}

/// Results of the job store.
pub type StoreResult<T> = Result<T, StoreError>;
