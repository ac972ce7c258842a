//! Conversion options and their text forms (as the HTTP API receives them).

use crate::option_values as values;

/// A column type that the `schema` option can force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    /// UTF-8 text (`string` / `utf8`).
    Utf8,
    /// 64-bit signed integer.
    Int64,
    /// 64-bit float.
    Float64,
    /// Boolean.
    Boolean,
    /// Date (days since the epoch).
    Date,
    /// Timestamp without time zone, microseconds.
    Timestamp,
    /// Timestamp normalised to UTC, microseconds.
    TimestampTz,
    /// Decimal with precision (1..=38) and scale (0..=precision).
    Decimal {
        /// Total number of digits.
        precision: u8,
        /// Digits after the decimal separator.
        scale: i8,
    },
}

impl ColumnType {
    /// Parses a type name such as `int64` or `decimal(12,2)`.
    pub fn parse(text: &str) -> Option<ColumnType> {
        let t = text.trim().to_ascii_lowercase();
        Some(match t.as_str() {
            "string" | "utf8" | "text" | "str" => ColumnType::Utf8,
            "int64" | "int" | "integer" | "bigint" | "long" => ColumnType::Int64,
            "float64" | "float" | "double" => ColumnType::Float64,
            "boolean" | "bool" => ColumnType::Boolean,
            "date" | "date32" => ColumnType::Date,
            "timestamp" => ColumnType::Timestamp,
            "timestamptz" | "timestamp_tz" => ColumnType::TimestampTz,
            _ => {
                let inner = t.strip_prefix("decimal(")?.strip_suffix(')')?;
                let (p, s) = inner.split_once(',')?;
                let precision: u8 = p.trim().parse().ok()?;
                let scale: i8 = s.trim().parse().ok()?;
                if !(1..=38).contains(&precision) || scale < 0 || scale as u8 > precision {
                    return None;
                }
                ColumnType::Decimal { precision, scale }
            }
        })
    }
}

/// Text encoding of the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8 unless the bytes are not UTF-8, then Windows-1252.
    #[default]
    Auto,
    /// UTF-8; invalid bytes are an error.
    Utf8,
    /// Windows-1252 (a superset of the printable ISO-8859-1).
    Windows1252,
}

/// How a quote character inside a quoted field is escaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escape {
    /// Detected from the file (doubled quotes unless backslash escapes are seen).
    #[default]
    Auto,
    /// RFC 4180: a quote is written twice.
    Doubled,
    /// This byte escapes the next one (typically `\`).
    Char(u8),
}

/// Parquet compression codec.
/// What to do with a row that cannot be read (ragged, unterminated quote, a value that
/// does not fit a forced type, bytes that are not text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// The job fails at the first such row, naming its line.
    #[default]
    Fail,
    /// The row is left out of the result and written to the rejects file.
    Skip,
}

/// How many rejected rows `on_error=skip` tolerates before the conversion fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxErrors {
    /// At most this many rows.
    Count(u64),
    /// At most this percentage (0–100) of the data rows, checked at the end.
    Percent(f64),
}

/// What to do with a row that has fewer fields than the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ragged {
    /// It is an error (or a reject with `on_error=skip`).
    #[default]
    Error,
    /// The missing fields are read as nulls; longer rows are still errors.
    Pad,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// Snappy (the default).
    #[default]
    Snappy,
    /// Zstandard.
    Zstd,
    /// LZ4 (written as LZ4_RAW, the variant every reader understands).
    Lz4,
    /// Gzip.
    Gzip,
    /// No compression.
    None,
}

/// Everything that can be set for a conversion. `Default` = everything auto-detected, snappy.
#[derive(Debug, Clone, PartialEq)]
pub struct ConvertOptions {
    /// Field delimiter; `None` = detected among `,` `;` tab `|`.
    pub delimiter: Option<u8>,
    /// Quote character; `None` = detected (`"` or `'`).
    pub quote: Option<u8>,
    /// Escape convention inside quoted fields.
    pub escape: Escape,
    /// Whether the first record is a header; `None` = detected.
    pub header: Option<bool>,
    /// Input text encoding.
    pub encoding: Encoding,
    /// Decimal separator of numbers (`.` or `,`); `None` = detected.
    pub decimal_separator: Option<u8>,
    /// Cell texts read as null (an empty unquoted cell is always null).
    pub null_values: Vec<String>,
    /// Extra chrono formats tried for date columns, in order.
    pub date_formats: Vec<String>,
    /// Extra chrono formats tried for timestamp columns, in order (with `%z` = with offset).
    pub timestamp_formats: Vec<String>,
    /// Column name -> forced type.
    pub schema: Vec<(String, ColumnType)>,
    /// Parquet codec.
    pub compression: Codec,
    /// Codec level (zstd 1..=22, gzip 0..=9); `None` = codec default.
    pub compression_level: Option<i32>,
    /// Maximum rows per row group.
    pub row_group_size: usize,
    /// Dictionary encoding in the Parquet output.
    pub dictionary: bool,
    /// Lines before the table (title, notes, blank lines) to skip; `None` detects them.
    pub skip_rows: Option<u64>,
    /// Lines starting with this byte are comments, skipped anywhere in the file; `None`
    /// still skips a leading block of `#` lines.
    pub comment: Option<u8>,
    pub on_error: OnError,
    /// `None`: no limit on rejected rows.
    pub max_errors: Option<MaxErrors>,
    pub ragged: Ragged,
    /// The member of a zip archive to convert; `None` when the archive holds one CSV.
    pub member: Option<String>,
}

/// Default cell texts read as null.
pub const DEFAULT_NULL_VALUES: &[&str] = &["NULL", "null", "NA", "N/A"];

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            delimiter: None,
            quote: None,
            escape: Escape::Auto,
            header: None,
            encoding: Encoding::Auto,
            decimal_separator: None,
            null_values: DEFAULT_NULL_VALUES.iter().map(|s| s.to_string()).collect(),
            date_formats: Vec::new(),
            timestamp_formats: Vec::new(),
            schema: Vec::new(),
            compression: Codec::Snappy,
            compression_level: None,
            row_group_size: 1_000_000,
            dictionary: true,
            skip_rows: None,
            comment: None,
            on_error: OnError::Fail,
            max_errors: None,
            ragged: Ragged::Error,
            member: None,
        }
    }
}

/// An option name or value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid option `{name}`: {message}")]
pub struct OptionError {
    /// The option name as given.
    pub name: String,
    /// What is wrong with it.
    pub message: String,
}

pub(crate) fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got `{value}`")),
    }
}

/// `auto`: leave it to detection. An empty value is not `auto`: a field left
/// empty in a form is a mistake to report, not a request to detect.
pub(crate) fn is_auto(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("auto")
}

/// Why `level` cannot go with `codec`, when it cannot.
pub(crate) fn level_error(codec: Codec, level: Option<i32>) -> Option<String> {
    let level = level?;
    let name = match codec {
        // The writer's own checks decide, so a level accepted here never fails a job later.
        Codec::Zstd if parquet::basic::ZstdLevel::try_new(level).is_ok() => return None,
        Codec::Gzip
            if u32::try_from(level)
                .is_ok_and(|l| parquet::basic::GzipLevel::try_new(l).is_ok()) =>
        {
            return None
        }
        Codec::Zstd | Codec::Gzip => {
            return Some(format!(
                "level {level} is out of range for this codec (zstd 1..=22, gzip 0..=9)"
            ))
        }
        Codec::Snappy => "snappy",
        Codec::Lz4 => "lz4",
        Codec::None => "none",
    };
    Some(format!(
        "compression `{name}` has no level; compression_level goes with zstd (1..=22) or gzip (0..=9)"
    ))
}

/// Checks a chrono format string without parsing anything with it.
fn check_format(value: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if value.trim().is_empty() {
        return Err("empty format".into());
    }
    if StrftimeItems::new(value).any(|i| matches!(i, Item::Error)) {
        return Err(format!("`{value}` is not a valid strftime format"));
    }
    Ok(())
}

impl ConvertOptions {
    /// Option names accepted by `set` (API query/multipart field names), e.g.
    /// delimiter, quote, escape, header, encoding, decimal_separator, null_values,
    /// date_format, timestamp_format, schema, compression, compression_level,
    /// row_group_size, dictionary. `set` must also accept the same names with '-' instead of '_'.
    pub const NAMES: &'static [&'static str] = &[
        "delimiter",
        "quote",
        "escape",
        "header",
        "encoding",
        "decimal_separator",
        "null_values",
        "date_format",
        "timestamp_format",
        "schema",
        "compression",
        "compression_level",
        "row_group_size",
        "dictionary",
        "skip_rows",
        "comment",
        "on_error",
        "max_errors",
        "ragged",
        "member",
    ];

    /// Parses one option from its text form, e.g. set("delimiter", ";"), set("delimiter","tab"),
    /// set("header","false"), set("encoding","windows-1252"|"latin1"|"utf-8"|"auto"),
    /// set("decimal_separator", ","), set("null_values", "NULL,NA,N/A"),
    /// set("date_format", "%d/%m/%Y") (repeatable: each call adds one), set("timestamp_format", ...),
    /// set("schema", "id:int64,price:decimal(12,2),when:timestamp") (column -> type overrides; types:
    /// string/utf8, int64, float64, boolean, date, timestamp, timestamptz, decimal(p,s)),
    /// set("compression", "snappy"|"zstd"|"zstd:9"|"lz4"|"gzip"|"none"), set("compression_level","9"),
    /// set("row_group_size", "1000000"), set("dictionary", "true"|"false").
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), OptionError> {
        let error = |message| OptionError {
            name: name.to_string(),
            message,
        };
        let key = Self::canonical_name(name).ok_or_else(|| {
            error(format!(
                "unknown option (known: {})",
                Self::NAMES.join(", ")
            ))
        })?;
        self.set_normalised(key, value).map_err(error)
    }

    /// Options that add one value each time they are given (`set` twice keeps both);
    /// `set` on any other option replaces its earlier value.
    pub const REPEATABLE: &'static [&'static str] = &["date_format", "timestamp_format"];

    /// The name in [`Self::NAMES`] that `name` stands for, as `set` reads it: any case,
    /// `-` for `_`, and the aliases people type (`sep`, `charset`, `codec`…). `None` for
    /// an unknown option.
    pub fn canonical_name(name: &str) -> Option<&'static str> {
        let key = name.trim().to_ascii_lowercase().replace('-', "_");
        let canonical = match key.as_str() {
            "separator" | "sep" => "delimiter",
            "charset" => "encoding",
            "decimal" => "decimal_separator",
            "null_value" | "nulls" => "null_values",
            "codec" => "compression",
            "level" => "compression_level",
            "skip" => "skip_rows",
            "onerror" | "errors" => "on_error",
            other => other,
        };
        Self::NAMES
            .iter()
            .copied()
            .find(|known| *known == canonical)
    }

    fn set_normalised(&mut self, key: &str, value: &str) -> Result<(), String> {
        let trimmed = value.trim();
        match key {
            "delimiter" => {
                // A lone tab or space is meaningful, so only trim when that does not empty it.
                let v = if trimmed.is_empty() { value } else { trimmed };
                self.delimiter = values::auto_or_char(v, "delimiter")?;
            }
            "quote" => self.quote = values::auto_or_char(trimmed, "quote")?,
            "escape" => self.escape = values::escape(trimmed)?,
            "header" => {
                self.header = if is_auto(trimmed) {
                    None
                } else {
                    Some(parse_bool(trimmed)?)
                };
            }
            "encoding" => self.encoding = values::encoding(value)?,
            "decimal_separator" => self.decimal_separator = values::decimal_separator(value)?,
            "null_values" => {
                self.null_values = value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
            }
            "date_format" => {
                check_format(value)?;
                self.date_formats.push(value.to_string());
            }
            "timestamp_format" => {
                check_format(value)?;
                self.timestamp_formats.push(value.to_string());
            }
            "schema" => {
                // A later `schema` overrides an earlier one column by column.
                let given = values::schema(value)?;
                self.schema
                    .retain(|(c, _)| !given.iter().any(|(g, _)| g == c));
                self.schema.extend(given);
            }
            "compression" => {
                let (codec, level) = values::codec(value)?;
                self.compression = codec;
                if let Some(l) = level {
                    self.compression_level = Some(l);
                }
                self.check_level(true)?;
            }
            "compression_level" => {
                self.compression_level = if is_auto(trimmed) {
                    None
                } else {
                    Some(values::level(trimmed)?)
                };
                self.check_level(false)?;
            }
            "row_group_size" => self.row_group_size = values::row_group_size(value)?,
            "dictionary" => self.dictionary = parse_bool(trimmed)?,
            "skip_rows" => self.skip_rows = values::skip_rows(trimmed)?,
            "comment" => self.comment = values::comment(value)?,
            "on_error" => self.on_error = values::on_error(trimmed)?,
            "max_errors" => self.max_errors = values::max_errors(trimmed)?,
            "ragged" => self.ragged = values::ragged(trimmed)?,
            "member" => self.member = values::member(value)?,
            other => unreachable!("`{other}` is in NAMES but has no parser"),
        }
        Ok(())
    }

    /// Rejects a level that the chosen codec does not accept. A level given while the codec is
    /// still the default may precede `compression`, so a level-less codec is only rejected
    /// when it was named; [`ConvertOptions::validate`] checks the final combination.
    fn check_level(&self, codec_named: bool) -> Result<(), String> {
        match level_error(self.compression, self.compression_level) {
            Some(_) if !codec_named && self.compression == Codec::Snappy => Ok(()),
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Checks the options together, once all of them are set (a conversion does this first).
    pub fn validate(&self) -> Result<(), OptionError> {
        let error = |name: &str, message: String| {
            Err(OptionError {
                name: name.into(),
                message,
            })
        };
        if let Some(message) = level_error(self.compression, self.compression_level) {
            return error("compression_level", message);
        }
        let shown = |c: u8| (c as char).escape_default().to_string();
        let escape = match self.escape {
            Escape::Char(c) => Some(c),
            Escape::Auto | Escape::Doubled => None,
        };
        if let Some(d) = self.delimiter {
            // The tokenizer gives each byte one meaning: a shared one would split every
            // quoted field, or never.
            if self.quote == Some(d) {
                return error(
                    "quote",
                    format!("`{}` cannot be both the delimiter and the quote", shown(d)),
                );
            }
            if escape == Some(d) {
                return error(
                    "escape",
                    format!("`{}` cannot be both the delimiter and the escape", shown(d)),
                );
            }
        }
        Ok(())
    }
}
