//! LISTEN on a PostgreSQL channel through a connection of its own,
//! reconnecting after an outage: the one loop behind every cross-process
//! wake-up (queued jobs, job changes, webhook deliveries).

use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio_util::sync::CancellationToken;

/// How long to wait before listening again after the connection was lost.
const RELISTEN_DELAY: Duration = Duration::from_secs(2);

/// What a listener heard.
pub(super) enum Heard<'a> {
    /// A notification, with its payload.
    Notification(&'a str),
    /// The connection is back after an outage: notifications sent meanwhile
    /// are lost, so whoever relies on them should look again.
    Reconnected,
}

/// Calls `heard` for each notification on `channel` until `stop`. `what`
/// names what is listened for in the log (said once per outage, not every
/// retry); whoever relies on the notifications polls as well, so an outage
/// only slows wake-ups down.
pub(super) async fn listen(
    pool: &PgPool,
    channel: &'static str,
    what: &'static str,
    stop: &CancellationToken,
    mut heard: impl FnMut(Heard<'_>),
) {
    // Whether the connection was ever lost or refused: then a reconnection
    // is said, and told to `heard`.
    let mut outage = false;
    while !stop.is_cancelled() {
        let connected = async {
            let mut listener = PgListener::connect_with(pool).await?;
            listener.listen(channel).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let connected = tokio::select! {
            connected = connected => connected,
            _ = stop.cancelled() => return,
        };
        match connected {
            Ok(mut listener) => {
                if outage {
                    tracing::info!("listening for {what} again");
                    heard(Heard::Reconnected);
                }
                loop {
                    tokio::select! {
                        notification = listener.recv() => match notification {
                            Ok(notification) => heard(Heard::Notification(notification.payload())),
                            Err(error) => {
                                tracing::warn!(%error, "lost the LISTEN connection for {what}; reconnecting");
                                outage = true;
                                break;
                            }
                        },
                        _ = stop.cancelled() => return,
                    }
                }
            }
            Err(error) => {
                if !outage {
                    tracing::warn!(%error, "cannot LISTEN for {what}; polling until the database is back");
                    outage = true;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(RELISTEN_DELAY) => {}
            _ = stop.cancelled() => return,
        }
    }
}
