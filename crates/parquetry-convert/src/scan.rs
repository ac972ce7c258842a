//! Finds the tokenizer's special bytes (delimiter, newline, quote, escape) 64 bytes at a
//! time: one block becomes a bit mask, remembered while a record is read, so the ends of all
//! the fields inside the block cost a `trailing_zeros` each instead of a scan each. Fields of
//! real files are short (20 bytes on the benchmark file), so a per-field scan spends most of
//! its time starting and stopping.

/// Bytes classified at once.
const BLOCK: usize = 64;

/// The special bytes of a dialect. Without an escape byte the fourth repeats the delimiter.
#[derive(Clone, Copy)]
pub(crate) struct Specials {
    bytes: [u8; 4],
    table: [bool; 256],
}

/// The classified block around the scanning position of one record: bit `i` of `mask` is
/// set when `data[base + i]` is special, for `i < len` (64, or fewer at the data's end).
#[derive(Clone, Copy)]
pub(crate) struct Block {
    base: usize,
    len: usize,
    mask: u64,
}

impl Block {
    /// A block that holds nothing: the first [`Specials::next`] classifies one.
    pub(crate) fn empty() -> Block {
        Block {
            base: 0,
            len: 0,
            mask: 0,
        }
    }
}

impl Specials {
    pub(crate) fn new(delimiter: u8, quote: u8, escape: Option<u8>) -> Specials {
        let bytes = [delimiter, b'\n', quote, escape.unwrap_or(delimiter)];
        let mut table = [false; 256];
        for b in bytes {
            table[b as usize] = true;
        }
        Specials { bytes, table }
    }

    /// Position of the first special byte at or after `pos`, or `data.len()`. `block` must
    /// have been classified from this same `data` (or be [`Block::empty`]).
    #[inline]
    pub(crate) fn next(&self, data: &[u8], pos: usize, block: &mut Block) -> usize {
        let mut base = pos;
        // Wraps to a huge offset when `pos` is before the block.
        let offset = pos.wrapping_sub(block.base);
        if offset < block.len {
            let rest = block.mask >> offset;
            if rest != 0 {
                return pos + rest.trailing_zeros() as usize;
            }
            base = block.base + block.len;
        }
        while base < data.len() {
            let len = BLOCK.min(data.len() - base);
            let mask = self.classify(&data[base..base + len]);
            *block = Block { base, len, mask };
            if mask != 0 {
                return base + mask.trailing_zeros() as usize;
            }
            base += len;
        }
        data.len()
    }

    /// The masks of `data` (at most 64 bytes) that [`crate::field_table`] reads: field ends,
    /// quotes and line ends (a dialect without an escape byte).
    #[inline]
    pub(crate) fn classify_table(&self, data: &[u8]) -> TableMasks {
        match data.first_chunk::<BLOCK>() {
            Some(block) => self.classify_block_table(block),
            None => self.classify_tail_table(data),
        }
    }

    fn classify_tail_table(&self, data: &[u8]) -> TableMasks {
        let [delimiter, newline, quote, _] = self.bytes;
        let mask = |want: &dyn Fn(u8) -> bool| {
            data.iter()
                .enumerate()
                .filter(|&(_, &b)| want(b))
                .fold(0, |mask, (i, _)| mask | 1 << i)
        };
        TableMasks {
            ends: mask(&|b| b == delimiter || b == newline),
            quotes: mask(&|b| b == quote),
            newlines: mask(&|b| b == newline),
        }
    }

    /// The mask of `data` (at most 64 bytes).
    #[inline]
    fn classify(&self, data: &[u8]) -> u64 {
        match data.first_chunk::<BLOCK>() {
            Some(block) => self.classify_block(block),
            None => self.classify_tail(data),
        }
    }

    /// Fewer than 64 bytes: the end of a chunk or a short text, one byte at a time.
    fn classify_tail(&self, data: &[u8]) -> u64 {
        data.iter()
            .enumerate()
            .filter(|&(_, &b)| self.table[b as usize])
            .fold(0, |mask, (i, _)| mask | 1 << i)
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline]
    fn classify_block(&self, block: &[u8; BLOCK]) -> u64 {
        // SAFETY: `sse2_mask` is only unsafe to call because it is compiled with SSE2
        // enabled; this function exists only when SSE2 is enabled for the whole build (the
        // `cfg` above; SSE2 is part of the x86_64 baseline), so the CPU running it has SSE2.
        // The function itself reads only through the `&[u8; 64]` it is given.
        unsafe { sse2_mask(block, self.bytes) }
    }

    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    #[inline]
    fn classify_block(&self, block: &[u8; BLOCK]) -> u64 {
        self.classify_tail(block)
    }

    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    #[inline]
    fn classify_block_table(&self, block: &[u8; BLOCK]) -> TableMasks {
        // SAFETY: as in `classify_block`: SSE2 is enabled for the whole build, and the
        // function reads only through the `&[u8; 64]` it is given.
        unsafe { sse2_table_masks(block, self.bytes) }
    }

    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    #[inline]
    fn classify_block_table(&self, block: &[u8; BLOCK]) -> TableMasks {
        self.classify_tail_table(block)
    }
}

/// The bits of a block's mask at and above `offset` (none for 64 or more).
#[inline]
pub(crate) fn from_bit(offset: u32) -> u64 {
    if offset >= 64 {
        0
    } else {
        !0u64 << offset
    }
}

/// The masks of one block for [`crate::field_table`]: bit `i` is byte `i` of the block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TableMasks {
    /// Delimiters and line ends.
    pub ends: u64,
    pub quotes: u64,
    pub newlines: u64,
}

/// Bytes ahead of the block being classified that [`sse2_table_masks`] asks the cache for.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
const PREFETCH_AHEAD: usize = 1024;

/// Three compares per 16 bytes (delimiter, line end, quote), their high bits gathered.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn sse2_table_masks(block: &[u8; BLOCK], bytes: [u8; 4]) -> TableMasks {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
    };
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
    // The table reads a chunk once, front to back, right after another core wrote it: asking
    // for the bytes a few blocks ahead hides the wait for them. A prefetch never faults, so
    // an address past the chunk's end is harmless (`wrapping_add` keeps it a plain number).
    _mm_prefetch::<_MM_HINT_T0>(block.as_ptr().wrapping_add(PREFETCH_AHEAD).cast());
    let [delimiter, newline, quote, _] = bytes.map(|x| _mm_set1_epi8(x as i8));
    let mut masks = TableMasks {
        ends: 0,
        quotes: 0,
        newlines: 0,
    };
    for (k, part) in block.chunks_exact(16).enumerate() {
        // Two safe 8-byte reads: the compiler makes one unaligned 16-byte load of them.
        let lo = u64::from_le_bytes(part[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(part[8..].try_into().expect("8 bytes"));
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let lines = _mm_cmpeq_epi8(v, newline);
        let ends = _mm_or_si128(_mm_cmpeq_epi8(v, delimiter), lines);
        let gather = |m| (_mm_movemask_epi8(m) as u16 as u64) << (16 * k);
        masks.ends |= gather(ends);
        masks.newlines |= gather(lines);
        masks.quotes |= gather(_mm_cmpeq_epi8(v, quote));
    }
    masks
}

/// 16 bytes at a time: four byte-wise compares, ORed, and the high bit of each byte gathered.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn sse2_mask(block: &[u8; BLOCK], bytes: [u8; 4]) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
    };
    let [a, b, c, d] = bytes.map(|x| _mm_set1_epi8(x as i8));
    let mut mask = 0u64;
    for (k, part) in block.chunks_exact(16).enumerate() {
        // Two safe 8-byte reads: the compiler makes one unaligned 16-byte load of them.
        let lo = u64::from_le_bytes(part[..8].try_into().expect("8 bytes"));
        let hi = u64::from_le_bytes(part[8..].try_into().expect("8 bytes"));
        let v = _mm_set_epi64x(hi as i64, lo as i64);
        let hit = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, a), _mm_cmpeq_epi8(v, b)),
            _mm_or_si128(_mm_cmpeq_epi8(v, c), _mm_cmpeq_epi8(v, d)),
        );
        mask |= (_mm_movemask_epi8(hit) as u16 as u64) << (16 * k);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every special byte at every position of texts around the block size and its tail,
    /// found from every starting position, agrees with a byte-at-a-time search.
    #[test]
    fn finds_what_a_byte_loop_finds_at_every_position() {
        let specials = Specials::new(b';', b'"', Some(b'\\'));
        for len in [0, 1, 15, 16, 17, 63, 64, 65, 127, 128, 129, 200] {
            for at in 0..len {
                for special in [b';', b'\n', b'"', b'\\', 0xff] {
                    let mut data = vec![b'a'; len];
                    data[at] = special;
                    data[len - 1] = if at == len - 1 { special } else { b'\x80' };
                    let mut block = Block::empty();
                    for pos in 0..=len {
                        let want = (pos..len)
                            .find(|&i| specials.table[data[i] as usize])
                            .unwrap_or(len);
                        assert_eq!(
                            specials.next(&data, pos, &mut block),
                            want,
                            "{len} {at} {pos}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_block_full_of_specials_finds_each_one() {
        let specials = Specials::new(b',', b'"', None);
        let data = vec![b','; 150];
        let mut block = Block::empty();
        for pos in 0..150 {
            assert_eq!(specials.next(&data, pos, &mut block), pos);
        }
        assert_eq!(specials.next(&data, 150, &mut block), 150);
    }
}
