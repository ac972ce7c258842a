//! Column chunks of the plain types written by the engine itself instead of parquet's
//! generic column writer: integers, floats, dates, timestamps, booleans and text, flat and
//! nullable (one definition level), PLAIN or dictionary-encoded, v1 data pages.
//!
//! Why: the generic writer computes a definition level per value as an `i16`, statistics
//! per mini-batch through generic comparisons, copies each page twice and interns every
//! dictionary value through a general hash map. On the 1 GB benchmark file that was 30 % of
//! the conversion's CPU besides compression (BENCHMARKS.md, issue 17). Here the valid runs
//! of each Arrow array are copied as they are (on little-endian machines Arrow's buffers
//! are PLAIN already), the levels are written as runs, the bounds come from tight loops or
//! from the dictionary's distinct values, and the page is compressed from where it was
//! built. The file's footer, schema and row groups stay parquet's: the chunk is handed to
//! `SerializedRowGroupWriter::append_column` with its metadata and offset index.

mod dict;
mod rle;
mod snappy;
mod text;
mod thrift;
mod values;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, TimeUnit};
use bytes::Bytes;
use parquet::basic::{Compression, Encoding};
use parquet::column::writer::ColumnCloseResult;
use parquet::compression::{create_codec, Codec, CodecOptions};
use parquet::errors::{ParquetError, Result};
use parquet::file::metadata::{ColumnChunkMetaData, OffsetIndexBuilder};
use parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnDescPtr;

use rle::{bit_packed_indices, index_width, Levels};
use text::Text;
use thrift::{page_header, Page};
use values::{Bools, Fixed, PageValues, Run};

/// Room kept before a page's values for its definition levels, so that the page is
/// compressed from where its values were written instead of from a copy. Pages whose
/// levels are longer (many scattered nulls) are put together in a second buffer.
const LEVELS_ROOM: usize = 4096;
/// Rows of a text column appended between two checks of the page size.
const TEXT_STEP: usize = 1024;

/// How the chunks of one column are written: the same for each row group.
#[derive(Clone)]
pub(crate) struct ChunkSpec {
    descr: ColumnDescPtr,
    data_type: DataType,
    codec: Compression,
    dictionary: bool,
    page_bytes: usize,
    page_rows: usize,
    dict_bytes: usize,
    truncate: Option<usize>,
}

impl ChunkSpec {
    /// The spec of a column of `data_type`, or `None` when this writer does not handle it
    /// (decimals, nested types) or `props` ask for what it does not write (no statistics,
    /// version 2 data pages): parquet's writer does.
    pub(crate) fn new(
        descr: ColumnDescPtr,
        data_type: &DataType,
        props: &WriterProperties,
    ) -> Option<ChunkSpec> {
        let supported = matches!(
            data_type,
            DataType::Int64
                | DataType::Float64
                | DataType::Boolean
                | DataType::Date32
                | DataType::Utf8
                | DataType::Timestamp(TimeUnit::Microsecond, _)
        );
        if !supported || descr.max_rep_level() != 0 || descr.max_def_level() != 1 {
            return None;
        }
        let path = descr.path();
        if props.statistics_enabled(path) == EnabledStatistics::None
            || props.writer_version() != WriterVersion::PARQUET_1_0
        {
            return None;
        }
        Some(ChunkSpec {
            data_type: data_type.clone(),
            codec: props.compression(path),
            // Booleans have no dictionary in Parquet writers: a bit per value is smaller.
            dictionary: props.dictionary_enabled(path) && *data_type != DataType::Boolean,
            page_bytes: props.data_page_size_limit(),
            page_rows: props.data_page_row_count_limit(),
            dict_bytes: props.dictionary_page_size_limit(),
            truncate: props.statistics_truncate_length(),
            descr,
        })
    }
}

/// How pages are compressed. Snappy by the C++ library, called directly (see [`snappy`]):
/// parquet's snappy codec is the slower `snap`, and zero-fills the largest output a page
/// could have before every page, where [`snappy::compress`] only grows its buffer.
enum Compressor {
    Snappy,
    Other(Box<dyn Codec>),
    None,
}

impl Compressor {
    fn new(codec: Compression) -> Result<Compressor> {
        Ok(match codec {
            Compression::SNAPPY => Compressor::Snappy,
            other => match create_codec(other, &CodecOptions::default())? {
                Some(codec) => Compressor::Other(codec),
                None => Compressor::None,
            },
        })
    }

    /// `page` compressed, in `scratch`, or `page` itself without a codec.
    fn compress<'a>(&mut self, page: &'a [u8], scratch: &'a mut Vec<u8>) -> Result<&'a [u8]> {
        match self {
            Compressor::Snappy => {
                let length = snappy::compress(page, scratch);
                Ok(&scratch[..length])
            }
            Compressor::Other(codec) => {
                scratch.clear();
                codec.compress(page, scratch)?;
                Ok(&scratch[..])
            }
            Compressor::None => Ok(page),
        }
    }
}

/// The values part of a chunk, by physical type.
enum Values {
    Long(Fixed<i64>),
    Int(Fixed<i32>),
    Double(Fixed<f64>),
    Bool(Bools),
    Text(Text),
}

impl Values {
    /// Entries of the dictionary so far, and whether new values still go into it (the
    /// page being filled then holds indices).
    fn dictionary_state(&self) -> (usize, bool) {
        match self {
            Values::Long(v) => v.dictionary_state(),
            Values::Int(v) => v.dictionary_state(),
            Values::Double(v) => v.dictionary_state(),
            Values::Bool(_) => (0, false),
            Values::Text(v) => v.dictionary_state(),
        }
    }

    /// After the dictionary outgrew its limit: the rest of the chunk is PLAIN.
    fn close_dictionary(&mut self) {
        match self {
            Values::Long(v) => v.close_dictionary(),
            Values::Int(v) => v.close_dictionary(),
            Values::Double(v) => v.close_dictionary(),
            Values::Bool(_) => {}
            Values::Text(v) => v.close_dictionary(),
        }
    }

    /// The dictionary page's PLAIN body with its number of entries, and the statistics.
    fn finish(&self, nulls: u64) -> (Option<(Vec<u8>, usize)>, Statistics) {
        match self {
            Values::Long(v) => (v.dictionary(), v.statistics(nulls)),
            Values::Int(v) => (v.dictionary(), v.statistics(nulls)),
            Values::Double(v) => (v.dictionary(), v.statistics(nulls)),
            Values::Bool(v) => (None, v.statistics(nulls)),
            Values::Text(v) => (v.dictionary(), v.statistics(nulls)),
        }
    }
}

/// Where a chunk is being written: its encoded pages so far, and the page being filled.
pub(crate) struct ChunkWriter {
    spec: Arc<ChunkSpec>,
    values: Values,
    codec: Compressor,
    levels: Levels,
    page: PageValues,
    page_rows: usize,
    /// Data pages so far, headers and bodies.
    data: Vec<u8>,
    body: Vec<u8>,
    compressed: Vec<u8>,
    /// Each data page: offset in `data`, size with its header, rows.
    pages: Vec<(usize, usize, usize)>,
    uncompressed: usize,
    rows: u64,
    nulls: u64,
    encodings: Vec<Encoding>,
    runs: Vec<Run>,
}

impl ChunkWriter {
    pub(crate) fn new(spec: Arc<ChunkSpec>) -> Result<ChunkWriter> {
        let dictionary = spec.dictionary;
        let values = match spec.data_type {
            DataType::Int64 | DataType::Timestamp(..) => Values::Long(Fixed::new(dictionary)),
            DataType::Date32 => Values::Int(Fixed::new(dictionary)),
            DataType::Float64 => Values::Double(Fixed::new(dictionary)),
            DataType::Boolean => Values::Bool(Bools::default()),
            _ => Values::Text(Text::new(dictionary, spec.truncate)),
        };
        let codec = Compressor::new(spec.codec)?;
        let mut page = PageValues::default();
        page.plain.resize(LEVELS_ROOM, 0);
        Ok(ChunkWriter {
            values,
            codec,
            levels: Levels::default(),
            page,
            page_rows: 0,
            data: Vec::new(),
            body: Vec::new(),
            compressed: Vec::new(),
            pages: Vec::new(),
            uncompressed: 0,
            rows: 0,
            nulls: 0,
            encodings: vec![Encoding::RLE],
            runs: Vec::new(),
            spec,
        })
    }

    /// Appends the values of `array` (of the spec's type), cutting pages as they fill.
    pub(crate) fn write(&mut self, array: &ArrayRef) -> Result<()> {
        if array.data_type() != &self.spec.data_type {
            return Err(ParquetError::General(format!(
                "column {} is {}, not {}",
                self.spec.descr.name(),
                array.data_type(),
                self.spec.data_type
            )));
        }
        let valid: Vec<Run> = match array.nulls() {
            Some(nulls) => nulls.inner().set_slices().collect(),
            None => vec![(0, array.len())],
        };
        self.nulls += array.null_count() as u64;
        self.rows += array.len() as u64;
        let mut next_run = 0;
        let mut at = 0;
        while at < array.len() {
            let room = self.spec.page_rows - self.page_rows;
            let step = match self.values {
                Values::Text(_) => room.min(TEXT_STEP),
                _ => room,
            };
            let end = (at + step).min(array.len());
            next_run = self.clip_runs(&valid, next_run, at, end);
            let outgrown = self.append(array);
            self.page_rows += end - at;
            at = end;
            if outgrown {
                // The rest of the chunk is PLAIN; pages so far keep their indices.
                self.flush_page()?;
                self.values.close_dictionary();
            } else if self.page_rows >= self.spec.page_rows
                || self.page.plain.len() - LEVELS_ROOM >= self.spec.page_bytes
            {
                self.flush_page()?;
            }
        }
        Ok(())
    }

    /// Puts the valid runs within `start..end` in `self.runs` and the levels of those rows
    /// in `self.levels`; returns the first run that reaches past `end`.
    fn clip_runs(&mut self, valid: &[Run], mut next: usize, start: usize, end: usize) -> usize {
        self.runs.clear();
        let mut row = start;
        while next < valid.len() && valid[next].0 < end {
            let (s, e) = (valid[next].0.max(start), valid[next].1.min(end));
            if s < e {
                self.levels.push(false, s - row);
                self.levels.push(true, e - s);
                self.runs.push((s, e));
                row = e;
            }
            if valid[next].1 > end {
                break;
            }
            next += 1;
        }
        self.levels.push(false, end - row);
        next
    }

    /// Appends the values of `self.runs`; true when the dictionary just outgrew its limit.
    fn append(&mut self, array: &ArrayRef) -> bool {
        let (runs, page, limit) = (&self.runs, &mut self.page, self.spec.dict_bytes);
        match &mut self.values {
            Values::Long(v) => {
                let values = match array.data_type() {
                    DataType::Int64 => array.as_primitive::<Int64Type>().values(),
                    _ => array.as_primitive::<TimestampMicrosecondType>().values(),
                };
                v.write(values, values.inner().as_slice(), runs, page, limit)
            }
            Values::Int(v) => {
                let values = array.as_primitive::<Date32Type>().values();
                v.write(values, values.inner().as_slice(), runs, page, limit)
            }
            Values::Double(v) => {
                let values = array.as_primitive::<Float64Type>().values();
                v.write(values, values.inner().as_slice(), runs, page, limit)
            }
            Values::Bool(v) => {
                v.write(array.as_boolean().values(), runs, page);
                false
            }
            Values::Text(v) => {
                let a = array.as_string::<i32>();
                v.write(a.value_offsets(), a.value_data(), runs, page, limit)
            }
        }
    }

    /// Encodes, compresses and appends the page being filled.
    fn flush_page(&mut self) -> Result<()> {
        if self.page_rows == 0 {
            return Ok(());
        }
        self.body.clear();
        self.levels.finish_into(&mut self.body);
        // A page of nulls only, before the dictionary has an entry, is PLAIN: a chunk of
        // nulls only has no dictionary page for it to refer to.
        let (entries, open) = self.values.dictionary_state();
        let dictionary_page = open && entries > 0;
        let encoding = if dictionary_page {
            Encoding::RLE_DICTIONARY
        } else {
            Encoding::PLAIN
        };
        let page = if dictionary_page {
            let width = index_width(entries);
            bit_packed_indices(&mut self.body, &self.page.indices, width);
            &self.body[..]
        } else if self.body.len() <= LEVELS_ROOM {
            // The levels go in the room left before the values: no copy of the values.
            let start = LEVELS_ROOM - self.body.len();
            self.page.plain[start..LEVELS_ROOM].copy_from_slice(&self.body);
            &self.page.plain[start..]
        } else {
            self.body.extend_from_slice(&self.page.plain[LEVELS_ROOM..]);
            &self.body[..]
        };
        let uncompressed = page.len();
        let stored = self.codec.compress(page, &mut self.compressed)?;
        let offset = self.data.len();
        let header = Page::Data {
            num_values: i32_of(self.page_rows)?,
            encoding: encoding as i32,
        };
        page_header(
            &mut self.data,
            &header,
            i32_of(uncompressed)?,
            i32_of(stored.len())?,
        );
        let header_len = self.data.len() - offset;
        self.data.extend_from_slice(stored);
        self.pages
            .push((offset, self.data.len() - offset, self.page_rows));
        self.uncompressed += header_len + uncompressed;
        if !self.encodings.contains(&encoding) {
            self.encodings.push(encoding);
        }
        self.page.plain.truncate(LEVELS_ROOM);
        self.page.indices.clear();
        self.page_rows = 0;
        if let Values::Bool(b) = &mut self.values {
            b.new_page();
        }
        Ok(())
    }

    /// Finishes the chunk: its bytes (dictionary page first) and what the row group
    /// writer needs to append them.
    pub(crate) fn close(mut self) -> Result<(Bytes, ColumnCloseResult)> {
        self.flush_page()?;
        let (dictionary, statistics) = self.values.finish(self.nulls);
        // A dictionary no page refers to (an empty chunk, or only nulls) is left out.
        let dictionary = dictionary.filter(|(_, entries)| *entries > 0);
        let mut head = Vec::new();
        if let Some((plain, entries)) = &dictionary {
            let stored = self.codec.compress(plain, &mut self.compressed)?;
            let header = Page::Dictionary {
                num_values: i32_of(*entries)?,
            };
            page_header(
                &mut head,
                &header,
                i32_of(plain.len())?,
                i32_of(stored.len())?,
            );
            self.uncompressed += head.len() + plain.len();
            head.extend_from_slice(stored);
            self.encodings.push(Encoding::PLAIN);
        }
        self.encodings.sort_by_key(|e| *e as i32);
        self.encodings.dedup();
        let total = head.len() + self.data.len();
        let mut offsets = OffsetIndexBuilder::new();
        for &(offset, size, rows) in &self.pages {
            offsets.append_offset_and_size((head.len() + offset) as i64, i32_of(size)?);
            offsets.append_row_count(rows as i64);
        }
        let metadata = ColumnChunkMetaData::builder(self.spec.descr.clone())
            .set_compression(self.spec.codec)
            .set_encodings(std::mem::take(&mut self.encodings))
            .set_num_values(self.rows as i64)
            .set_total_compressed_size(total as i64)
            .set_total_uncompressed_size(self.uncompressed as i64)
            .set_data_page_offset(head.len() as i64)
            .set_dictionary_page_offset(dictionary.is_some().then_some(0))
            .set_statistics(statistics);
        let bytes = if head.is_empty() {
            Bytes::from(self.data)
        } else {
            head.extend_from_slice(&self.data);
            Bytes::from(head)
        };
        let close = ColumnCloseResult {
            bytes_written: total as u64,
            rows_written: self.rows,
            metadata: metadata.build()?,
            bloom_filter: None,
            column_index: None,
            offset_index: Some(offsets.build()),
        };
        Ok((bytes, close))
    }
}

fn i32_of(n: usize) -> Result<i32> {
    i32::try_from(n).map_err(|_| ParquetError::General(format!("page of {n} bytes or values")))
}

#[cfg(test)]
mod tests;
