//! How far a conversion got, readable from another thread while it runs: the
//! stage, the bytes of input read and the rows written so far. A caller
//! (the service's heartbeat) samples it; the engine only counts.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::SystemTime;

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
    /// Bytes a pass reads in all; 0 while unknown (compressed input).
    total_bytes: AtomicU64,
    /// The size of an arriving input once complete (0 before), and whether it is plain: the
    /// total is known when both are.
    arrived_bytes: AtomicU64,
    arriving_plain: AtomicBool,
    /// When each stage began, in order: a job's timeline. A handful of
    /// entries written at stage changes, never in the per-chunk path.
    stages: Mutex<Vec<(Stage, SystemTime)>>,
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
    /// Bytes a pass reads in all, when known before it ends: the file's size
    /// for plain input, unknown for compressed input.
    pub total_bytes: Option<u64>,
}

impl ProgressSnapshot {
    /// The share of the current pass done, from 0 to 1, when the total is known.
    pub fn fraction(&self) -> Option<f64> {
        let total = self.total_bytes.filter(|&total| total > 0)?;
        Some((self.bytes_read as f64 / total as f64).min(1.0))
    }
}

impl Progress {
    pub fn snapshot(&self) -> ProgressSnapshot {
        ProgressSnapshot {
            stage: Stage::from_u8(self.stage.load(Ordering::Relaxed)),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            passes: self.passes.load(Ordering::Relaxed),
            total_bytes: match self.total_bytes.load(Ordering::Relaxed) {
                0 => None,
                total => Some(total),
            },
        }
    }

    /// When each stage began, oldest first; a stage entered again (a new
    /// pass) keeps its first start.
    pub fn stages(&self) -> Vec<(Stage, SystemTime)> {
        self.stages
            .lock()
            .map(|stages| stages.clone())
            .unwrap_or_default()
    }

    pub(crate) fn set_stage(&self, stage: Stage) {
        let previous = self.stage.swap(stage as u8, Ordering::Relaxed);
        if previous != stage as u8 {
            if let Ok(mut stages) = self.stages.lock() {
                stages.push((stage, SystemTime::now()));
            }
        }
    }

    /// The bytes each pass reads, once known (0: unknown).
    pub(crate) fn set_total_bytes(&self, total: u64) {
        self.total_bytes.store(total, Ordering::Relaxed);
    }

    /// The arriving input (see [`crate::convert_arriving`]) is complete, `bytes` long: the
    /// total of a pass once the conversion knows the input is plain.
    pub fn input_complete(&self, bytes: u64) {
        self.arrived_bytes.store(bytes, Ordering::SeqCst);
        self.total_from_arrival();
    }

    /// The arriving input is plain: its size, once complete, is what a pass reads.
    pub(crate) fn set_arriving_plain(&self) {
        self.arriving_plain.store(true, Ordering::SeqCst);
        self.total_from_arrival();
    }

    fn total_from_arrival(&self) {
        let bytes = self.arrived_bytes.load(Ordering::SeqCst);
        if bytes > 0 && self.arriving_plain.load(Ordering::SeqCst) {
            self.set_total_bytes(bytes);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_are_timed_once_each_time_they_change() {
        let progress = Progress::default();
        progress.set_stage(Stage::Detecting);
        progress.start_pass();
        progress.start_pass();
        progress.set_stage(Stage::Writing);
        let stages: Vec<Stage> = progress.stages().into_iter().map(|(s, _)| s).collect();
        assert_eq!(
            stages,
            [Stage::Detecting, Stage::Converting, Stage::Writing]
        );
        let times: Vec<SystemTime> = progress.stages().into_iter().map(|(_, t)| t).collect();
        assert!(times.windows(2).all(|pair| pair[0] <= pair[1]));
    }

    #[test]
    fn the_fraction_needs_a_known_total() {
        let progress = Progress::default();
        progress.add_bytes(50);
        assert_eq!(progress.snapshot().fraction(), None);
        progress.set_total_bytes(200);
        assert_eq!(progress.snapshot().fraction(), Some(0.25));
        progress.add_bytes(500);
        assert_eq!(progress.snapshot().fraction(), Some(1.0));
    }

    #[test]
    fn an_arriving_input_has_a_total_once_complete_and_known_plain() {
        for plain_first in [true, false] {
            let progress = Progress::default();
            progress.add_bytes(50);
            if plain_first {
                progress.set_arriving_plain();
            } else {
                progress.input_complete(200);
            }
            assert_eq!(progress.snapshot().fraction(), None);
            if plain_first {
                progress.input_complete(200);
            } else {
                progress.set_arriving_plain();
            }
            assert_eq!(progress.snapshot().fraction(), Some(0.25));
        }
        let compressed = Progress::default();
        compressed.input_complete(200);
        assert_eq!(compressed.snapshot().total_bytes, None);
    }
}
