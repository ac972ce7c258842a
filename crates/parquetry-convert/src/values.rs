//! Fast parsers for typed cell values. They take raw UTF-8 bytes and return `None` when the
//! text is not a value of the type, so callers decide between widening and failing.

pub(crate) use crate::float::parse_f64;

/// Trims ASCII spaces and tabs, which spreadsheets often leave around numbers.
pub(crate) fn trim(b: &[u8]) -> &[u8] {
    let mut s = 0;
    let mut e = b.len();
    while s < e && (b[s] == b' ' || b[s] == b'\t') {
        s += 1;
    }
    while e > s && (b[e - 1] == b' ' || b[e - 1] == b'\t') {
        e -= 1;
    }
    &b[s..e]
}

pub(crate) fn split_sign(b: &[u8]) -> (bool, &[u8]) {
    match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    }
}

/// True for `0` followed by another digit (`007`): such columns are identifiers, not numbers.
pub(crate) fn has_leading_zero(t: &[u8]) -> bool {
    let (_, d) = split_sign(t);
    d.len() > 1 && d[0] == b'0' && d[1].is_ascii_digit()
}

/// Appends the digits of an integer part to `out`, accepting `.` thousands groups when the
/// decimal separator is `,` (`1.234.567`). Returns false on a malformed grouping.
pub(crate) fn integer_digits(b: &[u8], decimal: u8, out: &mut impl FnMut(u8) -> bool) -> bool {
    if b.is_empty() {
        return false;
    }
    let grouped = decimal == b',' && b.contains(&b'.');
    if !grouped {
        return b.iter().all(|&c| c.is_ascii_digit() && out(c - b'0'));
    }
    for (i, group) in b.split(|&c| c == b'.').enumerate() {
        let ok_len = if i == 0 {
            (1..=3).contains(&group.len())
        } else {
            group.len() == 3
        };
        if !ok_len || !group.iter().all(|&c| c.is_ascii_digit() && out(c - b'0')) {
            return false;
        }
    }
    true
}

/// True for `[-+]digits` (no separators): an integer whatever its size.
pub(crate) fn is_big_int(t: &[u8]) -> bool {
    let (_, d) = split_sign(t);
    !d.is_empty() && d.iter().all(u8::is_ascii_digit)
}

/// Parses an integer; with `decimal == b','`, `.` thousands separators are allowed.
pub(crate) fn parse_i64(b: &[u8], decimal: u8) -> Option<i64> {
    let (neg, digits) = split_sign(trim(b));
    // Up to 18 digits cannot overflow, so plain digits need no checked arithmetic.
    if !digits.is_empty() && digits.len() <= 18 {
        if let Some((v, n)) = crate::digits::leading_digits(digits) {
            if n == digits.len() {
                let v = v as i64;
                return Some(if neg { -v } else { v });
            }
        }
    }
    // Fast path: plain digits, the overwhelmingly common case.
    let mut v: i64 = 0;
    let mut ok = true;
    let accepted = integer_digits(digits, decimal, &mut |d| {
        match v.checked_mul(10).and_then(|x| {
            if neg {
                x.checked_sub(d as i64)
            } else {
                x.checked_add(d as i64)
            }
        }) {
            Some(n) => v = n,
            None => ok = false,
        }
        ok
    });
    (accepted && ok).then_some(v)
}

/// Parses common boolean spellings (case-insensitive): true/false, yes/no, sim/não.
/// `0`/`1` are deliberately not booleans: such columns stay integers.
pub(crate) fn parse_bool(b: &[u8]) -> Option<bool> {
    let t = trim(b);
    // The spellings of most files, before the case-insensitive match.
    match t {
        b"true" => return Some(true),
        b"false" => return Some(false),
        _ => {}
    }
    if t.len() > 5 {
        return None;
    }
    let mut buf = [0u8; 5];
    for (d, s) in buf.iter_mut().zip(t) {
        *d = s.to_ascii_lowercase();
    }
    match &buf[..t.len()] {
        b"true" | b"yes" | b"sim" => Some(true),
        b"false" | b"no" | b"nao" => Some(false),
        // "não" and "NÃO" in UTF-8.
        [b'n', 0xc3, 0xa3 | 0x83, b'o'] => Some(false),
        _ => None,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date, `None` if the date does not exist.
#[inline]
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> Option<i32> {
    /// Days of a common year before each month.
    const BEFORE: [u16; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let month_days: u32 = match m {
        2 => 28 + u32::from(leap),
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    if d > month_days {
        return None;
    }
    let in_year = u32::from(BEFORE[m as usize - 1]) + u32::from(m > 2 && leap) + d - 1;
    if (1..=9999).contains(&y) {
        // Four-digit years, as dates are written: unsigned division by constants is a
        // multiplication, where the signed floor division below is not.
        let before = y as u32 - 1;
        let leap_days = before / 4 - before / 100 + before / 400;
        let days = before as i32 * 365 + leap_days as i32 + in_year as i32;
        return Some(days - 719_162); // days from 0001-01-01 to 1970-01-01
    }
    // Leap days of the years before `y`, less the 477 before 1970.
    let before = y - 1;
    let leap_days = before.div_euclid(4) - before.div_euclid(100) + before.div_euclid(400) - 477;
    i32::try_from((y - 1970) * 365 + leap_days + i64::from(in_year)).ok()
}

fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// `YYYY-MM-DD`.
pub(crate) fn parse_iso_date(b: &[u8]) -> Option<i32> {
    let t: &[u8; 10] = trim(b).try_into().ok()?;
    if t[4] != b'-' || t[7] != b'-' {
        return None;
    }
    let year = two_digits(&t[0..2])? * 100 + two_digits(&t[2..4])?;
    days_from_civil(year as i64, two_digits(&t[5..7])?, two_digits(&t[8..10])?)
}

/// Exactly two ASCII digits, without the loop of [`num`]: dates and times are made of them.
#[inline]
fn two_digits(b: &[u8]) -> Option<u32> {
    let (hi, lo) = (b[0].wrapping_sub(b'0'), b[1].wrapping_sub(b'0'));
    (hi <= 9 && lo <= 9).then_some(hi as u32 * 10 + lo as u32)
}

/// Splits `a/b/yyyy` (also with `.` or `-`) into its three numbers.
pub(crate) fn split_slash_date(b: &[u8]) -> Option<(u32, u32, i64)> {
    let t = trim(b);
    if t.len() < 8 || t.len() > 10 {
        return None;
    }
    let sep = *t.iter().find(|c| !c.is_ascii_digit())?;
    if !matches!(sep, b'/' | b'.' | b'-') {
        return None;
    }
    let mut parts = t.split(|&c| c == sep);
    let a = parts.next()?;
    let m = parts.next()?;
    let y = parts.next()?;
    if parts.next().is_some() || a.len() > 2 || m.len() > 2 || y.len() != 4 {
        return None;
    }
    Some((num(a)?, num(m)?, num(y)? as i64))
}

/// `dd/mm/yyyy` (when `day_first`) or `mm/dd/yyyy`.
pub(crate) fn parse_slash_date(b: &[u8], day_first: bool) -> Option<i32> {
    let (a, m, y) = split_slash_date(b)?;
    if day_first {
        days_from_civil(y, m, a)
    } else {
        days_from_civil(y, a, m)
    }
}

/// An ISO 8601 timestamp (`T` or space separator, optional seconds and fraction, optional
/// `Z`/`±HH[:MM]` offset) or a bare date (midnight). Returns microseconds since the epoch of
/// the local time and the offset in seconds when one was given; with an offset the value is
/// already normalised to UTC.
pub(crate) fn parse_iso_timestamp(b: &[u8]) -> Option<(i64, Option<i32>)> {
    let t = trim(b);
    if t.len() < 10 {
        return None;
    }
    date_and_time(parse_iso_date(&t[..10])?, &t[10..])
}

/// `dd/mm/yyyy hh:mm[:ss[.frac]]` (when `day_first`) or `mm/dd/yyyy …`, as spreadsheets and
/// Brazilian government systems write them; a bare date is midnight. Such files write local
/// times, so an offset is not accepted.
pub(crate) fn parse_slash_timestamp(b: &[u8], day_first: bool) -> Option<i64> {
    let t = trim(b);
    let date_end = t
        .iter()
        .position(|&c| c == b' ' || c == b'T')
        .unwrap_or(t.len());
    let days = parse_slash_date(&t[..date_end], day_first)?;
    match date_and_time(days, &t[date_end..])? {
        (micros, None) => Some(micros),
        (_, Some(_)) => None,
    }
}

/// A day plus the rest of a timestamp after its date (`T`/space, time, optional offset).
fn date_and_time(days: i32, rest: &[u8]) -> Option<(i64, Option<i32>)> {
    let mut micros = days as i64 * 86_400_000_000;
    if rest.is_empty() {
        return Some((micros, None));
    }
    if let Some((of_day, offset)) = millis_with_offset(rest) {
        return Some((micros + of_day - offset as i64 * 1_000_000, Some(offset)));
    }
    if !(rest[0] == b'T' || rest[0] == b' ') || rest.len() < 6 || rest[3] != b':' {
        return None;
    }
    let hh = two_digits(&rest[1..3])?;
    let mm = two_digits(&rest[4..6])?;
    let mut i = 6;
    let mut ss = 0;
    if rest.len() >= 9 && rest[6] == b':' {
        ss = two_digits(&rest[7..9])?;
        i = 9;
    }
    let mut frac_us: i64 = 0;
    if i < rest.len() && (rest[i] == b'.' || rest[i] == b',') {
        i += 1;
        let start = i;
        let mut scale = 100_000i64;
        while i < rest.len() && rest[i].is_ascii_digit() {
            frac_us += (rest[i] - b'0') as i64 * scale;
            scale /= 10;
            i += 1;
        }
        if i == start || i - start > 9 {
            return None;
        }
    }
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    micros += ((hh * 3600 + mm * 60 + ss) as i64) * 1_000_000 + frac_us;
    let tz = &rest[i..];
    let tz = if tz.first() == Some(&b' ') {
        &tz[1..]
    } else {
        tz
    };
    if tz.is_empty() {
        return Some((micros, None));
    }
    let offset: i32 = match tz {
        b"Z" | b"z" | b"UTC" => 0,
        _ => {
            let neg = match tz[0] {
                b'+' => false,
                b'-' => true,
                _ => return None,
            };
            let d = &tz[1..];
            let (h, m) = match d.len() {
                2 => (num(d)?, 0),
                4 => (two_digits(&d[..2])?, two_digits(&d[2..])?),
                5 if d[2] == b':' => (two_digits(&d[..2])?, two_digits(&d[3..])?),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let s = (h * 3600 + m * 60) as i32;
            if neg {
                -s
            } else {
                s
            }
        }
    };
    Some((micros - offset as i64 * 1_000_000, Some(offset)))
}

/// `THH:MM:SS.mmm±HH:MM` (or with a space for `T`), the form most exports write, without the
/// loops of the general parser: microseconds of the day and the offset in seconds. `None`
/// leaves anything else, invalid values included, to the general parser.
#[inline]
fn millis_with_offset(rest: &[u8]) -> Option<(i64, i32)> {
    let r: &[u8; 19] = rest.try_into().ok()?;
    if !matches!(r[0], b'T' | b' ') || r[3] != b':' || r[6] != b':' || r[9] != b'.' {
        return None;
    }
    let negative = match r[13] {
        b'+' => false,
        b'-' => true,
        _ => return None,
    };
    if r[16] != b':' {
        return None;
    }
    let (hh, mm, ss) = (
        two_digits(&r[1..3])?,
        two_digits(&r[4..6])?,
        two_digits(&r[7..9])?,
    );
    let millis = two_digits(&r[10..12])? * 10 + two_digits(&[b'0', r[12]])?;
    let (oh, om) = (two_digits(&r[14..16])?, two_digits(&r[17..19])?);
    if hh > 23 || mm > 59 || ss > 60 || oh > 23 || om > 59 {
        return None;
    }
    let of_day = (hh * 3600 + mm * 60 + ss) as i64 * 1_000_000 + millis as i64 * 1000;
    let offset = (oh * 3600 + om * 60) as i32;
    Some((of_day, if negative { -offset } else { offset }))
}

/// Parses a decimal into its unscaled integer for `Decimal128(precision, scale)`. Digits beyond
/// the scale must be zeros: silently rounding money is worse than an error.
pub(crate) fn parse_decimal(b: &[u8], precision: u8, scale: i8, decimal: u8) -> Option<i128> {
    let t = trim(b);
    let (neg, body) = split_sign(t);
    let (int_part, frac) = match body.iter().position(|&c| c == decimal) {
        Some(p) => (&body[..p], &body[p + 1..]),
        None => (body, &b""[..]),
    };
    if int_part.is_empty() && frac.is_empty() {
        return None;
    }
    let mut v: i128 = 0;
    let mut digits = 0u32;
    let mut push = |d: u8| -> bool {
        // 39 digits overflow i128 before the digit count below can refuse them.
        match v.checked_mul(10).and_then(|x| x.checked_add(d as i128)) {
            Some(x) => v = x,
            None => return false,
        }
        if v != 0 {
            digits += 1;
        }
        digits <= 38
    };
    if !int_part.is_empty() && !integer_digits(int_part, decimal, &mut push) {
        return None;
    }
    let scale = scale.max(0) as usize;
    for (i, &c) in frac.iter().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        if i >= scale {
            if c != b'0' {
                return None;
            }
        } else if !push(c - b'0') {
            return None;
        }
    }
    for _ in frac.len()..scale {
        if !push(0) {
            return None;
        }
    }
    if digits > precision as u32 {
        return None;
    }
    Some(if neg { -v } else { v })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(parse_i64(b"-12", b'.'), Some(-12));
        assert_eq!(parse_i64(b"1.234", b','), Some(1234));
        assert_eq!(parse_i64(b"1.234", b'.'), None);
        assert_eq!(parse_i64(b"9223372036854775808", b'.'), None);
        assert_eq!(parse_i64(b"-9223372036854775808", b'.'), Some(i64::MIN));
        assert_eq!(parse_f64(b"1.234,56", b','), Some(1234.56));
        assert_eq!(parse_f64(b"-0,5", b','), Some(-0.5));
        assert_eq!(parse_f64(b"1e3", b'.'), Some(1000.0));
        assert_eq!(parse_f64(b"inf", b'.'), None);
        assert_eq!(parse_f64(b"19.99", b'.'), Some(19.99));
        assert_eq!(parse_f64(b"-.5", b'.'), Some(-0.5));
        assert_eq!(parse_f64(b"5.", b'.'), Some(5.0));
        assert_eq!(parse_f64(b".", b'.'), None);
        assert_eq!(
            parse_f64(b"0.1234567890123456", b'.'),
            Some(0.1234567890123456)
        );
        assert_eq!(
            parse_f64(b"1234.5678901234567", b'.'),
            Some(1234.5678901234567)
        );
        assert_eq!(parse_decimal(b"1.234,50", 12, 2, b','), Some(123450));
        assert_eq!(parse_decimal(b"19.99", 4, 2, b'.'), Some(1999));
        assert_eq!(parse_decimal(b"19.999", 12, 2, b'.'), None);
        assert_eq!(parse_decimal(b"199.99", 4, 2, b'.'), None);
        assert_eq!(parse_decimal(&[b'9'; 44], 38, 0, b'.'), None);
    }

    /// Every day of years -400..=2800 (and the non-days around month ends) as chrono has it.
    #[test]
    fn days_from_civil_agrees_with_chrono() {
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        for y in (-400..=2800i32).chain(9990..=10_010) {
            for m in 0..=13u32 {
                for d in 0..=32u32 {
                    let want = chrono::NaiveDate::from_ymd_opt(y, m, d)
                        .map(|date| (date - epoch).num_days() as i32);
                    assert_eq!(days_from_civil(i64::from(y), m, d), want, "{y}-{m}-{d}");
                }
            }
        }
    }

    /// The fixed-layout path of `THH:MM:SS.mmm±HH:MM` agrees with chrono's RFC 3339 reading,
    /// with `T` or a space, and leaves out-of-range fields to the general parser (`None`).
    #[test]
    fn timestamps_with_millis_and_offsets_agree_with_chrono() {
        let mut random = crate::stages::XorShift::new(0x9E37_79B9_7F4A_7C15);
        let mut next = |n: u64| random.below(n);
        for _ in 0..20_000 {
            let (sign, oh, om) = (
                ["+", "-"][next(2) as usize],
                next(24),
                [0, 30, 45][next(3) as usize],
            );
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{sign}{oh:02}:{om:02}",
                1900 + next(200),
                1 + next(12),
                1 + next(28),
                next(24),
                next(60),
                next(60),
                next(1000)
            );
            let want = chrono::DateTime::parse_from_rfc3339(&text).unwrap();
            let got = parse_iso_timestamp(text.as_bytes()).unwrap();
            assert_eq!(
                got,
                (
                    want.timestamp_micros(),
                    Some(want.offset().local_minus_utc())
                ),
                "{text}"
            );
            assert_eq!(
                parse_iso_timestamp(text.replacen('T', " ", 1).as_bytes()),
                Some(got)
            );
        }
        for bad in [
            "T24:00:00.000+00:00",
            "T23:60:00.000+00:00",
            "T23:00:00.000+24:00",
            "T23:00:00.00a+00:00",
            "T23:00:00.000*00:00",
        ] {
            assert_eq!(millis_with_offset(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn decimal_comma_floats_read_as_their_dot_form() {
        for (comma, dot) in [
            ("1.234,56", "1234.56"),
            ("-0,5", "-0.5"),
            (",5", "0.5"),
            ("12.345.678,9", "12345678.9"),
            ("1,5e3", "1.5e3"),
            ("2036,136916718551234", "2036.136916718551234"),
        ] {
            assert_eq!(
                parse_f64(comma.as_bytes(), b','),
                Some(dot.parse().unwrap()),
                "{comma}"
            );
        }
        for bad in ["1.23,4", "1,2,3", ",", "-,", "12.34"] {
            assert_eq!(parse_f64(bad.as_bytes(), b','), None, "{bad}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(parse_iso_date(b"1970-01-02"), Some(1));
        assert_eq!(parse_iso_date(b"2023-02-29"), None);
        assert_eq!(parse_slash_date(b"31/12/1969", true), Some(-1));
        let (us, off) = parse_iso_timestamp(b"2023-05-17T13:45:12.123+02:00").unwrap();
        assert_eq!(off, Some(7200));
        assert_eq!(us, 1_684_323_912_123_000);
        assert_eq!(
            parse_iso_timestamp(b"1970-01-01 00:00:01").unwrap(),
            (1_000_000, None)
        );
        assert_eq!(
            parse_slash_timestamp(b"02/01/1970 00:00:01", true),
            Some(86_401_000_000)
        );
        assert_eq!(
            parse_slash_timestamp(b"01/02/1970 00:01", false),
            Some(86_460_000_000)
        );
        assert_eq!(
            parse_slash_timestamp(b"31/12/1969", true),
            Some(-86_400_000_000)
        );
        assert_eq!(parse_slash_timestamp(b"13/01/2024 10:00", false), None);
        assert_eq!(parse_slash_timestamp(b"13/01/2024 10:00+02:00", true), None);
        assert_eq!(parse_slash_timestamp(b"13/01/2024 25:00", true), None);
    }
}
