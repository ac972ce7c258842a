//! The two ways of reading a chunk agree: wherever the table path gives a batch, reading the
//! same chunk record by record gives the same batch and notes nothing.

use proptest::prelude::*;

use super::BatchParser;
use crate::options::ConvertOptions;

/// Cells by the column type they belong to: numbers, floats, dates, timestamps, booleans and
/// text, with nulls, quoted forms and the tokenizer's odd cases among them.
const KINDS: &[&[&str]] = &[
    &["12", "-7", "0", "123456789012", "NA", "", "\"12\"", " 9 "],
    &["1.5", "-0.25", "1e3", "2", "", "null", "\"3.75\""],
    &["2024-02-29", "1999-12-31", "", "NA"],
    &["2023-05-17T13:45:12.123+02:00", "2020-01-01T00:00:00Z", ""],
    &["true", "FALSE", "", "\"true\""],
    &[
        "text",
        "\"a,b\"",
        "\"x\"\"y\"",
        "\"\"",
        "",
        "ab\"c",
        "\"ab\"c\"d",
        "\"multi\nline\"",
        "NA",
        "\"a\"\"\"",
    ],
];

/// Cells that break a column's type or a record's shape when they turn up anywhere.
const WILD: &[&str] = &[
    "007",
    "2,25",
    "x",
    "2024-13-01",
    "\"open",
    "a,b",
    "1.5.5",
    "\"q\"x",
];

/// One row of `kinds`: draws are (wild?, which cell).
fn row_of(kinds: &[usize], draws: &[(u8, usize)]) -> String {
    let cells = kinds.iter().zip(draws).map(|(&k, &(wild, i))| {
        let cell = if wild < 3 {
            WILD[i % WILD.len()]
        } else {
            KINDS[k][i % KINDS[k].len()]
        };
        // Alone on its line an empty cell would be a blank line.
        if kinds.len() == 1 && cell.is_empty() {
            "NA"
        } else {
            cell
        }
    });
    cells.collect::<Vec<_>>().join(",")
}

fn text_of(rows: &[String], ncols: usize, crlf: bool, extra: Option<usize>) -> Vec<u8> {
    let end = if crlf { "\r\n" } else { "\n" };
    let mut out: Vec<String> = vec![(0..ncols)
        .map(|j| format!("c{j}"))
        .collect::<Vec<_>>()
        .join(",")];
    out.extend(rows.iter().cloned());
    // Now and then a line that is not a table row: blank, short, long, a footer.
    if let Some(at) = extra {
        let line = ["", "only", "1,2,3,4,5,6,7", "Fonte: IBGE"][at % 4];
        out.insert(1 + at % rows.len().max(1), line.to_string());
    }
    let mut text = out.join(end);
    text.push_str(end);
    text.into_bytes()
}

/// Every chunk of `text` (small chunks in test builds, so several of them) read both ways;
/// how many chunks the table path read, of how many.
fn agree(text: &[u8], options: &ConvertOptions) -> (usize, usize) {
    let Ok((plan, chunks)) = crate::stages::plan_and_chunks(text, options) else {
        return (0, 0);
    };
    let schema = plan.schema();
    let (mut table, mut records) = (BatchParser::new(&plan), BatchParser::new(&plan));
    let (mut tabled, mut all) = (0, 0);
    for chunk in &chunks {
        all += 1;
        let Some(fast) = table.parse_table(&plan, &schema, chunk) else {
            continue;
        };
        tabled += 1;
        let slow = records.parse_records(&plan, &schema, chunk);
        // Batches and notes compare whole; faults (text that is not UTF-8) by their text.
        assert_eq!(format!("{fast:?}"), format!("{slow:?}"));
    }
    (tabled, all)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn table_and_records_agree(
        kinds in proptest::collection::vec(0..KINDS.len(), 1..6),
        draws in proptest::collection::vec((0u8..100, 0usize..64), 1..2000),
        wild in any::<bool>(),
        crlf in any::<bool>(),
        extra in proptest::option::of(0usize..1000),
        on_error_skip in any::<bool>(),
    ) {
        let rows: Vec<String> = draws
            .chunks_exact(kinds.len())
            .map(|d| {
                let tame: Vec<(u8, usize)> = d.iter().map(|&(w, i)| (w.max(3), i)).collect();
                row_of(&kinds, if wild { d } else { &tame })
            })
            .collect();
        let text = text_of(&rows, kinds.len(), crlf, extra);
        let mut options = ConvertOptions::default();
        if on_error_skip {
            options.set("on_error", "skip").unwrap();
        }
        let (tabled, all) = agree(&text, &options);
        // Tame rows without a stray line are all clean: every chunk takes the table.
        if !wild && extra.is_none() {
            prop_assert_eq!(tabled, all);
        }
    }
}

/// A chunk whose every row is clean goes through the table, one with a stray line does not.
#[test]
fn clean_chunks_take_the_table_and_others_do_not() {
    let rows: Vec<String> = (0..50)
        .map(|i| row_of(&[0, 5, 3], &[(50, i), (50, i), (50, i)]))
        .collect();
    for (extra, takes_table) in [(None, true), (Some(1), false)] {
        let text = text_of(&rows, 3, false, extra);
        let (plan, chunks) =
            crate::stages::plan_and_chunks(&text, &ConvertOptions::default()).unwrap();
        let mut parser = BatchParser::new(&plan);
        let parsed = parser.parse_table(&plan, &plan.schema(), &chunks[0]);
        assert_eq!(parsed.is_some(), takes_table, "{extra:?}");
    }
}
