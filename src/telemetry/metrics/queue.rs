//! The queue gauges: database-wide figures, exported by one process only.
//!
//! `parquetry.jobs.queued` and `.running` count rows of the shared job
//! table, so every process reads the same figures; if each exported them, a
//! `sum()` over processes would multiply them by the number of processes.
//! Every process still records the figures it reads (the API's `/metrics`
//! at each scrape, the workers' housekeeping), but only the process that
//! holds the exporter role reports them, to Prometheus and over OTLP alike.
//! `startup` decides the role (a PostgreSQL advisory lock, see
//! `startup::queue_gauges`); a process that loses it stops reporting at the
//! next collection, and `max`/`sum` over processes both give the true figure.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use opentelemetry::metrics::{Gauge, Meter, SyncInstrument};
use opentelemetry::KeyValue;

/// The last figures read from the database, and whether this process
/// reports them.
#[derive(Debug, Default)]
pub struct QueueFigures {
    queued: AtomicI64,
    running: AtomicI64,
    queued_known: AtomicBool,
    running_known: AtomicBool,
    exporter: AtomicBool,
}

#[derive(Clone, Copy)]
enum Figure {
    Queued,
    Running,
}

impl QueueFigures {
    /// Makes this process the one that reports the figures, or not.
    pub fn set_exporter(&self, exporter: bool) {
        self.exporter.store(exporter, Ordering::SeqCst);
    }

    /// Whether this process reports the figures.
    pub fn is_exporter(&self) -> bool {
        self.exporter.load(Ordering::SeqCst)
    }

    /// Records both figures at once (what `count_active` returns).
    pub fn record(&self, queued: i64, running: i64) {
        self.set(Figure::Queued, queued);
        self.set(Figure::Running, running);
    }

    fn cells(&self, figure: Figure) -> (&AtomicI64, &AtomicBool) {
        match figure {
            Figure::Queued => (&self.queued, &self.queued_known),
            Figure::Running => (&self.running, &self.running_known),
        }
    }

    fn set(&self, figure: Figure, value: i64) {
        let (cell, known) = self.cells(figure);
        cell.store(value, Ordering::SeqCst);
        known.store(true, Ordering::SeqCst);
    }

    /// The figure to report now: none unless this process is the exporter
    /// and has read it at least once.
    fn reported(&self, figure: Figure) -> Option<i64> {
        let (cell, known) = self.cells(figure);
        (self.is_exporter() && known.load(Ordering::SeqCst)).then(|| cell.load(Ordering::SeqCst))
    }
}

/// What `Metrics::jobs_queued.record(…)` does: keeps the figure for the
/// observable gauge to report.
struct FigureCell {
    figures: Arc<QueueFigures>,
    figure: Figure,
}

impl SyncInstrument<i64> for FigureCell {
    fn measure(&self, value: i64, _attributes: &[KeyValue]) {
        self.figures.set(self.figure, value);
    }
}

/// Registers the two observable gauges on `meter` and returns the gauges
/// callers record into, `(queued, running)`.
pub fn register(
    meter: &Meter,
    figures: &Arc<QueueFigures>,
    queued: (&'static str, &'static str, &'static str),
    running: (&'static str, &'static str, &'static str),
) -> (Gauge<i64>, Gauge<i64>) {
    let [queued, running] = [(queued, Figure::Queued), (running, Figure::Running)].map(
        |((name, unit, description), figure)| {
            let source = figures.clone();
            // The callback runs at each collection, per reader: reporting
            // nothing drops the series from that collection (observable
            // gauges are collected as deltas).
            let _reported_at_collection = meter
                .i64_observable_gauge(name)
                .with_unit(unit)
                .with_description(description)
                .with_callback(move |observer| {
                    if let Some(value) = source.reported(figure) {
                        observer.observe(value, &[]);
                    }
                })
                .build();
            Gauge::new(Arc::new(FigureCell {
                figures: figures.clone(),
                figure,
            }))
        },
    );
    (queued, running)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_are_reported_only_by_the_exporter_once_read() {
        let figures = QueueFigures::default();
        assert_eq!(figures.reported(Figure::Queued), None);
        figures.record(3, 1);
        assert_eq!(figures.reported(Figure::Queued), None, "not the exporter");
        figures.set_exporter(true);
        assert_eq!(figures.reported(Figure::Queued), Some(3));
        assert_eq!(figures.reported(Figure::Running), Some(1));
        figures.set_exporter(false);
        assert_eq!(figures.reported(Figure::Running), None);
    }
}
