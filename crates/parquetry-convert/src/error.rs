//! The one error type of the crate, with a stable machine-readable code.

use serde::{Deserialize, Serialize};

/// What went wrong, as a category with a stable code (see [`ConvertError::code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The file is empty, or holds only whitespace and/or a byte-order mark.
    EmptyInput,
    /// A record has a different number of fields than the header (or the first record).
    RaggedRow,
    /// A quoted field is still open at the end of the file.
    UnterminatedQuote,
    /// The encoding was forced to UTF-8 and the file holds bytes that are not UTF-8.
    InvalidUtf8,
    /// A value cannot be read under a type forced by the `schema` option.
    InvalidValue,
    /// An option is invalid, or does not fit the file (e.g. a schema column that does not exist).
    InvalidOption,
    /// The file is not CSV text (a ZIP/XLSX, Parquet, PDF, image… or other binary data).
    NotCsv,
    /// The text is in an encoding the engine does not read (UTF-16, UTF-32).
    UnsupportedEncoding,
    /// The gzip or zstd input is truncated or corrupt (retrying cannot help).
    CorruptCompressedInput,
    /// With `on_error=skip`, more rows were rejected than `max_errors` allows.
    TooManyErrors,
    /// The zip archive holds several CSV files and the `member` option does not pick one.
    ZipMemberRequired,
    /// The caller asked the conversion to stop.
    Canceled,
    /// Reading the input or writing the output failed (disk, permissions, encoder).
    Io,
    /// The engine failed in a way no input should cause (a bug): retrying
    /// the same file cannot help.
    Internal,
}

impl ErrorKind {
    /// The stable code of this kind, e.g. `"ragged-row"`.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::EmptyInput => "empty-file",
            ErrorKind::RaggedRow => "ragged-row",
            ErrorKind::UnterminatedQuote => "unterminated-quote",
            ErrorKind::InvalidUtf8 => "invalid-utf8",
            ErrorKind::InvalidValue => "invalid-value",
            ErrorKind::InvalidOption => "invalid-option",
            ErrorKind::NotCsv => "not-csv",
            ErrorKind::UnsupportedEncoding => "unsupported-encoding",
            ErrorKind::CorruptCompressedInput => "corrupt-compressed-input",
            ErrorKind::TooManyErrors => "too-many-errors",
            ErrorKind::ZipMemberRequired => "zip-member-required",
            ErrorKind::Canceled => "canceled",
            ErrorKind::Io => "io-error",
            ErrorKind::Internal => "internal-error",
        }
    }
}

/// A failed conversion: what kind, a human message, and where in the CSV when known.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConvertError {
    /// The category of the failure.
    pub kind: ErrorKind,
    /// A message for humans; it names the line and column when they are known.
    pub message: String,
    /// 1-based line of the file where the faulty record starts (header = line 1)
    pub line: Option<u64>,
    /// Name of the faulty column, when one is at fault.
    pub column: Option<String>,
}

impl ConvertError {
    /// A new error without position.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ConvertError {
            kind,
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// Sets the 1-based line where the faulty record starts.
    pub fn at_line(mut self, line: u64) -> Self {
        self.line = Some(line);
        self
    }

    /// Sets the name of the faulty column.
    pub fn in_column(mut self, column: impl Into<String>) -> Self {
        self.column = Some(column.into());
        self
    }

    /// The stable machine-readable code, e.g. `"ragged-row"`.
    pub fn code(&self) -> &'static str {
        self.kind.code()
    }

    /// true when the input (not I/O) is at fault: never retried. Only `Io` (disk, permissions,
    /// encoder) and `Canceled` are not; a corrupt compressed file stays corrupt on retry.
    pub fn is_input_error(&self) -> bool {
        !matches!(
            self.kind,
            ErrorKind::Canceled | ErrorKind::Io | ErrorKind::Internal
        )
    }

    /// true when running the same conversion again may succeed: only I/O
    /// (a full disk, a storage hiccup). Input errors and engine bugs fail
    /// the same way every time.
    pub fn is_retryable(&self) -> bool {
        self.kind == ErrorKind::Io
    }

    pub(crate) fn canceled() -> Self {
        ConvertError::new(ErrorKind::Canceled, "conversion canceled")
    }
}

impl From<std::io::Error> for ConvertError {
    fn from(e: std::io::Error) -> Self {
        ConvertError::new(ErrorKind::Io, format!("I/O error: {e}"))
    }
}

impl From<parquet::errors::ParquetError> for ConvertError {
    fn from(e: parquet::errors::ParquetError) -> Self {
        ConvertError::new(ErrorKind::Io, format!("parquet writer error: {e}"))
    }
}

impl From<arrow_schema::ArrowError> for ConvertError {
    fn from(e: arrow_schema::ArrowError) -> Self {
        ConvertError::new(ErrorKind::Io, format!("arrow error: {e}"))
    }
}
