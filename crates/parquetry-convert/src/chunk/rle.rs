//! The RLE / bit-packed hybrid encoding of Parquet: definition levels (one bit
//! wide, written as runs) and dictionary indices (bit-packed).

use parquet::util::bit_util::num_required_bits;

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
    num_required_bits(entries.saturating_sub(1) as u64).max(1)
}

/// Appends dictionary indices as a data page has them: the bit width in one byte, then one
/// bit-packed run of all of them (padded with zeros to a multiple of 8 values).
pub(crate) fn bit_packed_indices(out: &mut Vec<u8>, indices: &[u32], width: u8) {
    out.push(width);
    let groups = indices.len().div_ceil(8);
    varint(out, ((groups as u64) << 1) | 1);
    out.reserve(groups * width as usize);
    if width <= 16 {
        // A group of 8 values is `width` bytes: packed in one 128-bit word at a time.
        let mut chunks = indices.chunks_exact(8);
        for group in &mut chunks {
            pack_group(out, group, width);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut group = [0u32; 8];
            group[..rest.len()].copy_from_slice(rest);
            pack_group(out, &group, width);
        }
        return;
    }
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

#[inline]
fn pack_group(out: &mut Vec<u8>, group: &[u32], width: u8) {
    let mut acc = 0u128;
    for (k, &i) in group.iter().enumerate() {
        acc |= u128::from(i) << (k * width as usize);
    }
    out.extend_from_slice(&acc.to_le_bytes()[..width as usize]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values of a bit-packed run, read back bit by bit.
    fn unpack(data: &[u8], n: usize) -> Vec<u32> {
        let width = data[0] as usize;
        let body = &data[2..]; // one-byte header for up to 63 groups
        (0..n)
            .map(|k| {
                (0..width).fold(0u32, |v, b| {
                    let bit = k * width + b;
                    v | (u32::from(body[bit / 8] >> (bit % 8) & 1) << b)
                })
            })
            .collect()
    }

    #[test]
    fn indices_of_every_width_and_length_read_back() {
        for width in 1..=20u8 {
            for n in [0usize, 1, 7, 8, 9, 63, 64, 100, 255] {
                let indices: Vec<u32> = (0..n as u32)
                    .map(|i| i.wrapping_mul(2_654_435_761) & ((1 << width) - 1))
                    .collect();
                let mut out = Vec::new();
                bit_packed_indices(&mut out, &indices, width);
                let groups = n.div_ceil(8);
                assert_eq!(
                    out.len(),
                    2 + groups * width as usize,
                    "width {width}, {n} values"
                );
                assert_eq!(unpack(&out, n), indices, "width {width}, {n} values");
            }
        }
    }

    #[test]
    fn level_runs_follow_the_rows() {
        let mut levels = Levels::default();
        levels.push(true, 3);
        levels.push(true, 2);
        levels.push(false, 1);
        levels.push(false, 0);
        levels.push(true, 200);
        let mut out = Vec::new();
        levels.finish_into(&mut out);
        // 4-byte length, then runs: 5 x 1, 1 x 0, 200 x 1 (a two-byte varint).
        assert_eq!(out, vec![7, 0, 0, 0, 10, 1, 2, 0, 0x90, 0x03, 1]);
    }
}
