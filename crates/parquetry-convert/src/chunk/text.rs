//! The values of a text column chunk (BYTE_ARRAY): PLAIN bytes or dictionary indices, and
//! the bounds as parquet's writer gives them (cut to 64 bytes).

use parquet::data_type::ByteArray;
use parquet::file::statistics::{Statistics, ValueStatistics};

use super::dict::BytesDict;
use super::values::{PageValues, Run};

/// A text column (BYTE_ARRAY): PLAIN is each value's length in 4 bytes, then its bytes.
pub(crate) struct Text {
    dict: Option<BytesDict>,
    dict_open: bool,
    bounds: TextBounds,
    /// Byte arrays longer than this are cut in the statistics (parquet's default, 64).
    truncate: Option<usize>,
}

/// Bytes of the PLAIN dictionary page of `dict`: each entry's length in 4 bytes, then its bytes.
fn dict_page_bytes(dict: &BytesDict) -> usize {
    dict.bytes.len() + 4 * dict.len()
}

/// Minimum and maximum of a text column, byte by byte.
#[derive(Default)]
struct TextBounds {
    min: Vec<u8>,
    max: Vec<u8>,
    /// First eight bytes of `min` and `max`, big-endian: most comparisons end there.
    min_key: u64,
    max_key: u64,
    seen: bool,
}

/// The first eight bytes of `v` as a big-endian number, zero-padded: ordered as `v` is,
/// except that prefixes padded with zeros tie (and are then compared in full).
#[inline]
fn prefix_key(v: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = v.len().min(8);
    b[..n].copy_from_slice(&v[..n]);
    u64::from_be_bytes(b)
}

impl TextBounds {
    #[inline]
    fn add(&mut self, v: &[u8]) {
        let key = prefix_key(v);
        if !self.seen {
            self.seen = true;
            (self.min_key, self.max_key) = (key, key);
            self.min = v.to_vec();
            self.max = v.to_vec();
            return;
        }
        if key < self.min_key || (key == self.min_key && v < self.min.as_slice()) {
            self.min_key = key;
            self.min.clear();
            self.min.extend_from_slice(v);
        }
        if key > self.max_key || (key == self.max_key && v > self.max.as_slice()) {
            self.max_key = key;
            self.max.clear();
            self.max.extend_from_slice(v);
        }
    }
}

impl Text {
    pub(crate) fn new(dictionary: bool, truncate: Option<usize>) -> Self {
        Text {
            dict: dictionary.then(BytesDict::new),
            dict_open: dictionary,
            bounds: TextBounds::default(),
            truncate,
        }
    }

    /// Appends the valid `runs` of a string array (`offsets` into `data`) to the page.
    /// True when the dictionary has just outgrown `dict_limit` bytes.
    pub(crate) fn write(
        &mut self,
        offsets: &[i32],
        data: &[u8],
        runs: &[Run],
        page: &mut PageValues,
        dict_limit: usize,
    ) -> bool {
        let value = |i: usize| &data[offsets[i] as usize..offsets[i + 1] as usize];
        if let Some(dict) = self.dict.as_mut().filter(|_| self.dict_open) {
            for &(s, e) in runs {
                for i in s..e {
                    let v = value(i);
                    let (index, new) = dict.index(v);
                    if new {
                        // Each distinct value is seen once here: the bounds of the
                        // dictionary are those of the values.
                        self.bounds.add(v);
                    }
                    page.indices.push(index);
                }
            }
            return dict_page_bytes(dict) > dict_limit;
        }
        for &(s, e) in runs {
            let bytes = (offsets[e] - offsets[s]) as usize;
            page.plain.reserve(bytes + 4 * (e - s));
            for i in s..e {
                let v = value(i);
                page.plain
                    .extend_from_slice(&(v.len() as u32).to_le_bytes());
                page.plain.extend_from_slice(v);
                self.bounds.add(v);
            }
        }
        false
    }

    pub(crate) fn dictionary_state(&self) -> (usize, bool) {
        (self.dict.as_ref().map_or(0, |d| d.len()), self.dict_open)
    }

    pub(crate) fn close_dictionary(&mut self) {
        self.dict_open = false;
    }

    pub(crate) fn dictionary(&self) -> Option<(Vec<u8>, usize)> {
        let dict = self.dict.as_ref()?;
        let mut out = Vec::with_capacity(dict_page_bytes(dict));
        for i in 0..dict.len() {
            let v = dict.entry(i);
            out.extend_from_slice(&(v.len() as u32).to_le_bytes());
            out.extend_from_slice(v);
        }
        Some((out, dict.len()))
    }

    pub(crate) fn statistics(&self, nulls: u64) -> Statistics {
        let b = &self.bounds;
        if !b.seen {
            return Statistics::ByteArray(ValueStatistics::new(
                None,
                None,
                None,
                Some(nulls),
                false,
            ));
        }
        let (min, min_exact) = truncate_min(&b.min, self.truncate);
        let (max, max_exact) = truncate_max(&b.max, self.truncate);
        let stats = ValueStatistics::new(
            Some(ByteArray::from(min)),
            Some(ByteArray::from(max)),
            None,
            Some(nulls),
            false,
        )
        .with_min_is_exact(min_exact)
        .with_max_is_exact(max_exact);
        Statistics::ByteArray(stats)
    }
}

/// A prefix of at most `limit` bytes ending on a character boundary (bytes that are not
/// UTF-8 are cut anywhere), and whether it is the whole value.
fn cut(v: &[u8], limit: usize) -> &[u8] {
    let mut end = limit.min(v.len());
    if let Ok(s) = std::str::from_utf8(v) {
        while !s.is_char_boundary(end) {
            end -= 1;
        }
    }
    &v[..end]
}

/// The minimum cut to `limit` bytes: a prefix is never greater than the value.
fn truncate_min(v: &[u8], limit: Option<usize>) -> (Vec<u8>, bool) {
    match limit {
        Some(limit) if v.len() > limit => (cut(v, limit).to_vec(), false),
        _ => (v.to_vec(), true),
    }
}

/// The maximum cut to `limit` bytes and then increased, so it stays above the value; kept
/// whole when no prefix can be increased. Parquet's rule, so the bounds are alike: the cut
/// falls on a character boundary at most 3 bytes before `limit`, and a character is increased
/// only to one of the same width, else the one before it is (what follows it dropped).
fn truncate_max(v: &[u8], limit: Option<usize>) -> (Vec<u8>, bool) {
    let increased = limit
        .filter(|&l| v.len() > l)
        .and_then(|l| match std::str::from_utf8(v) {
            Ok(s) => {
                let split = (l.saturating_sub(3)..=l).rfind(|&at| s.is_char_boundary(at))?;
                increase_last_char(&s[..split])
            }
            Err(_) => increase_bytes(v[..l].to_vec()),
        });
    match increased {
        Some(max) => (max, false),
        None => (v.to_vec(), true),
    }
}

/// `s` with its last character that has a successor of the same width replaced by it.
fn increase_last_char(s: &str) -> Option<Vec<u8>> {
    s.char_indices().rev().find_map(|(at, c)| {
        let next = char::from_u32(c as u32 + 1).filter(|n| n.len_utf8() == c.len_utf8())?;
        let mut out = s.as_bytes()[..at].to_vec();
        out.extend_from_slice(next.encode_utf8(&mut [0; 4]).as_bytes());
        Some(out)
    })
}

/// `bytes` plus one as a big-endian number of the same length; `None` when all are 0xFF.
fn increase_bytes(mut bytes: Vec<u8>) -> Option<Vec<u8>> {
    for b in bytes.iter_mut().rev() {
        let (next, overflow) = b.overflowing_add(1);
        *b = next;
        if !overflow {
            return Some(bytes);
        }
    }
    None
}
