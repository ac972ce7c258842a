//! How far a conversion got, readable from another thread while it runs: the
//! stage, the bytes of input read and the rows written so far. A caller
//! (the service's heartbeat) samples it; the engine only counts.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use serde::Serialize;

/// The stage a conversion is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Not started yet.
    Waiting,
    /// Reading the sample: dialect, header, types.
    Detecting,
    /// Parsing and encoding the rows (a widened column starts a new pass).
    Converting,
    /// Closing the Parquet file (its footer).
    Writing,
    /// Done.
    Finished,
}

impl Stage {
    fn from_u8(value: u8) -> Stage {
        match value {
            1 => Stage::Detecting,
            2 => Stage::Converting,
            3 => Stage::Writing,
            4 => Stage::Finished,
            _ => Stage::Waiting,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Waiting => "waiting",
            Stage::Detecting => "detecting",
            Stage::Converting => "converting",
            Stage::Writing => "writing",
            Stage::Finished => "finished",
        }
    }
}

/// The counters of a running conversion (all relaxed atomics: a sample may
/// mix two moments, which a progress report can afford).
#[derive(Debug, Default)]
pub struct Progress {
    stage: AtomicU8,
    bytes_read: AtomicU64,
    rows: AtomicU64,
    passes: AtomicU64,
}

/// One sample of [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ProgressSnapshot {
    pub stage: Stage,
    /// Bytes of input read in the current pass (decompressed for gzip, zstd and zip).
    pub bytes_read: u64,
    /// Rows written in the current pass.
    pub rows: u64,
    /// Passes started (more than one when a late value widened a column).
    pub passes: u64,
}

impl Progress {
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            stage: Stage::from_u8(self.stage.load(Ordering::Relaxed)),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            passes: self.passes.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn set_stage(&self, stage: Stage) {
        self.stage.store(stage as u8, Ordering::Relaxed);
    }

    /// A pass starts over: its counts start from zero.
    pub(crate) fn start_pass(&self) {
        self.bytes_read.store(0, Ordering::Relaxed);
        self.rows.store(0, Ordering::Relaxed);
        self.passes.fetch_add(1, Ordering::Relaxed);
        self.set_stage(Stage::Converting);
    }

    pub(crate) fn add_bytes(&self, n: u64) {
        self.bytes_read.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn add_rows(&self, n: u64) {
        self.rows.fetch_add(n, Ordering::Relaxed);
    }
}
