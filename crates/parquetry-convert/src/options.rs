//! Conversion options and their text forms (as the HTTP API receives them).

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
#[derive(Debug, Clone)]
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
    /// Codec level (zstd 1..=22, gzip 0..=10); `None` = codec default.
    pub compression_level: Option<i32>,
    /// Maximum rows per row group.
    pub row_group_size: usize,
    /// Dictionary encoding in the Parquet output.
    pub dictionary: bool,
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
        }
    }
}

/// An option name or value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid option `{name}`: {message}")]
pub struct OptionError {
    /// The option name as given.
    pub name: String,
    /// What is wrong with it.
    pub message: String,
}

fn parse_char(value: &str, what: &str) -> Result<u8, String> {
    let b = match value.to_ascii_lowercase().as_str() {
        "tab" | "\\t" | "\t" => b'\t',
        "comma" => b',',
        "semicolon" => b';',
        "pipe" => b'|',
        "space" => b' ',
        "backslash" => b'\\',
        "double-quote" | "double_quote" => b'"',
        "single-quote" | "single_quote" => b'\'',
        _ if value.len() == 1 => value.as_bytes()[0],
        _ => {
            return Err(format!(
                "expected a single ASCII character for the {what}, got `{value}`"
            ))
        }
    };
    if !b.is_ascii() || b == b'\n' || b == b'\r' || b.is_ascii_alphanumeric() {
        return Err(format!("`{value}` cannot be used as {what}"));
    }
    Ok(b)
}

fn parse_bool(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "1" | "on" => Ok(true),
        "false" | "no" | "0" | "off" => Ok(false),
        _ => Err(format!("expected true or false, got `{value}`")),
    }
}

fn is_auto(value: &str) -> bool {
    value.trim().eq_ignore_ascii_case("auto") || value.is_empty()
}

/// Why `level` cannot go with `codec`, when it cannot.
pub(crate) fn level_error(codec: Codec, level: Option<i32>) -> Option<String> {
    let level = level?;
    let name = match codec {
        Codec::Zstd if (1..=22).contains(&level) => return None,
        Codec::Gzip if (0..=10).contains(&level) => return None,
        Codec::Zstd | Codec::Gzip => {
            return Some(format!(
                "level {level} is out of range for this codec (zstd 1..=22, gzip 0..=10)"
            ))
        }
        Codec::Snappy => "snappy",
        Codec::Lz4 => "lz4",
        Codec::None => "none",
    };
    Some(format!(
        "compression `{name}` has no level; compression_level goes with zstd (1..=22) or gzip (0..=10)"
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

/// Splits `a:int64,b:decimal(12,2)` on the commas that are not inside parentheses.
fn split_schema(value: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in value.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth <= 0 => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts
}

fn parse_level(value: &str) -> Result<i32, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("expected an integer level, got `{value}`"))
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
                // An empty value is a mistake in the form, not a request to detect: silently
                // detecting would hide it.
                if v.is_empty() {
                    return Err("delimiter must be one character (or `auto`)".into());
                }
                self.delimiter = if is_auto(v) {
                    None
                } else {
                    Some(parse_char(v, "delimiter")?)
                };
            }
            "quote" => {
                if trimmed.is_empty() {
                    return Err("quote must be one character (or `auto`)".into());
                }
                self.quote = if is_auto(trimmed) {
                    None
                } else {
                    Some(parse_char(trimmed, "quote")?)
                };
            }
            "escape" => {
                self.escape = match trimmed.to_ascii_lowercase().as_str() {
                    "" | "auto" => Escape::Auto,
                    "none" | "double" | "doubled" | "\"" => Escape::Doubled,
                    _ => Escape::Char(parse_char(trimmed, "escape")?),
                };
            }
            "header" => {
                self.header = if is_auto(trimmed) {
                    None
                } else {
                    Some(parse_bool(trimmed)?)
                };
            }
            "encoding" => {
                self.encoding = match trimmed.to_ascii_lowercase().replace('_', "-").as_str() {
                    "" | "auto" => Encoding::Auto,
                    "utf-8" | "utf8" => Encoding::Utf8,
                    "windows-1252" | "cp1252" | "latin1" | "latin-1" | "iso-8859-1"
                    | "iso8859-1" | "iso-8859-15" | "ansi" => Encoding::Windows1252,
                    _ => {
                        return Err(format!(
                            "unsupported encoding `{value}` (utf-8, windows-1252, latin1, auto)"
                        ))
                    }
                };
            }
            "decimal_separator" => {
                self.decimal_separator = match trimmed {
                    "" | "auto" => None,
                    "." | "dot" => Some(b'.'),
                    "," | "comma" => Some(b','),
                    _ => return Err(format!("expected `.` or `,`, got `{value}`")),
                };
            }
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
                // A later `schema` overrides an earlier one column by column; within one value
                // a column named twice is a mistake.
                let mut given: Vec<(String, ColumnType)> = Vec::new();
                for part in split_schema(value)
                    .into_iter()
                    .filter(|p| !p.trim().is_empty())
                {
                    let (col, ty) = part
                        .rsplit_once(':')
                        .ok_or_else(|| format!("expected `column:type`, got `{}`", part.trim()))?;
                    let col = col.trim();
                    if col.is_empty() {
                        return Err(format!("empty column name in `{}`", part.trim()));
                    }
                    let ty = ColumnType::parse(ty).ok_or_else(|| {
                        if ty.trim().to_ascii_lowercase().starts_with("decimal") {
                            format!("`{}`: a decimal is decimal(p,s) with a precision p from 1 to 38 and a scale s from 0 to p", ty.trim())
                        } else {
                            format!("unknown type `{}` (string, int64, float64, boolean, date, timestamp, timestamptz, decimal(p,s))", ty.trim())
                        }
                    })?;
                    if given.iter().any(|(c, _)| c == col) {
                        return Err(format!("column `{col}` is given two types"));
                    }
                    given.push((col.to_string(), ty));
                }
                self.schema
                    .retain(|(c, _)| !given.iter().any(|(g, _)| g == c));
                self.schema.extend(given);
            }
            "compression" => {
                let lower = trimmed.to_ascii_lowercase();
                let (codec, level) = match lower.split_once(':') {
                    Some((c, l)) => (c.to_string(), Some(parse_level(l)?)),
                    None => (lower, None),
                };
                self.compression = match codec.as_str() {
                    "snappy" => Codec::Snappy,
                    "zstd" => Codec::Zstd,
                    "lz4" | "lz4_raw" | "lz4-raw" => Codec::Lz4,
                    "gzip" | "gz" => Codec::Gzip,
                    "none" | "uncompressed" => Codec::None,
                    _ => {
                        return Err(format!(
                            "unknown codec `{value}` (snappy, zstd, lz4, gzip, none)"
                        ))
                    }
                };
                if let Some(l) = level {
                    self.compression_level = Some(l);
                }
                self.check_level(true)?;
            }
            "compression_level" => {
                self.compression_level = if is_auto(trimmed) {
                    None
                } else {
                    Some(parse_level(trimmed)?)
                };
                self.check_level(false)?;
            }
            "row_group_size" => {
                let n: usize = trimmed
                    .replace('_', "")
                    .parse()
                    .map_err(|_| format!("expected a positive integer, got `{value}`"))?;
                if n == 0 || n > 1 << 30 {
                    return Err(format!(
                        "row group size must be between 1 and {}",
                        1u64 << 30
                    ));
                }
                self.row_group_size = n;
            }
            "dictionary" => self.dictionary = parse_bool(trimmed)?,
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
