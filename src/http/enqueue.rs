//! Enqueuing an uploaded job inside the upload's PRODUCER span, whose
//! context is stored in the row so the worker's CONSUMER span continues this
//! trace, in whatever process it runs. A job whose conversion began while
//! its upload arrived (see `worker::HeadStart`) is stored already claimed,
//! in the PRODUCER span its head start began.

use tracing::Instrument;

use super::problem::ApiError;
use super::AppState;
use crate::jobs::{Inserted, NewJob};
use crate::telemetry;
use crate::worker::{producer_span, HeadStart};

pub(super) async fn enqueue(
    state: &AppState,
    mut job: NewJob,
    head_start: Option<&HeadStart>,
) -> Result<Inserted, ApiError> {
    let producer = match head_start {
        Some(head_start) => head_start.producer().clone(),
        None => producer_span(job.id),
    };
    let context = telemetry::trace_context_of(&producer);
    job.traceparent = context.as_ref().map(|(parent, _)| parent.clone());
    job.tracestate = context.and_then(|(_, state)| state);
    job.trace_id = telemetry::trace_id_of(&producer);
    let inserted = match head_start {
        Some(head_start) => {
            let claim = (head_start.worker_id(), head_start.began_at());
            let insert = state.store.insert_claimed(&job, claim);
            insert.instrument(producer).await?
        }
        None => state.store.insert(&job).instrument(producer).await?,
    };
    Ok(inserted)
}
