//! Who is asking: the tenant whose jobs a request may see. Every read or
//! removal of a job the API makes goes through a `Scope`; only the workers
//! and the webhook dispatcher, which act for every tenant, read unscoped.

/// The tenant of jobs made while the service ran open (no key), and of
/// keys created without `--tenant`.
pub const DEFAULT_TENANT: &str = "default";

/// The jobs a request may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every tenant's: an admin key, or the service running open.
    All,
    /// One tenant's only; another tenant's job is as absent as a missing one.
    Tenant(String),
}

impl Scope {
    /// The tenant to filter on, bound as a nullable parameter: `NULL` is no
    /// filter (`$n IS NULL OR tenant = $n`), so one statement serves both.
    pub(super) fn tenant(&self) -> Option<&str> {
        match self {
            Scope::All => None,
            Scope::Tenant(tenant) => Some(tenant),
        }
    }
}

/// The caller of a request, once authenticated (or the anonymous caller of
/// a service running open).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The tenant the caller's new jobs belong to.
    pub tenant: String,
    /// Sees every tenant and manages keys.
    pub admin: bool,
    /// The key's name; `None` when the service runs open.
    pub key_name: Option<String>,
}

impl Principal {
    /// The caller of a service running open: its jobs are the `default`
    /// tenant's, and it sees every job (there is no one to hide them from),
    /// but it manages no keys: the first key is made with `parquetry keys
    /// create`, by whoever runs the server.
    pub fn anonymous() -> Principal {
        Principal {
            tenant: DEFAULT_TENANT.to_string(),
            admin: false,
            key_name: None,
        }
    }

    /// The jobs this caller may see.
    pub fn scope(&self) -> Scope {
        if self.admin || self.key_name.is_none() {
            Scope::All
        } else {
            Scope::Tenant(self.tenant.clone())
        }
    }
}
