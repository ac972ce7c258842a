//! `?wait=SECONDS`: a request that answers when the job changed instead of
//! making its client poll. Waiting holds no database connection: the request
//! watches the process's feed of job changes (see `jobs::JobChanges`) and
//! reads the job again only when that feed says it changed.

use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use uuid::Uuid;

use super::jobs::find;
use super::problem::ApiError;
use super::AppState;
use crate::jobs::{Job, JobStatus, Scope};

/// The longest a request may wait.
pub const MAX_WAIT_SECONDS: f64 = 60.0;

/// The `wait` query parameter.
#[derive(Debug, Default, Deserialize)]
pub struct WaitQuery {
    wait: Option<String>,
}

impl WaitQuery {
    /// How long to wait at most: `None` without `wait` (or `wait=0`).
    pub fn duration(&self) -> Result<Option<Duration>, ApiError> {
        let Some(text) = self.wait.as_deref() else {
            return Ok(None);
        };
        // Plain decimals only (`30`, `2.5`), as the API's schema says: no
        // signs, exponents or `inf`.
        let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
        let plain = (1..=2).contains(&whole.len())
            && (1..=6).contains(&fraction.len())
            && whole
                .bytes()
                .chain(fraction.bytes())
                .all(|b| b.is_ascii_digit());
        let seconds = Some(text)
            .filter(|_| plain)
            .and_then(|text| text.parse::<f64>().ok())
            .filter(|s| (0.0..=MAX_WAIT_SECONDS).contains(s))
            .ok_or_else(|| {
                ApiError::InvalidQuery(format!(
                    "wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS}"
                ))
            })?;
        Ok((seconds > 0.0).then(|| Duration::from_secs_f64(seconds)))
    }

    /// The `wait` of a raw query string (uploads read their query as options).
    pub fn from_query_string(query: &str) -> Result<WaitQuery, ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).map_err(|error| {
            ApiError::InvalidQuery(format!("the query string is malformed: {error}"))
        })?;
        let wait = pairs
            .into_iter()
            .rev()
            .find_map(|(name, value)| (name == "wait").then_some(value));
        Ok(WaitQuery { wait })
    }
}

/// The job once its status is other than `seen` (at once when it is
/// finished), or as it is when `patience` is over.
pub async fn status_change(
    state: &AppState,
    scope: &Scope,
    id: Uuid,
    seen: JobStatus,
    patience: Duration,
) -> Result<Job, ApiError> {
    until(state, scope, id, patience, |job| job.status != seen).await
}

/// The job once it finished, or as it is when `patience` is over.
pub async fn finished(
    state: &AppState,
    scope: &Scope,
    id: Uuid,
    patience: Duration,
) -> Result<Job, ApiError> {
    until(state, scope, id, patience, |_| false).await
}

/// Reads the job when its status may have changed until `done` (or the job
/// finished), or until `patience` is over.
async fn until(
    state: &AppState,
    scope: &Scope,
    id: Uuid,
    patience: Duration,
    done: impl Fn(&Job) -> bool,
) -> Result<Job, ApiError> {
    let deadline = Instant::now() + patience;
    // Watching starts before the read: a change between the two wakes us.
    let mut watch = state.store.changes().watch(id);
    let mut job = find(state, scope, id).await?;
    loop {
        if job.status.is_finished() || done(&job) {
            return Ok(job);
        }
        tokio::select! {
            _ = watch.status_changed() => {}
            _ = tokio::time::sleep_until(deadline) => return find(state, scope, id).await,
        }
        job = find(state, scope, id).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(text: &str) -> Result<Option<Duration>, ApiError> {
        WaitQuery {
            wait: Some(text.to_string()),
        }
        .duration()
    }

    #[test]
    fn wait_is_zero_to_sixty_seconds() {
        assert_eq!(wait("0").unwrap(), None);
        assert_eq!(wait("2.5").unwrap(), Some(Duration::from_millis(2500)));
        assert_eq!(wait("60").unwrap(), Some(Duration::from_secs(60)));
        for refused in [
            "61", "-1", "NaN", "inf", "", "soon", "1e1", "5.", ".5", "007",
        ] {
            assert!(wait(refused).is_err(), "{refused}");
        }
        assert_eq!(WaitQuery::default().duration().unwrap(), None);
    }

    #[test]
    fn an_upload_reads_wait_from_its_query_string() {
        let query = WaitQuery::from_query_string("delimiter=%3B&wait=5").unwrap();
        assert_eq!(query.duration().unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(
            WaitQuery::from_query_string("delimiter=%3B")
                .unwrap()
                .duration()
                .unwrap(),
            None
        );
    }
}
