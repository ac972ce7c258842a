//! A quote-aware CSV tokenizer over an in-memory chunk of complete records.
//!
//! Quote rules (shared with the chunk splitter in `input.rs`), those of RFC 4180 made lenient
//! the way Python's `csv` module and the `csv` crate are: a quote opens a quoted section only at
//! the start of a field; inside it a doubled quote is a literal quote (or, with an escape byte,
//! the escaped quote) and a single one closes it. A quote anywhere else is an ordinary byte, so
//! `TV 32" LED` and `="0123"` are read as written, and `"ab"c"d` is `abc"d`.

use std::borrow::Cow;

use crate::scan::{Block, Specials};

/// The field started with a quote (so an empty value is `""`, not a missing one).
pub(crate) const QUOTED: u8 = 1;
/// The raw range holds quotes or escapes that must be removed (see [`Tokenizer::unescape`]).
pub(crate) const COMPLEX: u8 = 2;

/// One field of a record: a byte range of the chunk plus flags.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Field {
    pub start: usize,
    pub end: usize,
    pub flags: u8,
}

impl Field {
    /// The field read from `start` to `end` with `flags`, its quoted section (if any) closed
    /// just before `last_close`: `"text"` exactly points inside the quotes; any other quoted
    /// field keeps its raw bytes, flagged for [`Tokenizer::unescape`].
    #[inline]
    pub(crate) fn closed(start: usize, end: usize, flags: u8, last_close: usize) -> Field {
        if flags & QUOTED == 0 {
            Field { start, end, flags }
        } else if flags == QUOTED && last_close == end {
            Field {
                start: start + 1,
                end: end - 1,
                flags,
            }
        } else {
            Field {
                start,
                end,
                flags: flags | COMPLEX,
            }
        }
    }
}

/// The record could not be completed: a quoted section runs to the end of the data.
#[derive(Debug)]
pub(crate) struct Unterminated;

/// A tokenizer for one dialect.
#[derive(Clone)]
pub(crate) struct Tokenizer {
    delimiter: u8,
    quote: u8,
    escape: Option<u8>,
    specials: Specials,
}

impl Tokenizer {
    /// `escape` is `None` for doubled quotes, or the escaping byte (e.g. `\`).
    pub(crate) fn new(delimiter: u8, quote: u8, escape: Option<u8>) -> Self {
        Tokenizer {
            delimiter,
            quote,
            escape,
            specials: Specials::new(delimiter, quote, escape),
        }
    }

    /// Reads the record starting at `pos` into `fields`; returns the position after it.
    /// Blank lines come back as a single empty unquoted field (the caller skips them).
    pub(crate) fn record(
        &self,
        data: &[u8],
        mut pos: usize,
        fields: &mut Vec<Field>,
    ) -> Result<usize, Unterminated> {
        fields.clear();
        let len = data.len();
        // The classified 64 bytes around `pos`, kept from field to field of this record.
        let mut block = Block::empty();
        loop {
            let start = pos;
            let mut flags = 0u8;
            // Where the quoted section (if the field opened one) closed, to spot the simple
            // `"text"` form that needs no copy.
            let mut last_close = 0usize;
            loop {
                pos = self.specials.next(data, pos, &mut block);
                if pos >= len {
                    fields.push(Field::closed(start, len, flags, last_close));
                    return Ok(len);
                }
                let b = data[pos];
                if b == self.delimiter {
                    fields.push(Field::closed(start, pos, flags, last_close));
                    pos += 1;
                    break;
                }
                if b == b'\n' {
                    let end = if pos > start && data[pos - 1] == b'\r' {
                        pos - 1
                    } else {
                        pos
                    };
                    fields.push(Field::closed(start, end, flags, last_close));
                    return Ok(pos + 1);
                }
                if b == self.quote {
                    if pos != start {
                        // Not at the start of the field: an ordinary byte.
                        pos += 1;
                        continue;
                    }
                    flags |= QUOTED;
                    pos += 1;
                    loop {
                        let next = match self.escape {
                            None => memchr::memchr(self.quote, &data[pos..]),
                            Some(e) => memchr::memchr2(self.quote, e, &data[pos..]),
                        };
                        let Some(off) = next else {
                            return Err(Unterminated);
                        };
                        let at = pos + off;
                        if data[at] != self.quote {
                            // An escape: skip it and the byte it protects.
                            flags |= COMPLEX;
                            pos = at + 2;
                            if pos > len {
                                return Err(Unterminated);
                            }
                            continue;
                        }
                        if self.escape.is_none() && at + 1 < len && data[at + 1] == self.quote {
                            flags |= COMPLEX;
                            pos = at + 2;
                            continue;
                        }
                        pos = at + 1;
                        last_close = pos;
                        break;
                    }
                    continue;
                }
                // The escape byte outside quotes protects the next byte too.
                flags |= COMPLEX;
                pos = (pos + 2).min(len);
            }
        }
    }

    /// The bytes of a field, with quotes and escapes removed when needed.
    #[inline]
    pub(crate) fn value<'a>(
        &self,
        data: &'a [u8],
        f: &Field,
        scratch: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        self.bytes(&data[f.start..f.end], f.flags & COMPLEX != 0, scratch)
    }

    /// [`Self::value`] without a scratch buffer: borrowed from `data` unless quotes or
    /// escapes had to be removed (for values kept beyond the next field, as a sample's).
    pub(crate) fn value_of<'a>(&self, data: &'a [u8], f: &Field) -> Cow<'a, [u8]> {
        let raw = &data[f.start..f.end];
        if f.flags & COMPLEX == 0 {
            return Cow::Borrowed(raw);
        }
        let mut unescaped = Vec::new();
        self.unescape(raw, &mut unescaped);
        Cow::Owned(unescaped)
    }

    /// The bytes of the `raw` range of a field, unescaped into `scratch` when `complex`.
    #[inline]
    pub(crate) fn bytes<'a>(
        &self,
        raw: &'a [u8],
        complex: bool,
        scratch: &'a mut Vec<u8>,
    ) -> &'a [u8] {
        if !complex {
            return raw;
        }
        scratch.clear();
        self.unescape(raw, scratch);
        scratch
    }

    /// Removes the quoting of a raw field (see the module docs for the rules).
    pub(crate) fn unescape(&self, raw: &[u8], out: &mut Vec<u8>) {
        let mut inside = raw.first() == Some(&self.quote);
        let mut i = usize::from(inside);
        while i < raw.len() {
            let b = raw[i];
            if Some(b) == self.escape && i + 1 < raw.len() {
                out.push(raw[i + 1]);
                i += 2;
                continue;
            }
            if inside && b == self.quote {
                if self.escape.is_none() && raw.get(i + 1) == Some(&self.quote) {
                    out.push(b);
                    i += 2;
                    continue;
                }
                inside = false;
                i += 1;
                continue;
            }
            out.push(b);
            i += 1;
        }
    }
}

/// True for a record that is an empty line (skipped everywhere).
pub(crate) fn is_blank(fields: &[Field]) -> bool {
    fields.len() == 1 && fields[0].start == fields[0].end && fields[0].flags == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(t: &Tokenizer, data: &[u8]) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        let mut pos = 0;
        let mut f = Vec::new();
        let mut scratch = Vec::new();
        while pos < data.len() {
            pos = t.record(data, pos, &mut f).unwrap();
            out.push(
                f.iter()
                    .map(|x| String::from_utf8(t.value(data, x, &mut scratch).to_vec()).unwrap())
                    .collect(),
            );
        }
        out
    }

    #[test]
    fn rfc4180() {
        let t = Tokenizer::new(b',', b'"', None);
        let got = fields(&t, b"a,\"b,c\",\"d\"\"e\"\r\n\"x\ny\",,\"\"\n");
        assert_eq!(got, vec![vec!["a", "b,c", "d\"e"], vec!["x\ny", "", ""]]);
    }

    #[test]
    fn backslash_escape() {
        let t = Tokenizer::new(b';', b'"', Some(b'\\'));
        let got = fields(&t, b"\"a\\\"b\";c\n");
        assert_eq!(got, vec![vec!["a\"b", "c"]]);
    }

    #[test]
    fn quotes_inside_unquoted_fields_are_text() {
        let t = Tokenizer::new(b';', b'"', None);
        let got = fields(&t, b"1;TV 32\" LED;=\"0123\"\n2;\"ab\"c\"d;x\"\n");
        assert_eq!(
            got,
            vec![
                vec!["1", "TV 32\" LED", "=\"0123\""],
                vec!["2", "abc\"d", "x\""]
            ]
        );
    }

    #[test]
    fn unterminated() {
        let t = Tokenizer::new(b',', b'"', None);
        assert!(t.record(b"a,\"bc\n", 0, &mut Vec::new()).is_err());
    }
}
