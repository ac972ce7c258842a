//! Secrets the server makes for itself when none is configured (the share
//! links' signing key), kept in the database: every API process of one
//! database must sign and verify alike, and the database is the one thing
//! they all share (the data directory is not, with S3 storage or several
//! machines).

use super::error::{StoreError, StoreResult};
use super::store::JobStore;

const PG_INSERT: &str =
    "INSERT INTO server_secrets (name, secret) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING";
const PG_SELECT: &str = "SELECT secret FROM server_secrets WHERE name = $1";
const SQLITE_INSERT: &str = "INSERT INTO server_secrets (name, secret, created_at) \
     VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING";
const SQLITE_SELECT: &str = "SELECT secret FROM server_secrets WHERE name = ?1";

impl JobStore {
    /// The secret named `name`: made (32 random bytes) by the first process
    /// that asks, and the same for every process after it.
    pub async fn server_secret(&self, name: &str) -> StoreResult<Vec<u8>> {
        let mut fresh = [0u8; 32];
        getrandom::fill(&mut fresh)
            .map_err(|error| StoreError::Other(sqlx::Error::Io(std::io::Error::other(error))))?;
        // Insert-if-absent then read: two processes starting at once both
        // read the one row that won.
        let secret = match self {
            JobStore::Postgres(store) => {
                sqlx::query(PG_INSERT)
                    .bind(name)
                    .bind(&fresh[..])
                    .execute(store.pool())
                    .await?;
                sqlx::query_scalar(PG_SELECT)
                    .bind(name)
                    .fetch_one(store.pool())
                    .await?
            }
            JobStore::Sqlite(store) => {
                sqlx::query(SQLITE_INSERT)
                    .bind(name)
                    .bind(&fresh[..])
                    .bind(chrono::Utc::now().timestamp_micros())
                    .execute(store.pool())
                    .await?;
                sqlx::query_scalar(SQLITE_SELECT)
                    .bind(name)
                    .fetch_one(store.pool())
                    .await?
            }
        };
        Ok(secret)
    }
}
