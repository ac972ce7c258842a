//! Options written back as the engine understood them: a job echoes these, not what was
//! typed, so `{" Delimiter ":" ;"}` shows as `{"delimiter":";"}` and `TAB` as `tab`.

use crate::options::{Codec, ColumnType, ConvertOptions, Encoding, Escape, MaxErrors};
use crate::options::{OnError, Ragged};

use super::OptionsRefused;

impl ConvertOptions {
    /// Decodes `pairs` as [`ConvertOptions::from_pairs`] does, and returns them with each
    /// name in its canonical spelling and each value in one normal form (`tab`, `true`,
    /// `windows-1252`, `zstd:9`…), in the order first given; the repeatable formats keep
    /// each of their values. Only the options given appear, and decoding the result gives
    /// the same options again.
    pub fn normalised_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Vec<(&'static str, String)>, OptionsRefused> {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        let options = ConvertOptions::from_pairs(pairs.iter().copied())?;
        let mut given: Vec<&'static str> = Vec::new();
        for (name, _) in &pairs {
            // `from_pairs` refused unknown names, so every name has its canonical one.
            if let Some(key) = ConvertOptions::canonical_name(name) {
                if !given.contains(&key) {
                    given.push(key);
                }
            }
        }
        let mut out = Vec::new();
        for &key in &given {
            match key {
                "date_format" => out.extend(options.date_formats.iter().map(|f| (key, f.clone()))),
                "timestamp_format" => {
                    out.extend(options.timestamp_formats.iter().map(|f| (key, f.clone())))
                }
                _ => out.push((key, options.value_text(key, &given))),
            }
        }
        Ok(out)
    }

    /// The normal form of a non-repeatable option's value.
    fn value_text(&self, key: &str, given: &[&str]) -> String {
        let auto_char = |c: Option<u8>| c.map_or_else(|| "auto".to_string(), char_text);
        match key {
            "delimiter" => auto_char(self.delimiter),
            "quote" => auto_char(self.quote),
            "escape" => match self.escape {
                Escape::Auto => "auto".into(),
                Escape::Doubled => "doubled".into(),
                Escape::Char(c) => char_text(c),
            },
            "header" => self.header.map_or("auto".into(), |h| h.to_string()),
            "encoding" => match self.encoding {
                Encoding::Auto => "auto",
                Encoding::Utf8 => "utf-8",
                Encoding::Windows1252 => "windows-1252",
            }
            .into(),
            "decimal_separator" => auto_char(self.decimal_separator),
            "null_values" => self.null_values.join(","),
            "schema" => self
                .schema
                .iter()
                .map(|(column, ty)| format!("{column}:{}", type_text(*ty)))
                .collect::<Vec<_>>()
                .join(","),
            "compression" => {
                let codec = codec_text(self.compression);
                // A level given inside `compression` (`zstd:9`) stays there.
                match self.compression_level {
                    Some(level) if !given.contains(&"compression_level") => {
                        format!("{codec}:{level}")
                    }
                    _ => codec.into(),
                }
            }
            "compression_level" => self
                .compression_level
                .map_or("auto".into(), |l| l.to_string()),
            "row_group_size" => self.row_group_size.to_string(),
            "dictionary" => self.dictionary.to_string(),
            "skip_rows" => self.skip_rows.map_or("auto".into(), |n| n.to_string()),
            "comment" => self.comment.map_or_else(|| "none".into(), char_text),
            "on_error" => match self.on_error {
                OnError::Fail => "fail",
                OnError::Skip => "skip",
            }
            .into(),
            "max_errors" => match self.max_errors {
                None => "none".into(),
                Some(MaxErrors::Count(n)) => n.to_string(),
                Some(MaxErrors::Percent(p)) => format!("{p}%"),
            },
            "ragged" => match self.ragged {
                Ragged::Error => "error",
                Ragged::Pad => "pad",
            }
            .into(),
            "member" => self.member.clone().unwrap_or_default(),
            other => unreachable!("`{other}` is in NAMES but has no normal form"),
        }
    }
}

/// A character option's value: the named forms for the two that trimming would lose.
fn char_text(c: u8) -> String {
    match c {
        b'\t' => "tab".into(),
        b' ' => "space".into(),
        c => (c as char).to_string(),
    }
}

fn codec_text(codec: Codec) -> &'static str {
    match codec {
        Codec::Snappy => "snappy",
        Codec::Zstd => "zstd",
        Codec::Lz4 => "lz4",
        Codec::Gzip => "gzip",
        Codec::None => "none",
    }
}

/// A column type as the `schema` option spells it.
fn type_text(ty: ColumnType) -> String {
    match ty {
        ColumnType::Utf8 => "string".into(),
        ColumnType::Int64 => "int64".into(),
        ColumnType::Float64 => "float64".into(),
        ColumnType::Boolean => "boolean".into(),
        ColumnType::Date => "date".into(),
        ColumnType::Timestamp => "timestamp".into(),
        ColumnType::TimestampTz => "timestamptz".into(),
        ColumnType::Decimal { precision, scale } => format!("decimal({precision},{scale})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn normalised(pairs: &[(&str, &str)]) -> Vec<(&'static str, String)> {
        ConvertOptions::normalised_pairs(pairs.iter().copied()).unwrap()
    }

    #[test]
    fn names_and_values_are_echoed_as_understood() {
        let echoed = normalised(&[
            (" Delimiter ", " ;"),
            ("HEADER", "Yes"),
            ("charset", "Latin1"),
            ("codec", "ZSTD:9"),
            ("decimal", "comma"),
            ("schema", " id : INT , price:Decimal( 12 , 2 )"),
            ("on-error", "Ignore"),
            ("date_format", "%d/%m/%Y"),
            ("date_format", "%Y%m%d"),
        ]);
        let expected: Vec<(&str, String)> = [
            ("delimiter", ";"),
            ("header", "true"),
            ("encoding", "windows-1252"),
            ("compression", "zstd:9"),
            ("decimal_separator", ","),
            ("schema", "id:int64,price:decimal(12,2)"),
            ("on_error", "skip"),
            ("date_format", "%d/%m/%Y"),
            ("date_format", "%Y%m%d"),
        ]
        .into_iter()
        .map(|(n, v)| (n, v.to_string()))
        .collect();
        assert_eq!(echoed, expected);
    }

    #[test]
    fn a_tab_or_a_space_is_named_so_that_trimming_keeps_it() {
        assert_eq!(normalised(&[("delimiter", "TAB")])[0].1, "tab");
        assert_eq!(normalised(&[("delimiter", "\t")])[0].1, "tab");
        assert_eq!(normalised(&[("delimiter", " ")])[0].1, "space");
    }

    #[test]
    fn the_echo_decodes_to_the_same_options() {
        let given: &[(&str, &str)] = &[
            ("sep", "|"),
            ("quote", "'"),
            ("escape", "\\"),
            ("encoding", "auto"),
            ("null_values", " NA , -"),
            ("timestamp_format", "%d.%m.%Y %H:%M"),
            ("compression_level", "5"),
            ("compression", "gzip"),
            ("row_group_size", "1_000"),
            ("dictionary", "off"),
            ("skip_rows", "3"),
            ("comment", "#"),
            ("on_error", "skip"),
            ("max_errors", "1.5%"),
            ("ragged", "nulls"),
            ("member", " 2024.csv "),
        ];
        let echoed = normalised(given);
        let first = ConvertOptions::from_pairs(given.iter().copied()).unwrap();
        let second = ConvertOptions::from_pairs(echoed_pairs(&echoed)).unwrap();
        assert_eq!(format!("{first:?}"), format!("{second:?}"));
        assert_eq!(normalised(&echoed_pairs(&echoed)), echoed, "a fixed point");
    }

    fn echoed_pairs<'a>(echoed: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
        echoed.iter().map(|(n, v)| (*n, v.as_str())).collect()
    }
}
