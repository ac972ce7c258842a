//! Snappy pages by Google's C++ library (bundled and built by `snappy_src`).
//!
//! Why not the pure-Rust `snap` that parquet uses: on the benchmark file snappy was the
//! largest part of a conversion (31 % of its CPU time, most of it the free-text column),
//! and the C++ library compresses the same pages in far less time (BENCHMARKS.md, "Issue
//! 17: snappy by the C++ library"). Its output is the same raw snappy format; any
//! snappy reader reads it, and `snap`'s decoder checks it in the tests below.

use std::os::raw::c_char;

use snappy_src::{snappy_compress, snappy_max_compressed_length, snappy_status_SNAPPY_OK};

/// Compresses `input` into `output`, growing it when it is too small for the largest
/// output `input` can have, and returns the compressed length: the page is
/// `output[..length]`. Past that, `output` holds whatever an earlier page left.
pub(super) fn compress(input: &[u8], output: &mut Vec<u8>) -> usize {
    // SAFETY: a pure function of its argument, with no pointer involved.
    let max = unsafe { snappy_max_compressed_length(input.len()) };
    if output.len() < max {
        output.resize(max, 0);
    }
    let mut length = output.len();
    // SAFETY: `input` is valid for reads of `input.len()` bytes and `output` for writes
    // of `length` bytes, and neither is touched elsewhere during the call (both are
    // borrowed here; `output` mutably). `snappy_compress` reads only `input`, writes only
    // `output[..length]` (it checks `length` against the largest output first) and
    // stores the compressed length into `length`. It keeps no pointer past the call.
    let status = unsafe {
        snappy_compress(
            input.as_ptr().cast::<c_char>(),
            input.len(),
            output.as_mut_ptr().cast::<c_char>(),
            &mut length,
        )
    };
    // The C API has two failures: `BUFFER_TOO_SMALL`, which the resize above rules out,
    // and `INVALID_INPUT`, which only decompression returns.
    assert_eq!(status, snappy_status_SNAPPY_OK, "snappy_compress failed");
    debug_assert!(length <= max);
    length
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn round_trip(input: &[u8], output: &mut Vec<u8>) {
        let length = compress(input, output);
        let back = snap::raw::Decoder::new()
            .decompress_vec(&output[..length])
            .expect("valid snappy");
        assert_eq!(back, input);
    }

    #[test]
    fn an_empty_page_compresses_to_its_length_alone() {
        let mut output = Vec::new();
        let length = compress(&[], &mut output);
        assert_eq!(&output[..length], &[0]);
        round_trip(&[], &mut output);
    }

    #[test]
    fn text_with_repeats_shrinks_and_reads_back() {
        let page: Vec<u8> = b"delivered;refund;battery door left "
            .iter()
            .copied()
            .cycle()
            .take(1 << 20)
            .collect();
        let mut output = Vec::new();
        let length = compress(&page, &mut output);
        assert!(length < page.len() / 10, "{length}");
        round_trip(&page, &mut output);
    }

    #[test]
    fn incompressible_bytes_fill_the_largest_output_and_read_back() {
        // xorshift: no repeats of four bytes for snappy to find.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let page: Vec<u8> = (0..200_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        let mut output = Vec::new();
        let length = compress(&page, &mut output);
        assert!(length > page.len() && length <= output.len());
        round_trip(&page, &mut output);
    }

    #[test]
    fn a_larger_buffer_left_by_an_earlier_page_is_reused() {
        let mut output = vec![0xAA; 1 << 16];
        round_trip(b"short page", &mut output);
        assert_eq!(output.len(), 1 << 16);
    }

    proptest! {
        #[test]
        fn any_page_reads_back_as_it_was(
            page in proptest::collection::vec(0u8..4, 0..70_000),
            earlier in 0usize..100,
        ) {
            let mut output = vec![1; earlier];
            round_trip(&page, &mut output);
        }
    }
}
