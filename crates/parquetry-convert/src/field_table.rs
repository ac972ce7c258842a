//! The fast path's tokenizer: a run of well-formed records into one table of field bounds,
//! `ncols` cells per record, for the columns to be typed one at a time afterwards.
//!
//! It reads fields exactly as [`crate::tokenize::Tokenizer::record`] does (the same quote
//! rules, the same `"text"` short form, the same CR before LF dropped), but only records that
//! need nothing else: it gives up (`None`) at a record with another number of fields, a blank
//! line, a comment line or a quoted section that never closes, and on files with an escape
//! byte. The caller then reads the chunk record by record, which handles all of those. Giving
//! up is cheap to get right: the table holds nothing the caller keeps.

use crate::scan::{from_bit, Specials};
use crate::tokenize::{Field, COMPLEX, QUOTED};

/// Chunks at or beyond this size are not tabled: a cell keeps its flags in the top two bits
/// of its end.
const MAX_DATA: usize = 1 << 30;
const END_MASK: u32 = (1 << 30) - 1;

/// One field: its byte range in the chunk and the tokenizer's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cell {
    start: u32,
    /// The end, with `QUOTED` and `COMPLEX` in bits 30 and 31.
    end_and_flags: u32,
}

impl From<Field> for Cell {
    /// Bounds below [`MAX_DATA`] (the table reads only such chunks).
    #[inline]
    fn from(f: Field) -> Cell {
        Cell {
            start: f.start as u32,
            end_and_flags: f.end as u32 | u32::from(f.flags) << 30,
        }
    }
}

impl Cell {
    #[inline]
    pub(crate) fn range(self) -> std::ops::Range<usize> {
        self.start as usize..(self.end_and_flags & END_MASK) as usize
    }

    /// The field started with a quote (`""` is an empty text, not a missing value).
    #[inline]
    pub(crate) fn quoted(self) -> bool {
        self.end_and_flags >> 30 & u32::from(QUOTED) != 0
    }

    /// The range still holds quotes to remove ([`crate::tokenize::Tokenizer::unescape`]).
    #[inline]
    pub(crate) fn complex(self) -> bool {
        self.end_and_flags >> 30 & u32::from(COMPLEX) != 0
    }
}

/// Splits well-formed records of one dialect into cells.
#[derive(Clone)]
pub(crate) struct TableTokenizer {
    specials: Specials,
    quote: u8,
    comment: Option<u8>,
}

/// The field being read.
struct Open {
    start: usize,
    flags: u8,
    /// Just after the quote that closed the field's quoted section.
    last_close: usize,
}

impl Open {
    fn at(start: usize) -> Open {
        Open {
            start,
            flags: 0,
            last_close: 0,
        }
    }

    /// The cell of the field ending at `end`, as the record tokenizer reads it.
    #[inline]
    fn cell(&self, end: usize) -> Cell {
        Cell::from(Field::closed(self.start, end, self.flags, self.last_close))
    }
}

impl TableTokenizer {
    /// `None` for dialects the table does not read (an escape byte).
    pub(crate) fn new(
        delimiter: u8,
        quote: u8,
        escape: Option<u8>,
        comment: Option<u8>,
    ) -> Option<TableTokenizer> {
        if escape.is_some() {
            return None;
        }
        Some(TableTokenizer {
            specials: Specials::new(delimiter, quote, None),
            quote,
            comment,
        })
    }

    /// Reads up to `max_rows` records from `pos` (a record start) into `cells`, `ncols` per
    /// record; returns the position after the last one read (`data.len()` at the end). `None`
    /// when a record is not one the table reads (see the module docs); `cells` is then
    /// meaningless.
    pub(crate) fn rows(
        &self,
        data: &[u8],
        pos: usize,
        ncols: usize,
        max_rows: usize,
        cells: &mut Vec<Cell>,
    ) -> Option<usize> {
        cells.clear();
        let len = data.len();
        if len >= MAX_DATA || ncols == 0 || self.is_comment(data, pos) {
            return None;
        }
        cells.reserve(max_rows.saturating_mul(ncols));
        let mut rows = 0usize;
        // Where the current record's cells start in `cells`.
        let mut record = 0usize;
        let mut field = Open::at(pos);
        let mut in_quote = false;
        let mut base = pos;
        // Bits of the next block below this offset were read already (a doubled quote
        // whose second half starts the block).
        let mut carry = 0u32;
        while base < len {
            let n = (len - base).min(64);
            let masks = self.specials.classify_table(&data[base..base + n]);
            let mut ends = masks.ends & from_bit(carry);
            let mut quotes = masks.quotes & from_bit(carry);
            carry = 0;
            loop {
                if in_quote {
                    if quotes == 0 {
                        break;
                    }
                    let at = base + quotes.trailing_zeros() as usize;
                    quotes &= quotes - 1;
                    if data.get(at + 1) == Some(&self.quote) {
                        // A doubled quote: a literal one, still inside.
                        field.flags |= COMPLEX;
                        if at + 1 - base == 64 {
                            carry = 1;
                        }
                        quotes &= quotes.wrapping_sub(1);
                        continue;
                    }
                    in_quote = false;
                    field.last_close = at + 1;
                    ends &= from_bit((at + 1 - base) as u32);
                    continue;
                }
                let end_bit = ends.trailing_zeros();
                if quotes.trailing_zeros() < end_bit {
                    let at = base + quotes.trailing_zeros() as usize;
                    quotes &= quotes - 1;
                    // A quote opens a quoted section only at the start of a field.
                    if at == field.start {
                        field.flags |= QUOTED;
                        in_quote = true;
                    }
                    continue;
                }
                if end_bit == 64 {
                    break;
                }
                ends &= ends - 1;
                let at = base + end_bit as usize;
                if masks.newlines >> end_bit & 1 == 0 {
                    cells.push(field.cell(at));
                    field = Open::at(at + 1);
                    continue;
                }
                let end = if at > field.start && data[at - 1] == b'\r' {
                    at - 1
                } else {
                    at
                };
                let blank = cells.len() == record && end == field.start && field.flags == 0;
                if cells.len() + 1 - record != ncols || blank {
                    return None;
                }
                cells.push(field.cell(end));
                record = cells.len();
                rows += 1;
                field = Open::at(at + 1);
                if rows == max_rows || at + 1 == len {
                    return Some(at + 1);
                }
                if self.is_comment(data, at + 1) {
                    return None;
                }
            }
            base += n;
        }
        // The last record has no line end.
        let blank = cells.len() == record && len == field.start && field.flags == 0;
        if in_quote || cells.len() + 1 - record != ncols || blank {
            return None;
        }
        cells.push(field.cell(len));
        Some(len)
    }

    #[inline]
    fn is_comment(&self, data: &[u8], pos: usize) -> bool {
        self.comment.is_some() && data.get(pos) == self.comment.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenize::{is_blank, Tokenizer};

    /// The table of `data` and the record-by-record tokenizer's fields, when the table reads
    /// it; `None` when it gives up.
    fn both(data: &[u8], ncols: usize, max_rows: usize) -> Option<(Vec<Cell>, Vec<Cell>)> {
        let table = TableTokenizer::new(b',', b'"', None, Some(b'#')).unwrap();
        let tok = Tokenizer::new(b',', b'"', None);
        let (mut got, mut cells, mut pos) = (Vec::new(), Vec::new(), 0);
        while pos < data.len() {
            pos = table.rows(data, pos, ncols, max_rows, &mut cells)?;
            got.extend_from_slice(&cells);
        }
        let (mut want, mut fields, mut pos) = (Vec::new(), Vec::new(), 0);
        while pos < data.len() {
            pos = tok.record(data, pos, &mut fields).ok()?;
            assert!(!is_blank(&fields) && fields.len() == ncols);
            want.extend(fields.iter().map(|&f| Cell::from(f)));
        }
        Some((got, want))
    }

    #[test]
    fn reads_fields_as_the_record_tokenizer_does() {
        let texts: &[&[u8]] = &[
            b"a,b\nc,d\n",
            b"a,b\r\nc,d",
            b"\"a,b\",\"x\"\"y\"\n\"\",z\n",
            b"TV 32\" LED,=\"0123\"\n\"ab\"c\"d,x\"\n",
            b"\"multi\nline\",2\n3,\"\"\"\"\n",
            b",\n,\r\n",
            b"\"a\",1\r\n\"b\"\r,c\n",
        ];
        for text in texts {
            for max_rows in [1, 2, 100] {
                let (got, want) = both(text, 2, max_rows).expect("a table");
                assert_eq!(got, want, "{}", String::from_utf8_lossy(text));
            }
        }
    }

    #[test]
    fn long_quoted_fields_across_blocks() {
        let mut text = Vec::new();
        for i in 0..50 {
            let inner = "x,\n\"\"".repeat(i * 3);
            text.extend_from_slice(format!("{i},\"{inner}\"\n").as_bytes());
        }
        let (got, want) = both(&text, 2, 7).expect("a table");
        assert_eq!(got, want);
    }

    #[test]
    fn gives_up_on_what_it_does_not_read() {
        let table = TableTokenizer::new(b',', b'"', None, Some(b'#')).unwrap();
        let mut cells = Vec::new();
        for text in [
            &b"a,b\nc\n"[..],
            b"a,b\nc,d,e\n",
            b"a,b\n\nc,d\n",
            b"a,b\n#note\n",
            b"a,\"b\n",
            b"a,b,\n",
        ] {
            let mut pos = 0;
            let gave_up = loop {
                match table.rows(text, pos, 2, 1, &mut cells) {
                    None => break true,
                    Some(p) if p == text.len() => break false,
                    Some(p) => pos = p,
                }
            };
            assert!(gave_up, "{}", String::from_utf8_lossy(text));
        }
        assert!(TableTokenizer::new(b',', b'"', Some(b'\\'), None).is_none());
        // A single column's blank line is a skipped line, not an empty value.
        assert_eq!(table.rows(b"\n", 0, 1, 10, &mut cells), None);
    }
}
