//! The values of a column chunk by physical type: PLAIN bytes or dictionary indices for
//! the page being filled, the dictionary, and the chunk's minimum and maximum. Text is in
//! `text.rs`.

use parquet::file::statistics::{Statistics, ValueStatistics};

use super::dict::FixedDict;

/// A run of valid rows, `start..end`, within the slice being written.
pub(crate) type Run = (usize, usize);

/// The current page's values: PLAIN bytes, or indices into the dictionary.
#[derive(Default)]
pub(crate) struct PageValues {
    pub plain: Vec<u8>,
    pub indices: Vec<u32>,
}

/// A fixed-width Parquet value as Arrow holds it.
pub(crate) trait FixedValue: Copy + PartialOrd + arrow_buffer::ArrowNativeType {
    /// Bytes of its PLAIN encoding.
    const WIDTH: usize;
    /// Floating point: NaN is counted and left out of the bounds.
    const IS_FLOAT: bool;
    /// Starting points of a run's minimum and maximum (every value compares below/above).
    const HIGHEST: Self;
    const LOWEST: Self;
    fn key(self) -> u64;
    fn from_key(key: u64) -> Self;
    fn plain(self, out: &mut Vec<u8>);
    /// Statistics of a chunk; `nans` counted for floating types only.
    fn statistics(bounds: Option<(Self, Self)>, nulls: u64, nans: Option<u64>) -> Statistics;
    /// The order of the bounds: `<`, and for floats IEEE 754's total order (-0 below +0),
    /// as parquet's writer has it; NaN is never less (nor more) than anything here.
    #[inline]
    fn less(a: Self, b: Self) -> bool {
        a < b
    }
}

macro_rules! fixed_value {
    ($t:ty, $bits:ty, $float:expr, $highest:expr, $lowest:expr, $stats:ident $(, $zero:item)?) => {
        impl FixedValue for $t {
            const WIDTH: usize = std::mem::size_of::<$t>();
            const IS_FLOAT: bool = $float;
            const HIGHEST: Self = $highest;
            const LOWEST: Self = $lowest;
            #[inline]
            fn key(self) -> u64 {
                <$bits>::from_le_bytes(self.to_le_bytes()) as u64
            }
            #[inline]
            fn from_key(key: u64) -> Self {
                <$t>::from_le_bytes((key as $bits).to_le_bytes())
            }
            #[inline]
            fn plain(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn statistics(bounds: Option<(Self, Self)>, nulls: u64, nans: Option<u64>) -> Statistics {
                let (min, max) = bounds.unzip();
                let s = ValueStatistics::new(min, max, None, Some(nulls), false);
                Statistics::$stats(s.with_nan_count(nans))
            }
            $($zero)*
        }
    };
}
fixed_value!(i64, u64, false, i64::MAX, i64::MIN, Int64);
fixed_value!(i32, u32, false, i32::MAX, i32::MIN, Int32);
fixed_value!(
    f64,
    u64,
    true,
    f64::INFINITY,
    f64::NEG_INFINITY,
    Double,
    #[inline]
    fn less(a: Self, b: Self) -> bool {
        !a.is_nan() && !b.is_nan() && a.total_cmp(&b).is_lt()
    }
);

/// Minimum and maximum of the values seen, as parquet's writer has them: NaN left out
/// (and counted) unless every value is NaN.
pub(crate) struct Bounds<T> {
    min: T,
    max: T,
    seen: bool,
    nans: u64,
    first_nan: Option<T>,
}

impl<T: FixedValue> Bounds<T> {
    fn new() -> Self {
        Bounds {
            min: T::HIGHEST,
            max: T::LOWEST,
            seen: false,
            nans: 0,
            first_nan: None,
        }
    }

    /// Adds values to the bounds and the counts.
    #[inline]
    fn add(&mut self, values: &[T]) {
        let (mut min, mut max, mut nans) = (self.min, self.max, 0u64);
        for &v in values {
            // NaN is never less nor more: it changes neither.
            if T::less(v, min) {
                min = v;
            }
            if T::less(max, v) {
                max = v;
            }
            nans += u64::from(is_nan(v));
        }
        (self.min, self.max) = (min, max);
        // Only NaN so far leaves min above max (an infinity alone gives min == max).
        self.seen = !T::less(self.max, self.min);
        self.nans += nans;
        if nans > 0 && self.first_nan.is_none() {
            self.first_nan = values.iter().copied().find(|&v| is_nan(v));
        }
    }

    /// Counts a value already in the dictionary: the bounds need only its distinct values,
    /// each of which went through [`Bounds::add`] once.
    #[inline]
    fn count(&mut self, v: T) {
        self.nans += u64::from(is_nan(v));
    }

    /// A value went through [`Bounds::add`]: a number, or only NaN so far.
    fn any(&self) -> bool {
        self.seen || self.first_nan.is_some()
    }
}

/// NaN is the one value not equal to itself (never true for integers).
#[inline]
#[allow(clippy::eq_op)]
fn is_nan<T: PartialEq + Copy>(v: T) -> bool {
    v != v
}

/// A column of a fixed-width type.
pub(crate) struct Fixed<T> {
    dict: Option<FixedDict>,
    /// False once the dictionary outgrew its limit: the rest of the chunk is PLAIN.
    dict_open: bool,
    bounds: Bounds<T>,
}

impl<T: FixedValue> Fixed<T> {
    pub(crate) fn new(dictionary: bool) -> Self {
        Fixed {
            dict: dictionary.then(FixedDict::new),
            dict_open: dictionary,
            bounds: Bounds::new(),
        }
    }

    /// Appends the valid `runs` of `values` (whose PLAIN bytes are `bytes`) to the page.
    /// True when the dictionary has just outgrown `dict_limit` bytes.
    pub(crate) fn write(
        &mut self,
        values: &[T],
        bytes: &[u8],
        runs: &[Run],
        page: &mut PageValues,
        dict_limit: usize,
    ) -> bool {
        match self.dict.as_mut().filter(|_| self.dict_open) {
            Some(dict) => {
                for &(s, e) in runs {
                    for &v in &values[s..e] {
                        let (index, new) = dict.index(v.key());
                        if new {
                            self.bounds.add(&[v]);
                        } else {
                            self.bounds.count(v);
                        }
                        page.indices.push(index);
                    }
                }
                dict.keys.len() * T::WIDTH > dict_limit
            }
            None => {
                for &(s, e) in runs {
                    if cfg!(target_endian = "little") {
                        // Arrow's buffers are native-endian: here they are PLAIN already.
                        page.plain
                            .extend_from_slice(&bytes[s * T::WIDTH..e * T::WIDTH]);
                    } else {
                        values[s..e].iter().for_each(|v| v.plain(&mut page.plain));
                    }
                    self.bounds.add(&values[s..e]);
                }
                false
            }
        }
    }

    pub(crate) fn dictionary_state(&self) -> (usize, bool) {
        (
            self.dict.as_ref().map_or(0, |d| d.keys.len()),
            self.dict_open,
        )
    }

    pub(crate) fn close_dictionary(&mut self) {
        self.dict_open = false;
    }

    /// The dictionary page's PLAIN body and its number of entries.
    pub(crate) fn dictionary(&self) -> Option<(Vec<u8>, usize)> {
        let dict = self.dict.as_ref()?;
        let mut out = Vec::with_capacity(dict.keys.len() * T::WIDTH);
        dict.keys
            .iter()
            .for_each(|&k| T::from_key(k).plain(&mut out));
        Some((out, dict.keys.len()))
    }

    /// The chunk's statistics; only nulls (or no rows) give the null count alone.
    pub(crate) fn statistics(&self, nulls: u64) -> Statistics {
        let b = &self.bounds;
        // Floating columns count their NaN from the first value.
        let nans = (T::IS_FLOAT && b.any()).then_some(b.nans);
        let bounds = if b.seen {
            Some((b.min, b.max))
        } else {
            // Every value NaN: parquet's writer gives NaN as both bounds.
            b.first_nan.map(|nan| (nan, nan))
        };
        T::statistics(bounds, nulls, nans)
    }
}

/// A boolean column: PLAIN is one bit per value, least significant first; no dictionary.
#[derive(Default)]
pub(crate) struct Bools {
    bits: usize,
    seen_true: bool,
    seen_false: bool,
}

impl Bools {
    pub(crate) fn write(
        &mut self,
        values: &arrow_buffer::BooleanBuffer,
        runs: &[Run],
        page: &mut PageValues,
    ) {
        for &(s, e) in runs {
            for i in s..e {
                let v = values.value(i);
                if self.bits.is_multiple_of(8) {
                    page.plain.push(0);
                }
                if v {
                    *page.plain.last_mut().expect("pushed above") |= 1 << (self.bits % 8);
                }
                self.bits += 1;
                self.seen_true |= v;
                self.seen_false |= !v;
            }
        }
    }

    /// A new page starts on a byte of its own.
    pub(crate) fn new_page(&mut self) {
        self.bits = 0;
    }

    pub(crate) fn statistics(&self, nulls: u64) -> Statistics {
        let (min, max) = match self.seen_true || self.seen_false {
            true => (Some(!self.seen_false), Some(self.seen_true)),
            false => (None, None),
        };
        Statistics::boolean(min, max, None, Some(nulls), false)
    }
}
