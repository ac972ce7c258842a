//! A job's timeline: when each step of its life began and how long it took,
//! from the upload's first byte to the end, the queue wait among them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::jobs::{Job, JobStatus};

/// One step of a job's life.
#[derive(Debug, Serialize, PartialEq)]
pub struct TimelineEntry {
    /// `received` (the upload arriving and being stored), `queued`,
    /// `claimed` (a worker took it and fetches its input), the conversion's
    /// `detecting`, `converting`, `writing`, then `storing` (the result),
    /// and the final status. A job converted while its upload arrived (a
    /// head start) has no `queued` nor `claimed`: its conversion's stages
    /// begin while it is `received`, and its `created_at` tells when the
    /// upload was stored.
    pub stage: String,
    #[serde(serialize_with = "super::rfc3339::serialize")]
    pub started_at: DateTime<Utc>,
    /// Until the next step began; `null` for the step under way and the end.
    pub seconds: Option<f64>,
}

/// The steps of `job` so far, oldest first. The conversion's stages are those
/// of the current (or last) attempt, as its worker recorded them.
pub fn of(job: &Job) -> Vec<TimelineEntry> {
    let mut steps: Vec<(String, DateTime<Utc>)> = Vec::new();
    if let Some(received) = job.received_at {
        steps.push(("received".into(), received));
    }
    let stages = match job.started_at {
        Some(_) => recorded_stages(&job.timeline),
        None => Vec::new(),
    };
    // An attempt that started before the job's row was written had a head
    // start: it never waited in the queue, and its stages follow the
    // upload's first byte.
    let head_start = job
        .started_at
        .is_some_and(|started| started < job.created_at);
    if !head_start {
        steps.push(("queued".into(), job.created_at));
        if let Some(started) = job.started_at {
            steps.push(("claimed".into(), started));
        }
    }
    steps.extend(stages);
    if let (true, Some(finished)) = (job.status.is_finished(), job.finished_at) {
        steps.push((job.status.as_str().into(), finished));
    }
    let ongoing = !job.status.is_finished();
    let count = steps.len();
    steps
        .iter()
        .enumerate()
        .map(|(index, (stage, started_at))| {
            let next = steps.get(index + 1).map(|(_, at)| *at);
            let last_ongoing = ongoing && index + 1 == count;
            TimelineEntry {
                stage: stage.clone(),
                started_at: *started_at,
                seconds: next
                    .filter(|_| !last_ongoing)
                    .map(|next| seconds_between(*started_at, next)),
            }
        })
        .collect()
}

/// A job put back in the queue waits again: its timeline restarts with the
/// next claim, so a queued job shows no stale stages.
fn recorded_stages(timeline: &serde_json::Value) -> Vec<(String, DateTime<Utc>)> {
    let Some(entries) = timeline.as_array() else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|entry| {
            let stage = entry.get("stage")?.as_str()?;
            let at = entry.get("at")?.as_str()?.parse::<DateTime<Utc>>().ok()?;
            Some((stage.to_string(), at))
        })
        .collect()
}

fn seconds_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    let micros = (to - from).num_microseconds().unwrap_or(0).max(0);
    micros as f64 / 1e6
}

/// Whether the job shows progress: only while an attempt runs.
pub fn shows_progress(job: &Job) -> bool {
    job.status == JobStatus::Running
}
