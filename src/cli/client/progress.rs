//! One progress bar per file: the upload (bytes sent, rate), then the
//! conversion as the job's event stream reports it. Drawn on standard error
//! only when it is a terminal, so pipes and logs get the summaries alone.

use std::io::IsTerminal;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;

/// The bars of one invocation.
pub(crate) struct Bars {
    multi: MultiProgress,
}

impl Bars {
    /// Bars on standard error when it is a terminal, hidden otherwise.
    pub(crate) fn new() -> Bars {
        let target = match std::io::stderr().is_terminal() {
            true => ProgressDrawTarget::stderr_with_hz(10),
            false => ProgressDrawTarget::hidden(),
        };
        Bars {
            multi: MultiProgress::with_draw_target(target),
        }
    }

    /// A bar for a file of `total` bytes, named `name`.
    pub(crate) fn add(&self, name: &str, total: u64) -> FileBar {
        let bar = self.multi.add(ProgressBar::new(total));
        bar.set_style(upload_style());
        bar.set_prefix(name.to_string());
        bar.set_message("uploading");
        FileBar { bar }
    }

    /// Leaves the finished bars on the terminal and lets go of it: later
    /// lines go below them, and no redraw moves up over those lines again.
    pub(crate) fn detach(&self) {
        if !self.multi.is_hidden() {
            self.multi.set_draw_target(ProgressDrawTarget::hidden());
            // The last bar's line has no line end of its own.
            eprintln!();
        }
    }
}

fn upload_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:20!} {msg:12} [{bar:30}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
    )
    .expect("a valid template")
    .progress_chars("=> ")
}

fn conversion_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:20!} {msg:12} [{bar:30}] {pos:>3}%")
        .expect("a valid template")
        .progress_chars("=> ")
}

/// The bar of one file.
#[derive(Clone)]
pub(crate) struct FileBar {
    bar: ProgressBar,
}

impl FileBar {
    /// Bytes handed to the connection.
    pub(crate) fn sent(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    /// A retry starts the upload over.
    pub(crate) fn restart(&self, note: &str) {
        self.bar.set_position(0);
        self.bar.set_message(note.to_string());
    }

    /// The upload is done: the bar now follows the conversion, in percent.
    pub(crate) fn converting(&self) {
        self.bar.set_style(conversion_style());
        self.bar.set_length(100);
        self.bar.set_position(0);
        self.bar.set_message("queued");
    }

    /// A `progress` or `status` event of the job.
    pub(crate) fn event(&self, data: &Value) {
        if let Some(stage) = data["stage"].as_str().or(data["status"].as_str()) {
            self.bar.set_message(stage.to_string());
        }
        if let Some(percent) = data["percent"].as_f64() {
            self.bar.set_position(percent.clamp(0.0, 100.0) as u64);
        }
    }

    /// The job ended: the bar stays, with its final word.
    pub(crate) fn finish(&self, status: &str) {
        if status == "succeeded" {
            self.bar.set_position(100);
        }
        self.bar.finish_with_message(status.to_string());
    }
}
