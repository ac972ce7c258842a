//! Receiving an upload's body: raw, or multipart with a `file` part and
//! option fields. The file is streamed to storage as it arrives (never held
//! in memory); with an `Idempotency-Key`, a digest of what was received
//! identifies the request.

use std::time::Duration;

use actix_multipart::{Field, Multipart};
use actix_web::web;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};

use parquetry_convert::ConvertOptions;

use super::problem::ApiError;
use crate::storage::{UploadError, UploadSink};

/// Longest accepted value of a non-file multipart field, before the
/// options' own bounds (`parquetry_convert::MAX_SCHEMA_BYTES`) apply.
const MAX_FIELD_BYTES: usize = 64 * 1024;
/// Most non-file fields read before the options' own count bound applies.
const MAX_FIELDS: usize = 64;
/// The media types a raw upload may have (or none at all); `text/*` is any
/// text type. The check, the 415 message, README and openapi.yaml all name
/// this list (a test holds the documents to it).
pub(super) const RAW_MEDIA_TYPES: &[&str] = &[
    "text/csv",
    "text/*",
    "application/csv",
    "application/octet-stream",
    "application/gzip",
    "application/x-gzip",
    "application/zstd",
    // curl's default for `--data-binary`: the body is read as-is, never form-decoded.
    "application/x-www-form-urlencoded",
];

/// Whether a raw body of media type `kind` (lower case, no parameters) is accepted.
pub(super) fn accepts_raw(kind: &str) -> bool {
    kind.is_empty()
        || RAW_MEDIA_TYPES
            .iter()
            .any(|accepted| match accepted.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => kind == *accepted,
            })
}

/// Form fields read beside the conversion options.
pub(super) const KNOWN_FIELDS: &[&str] = &["filename", "callback_url"];

/// The options of one upload, in the order given (a name may repeat).
pub(super) type OptionPairs = Vec<(String, String)>;

pub(super) struct StoredUpload {
    pub filename: String,
    /// Bytes of the file received (for a head, also those not kept).
    pub bytes: u64,
    /// SHA-256 of the body, when asked for.
    pub digest: Option<Vec<u8>>,
    /// The file's first bytes, when only they were kept (see [`BodyWriter::head`]).
    pub head: Option<Vec<u8>>,
}

/// Where a body goes: to storage, or (for an inspection) its first bytes to memory.
enum Target {
    /// Boxed: the sink is large next to a head.
    Storage(Box<UploadSink>),
    Head {
        kept: Vec<u8>,
        limit: usize,
        seen: u64,
    },
}

/// The upload's sink, and the digest of what went into it.
pub(super) struct BodyWriter {
    target: Target,
    digest: Option<Sha256>,
}

impl BodyWriter {
    pub fn new(sink: UploadSink, with_digest: bool) -> BodyWriter {
        BodyWriter {
            target: Target::Storage(Box::new(sink)),
            digest: with_digest.then(Sha256::new),
        }
    }

    /// Keeps the first `limit` bytes of the file in memory and counts the rest.
    pub fn head(limit: usize) -> BodyWriter {
        BodyWriter {
            target: Target::Head {
                kept: Vec::new(),
                limit,
                seen: 0,
            },
            digest: None,
        }
    }

    /// A head that has seen more than it keeps: the rest of a raw body need not be read.
    fn past_head(&self) -> bool {
        matches!(&self.target, Target::Head { kept, seen, .. } if *seen > kept.len() as u64)
    }

    async fn write(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        if let Some(digest) = &mut self.digest {
            digest.update(chunk);
        }
        match &mut self.target {
            Target::Storage(sink) => sink.write(chunk).await.map_err(upload_error),
            Target::Head { kept, limit, seen } => {
                let room = limit.saturating_sub(kept.len()).min(chunk.len());
                kept.extend_from_slice(&chunk[..room]);
                *seen += chunk.len() as u64;
                Ok(())
            }
        }
    }

    async fn finish(self, filename: String) -> Result<StoredUpload, ApiError> {
        let digest = self.digest.map(|d| d.finalize().to_vec());
        let (bytes, head) = match self.target {
            Target::Storage(sink) if sink.bytes_written() == 0 => {
                sink.abort().await;
                return Err(ApiError::EmptyFile);
            }
            Target::Storage(sink) => (sink.finish().await.map_err(upload_error)?, None),
            Target::Head { seen: 0, .. } => return Err(ApiError::EmptyFile),
            Target::Head { kept, seen, .. } => (seen, Some(kept)),
        };
        Ok(StoredUpload {
            filename,
            bytes,
            digest,
            head,
        })
    }

    pub async fn abort(self) {
        if let Target::Storage(sink) = self.target {
            sink.abort().await;
        }
    }
}

fn upload_error(error: UploadError) -> ApiError {
    match error {
        UploadError::TooLarge { limit } => ApiError::PayloadTooLarge { limit },
        UploadError::DiskFull => ApiError::InsufficientStorage,
        UploadError::Storage(error) => {
            ApiError::Internal(anyhow::anyhow!(error).context("writing an upload"))
        }
    }
}

/// The next item of an upload body, or `upload-timeout` when the client
/// sends nothing for `idle`: a stalled upload must not hold its connection
/// and partial file forever.
async fn next_within<S: Stream + Unpin>(
    stream: &mut S,
    idle: Duration,
) -> Result<Option<S::Item>, ApiError> {
    tokio::time::timeout(idle, stream.next())
        .await
        .map_err(|_| ApiError::UploadTimeout(idle.as_secs()))
}

pub(super) async fn receive_raw(
    mut payload: web::Payload,
    mut writer: BodyWriter,
    idle: Duration,
) -> Result<StoredUpload, ApiError> {
    loop {
        if writer.past_head() {
            // An inspection has what it reads; the rest of the body is not needed.
            break;
        }
        let outcome = match next_within(&mut payload, idle).await {
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => writer.write(&chunk).await,
            Ok(Some(Err(error))) => {
                // actix's wording ("payload reached EOF before completing: None") means
                // nothing to a client; say what happened and keep the cause for the logs.
                tracing::info!(%error, "upload body ended early");
                Err(ApiError::UploadInterrupted(
                    "the connection closed before the whole body arrived, or its chunked \
                     encoding is malformed"
                        .into(),
                ))
            }
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            writer.abort().await;
            return Err(error);
        }
    }
    writer.finish(String::new()).await
}

/// Receives a form: its `file` part into `writer`, its other fields into
/// `options`. `file_begins` is told the options known when the file's bytes
/// begin (the query's and those of the fields before it).
pub(super) async fn receive_multipart(
    mut multipart: Multipart,
    (writer, file_begins): (BodyWriter, impl FnOnce(&OptionPairs)),
    options: &mut OptionPairs,
    idle: Duration,
) -> Result<StoredUpload, ApiError> {
    let mut writer = Some(writer);
    let mut file_begins = Some(file_begins);
    let mut stored = None;
    // What arrived instead of a `file` part, to name it in `missing-file`.
    let mut other_parts: Vec<String> = Vec::new();
    loop {
        let outcome = match next_within(&mut multipart, idle).await {
            Ok(None) => break,
            Ok(Some(Err(error))) => Err(ApiError::InvalidMultipart(error.to_string())),
            Ok(Some(Ok(field))) => {
                let name = field.name().unwrap_or("").to_string();
                if name == "file" {
                    match writer.take() {
                        Some(writer) => {
                            if let Some(file_begins) = file_begins.take() {
                                file_begins(options);
                            }
                            receive_file_field(field, writer, idle)
                                .await
                                .map(|s| stored = Some(s))
                        }
                        None => Err(ApiError::InvalidMultipart(
                            "only one part named `file` is accepted".into(),
                        )),
                    }
                } else if field
                    .content_disposition()
                    .is_some_and(|d| d.get_filename().is_some())
                {
                    // A file under another name (`-F data=@x.csv`) is the
                    // missing file, not an option to read as text.
                    Err(ApiError::MissingFile(vec![shown_name(&name)]))
                } else if options.len() >= MAX_FIELDS {
                    Err(ApiError::OptionsTooLarge(format!(
                        "more than {MAX_FIELDS} form fields were sent"
                    )))
                } else {
                    other_parts.push(shown_name(&name));
                    let awaiting_file = writer.is_some();
                    read_text_field(field, idle)
                        .await
                        .map(|value| options.push((name.clone(), value)))
                        .map_err(|error| misnamed_file(error, &name, awaiting_file))
                }
            }
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            if let Some(writer) = writer {
                writer.abort().await;
            }
            return Err(error);
        }
    }
    if let Some(writer) = writer {
        writer.abort().await;
        return Err(ApiError::MissingFile(other_parts));
    }
    stored.ok_or(ApiError::MissingFile(other_parts))
}

/// A part that is no option and cannot be one's value (not UTF-8, or too
/// long) is the CSV sent under another name without a file name
/// (`-F data=<file.csv`): the mistake to report is the missing `file`.
fn misnamed_file(error: ApiError, name: &str, awaiting_file: bool) -> ApiError {
    let option_name =
        ConvertOptions::canonical_name(name).is_some() || KNOWN_FIELDS.contains(&name);
    match error {
        ApiError::InvalidOption(_) | ApiError::OptionsTooLarge(_)
            if awaiting_file && !option_name =>
        {
            ApiError::MissingFile(vec![shown_name(name)])
        }
        error => error,
    }
}

async fn receive_file_field(
    mut field: Field,
    mut writer: BodyWriter,
    idle: Duration,
) -> Result<StoredUpload, ApiError> {
    let filename = field
        .content_disposition()
        .and_then(|disposition| disposition.get_filename())
        .unwrap_or("")
        .to_string();
    loop {
        let outcome = match next_within(&mut field, idle).await {
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => writer.write(&chunk).await,
            Ok(Some(Err(error))) => Err(ApiError::InvalidMultipart(error.to_string())),
            Err(error) => Err(error),
        };
        if let Err(error) = outcome {
            writer.abort().await;
            return Err(error);
        }
    }
    writer.finish(filename).await
}

async fn read_text_field(mut field: Field, idle: Duration) -> Result<String, ApiError> {
    let name = field.name().unwrap_or("").to_string();
    let mut value = Vec::new();
    while let Some(chunk) = next_within(&mut field, idle).await? {
        let chunk = chunk.map_err(|error| ApiError::InvalidMultipart(error.to_string()))?;
        if value.len() + chunk.len() > MAX_FIELD_BYTES {
            return Err(ApiError::OptionsTooLarge(format!(
                "the value of `{}` is longer than {MAX_FIELD_BYTES} bytes",
                shown_name(&name)
            )));
        }
        value.extend_from_slice(&chunk);
    }
    String::from_utf8(value).map_err(|_| {
        ApiError::InvalidOption(format!("the value of `{}` is not UTF-8", shown_name(&name)))
    })
}

/// A field name as quoted back in a message: bounded and printable.
pub(super) fn shown_name(name: &str) -> String {
    name.chars()
        .take(64)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documents_name_every_accepted_raw_media_type() {
        let readme = include_str!("../../README.md");
        let openapi = include_str!("../../openapi.yaml");
        for kind in RAW_MEDIA_TYPES {
            let quoted = format!("`{kind}`");
            assert!(readme.contains(&quoted), "README.md does not name {quoted}");
            assert!(
                openapi.contains(&quoted),
                "openapi.yaml does not name {quoted}"
            );
        }
        assert!(accepts_raw("text/tab-separated-values") && accepts_raw(""));
        assert!(!accepts_raw("application/json") && !accepts_raw("textual/csv"));
    }
}
