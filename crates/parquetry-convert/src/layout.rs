//! Where the table sits in the file: the lines before it (titles, notes, `Fonte:` lines,
//! metadata such as `REGIAO:;SUL`, a leading block of `#` comments), a header one field
//! short of the rows (a row-name column with no name), the lines after it (a footer), and
//! line ends (CR-only files).
//!
//! Public-data publishers put such lines around their tables; none of them is a row. The
//! table is the longest regular run of records: the field count most records share.

use crate::tokenize::{is_blank, Field, Tokenizer};

/// A detected table never starts further down than this many records: a run of regular
/// records that only begins deep in the sample is data with odd rows, not a preamble.
const MAX_PREAMBLE_RECORDS: usize = 50;
/// At most this many lines after the last row are dropped as a footer; more lines that do
/// not fit the table are errors (or rejects), never silently gone.
pub(crate) const MAX_FOOTER_LINES: usize = 20;
/// Longest text of a skipped line kept for the report.
const SHOWN_CHARS: usize = 120;

/// A record of the sample: where it starts and its fields.
pub(crate) struct Record {
    pub start: usize,
    pub fields: Vec<Field>,
}

/// Non-blank records of `text` (at most `max`), without the lines that start with
/// `comment`; a record cut by the end of the text ends the list.
pub(crate) fn records(t: &Tokenizer, text: &[u8], max: usize, comment: Option<u8>) -> Vec<Record> {
    let mut out = Vec::new();
    let mut pos = 0;
    // Tokenized into one buffer, then copied at its size: a record's own vector grown field
    // by field was reallocated three or four times (a tenth of detection).
    let mut fields = Vec::new();
    while pos < text.len() && out.len() < max {
        let start = pos;
        if comment.is_some() && text.get(pos) == comment.as_ref() {
            pos = memchr::memchr(b'\n', &text[pos..]).map_or(text.len(), |end| pos + end + 1);
            continue;
        }
        match t.record(text, pos, &mut fields) {
            Ok(next) => pos = next,
            Err(_) => break,
        }
        if !is_blank(&fields) {
            out.push(Record {
                start,
                fields: fields.clone(),
            });
        }
    }
    out
}

/// The shape of the table under one dialect.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Shape {
    /// Index of the table's first record (its header, when it has one).
    pub first: usize,
    /// Fields of the table's rows.
    pub fields: usize,
    /// Share of the records (a footer left out) that have `fields` fields.
    pub share: f64,
    /// The first record has one field fewer than the rows: a header without a name for
    /// the first (row-name) column.
    pub header_short: bool,
}

/// Finds the table among `recs`: its field count is the one of the largest block of
/// consecutive records that share a count (size = records × fields, so six two-field
/// metadata lines do not outweigh a four-column table of four rows), and it starts at the
/// first record that has that count.
pub(crate) fn shape(recs: &[Record], text: &[u8]) -> Shape {
    let Some(fields) = table_width(recs) else {
        return Shape {
            first: 0,
            fields: 0,
            share: 0.0,
            header_short: false,
        };
    };
    // The first record with the table's width starts it: a ragged row near the top then
    // stays a row (an error or a reject), never a silently skipped line.
    // Rows that all end with a delimiter the header lacks (`1;2;3;` under `a;b;c`) are as
    // wide as the header.
    let trailing = fields > 1 && last_field_always_empty(recs, fields);
    let fits = |r: &Record| r.fields.len() == fields || (trailing && r.fields.len() + 1 == fields);
    let mut first = recs
        .iter()
        .take(MAX_PREAMBLE_RECORDS)
        .position(fits)
        .unwrap_or(0);
    // A short header sits right above a row of data (numbers after the row name); a
    // metadata line above the real header (names) does not.
    let header_short = first > 0
        && fields >= 3
        && recs[first - 1].fields.len() == fields - 1
        && has_number(&recs[first], text)
        && !trailing;
    if header_short {
        first -= 1;
    }
    // Lines before the table count against a dialect (so one that reads the header as a
    // preamble loses to one that reads it as the header); a short footer (`Fonte: IBGE`)
    // does not.
    let mut tail = recs;
    let footer = tail
        .iter()
        .rev()
        .take_while(|r| r.fields.len() < fields && !fits(r))
        .count();
    if footer <= MAX_FOOTER_LINES && footer < tail.len() {
        tail = &tail[..tail.len() - footer];
    }
    let fitting = tail.iter().filter(|r| fits(r)).count() + header_short as usize;
    Shape {
        first,
        fields,
        share: fitting as f64 / tail.len() as f64,
        header_short,
    }
}

/// True when a field of `r` after the first is a plain number (`12`, `-3.5`, `2,5`).
fn has_number(r: &Record, text: &[u8]) -> bool {
    r.fields.iter().skip(1).any(|f| {
        let v = text[f.start..f.end].trim_ascii();
        let digits = v.iter().filter(|b| b.is_ascii_digit()).count();
        digits > 0
            && v.iter()
                .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b','))
    })
}

/// The field count of the largest block of consecutive records sharing one (ties: the
/// earlier block); `None` without records.
fn table_width(recs: &[Record]) -> Option<usize> {
    let mut best: Option<(usize, usize)> = None;
    let mut i = 0;
    while i < recs.len() {
        let n = recs[i].fields.len();
        let run = recs[i..].iter().take_while(|r| r.fields.len() == n).count();
        let size = run * n;
        if best.is_none_or(|(s, _)| size > s) {
            best = Some((size, n));
        }
        i += run;
    }
    best.map(|(_, n)| n)
}

/// Rows that all end with an empty field (`1;2;3;`): exports that end every row with the
/// delimiter, under a header without it. That is not a header one field short.
fn last_field_always_empty(recs: &[Record], fields: usize) -> bool {
    recs.iter()
        .filter(|r| r.fields.len() == fields)
        .all(|r| r.fields[fields - 1].start == r.fields[fields - 1].end)
}

/// Length of the leading block of lines that start with `comment` (blank lines between
/// them included), in bytes and lines.
pub(crate) fn leading_comments(text: &[u8], comment: u8) -> (usize, u64) {
    let (mut pos, mut lines) = (0, 0);
    loop {
        let rest = &text[pos..];
        let blank = rest.first().is_some_and(|&b| b == b'\n' || b == b'\r');
        if !(rest.first() == Some(&comment) || (blank && lines > 0)) {
            break;
        }
        match memchr::memchr(b'\n', rest) {
            Some(end) => {
                pos += end + 1;
                lines += 1;
            }
            None => break,
        }
    }
    (pos, lines)
}

/// Byte length of the first `n` lines of `text` (all of it when it has fewer).
pub(crate) fn lines_len(text: &[u8], n: u64) -> usize {
    let mut pos = 0;
    for _ in 0..n {
        match memchr::memchr(b'\n', &text[pos..]) {
            Some(end) => pos += end + 1,
            None => return text.len(),
        }
    }
    pos
}

/// A skipped line as the report shows it: without its line end, at most
/// [`SHOWN_CHARS`] characters.
pub(crate) fn shown(line: &[u8]) -> String {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text = String::from_utf8_lossy(line);
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.into_owned(),
    }
}

/// The first non-blank line of `text`, shown.
pub(crate) fn first_nonblank_line(text: &[u8]) -> Option<String> {
    text.split(|&b| b == b'\n')
        .find(|l| !l.iter().all(|b| b.is_ascii_whitespace()))
        .map(shown)
}

/// Whether the line ends of a sample call for reading a lone CR as a line end: a file with
/// CR line ends only (old Mac, some Excel exports), or one mixing CR and LF lines. CRs inside
/// quoted values (`"a\rb"`) are not line ends and are not counted; the dialect is not known
/// yet, so a quote opens a value after a line end or any candidate delimiter, as the
/// tokenizer's rule would have it.
pub(crate) fn lone_cr_line_ends(sample: &[u8]) -> bool {
    // Without a CR before anything but an LF there is nothing to count, quoted or not: most
    // files, whose sample is then not walked a byte at a time (a fifth of detection).
    let lone = |i: usize| sample.get(i + 1).is_some_and(|&next| next != b'\n');
    if !memchr::memchr_iter(b'\r', sample).any(lone) {
        return false;
    }
    let (mut inside, mut lf, mut lone_cr) = (false, 0usize, 0usize);
    let mut prev = b'\n';
    let mut i = 0;
    while i < sample.len() {
        let b = sample[i];
        let next = sample.get(i + 1).copied();
        if inside {
            if b == b'"' && next == Some(b'"') {
                i += 1;
            } else if b == b'"' {
                inside = false;
            }
        } else if b == b'"' && matches!(prev, b'\n' | b'\r' | b',' | b';' | b'\t' | b'|') {
            inside = true;
        } else if b == b'\n' {
            lf += 1;
        } else if b == b'\r' && next.is_some_and(|n| n != b'\n') {
            lone_cr += 1;
        }
        prev = b;
        i += 1;
    }
    lone_cr > 0 && (lf == 0 || lone_cr * 20 >= lf)
}

/// Rewrites line ends from `from` on: CRLF and lone CR become LF. `held_cr` carries a CR
/// that ended the previous block (its LF, if any, starts this one).
pub(crate) fn normalise_line_ends(buf: &mut Vec<u8>, from: usize, held_cr: &mut bool) {
    let mut write = from;
    let mut read = from;
    if *held_cr && buf.get(read) == Some(&b'\n') {
        read += 1;
    }
    *held_cr = false;
    while read < buf.len() {
        let b = buf[read];
        read += 1;
        if b == b'\r' {
            if read == buf.len() {
                *held_cr = true;
            } else if buf[read] == b'\n' {
                read += 1;
            }
            buf[write] = b'\n';
        } else {
            buf[write] = b;
        }
        write += 1;
    }
    buf.truncate(write);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(text: &str, delimiter: u8) -> Shape {
        let t = Tokenizer::new(delimiter, b'"', None);
        shape(&records(&t, text.as_bytes(), 500, None), text.as_bytes())
    }

    #[test]
    fn title_and_source_lines_come_before_the_table() {
        let s = shape_of(
            "Relatório gerado em 01/02/2024\nFonte: CVM\n\nCNPJ;NOME;VALOR\n1;Banco;1,5\n2;X;3\n",
            b';',
        );
        assert_eq!((s.first, s.fields, s.share), (2, 3, 0.6));
    }

    #[test]
    fn metadata_lines_with_fewer_fields_are_skipped() {
        let s = shape_of(
            "REGIAO:;SUL\nUF:;RS\nDATA;HORA;TEMP\n1;2;3\n4;5;6\n7;8;9\n",
            b';',
        );
        assert_eq!((s.first, s.fields), (2, 3));
    }

    #[test]
    fn a_header_one_field_short_starts_the_table() {
        let s = shape_of("a,b\nr1,1,2\nr2,3,4\nr3,5,6\n", b',');
        assert_eq!((s.first, s.fields, s.header_short), (0, 3, true));
        let trailing = shape_of("a,b\n1,2,\n3,4,\n5,6,\n", b',');
        assert!(!trailing.header_short);
    }

    #[test]
    fn line_ends_are_normalised_across_blocks() {
        let mut held = false;
        let mut buf = b"a\rb\r\nc\r".to_vec();
        normalise_line_ends(&mut buf, 0, &mut held);
        assert_eq!(buf, b"a\nb\nc\n");
        assert!(held);
        let mut next = b"\nd\r".to_vec();
        normalise_line_ends(&mut next, 0, &mut held);
        assert_eq!(next, b"d\n");
        assert!(lone_cr_line_ends(b"a,b\r1,2\r3,4\r"));
        assert!(!lone_cr_line_ends(b"a,b\n\"x\ry\",2\n\"\r\",4\n"));
        assert!(!lone_cr_line_ends(
            b"k,a,b\nk1,a\",\"\r\xc3\xa9\"\nk2,a\",\"\r\xc3\xa9\"\n"
        ));
        // CRLF only, no CR at all, a CR ending the sample: nothing lone to count.
        assert!(!lone_cr_line_ends(b"a,b\r\n1,2\r\n"));
        assert!(!lone_cr_line_ends(b"a,b\n1,2\n"));
        assert!(!lone_cr_line_ends(b"a,b\n1,2\r"));
        // Mixed: lone CRs are a twentieth of the LFs or more.
        assert!(lone_cr_line_ends(b"a,b\r\n1,2\r3,4\n"));
    }

    #[test]
    fn leading_comment_block() {
        assert_eq!(leading_comments(b"# a\n# b\n\nx,y\n", b'#'), (9, 3));
        assert_eq!(leading_comments(b"x,y\n", b'#'), (0, 0));
    }
}
