//! `parquetry keys create|list|revoke`: API keys, straight in the store the
//! server uses (the first key cannot come through the API: making keys
//! there needs an admin key).

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::jobs::{is_valid_name, ApiKey, JobStore, NewKey, DEFAULT_TENANT};

/// `parquetry keys …`.
#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a key and print it, once, alone on standard output.
    Create {
        /// A name to tell the key by (letters, digits, `.`, `_`, `-`).
        #[arg(long)]
        name: String,
        /// The tenant whose jobs the key makes and sees.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// The key sees every tenant's jobs and manages keys (`/v1/keys`).
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        quotas: super::key_quotas::QuotaArgs,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List the keys (never the keys themselves).
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key: requests with it are refused from then on.
    Revoke {
        /// The key's name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// The store the server uses.
#[derive(Args, Debug)]
pub struct StoreArgs {
    /// PostgreSQL connection URL (`DATABASE_URL`); unset: the embedded
    /// SQLite job table under the data directory.
    #[arg(long, env = "DATABASE_URL", value_name = "URL")]
    database_url: Option<String>,
    /// The server's data directory (`PARQUETRY_DATA_DIR`).
    #[arg(long, env = "PARQUETRY_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
}

impl StoreArgs {
    async fn open(&self) -> anyhow::Result<JobStore> {
        let retention = crate::config::WorkerSettings::parse_defaults().retention();
        JobStore::connect(self.database_url.as_deref(), &self.data_dir, 1, retention).await
    }
}

/// Runs `parquetry keys …`: data on standard output, messages on standard error.
pub async fn run_keys(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Create {
            name,
            tenant,
            admin,
            quotas,
            store,
        } => {
            for (what, value) in [("--name", &name), ("--tenant", &tenant)] {
                anyhow::ensure!(
                    is_valid_name(value),
                    "{what} must be 1 to 64 letters, digits, `.`, `_` or `-`, starting with a \
                     letter or digit"
                );
            }
            let store = store.open().await?;
            let new = NewKey {
                name,
                tenant,
                admin,
            };
            let (key, secret) = store
                .create_key(&new)
                .await
                .context("making the key")?
                .with_context(|| format!("a key named {:?} exists already", new.name))?;
            if let Some(quotas) = quotas.key_quotas() {
                store
                    .set_key_quotas(&key.name, &quotas)
                    .await
                    .context("setting the key's quotas")?;
            }
            println!("{secret}");
            eprintln!(
                "made key {:?} for tenant {:?}{} in the {}; it is shown only this once. Use it \
                 as `Authorization: Bearer KEY`.",
                key.name,
                key.tenant,
                if key.admin { " (admin)" } else { "" },
                store.describe()
            );
        }
        KeysCommand::List { json, store } => {
            let keys = store.open().await?.list_keys().await?;
            match json {
                true => println!("{}", serde_json::to_string_pretty(&keys)?),
                false => print!("{}", table(&keys)),
            }
        }
        KeysCommand::Revoke { name, store } => {
            let key = store
                .open()
                .await?
                .revoke_key(&name)
                .await?
                .with_context(|| format!("no key is named {name:?}"))?;
            eprintln!(
                "revoked key {:?} (tenant {:?}): requests with it are refused",
                key.name, key.tenant
            );
        }
    }
    Ok(())
}

/// The keys as aligned columns, a header first.
fn table(keys: &[ApiKey]) -> String {
    let when = |at: Option<chrono::DateTime<chrono::Utc>>| {
        at.map(|at| at.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "-".into())
    };
    let mut rows = vec![[
        "NAME".to_string(),
        "TENANT".into(),
        "ADMIN".into(),
        "CREATED".into(),
        "LAST USED".into(),
        "REVOKED".into(),
    ]];
    rows.extend(keys.iter().map(|key| {
        [
            key.name.clone(),
            key.tenant.clone(),
            if key.admin { "yes" } else { "no" }.into(),
            when(Some(key.created_at)),
            when(key.last_used_at),
            when(key.revoked_at),
        ]
    }));
    let widths: Vec<usize> = (0..6)
        .map(|c| rows.iter().map(|row| row[c].len()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|row| {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, width)| format!("{cell:width$}"))
                .collect();
            cells.join("  ").trim_end().to_string() + "\n"
        })
        .collect()
}
