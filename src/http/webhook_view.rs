//! The `webhook` of a job's JSON: where its event goes and how its delivery
//! went.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::rfc3339;
use crate::jobs::Job;
use crate::webhooks::address;

/// A job's webhook, shown when the job has a callback URL.
#[derive(Debug, Serialize)]
pub struct WebhookView {
    /// The callback URL without credentials, query or fragment: any of them
    /// may hold a token, and jobs are listed to every client.
    pub url: String,
    /// `job.succeeded`, `job.failed` or `job.canceled`, once the job finished.
    pub event: Option<String>,
    /// `waiting` (the job has not finished), `pending` (being delivered or
    /// retried), `delivered` or `failed` (given up).
    pub state: String,
    pub attempts: i32,
    /// The HTTP status of the last attempt's answer, if one came.
    pub last_status: Option<i32>,
    /// Why the last attempt did not deliver, in the receiver's terms.
    pub last_error: Option<String>,
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "rfc3339::serialize_option")]
    pub delivered_at: Option<DateTime<Utc>>,
}

impl WebhookView {
    pub fn of(job: &Job) -> Option<WebhookView> {
        let url = job.callback_url.as_deref()?;
        let url = address::parse(url)
            .map(|url| address::redacted(&url))
            .unwrap_or_default();
        Some(match &job.webhook {
            None => WebhookView {
                url,
                event: None,
                state: "waiting".into(),
                attempts: 0,
                last_status: None,
                last_error: None,
                next_attempt_at: None,
                delivered_at: None,
            },
            Some(delivery) => WebhookView {
                url,
                event: Some(delivery.event.clone()),
                next_attempt_at: delivery
                    .next_attempt_at
                    .filter(|_| delivery.state == "pending"),
                state: delivery.state.clone(),
                attempts: delivery.attempts,
                last_status: delivery.last_status,
                last_error: delivery.last_error.clone(),
                delivered_at: delivery.delivered_at,
            },
        })
    }
}
