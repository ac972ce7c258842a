//! Zip archives as input: the one data file of an archive is converted, the `member` option
//! picks one among several, office documents and unsupported members are refused clearly, and
//! damaged members are corrupt input. The archives are written here with the `zip` crate.

mod common;

use std::io::{Cursor, Write};

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use common::convert_bytes;
use parquetry_convert::{ConvertOptions, ErrorKind};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const DEFLATE: CompressionMethod = CompressionMethod::DEFLATE;
const STORE: CompressionMethod = CompressionMethod::STORE;

/// A zip of `members` (name, bytes, method); a name ending in `/` is a directory.
fn zip_of(members: &[(&str, &[u8], CompressionMethod)]) -> Vec<u8> {
    zip_with(members, false)
}

/// Like [`zip_of`]; `zip64` writes Zip64 headers and a Zip64 end of directory.
fn zip_with(members: &[(&str, &[u8], CompressionMethod)], zip64: bool) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for (name, bytes, method) in members {
        let options = SimpleFileOptions::default()
            .compression_method(*method)
            .large_file(zip64);
        if name.ends_with('/') {
            w.add_directory(*name, options).unwrap();
        } else {
            w.start_file(*name, options).unwrap();
            w.write_all(bytes).unwrap();
        }
    }
    if zip64 {
        // An empty extensible data sector: the writer then ends with Zip64 records.
        w.set_raw_zip64_extensible_data_sector(Box::new([]));
    }
    w.finish().unwrap().into_inner()
}

fn with_member(member: &str) -> ConvertOptions {
    let mut o = ConvertOptions::default();
    o.set("member", member).unwrap();
    o
}

/// `rows` rows of `id,city,amount`; ids from 1.
fn sales(rows: i64, city: &str) -> Vec<u8> {
    let mut csv = b"id,city,amount\n".to_vec();
    for i in 1..=rows {
        csv.extend_from_slice(format!("{i},{city},{}\n", i * 3).as_bytes());
    }
    csv
}

/// Offset of the central directory header of the only (or last) member.
fn central_header(zip: &[u8]) -> usize {
    zip.windows(4).rposition(|w| w == b"PK\x01\x02").unwrap()
}

fn ids(batch: &arrow_array::RecordBatch) -> Vec<i64> {
    batch
        .column(0)
        .as_primitive::<Int64Type>()
        .values()
        .to_vec()
}

#[test]
fn a_zip_with_one_deflate_csv_converts_and_reports_zip() {
    let csv = sales(50_000, "Recife");
    let zip = zip_of(&[
        ("dados/", b"", STORE),
        ("dados/vendas.csv", &csv, DEFLATE),
        (
            "__MACOSX/dados/._vendas.csv",
            b"\x00\x05\x16\x07binary",
            DEFLATE,
        ),
        ("dados/.DS_Store", b"\x00\x00\x00\x01Bud1", STORE),
    ]);
    let (report, batch) = convert_bytes("zip-deflate", &zip, &ConvertOptions::default()).unwrap();
    assert_eq!(report.dialect.input_compression, "zip");
    assert_eq!(report.rows, 50_000);
    assert_eq!(batch.num_rows(), 50_000);
    assert_eq!(ids(&batch)[..3], [1, 2, 3]);
    assert_eq!(batch.column(1).as_string::<i32>().value(49_999), "Recife");
    let amounts = batch.column(2).as_primitive::<Int64Type>();
    assert_eq!(amounts.value(49_999), 150_000);
}

#[test]
fn a_stored_member_converts() {
    let zip = zip_of(&[("data.csv", b"id,name\n1,Ana\n2,Bia\n", STORE)]);
    let (report, batch) = convert_bytes("zip-stored", &zip, &ConvertOptions::default()).unwrap();
    assert_eq!(report.dialect.input_compression, "zip");
    assert_eq!(ids(&batch), [1, 2]);
    assert_eq!(batch.column(1).as_string::<i32>().value(1), "Bia");
}

#[test]
fn a_readme_beside_the_data_is_passed_over() {
    let zip = zip_of(&[
        ("LEIAME.txt", b"Dados abertos. Licenca CC-BY.\n", DEFLATE),
        ("dicionario.pdf", b"%PDF-1.4 not really", DEFLATE),
        ("dados.csv", b"id,v\n7,x\n", DEFLATE),
    ]);
    let (_, batch) = convert_bytes("zip-readme", &zip, &ConvertOptions::default()).unwrap();
    assert_eq!(ids(&batch), [7]);

    // No CSV: the only text file is the data.
    let zip = zip_of(&[
        ("manual.pdf", b"%PDF-1.4 not really", DEFLATE),
        ("export.txt", b"id;v\n8;y\n", DEFLATE),
    ]);
    let (_, batch) = convert_bytes("zip-txt", &zip, &ConvertOptions::default()).unwrap();
    assert_eq!(ids(&batch), [8]);
}

#[test]
fn several_csv_files_need_the_member_option() {
    let zip = zip_of(&[
        ("export/a.csv", b"id\n1\n", DEFLATE),
        ("export/b.csv", b"id\n2\n20\n", DEFLATE),
        ("export/c.csv", b"id\n3\n", STORE),
    ]);
    let err = convert_bytes("zip-three", &zip, &ConvertOptions::default()).unwrap_err();
    assert_eq!(
        (err.kind, err.code()),
        (ErrorKind::ZipMemberRequired, "zip-member-required")
    );
    assert!(err.is_input_error());
    for name in [
        "`export/a.csv`",
        "`export/b.csv`",
        "`export/c.csv`",
        "`member`",
    ] {
        assert!(err.message.contains(name), "{name}: {}", err.message);
    }

    // By full name, or by the last path component.
    let (_, batch) = convert_bytes("zip-b", &zip, &with_member("b.csv")).unwrap();
    assert_eq!(ids(&batch), [2, 20]);
    let (report, batch) = convert_bytes("zip-c", &zip, &with_member("export/c.csv")).unwrap();
    assert_eq!(report.dialect.input_compression, "zip");
    assert_eq!(ids(&batch), [3]);
}

#[test]
fn the_list_of_members_in_a_message_is_bounded() {
    let names: Vec<String> = (0..25).map(|i| format!("part-{i:02}.csv")).collect();
    let members: Vec<(&str, &[u8], CompressionMethod)> = names
        .iter()
        .map(|n| (n.as_str(), &b"id\n1\n"[..], DEFLATE))
        .collect();
    let err = convert_bytes("zip-25", &zip_of(&members), &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::ZipMemberRequired);
    assert!(err.message.contains("25 files"), "{}", err.message);
    assert!(err.message.contains("`part-19.csv`"), "{}", err.message);
    assert!(!err.message.contains("part-20"), "{}", err.message);
    assert!(err.message.contains("and 5 more"), "{}", err.message);
}

#[test]
fn an_unknown_member_or_a_member_of_a_plain_file_is_an_invalid_option() {
    let zip = zip_of(&[
        ("a.csv", b"id\n1\n", DEFLATE),
        ("b.csv", b"id\n2\n", DEFLATE),
    ]);
    let err = convert_bytes("zip-unknown", &zip, &with_member("c.csv")).unwrap_err();
    assert_eq!(
        (err.kind, err.code()),
        (ErrorKind::InvalidOption, "invalid-option")
    );
    assert!(err.message.contains("`member`"), "{}", err.message);
    assert!(err.message.contains("`c.csv`"), "{}", err.message);
    assert!(
        err.message.contains("`a.csv`") && err.message.contains("`b.csv`"),
        "{}",
        err.message
    );

    // The same last component in two folders: the full name is needed.
    let zip = zip_of(&[
        ("2023/data.csv", b"id\n1\n", DEFLATE),
        ("2024/data.csv", b"id\n2\n", DEFLATE),
    ]);
    let err = convert_bytes("zip-ambiguous", &zip, &with_member("data.csv")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
    assert!(err.message.contains("full name"), "{}", err.message);
    let (_, batch) = convert_bytes("zip-full", &zip, &with_member("2024/data.csv")).unwrap();
    assert_eq!(ids(&batch), [2]);

    let err = convert_bytes("member-plain", b"id\n1\n", &with_member("a.csv")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidOption);
    assert!(
        err.message
            .contains("`member` applies to zip archives only"),
        "{}",
        err.message
    );
}

#[test]
fn spreadsheets_in_zip_form_are_not_csv() {
    let xlsx = zip_of(&[
        (
            "[Content_Types].xml",
            b"<?xml version=\"1.0\"?><Types/>",
            DEFLATE,
        ),
        (
            "xl/workbook.xml",
            b"<?xml version=\"1.0\"?><workbook/>",
            DEFLATE,
        ),
        (
            "xl/worksheets/sheet1.xml",
            b"<?xml version=\"1.0\"?><sheet/>",
            DEFLATE,
        ),
    ]);
    let err = convert_bytes("zip-xlsx", &xlsx, &ConvertOptions::default()).unwrap_err();
    assert_eq!((err.kind, err.code()), (ErrorKind::NotCsv, "not-csv"));
    assert!(err.message.contains("Excel"), "{}", err.message);
    assert!(err.message.contains("export it as CSV"), "{}", err.message);
    // Naming a member does not turn a workbook into CSV.
    let err = convert_bytes("zip-xlsx-member", &xlsx, &with_member("xl/workbook.xml")).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotCsv);

    let ods = zip_of(&[
        (
            "mimetype",
            b"application/vnd.oasis.opendocument.spreadsheet",
            STORE,
        ),
        ("content.xml", b"<?xml version=\"1.0\"?><office/>", DEFLATE),
    ]);
    let err = convert_bytes("zip-ods", &ods, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotCsv);
    assert!(err.message.contains("OpenDocument"), "{}", err.message);

    // A workbook cut short has no directory left, but still says what it is.
    let cut = &xlsx[..xlsx.len() / 2];
    let err = convert_bytes("zip-xlsx-cut", cut, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotCsv, "{err}");
}

#[test]
fn an_empty_archive_or_one_of_hidden_files_is_empty_input() {
    let err = convert_bytes("zip-empty", &zip_of(&[]), &ConvertOptions::default()).unwrap_err();
    assert_eq!(
        (err.kind, err.code()),
        (ErrorKind::EmptyInput, "empty-file")
    );
    assert!(
        err.message.contains("zip archive is empty"),
        "{}",
        err.message
    );

    let zip = zip_of(&[("folder/", b"", STORE), (".DS_Store", b"Bud1", STORE)]);
    let err = convert_bytes("zip-hidden", &zip, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::EmptyInput);
    assert!(err.message.contains("`.DS_Store`"), "{}", err.message);
}

#[test]
fn a_zip64_archive_converts() {
    let csv = sales(1_000, "Natal");
    let zip = zip_with(&[("big.csv", &csv, DEFLATE)], true);
    // Zip64 end of central directory and its locator, and a Zip64 extra field (id 1).
    for magic in [&b"PK\x06\x06"[..], b"PK\x06\x07"] {
        assert!(zip.windows(4).any(|w| w == magic), "{magic:?}");
    }
    let cd = central_header(&zip);
    assert_eq!(&zip[cd + 20..cd + 28], b"\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF");
    let (report, batch) = convert_bytes("zip64", &zip, &ConvertOptions::default()).unwrap();
    assert_eq!(report.dialect.input_compression, "zip");
    assert_eq!(report.rows, 1_000);
    assert_eq!(ids(&batch)[999], 1_000);
}

#[test]
fn an_archive_announcing_too_many_files_is_refused_before_its_directory_is_read() {
    let mut zip = zip_with(&[("a.csv", b"id\n1\n", DEFLATE)], true);
    let at = zip.windows(4).rposition(|w| w == b"PK\x06\x06").unwrap();
    zip[at + 32..at + 40].copy_from_slice(&5_000_000u64.to_le_bytes());
    let err = convert_bytes("zip-many", &zip, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotCsv);
    assert!(err.message.contains("5000000 files"), "{}", err.message);
}

#[test]
fn a_damaged_member_is_corrupt_compressed_input() {
    let csv = sales(200_000, "Fortaleza");
    let zip = zip_of(&[("vendas.csv", &csv, DEFLATE)]);
    let name_len = u16::from_le_bytes([zip[26], zip[27]]) as usize;
    let extra_len = u16::from_le_bytes([zip[28], zip[29]]) as usize;
    let data = 30 + name_len + extra_len;
    let cd = central_header(&zip);
    let corrupt = |name: &str, bytes: &[u8], what: &str| {
        let err = convert_bytes(name, bytes, &ConvertOptions::default()).unwrap_err();
        assert_eq!(err.code(), "corrupt-compressed-input", "{name}: {err}");
        assert!(err.is_input_error() && !err.is_retryable(), "{name}");
        assert!(err.message.contains(what), "{name}: {}", err.message);
    };

    // A first block of the reserved type 3: not deflate data.
    let mut bad_block = zip.clone();
    bad_block[data] = 0b111;
    corrupt("zip-bad-block", &bad_block, "truncated or corrupt");

    // The directory gives half the compressed size: the member stops short.
    let halve = |zip: &[u8]| {
        let cd = central_header(zip);
        let mut cut = zip.to_vec();
        let size = u32::from_le_bytes(cut[cd + 20..cd + 24].try_into().unwrap());
        cut[cd + 20..cd + 24].copy_from_slice(&(size / 2).to_le_bytes());
        cut
    };
    corrupt("zip-cut-deflate", &halve(&zip), "truncated or corrupt");
    let stored = zip_of(&[("vendas.csv", &csv, STORE)]);
    corrupt("zip-cut-stored", &halve(&stored), "ends after");

    // Data intact but a CRC-32 that does not match it.
    let mut bad_crc = zip.clone();
    bad_crc[cd + 16] ^= 0xff;
    corrupt("zip-bad-crc", &bad_crc, "CRC-32");

    // A download cut short loses the central directory.
    corrupt("zip-truncated", &zip[..zip.len() * 2 / 3], "directory");
}

#[test]
fn unsupported_or_encrypted_members_are_refused_with_what_to_do() {
    let zip = zip_of(&[("data.csv", b"id\n1\n", STORE)]);
    let cd = central_header(&zip);
    // Method 12 (bzip2) in both headers.
    let mut bzip2 = zip.clone();
    bzip2[8] = 12;
    bzip2[cd + 10] = 12;
    let err = convert_bytes("zip-bzip2", &bzip2, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotCsv);
    assert!(err.message.contains("bzip2"), "{}", err.message);
    assert!(
        err.message.contains("re-zip it with deflate"),
        "{}",
        err.message
    );

    // The encryption flag.
    let mut encrypted = zip.clone();
    encrypted[6] |= 1;
    encrypted[cd + 8] |= 1;
    let err = convert_bytes("zip-encrypted", &encrypted, &ConvertOptions::default()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotCsv);
    assert!(err.message.contains("encrypted"), "{}", err.message);
}

#[test]
fn the_encoding_of_a_chosen_member_is_still_detected() {
    // Windows-1252 bytes throughout.
    let cp1252 = b"id;cidade\n1;S\xE3o Paulo\n2;Bel\xE9m\n".to_vec();
    // UTF-8, with one Windows-1252 row past the sample: a later pass re-reads the member.
    let mut mixed = b"id,city\n".to_vec();
    for i in 1..=100_000u32 {
        if i == 80_000 {
            mixed.extend_from_slice(b"80000,Goi\xE2nia\n");
        } else {
            mixed.extend_from_slice(format!("{i},São Paulo\n").as_bytes());
        }
    }
    let zip = zip_of(&[
        ("cp1252.csv", &cp1252, DEFLATE),
        ("mixed.csv", &mixed, DEFLATE),
        ("other.csv", b"id\n1\n", DEFLATE),
    ]);

    let (report, batch) = convert_bytes("zip-cp1252", &zip, &with_member("cp1252.csv")).unwrap();
    assert_eq!(report.dialect.encoding, "windows-1252");
    assert_eq!(report.dialect.delimiter, ";");
    let city = batch.column(1).as_string::<i32>();
    assert_eq!((city.value(0), city.value(1)), ("São Paulo", "Belém"));

    let (report, batch) = convert_bytes("zip-mixed", &zip, &with_member("mixed.csv")).unwrap();
    assert_eq!(report.rows, 100_000);
    assert_eq!(report.dialect.encoding, "utf-8");
    assert_eq!(report.dialect.windows_1252_values, 1);
    let city = batch.column(1).as_string::<i32>();
    assert_eq!(city.value(0), "São Paulo");
    assert_eq!(city.value(79_999), "Goiânia");
}
