//! An upload's head start: its conversion begun while it still arrives, in a
//! free worker slot (see `worker::head_start`), with the options known when
//! its bytes begin. A raw body's options are all in its query string; a
//! form's are those of the query and of the fields before its `file` part.
//! When fields after the file change them, the head start stops and the job
//! runs from the queue with the options it stores.

use std::sync::Arc;

use parquetry_convert::{Arrival, ConvertOptions};
use uuid::Uuid;

use super::upload_body::{OptionPairs, KNOWN_FIELDS};
use super::upload_options::{stored_options, take_option};
use super::AppState;
use crate::jobs::StoredOptions;
use crate::worker::HeadStart;

/// A head start, with the options it converts with.
pub(super) struct EarlyStart {
    head_start: HeadStart,
    options: ConvertOptions,
}

impl EarlyStart {
    /// Begins job `id`'s conversion with the options `known` so far, when
    /// the upload can be read as it arrives and a worker slot is free.
    pub(super) fn begin(
        state: &AppState,
        (id, tenant): (Uuid, &str),
        known: &OptionPairs,
        arrival: Option<Arc<dyn Arrival>>,
    ) -> Option<EarlyStart> {
        let (starts, arrival) = (state.head_starts.as_ref()?, arrival?);
        let mut known = known.clone();
        // Fields of a form that are no conversion options.
        for name in KNOWN_FIELDS {
            while take_option(&mut known, name).is_some() {}
        }
        // Options refused now are refused again, and answered, once the
        // upload has ended.
        let options = as_the_worker_decodes(&stored_options(&known).ok()?)?;
        let head_start = starts.begin((id, tenant), options.clone(), arrival)?;
        Some(EarlyStart {
            head_start,
            options,
        })
    }

    /// The head start, when the job's options (`stored`, as its worker will
    /// decode them) convert as those it began with: a field after the file
    /// that restates a default (`compression=snappy`) keeps it. Otherwise it
    /// is stopped and its files removed before this returns, so the job's
    /// attempt from the queue finds none of them.
    pub(super) async fn keep_if_options_are(self, stored: &serde_json::Value) -> Option<HeadStart> {
        if as_the_worker_decodes(stored).is_some_and(|options| options == self.options) {
            return Some(self.head_start);
        }
        tracing::debug!("the form's last fields changed the options: the head start stops");
        self.head_start.abandon().await;
        None
    }

    /// Stops the conversion of an upload that makes no job, and returns once
    /// its files are gone.
    pub(super) async fn abandon(self) {
        self.head_start.abandon().await;
    }
}

/// Options stored as a job's, decoded as its worker will decode them.
fn as_the_worker_decodes(stored: &serde_json::Value) -> Option<ConvertOptions> {
    StoredOptions::from_json(stored).decode().ok()
}
