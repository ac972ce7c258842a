//! Where the reader cuts a chunk: after the last record boundary of the data read, found in
//! one pass over 64-byte blocks that also counts the line ends before it (the next chunk's
//! first line number), instead of a pass jumping from quote to quote and another counting.
//!
//! The quote rules are the tokenizer's, for dialects without an escape byte: a quote opens a
//! quoted section only at the start of a field (after a delimiter, a line end, or at the start
//! of the data, which starts at a record boundary); inside it a doubled quote is a literal
//! quote and a single one closes it. Line ends inside quoted sections are not boundaries but
//! count as lines, as they do everywhere else.

use crate::scan::{from_bit, Specials};

/// The bits of a block up to and including `offset` (< 64).
#[inline]
fn through_bit(offset: u32) -> u64 {
    !from_bit(offset + 1)
}

/// The position just after the last record boundary of `data` and the number of `\n` before
/// it; `None` when no record ends in `data`.
pub(crate) fn last_boundary(data: &[u8], delimiter: u8, quote: u8) -> Option<(usize, u64)> {
    let specials = Specials::new(delimiter, quote, None);
    let (mut found, mut lines, mut inside) = (None, 0u64, false);
    let mut base = 0usize;
    // The first bits of the block that were read with the block before (a doubled quote's
    // second half).
    let mut carry = 0u32;
    while base < data.len() {
        let n = (data.len() - base).min(64);
        let masks = specials.classify_table(&data[base..base + n]);
        let mut quotes = masks.quotes & from_bit(carry);
        carry = 0;
        // Bits of the block inside quoted sections, quotes included.
        let mut quoted = 0u64;
        let mut opened = 0u32;
        while quotes != 0 {
            let offset = quotes.trailing_zeros();
            quotes &= quotes - 1;
            let at = base + offset as usize;
            if !inside {
                let opens = at == 0 || data[at - 1] == delimiter || data[at - 1] == b'\n';
                if opens {
                    (inside, opened) = (true, offset);
                }
            } else if data.get(at + 1) == Some(&quote) {
                // A doubled quote: a literal one; its second half is read with it.
                if offset == 63 {
                    carry = 1;
                } else {
                    quotes &= !(1u64 << (offset + 1));
                }
            } else {
                quoted |= from_bit(opened) & through_bit(offset);
                (inside, opened) = (false, 0);
            }
        }
        if inside {
            quoted |= from_bit(opened);
        }
        let ends = masks.newlines & !quoted;
        if ends != 0 {
            let last = 63 - ends.leading_zeros();
            let before = (masks.newlines & through_bit(last)).count_ones();
            found = Some((base + last as usize + 1, lines + u64::from(before)));
        }
        lines += u64::from(masks.newlines.count_ones());
        base += n;
    }
    found
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The same rules a byte at a time.
    fn byte_at_a_time(data: &[u8], delimiter: u8, quote: u8) -> Option<(usize, u64)> {
        let (mut inside, mut found, mut lines, mut i) = (false, None, 0u64, 0);
        while i < data.len() {
            let b = data[i];
            if b == b'\n' {
                lines += 1;
            }
            if inside {
                if b == quote {
                    if data.get(i + 1) == Some(&quote) {
                        i += 2;
                        continue;
                    }
                    inside = false;
                }
            } else if b == quote && (i == 0 || data[i - 1] == delimiter || data[i - 1] == b'\n') {
                inside = true;
            } else if b == b'\n' {
                found = Some((i + 1, lines));
            }
            i += 1;
        }
        found
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Texts dense in quotes, delimiters and line ends, every length around the block
        /// size, agree with the byte-at-a-time rules.
        #[test]
        fn agrees_with_the_rules_a_byte_at_a_time(
            text in proptest::collection::vec(
                prop_oneof![Just(b'"'), Just(b','), Just(b'\n'), Just(b'a'), Just(b'"')],
                0..300,
            ),
        ) {
            prop_assert_eq!(
                last_boundary(&text, b',', b'"'),
                byte_at_a_time(&text, b',', b'"')
            );
        }
    }

    #[test]
    fn quotes_inside_fields_are_text_and_quoted_line_ends_count() {
        let text = b"a,TV 32\" LED\n\"x\ny\",\"\"\"\"\nb,\"open\nrest";
        assert_eq!(last_boundary(text, b',', b'"'), Some((24, 3)));
        assert_eq!(last_boundary(b"no line end", b',', b'"'), None);
        // A doubled quote split by the block edge.
        let mut long = vec![b'"'];
        long.extend(std::iter::repeat_n(b'x', 62));
        long.extend_from_slice(b"\"\"\n\"\nz\n");
        assert_eq!(
            last_boundary(&long, b',', b'"'),
            byte_at_a_time(&long, b',', b'"')
        );
    }
}
