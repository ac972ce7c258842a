//! The conversion options an upload carries, as the engine decodes them
//! and as the job stores them.

use parquetry_convert::{ConvertOptions, OptionsRefused};

use super::problem::ApiError;
use super::upload_body::OptionPairs;
use crate::jobs::StoredOptions;

/// Decodes the options as the worker will, so a mistake is a 400 now rather
/// than a failed job later.
pub(super) fn decode_options(options: &OptionPairs) -> Result<ConvertOptions, ApiError> {
    ConvertOptions::from_pairs(options.iter().map(|(n, v)| (n.as_str(), v.as_str())))
        .map_err(refused_options)
}

/// The options as the job stores and echoes them: as the engine understood
/// them (`{" Delimiter ":" ;"}` is stored as `{"delimiter":";"}`), so the job
/// shows what the conversion will use, and the worker decodes the same.
pub(super) fn stored_options(options: &OptionPairs) -> Result<serde_json::Value, ApiError> {
    let pairs =
        ConvertOptions::normalised_pairs(options.iter().map(|(n, v)| (n.as_str(), v.as_str())))
            .map_err(refused_options)?;
    let pairs = pairs.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
    Ok(StoredOptions::new(pairs).to_json())
}

fn refused_options(refused: OptionsRefused) -> ApiError {
    match refused {
        OptionsRefused::TooLarge(message) => ApiError::OptionsTooLarge(message),
        OptionsRefused::Invalid(error) => ApiError::InvalidOption(error.to_string()),
    }
}

/// Takes the first value of option `name` out of `options`.
pub(super) fn take_option(options: &mut OptionPairs, name: &str) -> Option<String> {
    let position = options.iter().position(|(n, _)| n == name)?;
    Some(options.remove(position).1)
}
