//! Runs of ASCII digits read eight at a time (SWAR: one 64-bit word holds eight digits),
//! for the integer and float parsers: the identifiers and 17-digit floats of real files
//! spent most of their parsing in a digit-at-a-time loop.

/// Most digits a run may have: 10^19 - 1 fits a u64.
pub(crate) const MAX_DIGITS: usize = 19;

/// The value and length of the run of digits at the start of `b`, or `None` when the run
/// is longer than [`MAX_DIGITS`].
#[inline]
pub(crate) fn leading_digits(b: &[u8]) -> Option<(u64, usize)> {
    let (mut value, mut n) = (0u64, 0usize);
    // Whole words while they fit: 8 more digits stay within 19 only from at most 11.
    while n + 8 <= b.len() && n + 8 <= MAX_DIGITS {
        let word = u64::from_le_bytes(b[n..n + 8].try_into().expect("8 bytes"));
        if !all_digits(word) {
            break;
        }
        value = value * 100_000_000 + u64::from(eight_digits(word));
        n += 8;
    }
    while let Some(&c) = b.get(n) {
        let d = c.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if n == MAX_DIGITS {
            return None;
        }
        value = value * 10 + u64::from(d);
        n += 1;
    }
    Some((value, n))
}

/// Every byte of `word` is `0`..=`9`: its high nibble is 3, and adding 6 to it does not
/// carry into the high nibble (no byte can carry into the next: each is below 0x40).
#[inline]
fn all_digits(word: u64) -> bool {
    const HIGH: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const THREES: u64 = 0x3030_3030_3030_3030;
    word & HIGH == THREES && word.wrapping_add(0x0606_0606_0606_0606) & HIGH == THREES
}

/// The number written by eight digits (the first in the lowest byte): pairs, then
/// quadruples, then the whole, each step one multiply-add over every lane.
#[inline]
fn eight_digits(word: u64) -> u32 {
    let v = word - 0x3030_3030_3030_3030;
    // Each 16-bit lane: 10 * first + second.
    let v = (v * 10 + (v >> 8)) & 0x00FF_00FF_00FF_00FF;
    // Each 32-bit lane: 100 * first pair + second pair.
    let v = (v * 100 + (v >> 16)) & 0x0000_FFFF_0000_FFFF;
    // 10000 * first quadruple + second.
    ((v * 10_000 + (v >> 32)) & 0xFFFF_FFFF) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(b: &[u8]) -> Option<(u64, usize)> {
        let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
        if n > MAX_DIGITS {
            return None;
        }
        let v = b[..n]
            .iter()
            .fold(0u64, |v, &c| v * 10 + u64::from(c - b'0'));
        Some((v, n))
    }

    #[test]
    fn runs_of_every_length_with_every_stop_byte_agree_with_a_digit_loop() {
        let mut random = crate::stages::XorShift::new(0x9E37_79B9_7F4A_7C15);
        for len in 0..=24 {
            for stop in [
                None,
                Some(b'.'),
                Some(b'/'),
                Some(b':'),
                Some(b' '),
                Some(0xFF),
                Some(b'0' - 1),
            ] {
                for _ in 0..200 {
                    let x = random.next_u64();
                    let mut text: Vec<u8> = (0..len)
                        .map(|i| b'0' + ((x >> (i % 60)) % 10) as u8)
                        .collect();
                    text.extend(stop);
                    text.extend_from_slice(b"123");
                    assert_eq!(
                        leading_digits(&text),
                        naive(&text),
                        "{:?}",
                        String::from_utf8_lossy(&text)
                    );
                }
            }
        }
        for text in [
            "99999999",
            "9999999999999999999",
            "00000000",
            "0000000000000000000",
            "10000000",
        ] {
            assert_eq!(
                leading_digits(text.as_bytes()),
                naive(text.as_bytes()),
                "{text}"
            );
        }
        assert_eq!(leading_digits(b"12345678901234567890"), None);
    }

    #[test]
    fn a_word_with_any_byte_outside_the_digits_is_not_eight_digits() {
        for at in 0..8 {
            for bad in (0u8..=255).filter(|b| !b.is_ascii_digit()) {
                let mut bytes = *b"12345678";
                bytes[at] = bad;
                assert!(!all_digits(u64::from_le_bytes(bytes)), "{bad} at {at}");
            }
        }
        assert!(all_digits(u64::from_le_bytes(*b"09876543")));
        assert_eq!(eight_digits(u64::from_le_bytes(*b"09876543")), 9_876_543);
    }
}
