//! Dictionaries of a column chunk: open-addressing hash tables from a value to its index,
//! kept at most half full, probing linearly.

/// Multipliers of the hashes (the golden ratio and a large odd constant in 64 bits).
const K: u64 = 0x9E37_79B9_7F4A_7C15;
const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;

/// A slot: the entry's key (or hash) and its index + 1; 0 is a free slot.
#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    entry: u32,
}

struct Slots {
    slots: Vec<Slot>,
    shift: u32,
    entries: usize,
}

impl Slots {
    fn new() -> Slots {
        Slots {
            slots: vec![Slot::default(); 1 << 10],
            shift: 64 - 10,
            entries: 0,
        }
    }

    #[inline]
    fn start(&self, key: u64) -> usize {
        (key.wrapping_mul(K) >> self.shift) as usize
    }

    /// The entry whose slot key is `key` and for which `is_entry` holds, or the free slot
    /// where it would go.
    #[inline]
    fn find(&self, key: u64, is_entry: impl Fn(u32) -> bool) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut at = self.start(key);
        loop {
            let slot = self.slots[at];
            if slot.entry == 0 {
                return Err(at);
            }
            if slot.key == key && is_entry(slot.entry - 1) {
                return Ok(slot.entry - 1);
            }
            at = (at + 1) & mask;
        }
    }

    /// Fills free slot `at` with the next entry; doubles the table once it is half full.
    /// The new entry's index.
    fn insert(&mut self, at: usize, key: u64) -> u32 {
        let entry = self.entries as u32;
        self.slots[at] = Slot {
            key,
            entry: entry + 1,
        };
        self.entries += 1;
        if self.entries * 2 > self.slots.len() {
            let size = self.slots.len() * 2;
            let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
            self.shift -= 1;
            let mask = self.slots.len() - 1;
            for slot in old.into_iter().filter(|s| s.entry != 0) {
                let mut at = self.start(slot.key);
                while self.slots[at].entry != 0 {
                    at = (at + 1) & mask;
                }
                self.slots[at] = slot;
            }
        }
        entry
    }
}

/// Dictionary of a fixed-width column, keyed by the value's bits (the key is the value,
/// so a matching slot key is the entry).
pub(crate) struct FixedDict {
    slots: Slots,
    pub keys: Vec<u64>,
}

impl FixedDict {
    pub(crate) fn new() -> FixedDict {
        FixedDict {
            slots: Slots::new(),
            keys: Vec::new(),
        }
    }

    /// The index of `key`, and whether it is new.
    #[inline]
    pub(crate) fn index(&mut self, key: u64) -> (u32, bool) {
        match self.slots.find(key, |_| true) {
            Ok(e) => (e, false),
            Err(at) => {
                self.keys.push(key);
                (self.slots.insert(at, key), true)
            }
        }
    }
}

/// Dictionary of a text column: the entries' bytes one after the other.
pub(crate) struct BytesDict {
    slots: Slots,
    /// The words and length of each entry: values of up to 16 bytes compare on these alone.
    words: Vec<(u64, u64, usize)>,
    /// Start and length of each entry in `bytes`.
    spans: Vec<(u32, u32)>,
    pub bytes: Vec<u8>,
}

impl BytesDict {
    pub(crate) fn new() -> BytesDict {
        BytesDict {
            slots: Slots::new(),
            words: Vec::new(),
            spans: Vec::new(),
            bytes: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.spans.len()
    }

    #[inline]
    pub(crate) fn entry(&self, i: usize) -> &[u8] {
        let (start, len) = self.spans[i];
        &self.bytes[start as usize..(start + len) as usize]
    }

    /// The index of `v`, and whether it is new.
    #[inline]
    pub(crate) fn index(&mut self, v: &[u8]) -> (u32, bool) {
        let (first, last) = words(v);
        let hash = hash(v, (first, last));
        let key = (first, last, v.len());
        let found = self.slots.find(hash, |e| {
            // Values of up to 16 bytes are equal when their length and words are.
            self.words[e as usize] == key && (v.len() <= 16 || self.entry(e as usize) == v)
        });
        match found {
            Ok(e) => (e, false),
            Err(at) => {
                self.words.push(key);
                self.spans.push((self.bytes.len() as u32, v.len() as u32));
                self.bytes.extend_from_slice(v);
                (self.slots.insert(at, hash), true)
            }
        }
    }
}

/// Two words that hold every byte of a value of up to 16 bytes (overlapping loads, no
/// copy): the first and last 8 bytes, the first and last 4, or the first, middle and last
/// byte. Of a longer value, its first and last 8 bytes.
#[inline]
fn words(v: &[u8]) -> (u64, u64) {
    let n = v.len();
    if n >= 8 {
        let first = u64::from_le_bytes(v[..8].try_into().expect("8 bytes"));
        let last = u64::from_le_bytes(v[n - 8..].try_into().expect("8 bytes"));
        (first, last)
    } else if n >= 4 {
        let first = u32::from_le_bytes(v[..4].try_into().expect("4 bytes"));
        let last = u32::from_le_bytes(v[n - 4..].try_into().expect("4 bytes"));
        (u64::from(first), u64::from(last))
    } else if n > 0 {
        let b = u64::from(v[0]) | u64::from(v[n / 2]) << 8 | u64::from(v[n - 1]) << 16;
        (b, 0)
    } else {
        (0, 0)
    }
}

/// A quick hash of a value: its words and length, and every 8 bytes between for longer ones.
#[inline]
fn hash(v: &[u8], (first, last): (u64, u64)) -> u64 {
    let mut h =
        (first ^ K2).wrapping_mul(K) ^ (last.rotate_left(23) ^ v.len() as u64).wrapping_mul(K2);
    if v.len() > 16 {
        // Whole words after the first; the bytes past the last whole one are in `last`.
        for w in v[8..v.len() - 8].chunks_exact(8) {
            let word = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            h = (h ^ word).wrapping_mul(K).rotate_left(29);
        }
    }
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_tell_apart_every_short_value() {
        // Every value of up to 3 bytes over a small alphabet, and longer ones differing in
        // one byte anywhere: equal words and length only for equal values.
        let alphabet = [0u8, 1, b'a', 0xFF];
        let mut values: Vec<Vec<u8>> = vec![vec![]];
        for len in 1..=3 {
            let mut next = Vec::new();
            for v in values.iter().filter(|v| v.len() == len - 1) {
                for &b in &alphabet {
                    let mut w = v.clone();
                    w.push(b);
                    next.push(w);
                }
            }
            values.extend(next);
        }
        for len in 4..=20 {
            for at in 0..len {
                let mut v = vec![b'x'; len];
                v[at] = b'y';
                values.push(v);
            }
        }
        let mut dict = BytesDict::new();
        let indices: Vec<u32> = values.iter().map(|v| dict.index(v).0).collect();
        assert_eq!(dict.len(), values.len());
        for (v, &i) in values.iter().zip(&indices) {
            assert_eq!(dict.entry(i as usize), v.as_slice());
            assert_eq!(dict.index(v), (i, false));
        }
    }

    #[test]
    fn tables_grow_and_keep_every_entry() {
        let mut dict = FixedDict::new();
        for k in 0..10_000u64 {
            assert_eq!(dict.index(k * 7919), (k as u32, true));
        }
        for k in 0..10_000u64 {
            assert_eq!(dict.index(k * 7919), (k as u32, false));
        }
        assert_eq!(dict.keys.len(), 10_000);
    }
}
