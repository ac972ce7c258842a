//! Signed webhooks when a job finishes (Standard Webhooks): checking an
//! upload's `callback_url`, and the dispatcher that delivers the outbox rows
//! of `webhook_deliveries` (their SQL is in `jobs`), in any process.

pub mod address;
mod dispatch;
mod signature;

use std::sync::Arc;

use crate::config::WebhookSettings;
pub use dispatch::Dispatcher;
pub use signature::Secret;

/// The webhook settings of a process, checked at start-up.
#[derive(Clone, Debug)]
pub struct Webhooks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    secret: Option<Secret>,
    default_url: Option<String>,
    settings: WebhookSettings,
}

/// Why an upload's `callback_url` is refused.
#[derive(Debug)]
pub enum CallbackRefused {
    /// No secret is configured: events could not be signed.
    Disabled,
    /// Not http(s), unresolvable, or an address webhooks may not call.
    Refused(String),
}

impl Webhooks {
    /// Checks the secret's form and the default URL; an unusable setting
    /// stops the start-up rather than every delivery later.
    pub fn from_settings(settings: &WebhookSettings) -> anyhow::Result<Webhooks> {
        let secret = settings
            .webhook_secret
            .as_deref()
            .filter(|text| !text.trim().is_empty())
            .map(Secret::parse)
            .transpose()
            .map_err(|error| error.context("PARQUETRY_WEBHOOK_SECRET (--webhook-secret)"))?;
        let default_url = settings
            .webhook_url
            .as_deref()
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(|text| {
                anyhow::ensure!(
                    secret.is_some(),
                    "PARQUETRY_WEBHOOK_URL (--webhook-url) needs PARQUETRY_WEBHOOK_SECRET \
                     (--webhook-secret): webhooks are always signed"
                );
                let url = address::parse(text).map_err(|error| {
                    anyhow::anyhow!("PARQUETRY_WEBHOOK_URL (--webhook-url): {error}")
                })?;
                Ok(url.to_string())
            })
            .transpose()?;
        Ok(Webhooks {
            inner: Arc::new(Inner {
                secret,
                default_url,
                settings: settings.clone(),
            }),
        })
    }

    /// The secret, when webhooks are on.
    pub fn secret(&self) -> Option<&Secret> {
        self.inner.secret.as_ref()
    }

    /// The callback URL of uploads that name none, as jobs store it.
    pub fn default_url(&self) -> Option<&str> {
        self.inner.default_url.as_deref()
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.inner.settings
    }

    /// The callback URL a new job gets: the one its upload names, checked
    /// (after DNS resolution), else the server's default.
    pub async fn callback_url(
        &self,
        given: Option<&str>,
    ) -> Result<Option<String>, CallbackRefused> {
        let Some(given) = given else {
            return Ok(self.inner.default_url.clone());
        };
        if self.inner.secret.is_none() {
            return Err(CallbackRefused::Disabled);
        }
        let allow_private = self.inner.settings.webhook_allow_private;
        address::check_callback_url(given, allow_private)
            .await
            .map(|url| Some(url.to_string()))
            .map_err(CallbackRefused::Refused)
    }
}
