//! Decimal text to `f64` without the standard parser for the forms files are made of:
//! `[-+]digits[.digits]` with at most 19 digits. The result is the correctly rounded
//! (round-half-to-even) value, the same as `str::parse::<f64>` returns; anything else is
//! left to the standard parser (`None`).

use std::cell::RefCell;

use crate::digits::{leading_digits, MAX_DIGITS};

/// Powers of ten that are exact doubles (10^22 is the largest).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];
/// Powers of ten that fit a u64.
const POW10_U64: [u64; 20] = {
    let mut p = [1u64; 20];
    let mut i = 1;
    while i < 20 {
        p[i] = p[i - 1] * 10;
        i += 1;
    }
    p
};
/// Mantissas up to this are exact doubles.
const EXACT_MANTISSA: u64 = 1 << 53;

/// Parses a float in plain or scientific notation; `inf`/`nan` words are not numbers here
/// because a column of them is almost always text.
pub(crate) fn parse_f64(b: &[u8], decimal: u8) -> Option<f64> {
    let t = crate::values::trim(b);
    let (_, body) = crate::values::split_sign(t);
    let first = *body.first()?;
    if !(first.is_ascii_digit() || first == decimal) {
        return None;
    }
    if decimal == b'.' {
        if let Some(v) = fast_f64(t) {
            return Some(v);
        }
        if !t
            .iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b'.' | b'-' | b'+' | b'e' | b'E'))
        {
            return None;
        }
        return std::str::from_utf8(t).ok()?.parse().ok();
    }
    DOT_FORM.with_borrow_mut(|s| {
        s.clear();
        dot_form(t, s)?;
        fast_f64(s).or_else(|| std::str::from_utf8(s).ok()?.parse().ok())
    })
}

thread_local! {
    /// The dot form of a decimal-comma number, reused from value to value: a new `String`
    /// per value was most of the cost of that path.
    static DOT_FORM: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes decimal-comma `t` (`-1.234,5`) in the dot form (`-1234.5`) to `s`, after checking
/// its thousands grouping; `None` when it is not such a number.
fn dot_form(t: &[u8], s: &mut Vec<u8>) -> Option<()> {
    let (int_part, frac) = match t.iter().position(|&c| c == b',') {
        Some(p) => (&t[..p], Some(&t[p + 1..])),
        None => (t, None),
    };
    let (neg, int_digits) = crate::values::split_sign(int_part);
    if neg {
        s.push(b'-');
    }
    if int_digits.is_empty() {
        s.push(b'0');
    } else if !crate::values::integer_digits(int_digits, b',', &mut |d| {
        s.push(b'0' + d);
        true
    }) {
        return None;
    }
    if let Some(f) = frac {
        if f.is_empty() && int_digits.is_empty() {
            return None;
        }
        if !f
            .iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b'e' | b'E' | b'-' | b'+'))
        {
            return None;
        }
        s.push(b'.');
        s.extend_from_slice(f);
    }
    Some(())
}

/// `[-+]digits[.digits]` (at least one digit, at most 19) as the nearest double. Inlined
/// into both callers: as a call it cost a tenth more per value (callgrind).
#[inline(always)]
pub(crate) fn fast_f64(t: &[u8]) -> Option<f64> {
    let (neg, body) = crate::values::split_sign(t);
    let (int, int_digits) = leading_digits(body)?;
    let (mantissa, digits, frac) = match body.get(int_digits) {
        None => (int, int_digits, None),
        Some(b'.') => {
            let rest = &body[int_digits + 1..];
            let (frac, frac_digits) = leading_digits(rest)?;
            if frac_digits != rest.len() || int_digits + frac_digits > MAX_DIGITS {
                return None;
            }
            // At most 19 digits in all: the mantissa fits.
            let mantissa = int * POW10_U64[frac_digits] + frac;
            (mantissa, int_digits + frac_digits, Some(frac_digits))
        }
        Some(_) => return None,
    };
    if digits == 0 {
        return None;
    }
    let scale = frac.unwrap_or(0);
    let v = if scale == 0 {
        // `as` rounds a u64 to the nearest double, ties to even.
        mantissa as f64
    } else if mantissa <= EXACT_MANTISSA {
        // Clinger's fast path: both operands exact, so one IEEE division rounds correctly.
        mantissa as f64 / POW10[scale]
    } else {
        exact_quotient(mantissa, POW10_U64[scale])
    };
    Some(if neg { -v } else { v })
}

/// `mantissa / divisor` rounded once to the nearest double (ties to even), for
/// `mantissa > 2^53` and `10 <= divisor < 2^64`: the quotient is computed in integers with
/// 64 or more bits, and the remainder decides the rounding together with the dropped bits.
fn exact_quotient(mantissa: u64, divisor: u64) -> f64 {
    // Put the mantissa's top bit at bit 127: the quotient then has at least 64 bits
    // (divisor < 2^64) and at most 125 (divisor >= 10).
    let shift = mantissa.leading_zeros() + 64;
    let n = (mantissa as u128) << shift;
    let (q, r) = (n / divisor as u128, n % divisor as u128);
    let excess = (128 - q.leading_zeros()) - 53;
    let mut kept = (q >> excess) as u64;
    let round_bit = (q >> (excess - 1)) & 1 == 1;
    let sticky = q & ((1u128 << (excess - 1)) - 1) != 0 || r != 0;
    let mut exponent = excess as i32 - shift as i32;
    if round_bit && (sticky || kept & 1 == 1) {
        kept += 1;
        if kept == EXACT_MANTISSA << 1 {
            kept >>= 1;
            exponent += 1;
        }
    }
    // |exponent| <= 127 here, so 2^exponent is a normal double and the product is exact.
    kept as f64 * f64::from_bits(((1023 + exponent) as u64) << 52)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same_as_std(text: &str) {
        let want: f64 = text.parse().unwrap();
        let got = fast_f64(text.as_bytes()).unwrap_or_else(|| panic!("{text}: refused"));
        assert_eq!(got.to_bits(), want.to_bits(), "{text}");
    }

    #[test]
    fn agrees_with_the_standard_parser_on_long_mantissas() {
        // xorshift over mantissas of 16 to 19 digits, every position of the point.
        let mut random = crate::stages::XorShift::new(0x2545_F491_4F6C_DD1D);
        for _ in 0..200_000 {
            let x = random.next_u64();
            let digits = (x % 10_000_000_000_000_000_000u64).to_string();
            let point = (x >> 59) as usize % (digits.len() + 1);
            let (int, frac) = digits.split_at(point);
            same_as_std(&format!("{int}.{frac}"));
            same_as_std(&format!("-{int}.{frac}"));
        }
    }

    #[test]
    fn edges_of_the_fast_paths() {
        for text in [
            "0",
            "-0",
            "-0.0",
            "0.",
            ".5",
            "+.5",
            "5.",
            "9007199254740992",
            "9007199254740993",
            "9007199254740993.0",
            "9007199254740995.0",
            "18446744073709551.61",
            "9999999999999999999",
            ".9999999999999999999",
            "1234.5678901234567",
            "0.1234567890123456",
            ".0000000000000000001",
            "1.0000000000000000",
            "2.5000000000000001",
            "4503599627370497.5",
            "4503599627370496.5",
            "9007199254740993.00",
        ] {
            same_as_std(text);
        }
        for text in [
            "",
            ".",
            "-",
            "1e3",
            "1.2.3",
            "1,5",
            "00000000000000000001.5",
            "inf",
        ] {
            assert_eq!(fast_f64(text.as_bytes()), None, "{text}");
        }
    }
}
