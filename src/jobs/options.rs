//! The options of a job as stored in its row: an object of name → value, or
//! name → list of values for an option given several times (the date and
//! timestamp formats). Written by the upload, read back by the worker.

use std::collections::BTreeMap;

/// A job's options, as `name=value` pairs in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredOptions(Vec<(String, String)>);

impl StoredOptions {
    pub fn new(pairs: Vec<(String, String)>) -> StoredOptions {
        StoredOptions(pairs)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// The stored JSON form.
    pub fn to_json(&self) -> serde_json::Value {
        let mut grouped: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, value) in self.iter() {
            grouped.entry(name).or_default().push(value);
        }
        grouped
            .into_iter()
            .map(|(name, values)| {
                let value = match values.as_slice() {
                    [one] => serde_json::Value::from(*one),
                    many => serde_json::Value::from(many.to_vec()),
                };
                (name.to_string(), value)
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    /// The options as the engine takes them: what a worker converts with.
    pub fn decode(
        &self,
    ) -> Result<parquetry_convert::ConvertOptions, parquetry_convert::OptionsRefused> {
        parquetry_convert::ConvertOptions::from_pairs(self.iter())
    }

    /// Reads the stored JSON form back; anything else is no options.
    pub fn from_json(stored: &serde_json::Value) -> StoredOptions {
        let Some(map) = stored.as_object() else {
            return StoredOptions::default();
        };
        let mut pairs = Vec::new();
        for (name, value) in map {
            match value {
                serde_json::Value::Array(items) => pairs.extend(
                    items
                        .iter()
                        .filter_map(|v| v.as_str())
                        .map(|v| (name.clone(), v.to_string())),
                ),
                other => pairs.extend(other.as_str().map(|v| (name.clone(), v.to_string()))),
            }
        }
        StoredOptions(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_options_survive_their_round_trip() {
        let options = StoredOptions::new(vec![
            ("date_format".into(), "%d/%m/%Y".into()),
            ("delimiter".into(), ";".into()),
            ("date_format".into(), "%Y".into()),
        ]);
        let json = options.to_json();
        assert_eq!(json["date_format"], serde_json::json!(["%d/%m/%Y", "%Y"]));
        let mut back: Vec<_> = StoredOptions::from_json(&json).0;
        let mut given = options.0;
        back.sort();
        given.sort();
        assert_eq!(back, given);
    }
}
