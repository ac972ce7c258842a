//! The one decoder of options given as `name=value` pairs: the upload (query
//! string and multipart fields), the stored form a worker reads back, and the
//! command line all go through [`ConvertOptions::from_pairs`], so they cannot
//! disagree on what a set of options means or how much of it is accepted.

mod echo;

use std::collections::HashSet;

use crate::options::{ConvertOptions, OptionError};

/// Most `name=value` pairs one conversion accepts. Every option but the
/// repeatable formats is given at most once, so this leaves room for a dozen
/// date and timestamp formats.
pub const MAX_OPTION_PAIRS: usize = 32;
/// Longest accepted value of any option but `schema`, in bytes.
pub const MAX_OPTION_VALUE_BYTES: usize = 4 * 1024;
/// Longest accepted `schema`: it names columns, and wide files have many.
pub const MAX_SCHEMA_BYTES: usize = 64 * 1024;

/// Why a set of options was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OptionsRefused {
    /// One option is unknown, malformed, repeated or contradicts another.
    #[error("{0}")]
    Invalid(OptionError),
    /// More options, or a longer value, than a conversion accepts: the
    /// options are stored with the job, so they are bounded like the upload.
    #[error("{0}")]
    TooLarge(String),
}

impl ConvertOptions {
    /// Decodes options given as pairs, in order: checks their number and
    /// size, refuses a non-repeatable option given twice and any NUL
    /// character, sets each one and validates the combination.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ConvertOptions, OptionsRefused> {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        check_bounds(&pairs)?;
        let mut options = ConvertOptions::default();
        let mut seen = HashSet::new();
        for (name, value) in pairs {
            let invalid = |message: String| {
                OptionsRefused::Invalid(OptionError {
                    name: name.to_string(),
                    message,
                })
            };
            if name.contains('\0') || value.contains('\0') {
                return Err(invalid("NUL characters are not accepted in options".into()));
            }
            // Unknown names pass here and are refused with the list of known ones by `set`.
            let key = ConvertOptions::canonical_name(name).unwrap_or(name);
            if !ConvertOptions::REPEATABLE.contains(&key) && !seen.insert(key) {
                return Err(invalid(
                    "given more than once; only date_format and timestamp_format repeat \
                     (null_values takes one comma-separated list)"
                        .into(),
                ));
            }
            options.set(name, value).map_err(OptionsRefused::Invalid)?;
        }
        options.validate().map_err(OptionsRefused::Invalid)?;
        Ok(options)
    }
}

fn check_bounds(pairs: &[(&str, &str)]) -> Result<(), OptionsRefused> {
    if pairs.len() > MAX_OPTION_PAIRS {
        return Err(OptionsRefused::TooLarge(format!(
            "{} options were given; at most {MAX_OPTION_PAIRS} are accepted",
            pairs.len()
        )));
    }
    for (name, value) in pairs {
        let limit = if ConvertOptions::canonical_name(name) == Some("schema") {
            MAX_SCHEMA_BYTES
        } else {
            MAX_OPTION_VALUE_BYTES
        };
        if name.len() > MAX_OPTION_VALUE_BYTES || value.len() > limit {
            let shown: String = name.chars().take(64).collect();
            return Err(OptionsRefused::TooLarge(format!(
                "the value of `{shown}` is longer than {limit} bytes"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_decode_in_order_and_formats_repeat() {
        let options = ConvertOptions::from_pairs([
            ("sep", ";"),
            ("date_format", "%d/%m/%Y"),
            ("date_format", "%Y-%m-%d"),
        ])
        .unwrap();
        assert_eq!(options.delimiter, Some(b';'));
        assert_eq!(options.date_formats.len(), 2);
    }

    #[test]
    fn an_option_given_twice_under_two_spellings_is_refused() {
        let refused = ConvertOptions::from_pairs([("delimiter", ";"), ("sep", ",")]).unwrap_err();
        assert!(matches!(refused, OptionsRefused::Invalid(e) if e.name == "sep"));
    }

    #[test]
    fn nul_characters_and_oversized_options_are_refused() {
        assert!(matches!(
            ConvertOptions::from_pairs([("delimiter", "\0")]),
            Err(OptionsRefused::Invalid(_))
        ));
        let long = "%Y".repeat(MAX_OPTION_VALUE_BYTES);
        assert!(matches!(
            ConvertOptions::from_pairs([("date_format", long.as_str())]),
            Err(OptionsRefused::TooLarge(_))
        ));
        let many = vec![("date_format", "%Y"); MAX_OPTION_PAIRS + 1];
        assert!(matches!(
            ConvertOptions::from_pairs(many),
            Err(OptionsRefused::TooLarge(_))
        ));
    }

    #[test]
    fn every_level_the_codec_check_accepts_is_one_the_writer_accepts() {
        for level in -2..30 {
            for codec in ["zstd", "gzip"] {
                let value = format!("{codec}:{level}");
                let accepted = ConvertOptions::from_pairs([("compression", value.as_str())]);
                let writable = accepted
                    .as_ref()
                    .map(|options| crate::write::codec(options).is_ok());
                assert!(
                    !matches!(writable, Ok(false)),
                    "{value} is accepted but the writer refuses it"
                );
            }
        }
        assert!(ConvertOptions::from_pairs([("compression", "gzip:10")]).is_err());
    }
}
