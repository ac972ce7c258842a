//! API keys: making them, checking them, listing and revoking them.
//!
//! A key reads `pqt_<id>_<secret>`: the id (8 random bytes, hex) finds the
//! row, the secret (32 bytes from the operating system, base64url) proves
//! the holder. Only a SHA-256 of the whole key is stored, and it is compared
//! in constant time. A fast hash is safe here because the key carries 256
//! bits of entropy: unlike a password, nobody can guess it from its hash by
//! trying candidates, so a slow password hash would only slow every request.

use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use super::error::{StoreError, StoreResult};
use super::keys_sql::*;
use super::sqlite_rows::instant;
use super::store::JobStore;

const PREFIX: &str = "pqt_";
const ID_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;

/// A key as listed: never the key itself nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    pub name: String,
    pub tenant: String,
    pub admin: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The public part of the key, which finds its row.
    #[serde(skip)]
    pub id: String,
}

/// What a new key is for.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub name: String,
    pub tenant: String,
    pub admin: bool,
}

/// What checking a presented key found.
#[derive(Debug, Clone)]
pub enum KeyCheck {
    Valid(ApiKey),
    /// The right secret of a revoked key.
    Revoked,
    /// No such key, or not its secret, or not a key at all.
    Invalid,
}

/// A name or tenant: 1 to 64 of letters, digits, `.`, `_` and `-`, starting
/// with a letter or digit, so it is safe in a terminal, a URL and a log line.
pub fn is_valid_name(text: &str) -> bool {
    (1..=64).contains(&text.len())
        && text.starts_with(|c: char| c.is_ascii_alphanumeric())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A fresh key: its id and the whole key.
fn generate() -> std::io::Result<(String, String)> {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut id).map_err(std::io::Error::other)?;
    getrandom::fill(&mut secret).map_err(std::io::Error::other)?;
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    let key = format!("{PREFIX}{id}_{secret}");
    Ok((id, key))
}

/// The id part of a presented key, if it has the key's shape.
fn id_of(key: &str) -> Option<&str> {
    let (id, secret) = key.strip_prefix(PREFIX)?.split_once('_')?;
    let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
    (id.len() == 2 * ID_BYTES && id.chars().all(hex) && !secret.is_empty()).then_some(id)
}

fn digest(key: &str) -> Vec<u8> {
    Sha256::digest(key.as_bytes()).to_vec()
}

fn pg_key(row: &sqlx::postgres::PgRow) -> sqlx::Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tenant: row.try_get("tenant")?,
        admin: row.try_get("admin")?,
        created_at: row.try_get("created_at")?,
        last_used_at: row.try_get("last_used_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

fn sqlite_key(row: &sqlx::sqlite::SqliteRow) -> sqlx::Result<ApiKey> {
    Ok(ApiKey {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        tenant: row.try_get("tenant")?,
        admin: row.try_get("admin")?,
        created_at: instant(row, "created_at")?.unwrap_or_default(),
        last_used_at: instant(row, "last_used_at")?,
        revoked_at: instant(row, "revoked_at")?,
    })
}

fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

impl JobStore {
    /// Makes a key: the key and the whole key once (it is not kept), or
    /// `None` when the name is taken.
    pub async fn create_key(&self, new: &NewKey) -> StoreResult<Option<(ApiKey, String)>> {
        // No randomness from the system is no key: the server's fault.
        let (id, key) = generate().map_err(|error| StoreError::Other(sqlx::Error::Io(error)))?;
        let hash = digest(&key);
        let created = match self {
            JobStore::Postgres(store) => sqlx::query(PG_INSERT)
                .bind(&id)
                .bind(&new.name)
                .bind(&new.tenant)
                .bind(new.admin)
                .bind(&hash)
                .fetch_optional(store.pool())
                .await?
                .as_ref()
                .map(pg_key)
                .transpose()?,
            JobStore::Sqlite(store) => sqlx::query(SQLITE_INSERT)
                .bind(&id)
                .bind(&new.name)
                .bind(&new.tenant)
                .bind(new.admin)
                .bind(&hash)
                .bind(now_micros())
                .fetch_all(store.pool())
                .await?
                .first()
                .map(sqlite_key)
                .transpose()?,
        };
        Ok(created.map(|created| (created, key)))
    }

    /// Every key, oldest first, revoked ones included.
    pub async fn list_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let keys = match self {
            JobStore::Postgres(store) => sqlx::query(PG_LIST)
                .fetch_all(store.pool())
                .await?
                .iter()
                .map(pg_key)
                .collect::<sqlx::Result<_>>()?,
            JobStore::Sqlite(store) => sqlx::query(SQLITE_LIST)
                .fetch_all(store.pool())
                .await?
                .iter()
                .map(sqlite_key)
                .collect::<sqlx::Result<_>>()?,
        };
        Ok(keys)
    }

    /// Revokes the key named `name` (again: a no-op); `None` when there is none.
    pub async fn revoke_key(&self, name: &str) -> StoreResult<Option<ApiKey>> {
        let key = match self {
            JobStore::Postgres(store) => sqlx::query(PG_REVOKE)
                .bind(name)
                .fetch_optional(store.pool())
                .await?
                .as_ref()
                .map(pg_key)
                .transpose()?,
            JobStore::Sqlite(store) => sqlx::query(SQLITE_REVOKE)
                .bind(name)
                .bind(now_micros())
                .fetch_all(store.pool())
                .await?
                .first()
                .map(sqlite_key)
                .transpose()?,
        };
        Ok(key)
    }

    /// Keys ever made, revoked ones included: once there is one, the service
    /// authenticates every request.
    pub async fn key_count(&self) -> StoreResult<i64> {
        let count = match self {
            JobStore::Postgres(store) => sqlx::query_scalar(COUNT).fetch_one(store.pool()).await?,
            JobStore::Sqlite(store) => sqlx::query_scalar(COUNT).fetch_one(store.pool()).await?,
        };
        Ok(count)
    }

    /// Checks a presented key; a valid one's `last_used_at` is brought up to
    /// date at most once a minute.
    pub async fn check_key(&self, presented: &str) -> StoreResult<KeyCheck> {
        let Some(id) = id_of(presented) else {
            return Ok(KeyCheck::Invalid);
        };
        let found = match self {
            JobStore::Postgres(store) => {
                let row = sqlx::query(PG_LOOKUP)
                    .bind(id)
                    .fetch_optional(store.pool())
                    .await?;
                row.map(|row| Ok::<_, sqlx::Error>((pg_key(&row)?, row.try_get("key_hash")?)))
                    .transpose()?
            }
            JobStore::Sqlite(store) => {
                let rows = sqlx::query(SQLITE_LOOKUP)
                    .bind(id)
                    .fetch_all(store.pool())
                    .await?;
                rows.first()
                    .map(|row| Ok::<_, sqlx::Error>((sqlite_key(row)?, row.try_get("key_hash")?)))
                    .transpose()?
            }
        };
        let Some((key, hash)) = found else {
            return Ok(KeyCheck::Invalid);
        };
        let hash: Vec<u8> = hash;
        if !bool::from(digest(presented).ct_eq(&hash)) {
            return Ok(KeyCheck::Invalid);
        }
        if key.revoked_at.is_some() {
            return Ok(KeyCheck::Revoked);
        }
        let stale = key
            .last_used_at
            .is_none_or(|at| Utc::now() - at > chrono::Duration::seconds(60));
        if stale {
            // A missed update only makes `last_used_at` older: not worth
            // failing the request for.
            if let Err(error) = self.touch_key(&key.id).await {
                tracing::warn!(%error, key.name = %key.name, "could not record the key's use");
            }
        }
        Ok(KeyCheck::Valid(key))
    }

    async fn touch_key(&self, id: &str) -> sqlx::Result<()> {
        match self {
            JobStore::Postgres(store) => {
                sqlx::query(PG_TOUCH).bind(id).execute(store.pool()).await?;
            }
            JobStore::Sqlite(store) => {
                sqlx::query(SQLITE_TOUCH)
                    .bind(id)
                    .bind(now_micros())
                    .execute(store.pool())
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_has_its_id_and_256_bits_of_secret() {
        let (id, key) = generate().unwrap();
        assert_eq!(id_of(&key), Some(id.as_str()));
        let secret = key.rsplit_once(&format!("{id}_")).unwrap().1;
        assert_eq!(secret.len(), 43);
        assert_ne!(generate().unwrap().1, key);
    }

    #[test]
    fn only_the_shape_of_a_key_is_looked_up() {
        for refused in [
            "",
            "pqt_",
            "pqt_abc_def",
            "Bearer x",
            "pqt_0123456789abcdeF_x",
        ] {
            assert_eq!(id_of(refused), None, "{refused}");
        }
        assert_eq!(id_of("pqt_0123456789abcdef_"), None);
    }

    #[test]
    fn names_are_plain() {
        assert!(is_valid_name("acme-prod_1.x"));
        for refused in ["", "-a", "a b", "é", &"a".repeat(65), "a/b"] {
            assert!(!is_valid_name(refused), "{refused}");
        }
    }
}
