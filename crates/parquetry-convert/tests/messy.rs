//! Messy real-world uploads found in the new-user trial: mixed encodings, per-column decimal
//! separators, huge integers, files that are not CSV, corrupt compressed input, Excel's
//! `sep=` line, late decimal commas and empty options.

mod common;

use common::convert_bytes;
use parquetry_convert::{Codec, ConvertOptions, ErrorKind};

#[test]
fn an_empty_delimiter_or_quote_is_an_invalid_option() {
    let mut o = ConvertOptions::default();
    let e = o.set("delimiter", "").unwrap_err();
    assert!(e.message.contains("delimiter must be one character"), "{e}");
    let e = o.set("quote", "").unwrap_err();
    assert!(e.message.contains("quote must be one character"), "{e}");
    // `auto` and a lone tab still work.
    o.set("delimiter", "auto").unwrap();
    o.set("delimiter", "\t").unwrap();
    assert_eq!(o.delimiter, Some(b'\t'));
}

#[test]
fn a_compression_level_with_a_codec_without_levels_is_rejected() {
    let mut o = ConvertOptions::default();
    o.set("compression", "lz4").unwrap();
    let e = o.set("compression_level", "5").unwrap_err();
    assert!(e.message.contains("has no level"), "{e}");

    // Level first, then a level-less codec named explicitly.
    let mut o = ConvertOptions::default();
    o.set("compression_level", "5").unwrap();
    assert!(o.set("compression", "none").is_err());

    // Level first with the default codec: caught when the options are checked together.
    let mut o = ConvertOptions::default();
    o.set("compression_level", "5").unwrap();
    assert!(o.validate().is_err());
    let err = convert_bytes("level-snappy", b"a\n1\n", &o).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);

    // Level then zstd stays fine.
    o.set("compression", "zstd").unwrap();
    assert_eq!(o.compression, Codec::Zstd);
    o.validate().unwrap();
}

