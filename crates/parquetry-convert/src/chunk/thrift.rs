//! Page headers in Thrift's compact protocol, the only Thrift a column chunk
//! of ours needs (the footer is still written by parquet).

/// `Encoding` values of the Parquet format.
pub(crate) const PLAIN: i32 = 0;
pub(crate) const RLE: i32 = 3;

/// `PageType` values.
const DATA_PAGE: i32 = 0;
const DICTIONARY_PAGE: i32 = 2;

/// Compact protocol field types.
const I32: u8 = 5;
const STRUCT: u8 = 12;

/// What follows the sizes in a page header.
pub(crate) enum Page {
    /// A v1 data page of `num_values` levels (rows, nulls included), values in `encoding`,
    /// definition levels in RLE.
    Data { num_values: i32, encoding: i32 },
    /// The dictionary page of `num_values` entries, PLAIN encoded.
    Dictionary { num_values: i32 },
}

/// Appends the `PageHeader` of a page to `out`.
pub(crate) fn page_header(out: &mut Vec<u8>, page: &Page, uncompressed: i32, compressed: i32) {
    let mut last = 0;
    let (page_type, nested_id) = match page {
        Page::Data { .. } => (DATA_PAGE, 5),
        Page::Dictionary { .. } => (DICTIONARY_PAGE, 7),
    };
    i32_field(out, &mut last, 1, page_type);
    i32_field(out, &mut last, 2, uncompressed);
    i32_field(out, &mut last, 3, compressed);
    field_header(out, &mut last, nested_id, STRUCT);
    let mut inner = 0;
    match *page {
        Page::Data {
            num_values,
            encoding,
        } => {
            i32_field(out, &mut inner, 1, num_values);
            i32_field(out, &mut inner, 2, encoding);
            i32_field(out, &mut inner, 3, RLE);
            i32_field(out, &mut inner, 4, RLE);
        }
        Page::Dictionary { num_values } => {
            i32_field(out, &mut inner, 1, num_values);
            i32_field(out, &mut inner, 2, PLAIN);
        }
    }
    out.push(0); // end of the nested struct
    out.push(0); // end of the header
}

fn i32_field(out: &mut Vec<u8>, last: &mut i16, id: i16, value: i32) {
    field_header(out, last, id, I32);
    // Zigzag: small negative numbers stay short.
    varint(out, ((value << 1) ^ (value >> 31)) as u32 as u64);
}

/// Field ids here are small and increasing, so the short form (delta in the high nibble)
/// always applies.
fn field_header(out: &mut Vec<u8>, last: &mut i16, id: i16, field_type: u8) {
    let delta = id - *last;
    debug_assert!(
        (1..=15).contains(&delta),
        "field ids increase by at most 15"
    );
    out.push(((delta as u8) << 4) | field_type);
    *last = id;
}

/// ULEB128, as Thrift's compact protocol and Parquet's RLE headers write integers.
pub(crate) fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
