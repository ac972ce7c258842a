//! The SQL of the `api_keys` table, for both databases (SQLite instants are
//! microseconds since the epoch, bound from Rust).

/// The columns a key is shown with; never its hash.
macro_rules! key_columns {
    () => {
        "id, name, tenant, admin, created_at, last_used_at, revoked_at"
    };
}

pub(super) const PG_INSERT: &str = concat!(
    "INSERT INTO api_keys (id, name, tenant, admin, key_hash) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (name) DO NOTHING RETURNING ",
    key_columns!()
);
pub(super) const PG_LIST: &str = concat!(
    "SELECT ",
    key_columns!(),
    " FROM api_keys ORDER BY created_at, name"
);
pub(super) const PG_LOOKUP: &str = concat!(
    "SELECT ",
    key_columns!(),
    ", key_hash FROM api_keys WHERE id = $1"
);
/// At most one write a minute per key, whatever the request rate.
pub(super) const PG_TOUCH: &str = "UPDATE api_keys SET last_used_at = now() WHERE id = $1 \
     AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')";
pub(super) const PG_REVOKE: &str = concat!(
    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()), updated_at = now() \
     WHERE name = $1 RETURNING ",
    key_columns!()
);
pub(super) const COUNT: &str = "SELECT count(*) FROM api_keys";

pub(super) const SQLITE_INSERT: &str = concat!(
    "INSERT INTO api_keys (id, name, tenant, admin, key_hash, created_at, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT (name) DO NOTHING RETURNING ",
    key_columns!()
);
pub(super) const SQLITE_LIST: &str = PG_LIST;
pub(super) const SQLITE_LOOKUP: &str = concat!(
    "SELECT ",
    key_columns!(),
    ", key_hash FROM api_keys WHERE id = ?1"
);
pub(super) const SQLITE_TOUCH: &str = "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 \
     AND (last_used_at IS NULL OR last_used_at < ?2 - 60000000)";
pub(super) const SQLITE_REVOKE: &str = concat!(
    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?2), updated_at = ?2 \
     WHERE name = ?1 RETURNING ",
    key_columns!()
);
