//! The RLE / bit-packed hybrid encoding of Parquet: definition levels (one bit
//! wide, written as runs) and dictionary indices (bit-packed).

use super::thrift::varint;

/// Definition levels of a page, run-length encoded as they arrive: valid rows are level 1,
/// null rows level 0. Nulls are rare, so runs are long and a page's levels take a few bytes.
#[derive(Default)]
pub(crate) struct Levels {
    runs: Vec<u8>,
    value: bool,
    len: u64,
}

impl Levels {
    /// Appends `n` rows that are all valid or all null.
    #[inline]
    pub(crate) fn push(&mut self, valid: bool, n: usize) {
        if n == 0 {
            return;
        }
        if self.len > 0 && self.value != valid {
            self.flush_run();
        }
        self.value = valid;
        self.len += n as u64;
    }

    fn flush_run(&mut self) {
        // An RLE run: its length shifted left once (the low bit 0 says "RLE"), then the
        // value in one byte (the bit width, 1, rounded up to bytes).
        varint(&mut self.runs, self.len << 1);
        self.runs.push(u8::from(self.value));
        self.len = 0;
    }

    /// Appends the page's levels to `out` as a v1 data page has them (4-byte length first)
    /// and starts over for the next page.
    pub(crate) fn finish_into(&mut self, out: &mut Vec<u8>) {
        if self.len > 0 {
            self.flush_run();
        }
        out.extend_from_slice(&(self.runs.len() as u32).to_le_bytes());
        out.extend_from_slice(&self.runs);
        self.runs.clear();
    }
}

/// Bits needed for dictionary indices below `entries` (at least 1: some readers reject 0).
pub(crate) fn index_width(entries: usize) -> u8 {
    let max = entries.saturating_sub(1) as u64;
    (64 - max.leading_zeros() as u8).max(1)
}

/// Appends dictionary indices as a data page has them: the bit width in one byte, then one
/// bit-packed run of all of them (padded with zeros to a multiple of 8 values).
pub(crate) fn bit_packed_indices(out: &mut Vec<u8>, indices: &[u32], width: u8) {
    out.push(width);
    let groups = indices.len().div_ceil(8);
    varint(out, ((groups as u64) << 1) | 1);
    out.reserve(groups * width as usize);
    let (mut acc, mut bits) = (0u64, 0u32);
    for &i in indices {
        acc |= u64::from(i) << bits;
        bits += u32::from(width);
        while bits >= 8 {
            out.push(acc as u8);
            acc >>= 8;
            bits -= 8;
        }
    }
    // Zero padding up to the end of the last group of 8.
    let padded_bits = (groups * 8 - indices.len()) as u32 * u32::from(width) + bits;
    for _ in 0..padded_bits.div_ceil(8) {
        out.push(acc as u8);
        acc >>= 8;
    }
}
