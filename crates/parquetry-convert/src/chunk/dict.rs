//! Dictionaries of a column chunk: open-addressing hash tables from a value to its index.

/// Multiplier of the hashes (the golden ratio in 64 bits): spreads small and similar keys.
const K: u64 = 0x9E37_79B9_7F4A_7C15;

/// Slots of a table: index + 1 of the entry there, 0 for free. Kept at most half full.
struct Slots {
    slots: Vec<u32>,
    shift: u32,
}

impl Slots {
    fn new() -> Slots {
        Slots {
            slots: vec![0; 1 << 10],
            shift: 64 - 10,
        }
    }

    #[inline]
    fn start(&self, hash: u64) -> usize {
        (hash.wrapping_mul(K) >> self.shift) as usize
    }

    /// The slot for `hash` where `is_entry` holds, or the free slot where it would go.
    #[inline]
    fn find(&self, hash: u64, is_entry: impl Fn(u32) -> bool) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let mut at = self.start(hash);
        loop {
            match self.slots[at] {
                0 => return Err(at),
                e if is_entry(e - 1) => return Ok(e - 1),
                _ => at = (at + 1) & mask,
            }
        }
    }

    /// Fills a free slot with entry `index`; doubles the table (rehashing with `hash_of`)
    /// once it is half full.
    fn insert(&mut self, at: usize, index: u32, hash_of: impl Fn(u32) -> u64) {
        self.slots[at] = index + 1;
        let entries = index as usize + 1;
        if entries * 2 <= self.slots.len() {
            return;
        }
        let size = self.slots.len() * 2;
        self.slots = vec![0; size];
        self.shift -= 1;
        for e in 0..entries as u32 {
            let mut at = self.start(hash_of(e));
            while self.slots[at] != 0 {
                at = (at + 1) & (size - 1);
            }
            self.slots[at] = e + 1;
        }
    }
}

/// Dictionary of a fixed-width column, keyed by the value's bits.
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
        let keys = &self.keys;
        match self.slots.find(key, |e| keys[e as usize] == key) {
            Ok(e) => (e, false),
            Err(at) => {
                let e = self.keys.len() as u32;
                self.keys.push(key);
                let keys = &self.keys;
                self.slots.insert(at, e, |i| keys[i as usize]);
                (e, true)
            }
        }
    }
}

/// Dictionary of a text column: the entries' bytes one after the other.
pub(crate) struct BytesDict {
    slots: Slots,
    hashes: Vec<u64>,
    /// End of each entry in `bytes` (entry `i` starts where `i - 1` ends).
    ends: Vec<u32>,
    pub bytes: Vec<u8>,
}

impl BytesDict {
    pub(crate) fn new() -> BytesDict {
        BytesDict {
            slots: Slots::new(),
            hashes: Vec::new(),
            ends: Vec::new(),
            bytes: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(crate) fn entry(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        &self.bytes[start..self.ends[i] as usize]
    }

    /// The index of `v`, and whether it is new.
    #[inline]
    pub(crate) fn index(&mut self, v: &[u8]) -> (u32, bool) {
        let hash = hash_bytes(v);
        let found = self.slots.find(hash, |e| {
            self.hashes[e as usize] == hash && self.entry(e as usize) == v
        });
        match found {
            Ok(e) => (e, false),
            Err(at) => {
                let e = self.ends.len() as u32;
                self.bytes.extend_from_slice(v);
                self.ends.push(self.bytes.len() as u32);
                self.hashes.push(hash);
                let hashes = &self.hashes;
                self.slots.insert(at, e, |i| hashes[i as usize]);
                (e, true)
            }
        }
    }
}

/// A quick hash of short text, eight bytes at a time.
#[inline]
fn hash_bytes(v: &[u8]) -> u64 {
    let mut h = (v.len() as u64).wrapping_mul(K);
    let mut words = v.chunks_exact(8);
    for w in &mut words {
        let word = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = (h ^ word).wrapping_mul(K).rotate_left(29);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(last)).wrapping_mul(K);
    }
    h ^ (h >> 29)
}
