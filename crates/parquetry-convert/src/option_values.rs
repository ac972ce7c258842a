//! The text forms of option values: one parser per kind of value, so that
//! `ConvertOptions::set` is a table of which option takes which.

use crate::options::{is_auto, Codec, ColumnType, Encoding, Escape, MaxErrors, OnError, Ragged};

/// `auto` (detect) or one character; an empty value is a mistake in the
/// form, not a request to detect: silently detecting would hide it.
pub(crate) fn auto_or_char(value: &str, what: &str) -> Result<Option<u8>, String> {
    if value.is_empty() {
        return Err(format!("{what} must be one character (or `auto`)"));
    }
    if is_auto(value) {
        return Ok(None);
    }
    parse_char(value, what).map(Some)
}

pub(crate) fn escape(value: &str) -> Result<Escape, String> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "" | "auto" => Escape::Auto,
        "none" | "double" | "doubled" | "\"" => Escape::Doubled,
        _ => Escape::Char(parse_char(value, "escape")?),
    })
}

pub(crate) fn encoding(value: &str) -> Result<Encoding, String> {
    Ok(
        match value.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "" | "auto" => Encoding::Auto,
            "utf-8" | "utf8" => Encoding::Utf8,
            "windows-1252" | "cp1252" | "latin1" | "latin-1" | "iso-8859-1" | "iso8859-1"
            | "iso-8859-15" | "ansi" => Encoding::Windows1252,
            _ => {
                return Err(format!(
                    "unsupported encoding `{value}` (utf-8, windows-1252, latin1, auto)"
                ))
            }
        },
    )
}

pub(crate) fn decimal_separator(value: &str) -> Result<Option<u8>, String> {
    Ok(match value.trim() {
        "" | "auto" => None,
        "." | "dot" => Some(b'.'),
        "," | "comma" => Some(b','),
        _ => return Err(format!("expected `.` or `,`, got `{value}`")),
    })
}

/// `column:type` pairs; within one value a column named twice is a mistake.
pub(crate) fn schema(value: &str) -> Result<Vec<(String, ColumnType)>, String> {
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
        let ty = ColumnType::parse(ty).ok_or_else(|| unknown_type(ty))?;
        if given.iter().any(|(c, _)| c == col) {
            return Err(format!("column `{col}` is given two types"));
        }
        given.push((col.to_string(), ty));
    }
    Ok(given)
}

fn unknown_type(ty: &str) -> String {
    if ty.trim().to_ascii_lowercase().starts_with("decimal") {
        format!("`{}`: a decimal is decimal(p,s) with a precision p from 1 to 38 and a scale s from 0 to p", ty.trim())
    } else {
        format!("unknown type `{}` (string, int64, float64, boolean, date, timestamp, timestamptz, decimal(p,s))", ty.trim())
    }
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

/// `codec` or `codec:level`.
pub(crate) fn codec(value: &str) -> Result<(Codec, Option<i32>), String> {
    let lower = value.trim().to_ascii_lowercase();
    let (codec, level) = match lower.split_once(':') {
        Some((c, l)) => (c.to_string(), Some(level(l)?)),
        None => (lower, None),
    };
    let codec = match codec.as_str() {
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
    Ok((codec, level))
}

pub(crate) fn level(value: &str) -> Result<i32, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("expected an integer level, got `{value}`"))
}

pub(crate) fn row_group_size(value: &str) -> Result<usize, String> {
    let n: usize = value
        .trim()
        .replace('_', "")
        .parse()
        .map_err(|_| format!("expected a positive integer, got `{value}`"))?;
    if n == 0 || n > 1 << 30 {
        return Err(format!(
            "row group size must be between 1 and {}",
            1u64 << 30
        ));
    }
    Ok(n)
}

pub(crate) fn parse_char(value: &str, what: &str) -> Result<u8, String> {
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

/// Lines to skip before the table: a count, or `auto` to detect them.
pub(crate) fn skip_rows(value: &str) -> Result<Option<u64>, String> {
    if value.is_empty() || is_auto(value) {
        return Ok(None);
    }
    value
        .parse::<u64>()
        .ok()
        .filter(|n| *n <= 1_000_000)
        .map(Some)
        .ok_or_else(|| {
            format!("expected a number of lines (0 to 1000000) or `auto`, got `{value}`")
        })
}

/// The comment character: one character, or `auto`/`none` (only a leading block of `#`
/// lines is skipped).
pub(crate) fn comment(value: &str) -> Result<Option<u8>, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() || is_auto(trimmed) || trimmed.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let c = parse_char(trimmed, "comment")?;
    if matches!(c, b'\n' | b'\r') {
        return Err("a line end cannot start a comment".into());
    }
    Ok(Some(c))
}

pub(crate) fn on_error(value: &str) -> Result<OnError, String> {
    match value.to_ascii_lowercase().as_str() {
        "fail" | "error" | "stop" => Ok(OnError::Fail),
        "skip" | "ignore" | "reject" => Ok(OnError::Skip),
        _ => Err(format!("expected `fail` or `skip`, got `{value}`")),
    }
}

/// A count of rows (`100`) or a share of the data rows (`1%`, `0.5%`).
pub(crate) fn max_errors(value: &str) -> Result<Option<MaxErrors>, String> {
    let bad = || format!("expected a count of rows (`100`) or a percentage (`1%`), got `{value}`");
    if value.is_empty()
        || value.eq_ignore_ascii_case("none")
        || value.eq_ignore_ascii_case("unlimited")
    {
        return Ok(None);
    }
    if let Some(p) = value.strip_suffix('%') {
        let p: f64 = p.trim().parse().map_err(|_| bad())?;
        if !(0.0..=100.0).contains(&p) {
            return Err(bad());
        }
        return Ok(Some(MaxErrors::Percent(p)));
    }
    value
        .parse::<u64>()
        .map(|n| Some(MaxErrors::Count(n)))
        .map_err(|_| bad())
}

pub(crate) fn ragged(value: &str) -> Result<Ragged, String> {
    match value.to_ascii_lowercase().as_str() {
        "error" | "fail" => Ok(Ragged::Error),
        "pad" | "null" | "nulls" => Ok(Ragged::Pad),
        _ => Err(format!("expected `error` or `pad`, got `{value}`")),
    }
}

/// A zip member's name, as listed in the archive.
pub(crate) fn member(value: &str) -> Result<Option<String>, String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err("expected the name of a file in the zip archive".into());
    }
    Ok(Some(trimmed.to_string()))
}
