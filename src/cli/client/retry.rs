//! Bounded retries with backoff, on connection errors and 503.
//!
//! An upload is retried with the same `Idempotency-Key`: when the first
//! attempt reached the server but its answer was lost, the server answers the
//! retry with the job it already made instead of making a second one.

use std::future::Future;
use std::time::Duration;

use super::{connection_error, problem_text, ClientError};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    /// Attempts after the first.
    pub retries: u32,
    /// The wait before the first retry; doubled for each next one.
    pub first_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            retries: 4,
            first_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
        }
    }
}

impl Policy {
    fn delay(&self, retry: u32) -> Duration {
        self.first_delay
            .saturating_mul(1 << retry.min(16))
            .min(self.max_delay)
    }
}

/// A failed attempt: the error, and whether trying again may help.
#[derive(Debug)]
pub(crate) struct Failed {
    pub error: ClientError,
    pub retryable: bool,
    /// The server's `Retry-After`, when it gave one.
    pub after: Option<Duration>,
}

impl Failed {
    pub(crate) fn fatal(error: ClientError) -> Failed {
        Failed {
            error,
            retryable: false,
            after: None,
        }
    }
}

/// Runs `attempt` (given the attempt's number, from 0) until it succeeds, it
/// fails for good, or the retries are spent.
pub(crate) async fn with_retries<T, F, Fut>(
    policy: Policy,
    mut attempt: F,
) -> Result<T, ClientError>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Failed>>,
{
    let mut number = 0;
    loop {
        match attempt(number).await {
            Ok(value) => return Ok(value),
            Err(failed) if failed.retryable && number < policy.retries => {
                let wait = failed
                    .after
                    .map(|after| after.min(policy.max_delay))
                    .unwrap_or_else(|| policy.delay(number));
                tokio::time::sleep(wait).await;
                number += 1;
            }
            Err(failed) => return Err(failed.error),
        }
    }
}

/// Sorts the outcome of one request: a 2xx is the answer; a transport error
/// or a 503 may pass on a retry; any other status is the API's refusal.
pub(crate) async fn classify(
    outcome: Result<reqwest::Response, reqwest::Error>,
) -> Result<reqwest::Response, Failed> {
    let response = match outcome {
        Ok(response) => response,
        Err(error) => {
            // A builder error (a bad URL) cannot pass on a retry.
            let retryable = !error.is_builder();
            return Err(Failed {
                error: connection_error(error),
                retryable,
                after: None,
            });
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = response.bytes().await.unwrap_or_default();
    let text = problem_text(status, &body);
    let error = match status.is_client_error() {
        true => ClientError::Usage(text),
        false => ClientError::Connection(text),
    };
    Err(Failed {
        error,
        retryable: status == reqwest::StatusCode::SERVICE_UNAVAILABLE,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn quick() -> Policy {
        Policy {
            retries: 3,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
        }
    }

    fn dropped() -> Failed {
        Failed {
            error: ClientError::Connection("connection reset".into()),
            retryable: true,
            after: None,
        }
    }

    #[tokio::test]
    async fn a_dropped_upload_is_retried_with_the_same_idempotency_key() {
        let key = uuid::Uuid::new_v4().to_string();
        let sent = Mutex::new(Vec::new());
        let outcome = with_retries(quick(), |number| {
            sent.lock().unwrap().push(key.clone());
            async move {
                match number {
                    0 | 1 => Err(dropped()),
                    _ => Ok("job"),
                }
            }
        })
        .await;
        assert_eq!(outcome.unwrap(), "job");
        let sent = sent.into_inner().unwrap();
        assert_eq!(sent.len(), 3);
        assert!(sent.iter().all(|k| *k == key), "one key for every attempt");
    }

    #[tokio::test]
    async fn retries_are_bounded() {
        let mut attempts = 0;
        let outcome: Result<(), _> = with_retries(quick(), |_| {
            attempts += 1;
            async { Err(dropped()) }
        })
        .await;
        assert!(matches!(outcome, Err(ClientError::Connection(_))));
        assert_eq!(attempts, 4, "the first attempt and three retries");
    }

    #[tokio::test]
    async fn a_refusal_is_not_retried() {
        let mut attempts = 0;
        let outcome: Result<(), _> = with_retries(quick(), |_| {
            attempts += 1;
            async { Err(Failed::fatal(ClientError::Usage("bad option".into()))) }
        })
        .await;
        assert!(matches!(outcome, Err(ClientError::Usage(_))));
        assert_eq!(attempts, 1);
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let policy = Policy::default();
        assert_eq!(policy.delay(0), Duration::from_millis(250));
        assert_eq!(policy.delay(1), Duration::from_millis(500));
        assert_eq!(policy.delay(10), Duration::from_secs(4));
    }
}
