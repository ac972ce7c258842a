//! What a conversion produced, serialisable for the job record.

use serde::{Deserialize, Serialize};

/// Summary of a finished conversion.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConversionReport {
    /// Data rows written (the header is not counted).
    pub rows: u64,
    /// Rows left out by `on_error=skip` (see the rejects file).
    #[serde(default)]
    pub rows_rejected: u64,
    /// Lines of the file that are neither the header nor rows, and why.
    #[serde(default)]
    pub skipped: SkippedLines,
    /// Size of the input file as stored (compressed size for gzip/zstd input).
    pub input_bytes: u64,
    /// Size of the Parquet file.
    pub output_bytes: u64,
    /// Number of row groups in the Parquet file.
    pub row_groups: usize,
    /// Parquet codec, e.g. `snappy` or `zstd:3`.
    pub compression: String,
    /// One entry per column, in file order.
    pub columns: Vec<ColumnReport>,
    /// The CSV dialect that was used.
    pub dialect: DialectReport,
    /// Set when the sample the types were inferred from had to be cut inside the
    /// file's first records (fields of many megabytes): what that means for the types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_cut: Option<String>,
}

/// Lines that are not part of the table, by kind.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SkippedLines {
    /// Lines before the header (titles, notes, metadata, leading comments, blank lines),
    /// detected or set by `skip_rows`; an Excel `sep=` line is not counted.
    pub before_table: u64,
    /// The first non-blank one of them, shortened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_before_table: Option<String>,
    /// Blank lines in the table.
    pub blank: u64,
    /// Lines starting with the `comment` character, in the table.
    pub comments: u64,
    /// Lines after the last row that do not fit the table (`Fonte: …`), dropped.
    pub footer: u64,
    /// The first footer lines, shortened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub footer_lines: Vec<String>,
}

/// The type chosen for one column and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnReport {
    /// Column name (from the header, or `column_N`).
    pub name: String,
    /// Arrow type from `DataType`'s Display, e.g. `Int64`, `Date32`, `Timestamp(µs, "UTC")`.
    pub arrow_type: String,
    /// Whether the column may hold nulls.
    pub nullable: bool,
    /// How the type was chosen.
    pub type_source: TypeSource,
    /// Decimal separator read in this column (`.` or `,`; a file may mix them): only for
    /// Float64 and Decimal columns, the ones with a fractional part.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimal_separator: Option<String>,
    /// Why the type may not be what the user expects (e.g. ambiguous numbers kept as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Nulls, minimum and maximum, from the Parquet statistics. Absent from
    /// reports of older versions, and when the file has no statistics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ColumnProfile>,
}

/// What the Parquet writer counted of one column, over all its row groups.
/// Values are shown as a preview shows them (`rows_as_json`): numbers,
/// booleans, `YYYY-MM-DD`, RFC 3339, decimal strings, text cut at 64
/// characters with `…`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    pub null_count: u64,
    /// Smallest value; absent when the column is all nulls. Parquet keeps at
    /// most 64 bytes of a text bound: a longer minimum is its prefix with `…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<serde_json::Value>,
    /// Largest value; absent when the column is all nulls, or when it is a
    /// long text Parquet only kept an upper bound of (no value of the column).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<serde_json::Value>,
    /// Distinct values, when the writer counted them (arrow-rs does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_count: Option<u64>,
}

/// How a column's type was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TypeSource {
    /// Inferred from the sample at the start of the file.
    Sampled,
    /// Widened after a later value did not fit the sampled type.
    Widened,
    /// Forced by the `schema` option.
    Forced,
}

/// The CSV dialect that was used (detected or forced).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DialectReport {
    /// Field delimiter, e.g. `,` or `\t`.
    pub delimiter: String,
    /// Quote character.
    pub quote: String,
    /// Escape of a quote inside quotes: `"` (doubled) or e.g. `\`.
    pub escape: String,
    /// Whether the first record was read as a header.
    pub header: bool,
    /// `utf-8` or `windows-1252`.
    pub encoding: String,
    /// In a `utf-8` file, how many values were not UTF-8 and were read as Windows-1252
    /// (rows pasted from another source); 0 otherwise.
    #[serde(default)]
    pub windows_1252_values: u64,
    /// `.` or `,` (`,` when any column uses a decimal comma; see each column's own).
    pub decimal_separator: String,
    /// `none`, `gzip` or `zstd`.
    pub input_compression: String,
}

/// The report of a finished conversion, read off its final plan.
pub(crate) fn of_conversion(
    plan: &crate::plan::Plan,
    stats: &crate::write::PassStats,
    input_bytes: u64,
    output_bytes: u64,
    compression: String,
) -> ConversionReport {
    ConversionReport {
        rows: stats.rows,
        rows_rejected: stats.lines.rows_rejected,
        skipped: SkippedLines {
            before_table: plan.lines_before_table,
            first_before_table: plan.first_skipped.clone(),
            blank: stats.lines.blank_lines,
            comments: stats.lines.comment_lines,
            footer: stats.lines.footer_lines,
            footer_lines: stats.lines.footer.clone(),
        },
        input_bytes,
        output_bytes,
        row_groups: stats.row_groups,
        compression,
        columns: plan
            .columns
            .iter()
            .enumerate()
            .map(|(j, c)| {
                let profile = crate::profile::of_column(&stats.metadata, j, &c.kind.data_type());
                column_report(c, profile)
            })
            .collect(),
        dialect: dialect_report(plan, stats.windows_1252_values),
        sample_cut: plan.sample_cut.clone(),
    }
}

/// What the report says of one planned column.
pub(crate) fn column_report(
    c: &crate::plan::ColumnPlan,
    profile: Option<ColumnProfile>,
) -> ColumnReport {
    use crate::plan::Kind;
    ColumnReport {
        name: c.name.clone(),
        arrow_type: c.kind.data_type().to_string(),
        nullable: true,
        type_source: c.source,
        // An integer has no fractional part, so no separator applies to it.
        decimal_separator: matches!(c.kind, Kind::Float64 | Kind::Decimal(..))
            .then(|| char_name(c.decimal)),
        note: c.note.clone(),
        profile,
    }
}

/// The dialect a plan reads.
pub(crate) fn dialect_report(plan: &crate::plan::Plan, windows_1252_values: u64) -> DialectReport {
    DialectReport {
        delimiter: char_name(plan.delimiter),
        quote: char_name(plan.quote),
        escape: char_name(plan.escape.unwrap_or(plan.quote)),
        header: plan.header,
        encoding: if plan.windows_1252 {
            "windows-1252"
        } else {
            "utf-8"
        }
        .into(),
        windows_1252_values,
        decimal_separator: char_name(plan.decimal),
        input_compression: plan.input_compression.name().into(),
    }
}

/// A dialect character as the report shows it (`\t` for a tab).
fn char_name(b: u8) -> String {
    if b == b'\t' {
        "\\t".to_string()
    } else {
        (b as char).to_string()
    }
}
