//! `parquetry convert - -`: standard input and output as the CSV and the
//! Parquet file.
//!
//! The engine reads its input by path and may read it more than once: a
//! late value that breaks a sampled type restarts the pass from the top, and
//! a zip archive lists its members at its end. It also rewrites its output
//! from the start when a pass restarts, and removes it on failure. A pipe
//! allows none of that, so standard input is spooled to a file first and the
//! Parquet file is written to a file and only then copied to standard output.
//! Both copies stream through a small fixed buffer (`std::io::copy`, which
//! Linux may even turn into a splice), so memory stays as bounded as in a
//! conversion of files, whatever flows through the pipe; the cost is disk the
//! size of the input and of the output, under `TMPDIR`, removed when the
//! command ends, also when it is interrupted.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The name that stands for standard input or output.
pub const STDIO: &str = "-";

pub fn is_stdio(path: &Path) -> bool {
    path.as_os_str() == STDIO
}

/// A directory of our own under the system's temporary directory, removed
/// with everything in it when dropped.
pub struct Spool {
    dir: PathBuf,
}

impl Spool {
    pub fn new() -> anyhow::Result<Spool> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("parquetry-convert-{}-{nanos}", std::process::id()));
        remove_on_interrupt(dir.clone())?;
        // `create_dir`, not `create_dir_all`: a directory already there is not ours.
        std::fs::create_dir(&dir)
            .with_context(|| format!("creating a spool directory {}", dir.display()))?;
        Ok(Spool { dir })
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Copies standard input to a file of the spool and returns its path.
    pub fn take_stdin(&self) -> anyhow::Result<PathBuf> {
        let path = self.path("input");
        let mut file =
            File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        std::io::copy(&mut std::io::stdin().lock(), &mut file).with_context(|| {
            format!(
                "copying standard input to {} (it needs disk the size of the input)",
                path.display()
            )
        })?;
        Ok(path)
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Removes `dir` when the command is interrupted (Ctrl-C in a pipeline, or
/// SIGTERM), then exits as the signal would have: `Drop` does not run then,
/// and the spool may hold gigabytes. Returns once the handlers are in place,
/// so that no spool exists without them.
fn remove_on_interrupt(dir: PathBuf) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let (installed, ready) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build();
        let Ok(runtime) = runtime else {
            let _ = installed.send(false);
            return;
        };
        let code = runtime.block_on(async {
            let handlers = signal(SignalKind::interrupt()).and_then(|interrupt| {
                signal(SignalKind::terminate()).map(|terminate| (interrupt, terminate))
            });
            let Ok((mut interrupt, mut terminate)) = handlers else {
                let _ = installed.send(false);
                return None;
            };
            let _ = installed.send(true);
            tokio::select! {
                _ = interrupt.recv() => Some(130),
                _ = terminate.recv() => Some(143),
            }
        });
        if let Some(code) = code {
            let _ = std::fs::remove_dir_all(&dir);
            std::process::exit(code);
        }
    });
    anyhow::ensure!(
        ready.recv().unwrap_or(false),
        "could not install the signal handlers that remove the spool"
    );
    Ok(())
}

/// Copies a finished file to standard output.
pub fn send_to_stdout(path: &Path) -> anyhow::Result<()> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    std::io::copy(&mut file, &mut out).context("writing the Parquet file to standard output")?;
    out.flush()
        .context("writing the Parquet file to standard output")?;
    Ok(())
}
