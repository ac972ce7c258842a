//! Converting a file while another thread still writes it (`convert_arriving`): the same
//! Parquet as converting the finished file, whatever the pace of the writer; a writer that
//! gives up fails the conversion and leaves no output.

mod common;

use std::fs::File;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex};

use common::{fixture, Scratch};
use parquetry_convert::{
    convert_arriving, convert_file, Arrival, ConvertOptions, ErrorKind, Progress, Written,
};

/// A file the test writes piece by piece, as an upload arrives.
struct Upload {
    path: PathBuf,
    /// How far it got, and whether the writer gave up.
    state: Mutex<(Written, bool)>,
    changed: Condvar,
}

impl Upload {
    fn new(path: PathBuf) -> Arc<Upload> {
        File::create(&path).unwrap();
        let written = Written {
            bytes: 0,
            complete: false,
        };
        Arc::new(Upload {
            path,
            state: Mutex::new((written, false)),
            changed: Condvar::new(),
        })
    }

    /// Writes `bytes` in pieces of `piece` bytes, then completes (or gives up after half).
    fn send(&self, bytes: &[u8], piece: usize, give_up: bool) {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .unwrap();
        let end = if give_up {
            bytes.len() / 2
        } else {
            bytes.len()
        };
        for part in bytes[..end].chunks(piece) {
            file.write_all(part).unwrap();
            self.state.lock().unwrap().0.bytes += part.len() as u64;
            self.changed.notify_all();
        }
        let mut state = self.state.lock().unwrap();
        if give_up {
            state.1 = true;
        } else {
            state.0.complete = true;
        }
        drop(state);
        self.changed.notify_all();
    }
}

impl Arrival for Upload {
    fn open(&self) -> io::Result<File> {
        File::open(&self.path)
    }

    fn wait_past(&self, bytes: u64) -> io::Result<Written> {
        let mut state = self.state.lock().unwrap();
        loop {
            if state.1 {
                return Err(io::Error::other("the upload did not complete"));
            }
            if state.0.bytes > bytes || state.0.complete {
                return Ok(state.0);
            }
            state = self.changed.wait(state).unwrap();
        }
    }
}

/// Converts `bytes` as they arrive in pieces of `piece` bytes; returns the Parquet, or the
/// error with whether an output file was left behind.
fn convert_while_sent(
    dir: &Scratch,
    bytes: &[u8],
    piece: usize,
    give_up: bool,
) -> Result<Vec<u8>, (ErrorKind, bool)> {
    let upload = Upload::new(dir.path(&format!("arriving-{piece}.csv")));
    let output = dir.path(&format!("arriving-{piece}.parquet"));
    let arrival: Arc<dyn Arrival> = upload.clone();
    let progress = Progress::default();
    let converted = std::thread::scope(|scope| {
        let sender = scope.spawn(|| upload.send(bytes, piece, give_up));
        let converted = convert_arriving(
            &arrival,
            &output,
            None,
            &ConvertOptions::default(),
            &AtomicBool::new(false),
            &progress,
        );
        sender.join().unwrap();
        converted
    });
    match converted {
        Ok(report) => {
            assert_eq!(report.input_bytes, bytes.len() as u64);
            Ok(std::fs::read(&output).unwrap())
        }
        Err(error) => Err((error.kind, output.exists())),
    }
}

fn converted_whole(dir: &Scratch, bytes: &[u8]) -> Vec<u8> {
    let input = dir.file("whole.csv", bytes);
    let output = dir.path("whole.parquet");
    let options = ConvertOptions::default();
    convert_file(&input, &output, &options, &AtomicBool::new(false)).unwrap();
    std::fs::read(output).unwrap()
}

#[test]
fn an_arriving_file_converts_as_the_finished_file_does() {
    let dir = Scratch::new("arriving-same");
    // Windows-1252, `;`, decimal commas, a title line and a `Fonte:` footer; gzip; zstd; a zip
    // archive, which is read once complete.
    let mut zipped = Vec::new();
    {
        let mut zip = zip::ZipWriter::new(io::Cursor::new(&mut zipped));
        zip.start_file("dados.csv", zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(&fixture("br_gov_cp1252.csv")).unwrap();
        zip.finish().unwrap();
    }
    let inputs = [
        fixture("br_gov_cp1252.csv"),
        fixture("title_source_lines.csv"),
        fixture("gzip_input.txt"),
        fixture("zstd_input.csv"),
        zipped,
    ];
    for bytes in inputs {
        let whole = converted_whole(&dir, &bytes);
        for piece in [1, 7, 4096, bytes.len()] {
            let arriving = convert_while_sent(&dir, &bytes, piece, false).unwrap();
            assert!(arriving == whole, "pieces of {piece} bytes differ");
        }
    }
}

#[test]
fn a_bad_line_is_reported_as_for_the_finished_file() {
    let dir = Scratch::new("arriving-bad");
    let bytes = fixture("unterminated_quote.csv");
    let input = dir.file("whole.csv", &bytes);
    let whole = convert_file(
        &input,
        &dir.path("whole.parquet"),
        &ConvertOptions::default(),
        &AtomicBool::new(false),
    )
    .unwrap_err();
    let (kind, left_output) = convert_while_sent(&dir, &bytes, 3, false).unwrap_err();
    assert_eq!(kind, whole.kind);
    assert!(!left_output);
}

#[test]
fn a_writer_that_gives_up_fails_the_conversion_and_leaves_nothing() {
    let dir = Scratch::new("arriving-gave-up");
    let mut bytes = b"id,name,amount\n".to_vec();
    for row in 0..20_000 {
        bytes.extend_from_slice(format!("{row},name {row},{row}.5\n").as_bytes());
    }
    let (kind, left_output) = convert_while_sent(&dir, &bytes, 4096, true).unwrap_err();
    assert_eq!(kind, ErrorKind::Io);
    assert!(!left_output);
}
