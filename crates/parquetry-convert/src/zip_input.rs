//! Zip archives as input. The central directory is read with the `zip` crate; the chosen member
//! is then streamed straight from the file (stored as is, deflate through flate2) and checked
//! against the size and CRC-32 its directory entry gives, so memory stays bounded whatever its
//! size and a truncated or damaged member is corrupt input, like a bad gzip file.
//!
//! Which member is converted:
//! - Directories, symbolic links, anything under `__MACOSX/` (which macOS adds) and hidden files
//!   (a last path component starting with `.`, like `.DS_Store`) are never candidates.
//! - With the `member` option: the file of exactly that name, or else the only file whose last
//!   path component is that name (`data.csv` finds `export/data.csv`). No such file, or several,
//!   is an invalid option that lists the candidates.
//! - Without it: the only candidate; else the only `.csv`/`.tsv` one; else the only
//!   `.txt`/`.tab`/`.dat`/`.psv` one. So a `readme.pdf` or `notes.txt` beside `data.csv` is passed
//!   over, while two CSV files, or `data.txt` beside `readme.txt`, fail with
//!   [`ErrorKind::ZipMemberRequired`], which lists them.
//!
//! An .xlsx or .ods file is a zip archive too: one is recognised by its members and refused as
//! not CSV. Members must be stored or deflate (what every zip tool writes by default); others
//! and encrypted ones are refused with what to do instead.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::error::{ConvertError, ErrorKind};
use crate::input_open::{Decompress, TaggedFile};

/// Most entries an archive may list: the zip crate holds its whole central directory in memory.
const MAX_ENTRIES: u64 = 100_000;
/// Names listed in a message before "and N more".
const LISTED: usize = 20;
/// Characters of one name shown in a message.
const NAME_CHARS: usize = 200;

/// What the central directory says of one member.
struct Member {
    index: usize,
    name: String,
    /// A regular file: not a directory or a symbolic link.
    file: bool,
    method: CompressionMethod,
    encrypted: bool,
    compressed_size: u64,
    size: u64,
    crc32: u32,
}

/// The chosen member of the zip archive `file`, decompressed: see the module doc for which.
pub(crate) fn open(file: File, member: Option<&str>) -> Result<Box<dyn Read + Send>, ConvertError> {
    let len = file.metadata().map_err(io)?.len();
    let announced = announced_entries(&file, len).map_err(io)?;
    if announced > MAX_ENTRIES {
        return Err(not_csv(format!(
            "the zip archive lists {announced} files, more than the {MAX_ENTRIES} that are read; \
             zip the CSV file alone and upload that"
        )));
    }
    let mut archive = ZipArchive::new(BufReader::with_capacity(64 << 10, &file))
        .map_err(|e| unreadable(&file, e))?;
    let members = list(&archive);
    if let Some(what) = document(&members) {
        return Err(document_error(what));
    }
    let chosen = &members[choose(&members, member)?];
    let name = shown(&chosen.name);
    if chosen.encrypted {
        return Err(not_csv(format!(
            "the zip member {name} is encrypted (password-protected); unzip it and upload the CSV"
        )));
    }
    let stored = chosen.method == CompressionMethod::STORE;
    if !stored && chosen.method != CompressionMethod::DEFLATE {
        let method = method_name(chosen.method);
        return Err(not_csv(format!(
            "the zip member {name} is compressed with {method}, which is not supported; \
             re-zip it with deflate"
        )));
    }
    let data_start = archive
        .by_index_raw(chosen.index)
        .map(|m| m.data_start())
        .map_err(|e| unreadable_member(&name, e))?
        .ok_or_else(|| corrupt(format!("the data of member {name} cannot be found")))?;
    drop(archive);
    let mut file = file;
    file.seek(SeekFrom::Start(data_start)).map_err(io)?;
    let raw = TaggedFile(file).take(chosen.compressed_size);
    Ok(if stored {
        // Stored data is read in chunk-sized blocks: a buffer would only add a copy.
        Box::new(Checked::new(raw, chosen, name))
    } else {
        let inflate = flate2::bufread::DeflateDecoder::new(BufReader::with_capacity(1 << 20, raw));
        Box::new(Checked::new(inflate, chosen, name))
    })
}

/// Refuses the `member` option for input that is not a zip archive.
pub(crate) fn no_member(member: Option<&str>) -> Result<(), ConvertError> {
    match member {
        Some(_) => Err(ConvertError::new(
            ErrorKind::InvalidOption,
            "invalid option `member`: `member` applies to zip archives only",
        )),
        None => Ok(()),
    }
}

/// The members, in the order of the central directory.
fn list<R: Read + Seek>(archive: &ZipArchive<R>) -> Vec<Member> {
    (0..archive.len())
        .filter_map(|index| {
            let entry = archive.by_index_data(index).ok()?;
            let name = match entry.name() {
                Ok(name) => name.into_owned(),
                Err(_) => String::from_utf8_lossy(entry.name_raw()).into_owned(),
            };
            Some(Member {
                index,
                file: !entry.is_dir() && !entry.is_symlink(),
                method: entry.compression(),
                encrypted: entry.encrypted(),
                compressed_size: entry.compressed_size(),
                size: entry.size(),
                crc32: entry.crc32(),
                name,
            })
        })
        .collect()
}

/// The last path component of a member name.
fn last_component(name: &str) -> &str {
    name.rsplit(['/', '\\']).next().unwrap_or(name)
}

/// Never a candidate by itself: macOS resource forks and hidden files.
fn ignored(name: &str) -> bool {
    name.starts_with("__MACOSX/") || last_component(name).starts_with('.')
}

/// The position in `members` of the member to convert.
fn choose(members: &[Member], wanted: Option<&str>) -> Result<usize, ConvertError> {
    let files: Vec<usize> = (0..members.len()).filter(|&i| members[i].file).collect();
    let candidates: Vec<usize> = files
        .iter()
        .copied()
        .filter(|&i| !ignored(&members[i].name))
        .collect();
    let names = |ids: &[usize]| listing(ids.iter().map(|&i| members[i].name.as_str()));
    if let Some(wanted) = wanted {
        if let Some(&i) = files.iter().find(|&&i| members[i].name == wanted) {
            return Ok(i);
        }
        let by_last: Vec<usize> = files
            .iter()
            .copied()
            .filter(|&i| last_component(&members[i].name) == wanted)
            .collect();
        let message = match by_last[..] {
            [i] => return Ok(i),
            [] if candidates.is_empty() => {
                format!("the zip archive has no file `{wanted}`, and no data files")
            }
            [] => format!(
                "the zip archive has no file `{wanted}`; its files are: {}",
                names(&candidates)
            ),
            _ => format!(
                "several files of the zip archive are named `{wanted}`: {}; give the full name",
                names(&by_last)
            ),
        };
        return Err(ConvertError::new(
            ErrorKind::InvalidOption,
            format!("invalid option `member`: {message}"),
        ));
    }
    match candidates[..] {
        [] if files.is_empty() => {
            return Err(ConvertError::new(
                ErrorKind::EmptyInput,
                "the zip archive is empty (it holds no files)",
            ))
        }
        [] => {
            return Err(ConvertError::new(
                ErrorKind::EmptyInput,
                format!(
                    "the zip archive holds no data files, only hidden ones: {}",
                    names(&files)
                ),
            ))
        }
        [i] => return Ok(i),
        _ => {}
    }
    let extension = |i: usize| {
        let last = last_component(&members[i].name);
        last.rsplit_once('.')
            .map(|(_, ext)| ext.to_ascii_lowercase())
    };
    for tier in [&["csv", "tsv"][..], &["txt", "tab", "dat", "psv"]] {
        let hits: Vec<usize> = candidates
            .iter()
            .copied()
            .filter(|&i| extension(i).is_some_and(|e| tier.contains(&e.as_str())))
            .collect();
        match hits[..] {
            [] => continue,
            [i] => return Ok(i),
            _ => break,
        }
    }
    Err(ConvertError::new(
        ErrorKind::ZipMemberRequired,
        format!(
            "the zip archive holds {} files: {}; name the one to convert with the `member` option",
            candidates.len(),
            names(&candidates)
        ),
    ))
}

/// Backquoted names, at most [`LISTED`] of them, then how many more.
fn listing<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let total = names.len();
    let mut out: Vec<String> = names.take(LISTED).map(shown).collect();
    if total > LISTED {
        out.push(format!("and {} more", total - LISTED));
    }
    out.join(", ")
}

/// A name for a message: backquoted, and cut when very long.
fn shown(name: &str) -> String {
    match name.char_indices().nth(NAME_CHARS) {
        Some((cut, _)) => format!("`{}…`", &name[..cut]),
        None => format!("`{name}`"),
    }
}

/// What kind of office document the archive is, if it is one.
fn document(members: &[Member]) -> Option<&'static str> {
    let has = |f: &dyn Fn(&str) -> bool| members.iter().any(|m| f(&m.name));
    if has(&|n| n.starts_with("xl/")) {
        Some("an Excel workbook (.xlsx)")
    } else if has(&|n| n == "mimetype") {
        Some("an OpenDocument file (.ods or .odt)")
    } else if has(&|n| n == "[Content_Types].xml") {
        Some("an Office document (.xlsx, .docx or .pptx)")
    } else {
        None
    }
}

fn document_error(what: &str) -> ConvertError {
    not_csv(format!(
        "the file looks like {what}, a ZIP archive of XML, not CSV text; \
         export it as CSV and upload that"
    ))
}

/// The error for an archive whose directory cannot be read: an office document cut short
/// still shows what it is in its first bytes; anything else is a damaged zip.
fn unreadable(mut file: &File, e: ZipError) -> ConvertError {
    if let ZipError::Io(err) = &e {
        if err.kind() != std::io::ErrorKind::UnexpectedEof {
            return io(e);
        }
    }
    let mut head = Vec::new();
    if let Err(err) = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.take(64 << 10).read_to_end(&mut head))
    {
        return io(err);
    }
    let finder = |needle: &[u8]| memchr::memmem::find(&head, needle).is_some();
    if finder(b"mimetypeapplication/vnd.oasis.opendocument") {
        return document_error("an OpenDocument file (.ods or .odt)");
    }
    if finder(b"[Content_Types].xml") {
        return document_error("an Office document (.xlsx, .docx or .pptx)");
    }
    corrupt(format!("its directory cannot be read ({e})"))
}

fn unreadable_member(name: &str, e: ZipError) -> ConvertError {
    match e {
        ZipError::Io(err) if err.kind() != std::io::ErrorKind::UnexpectedEof => io(err),
        e => corrupt(format!("the header of member {name} cannot be read ({e})")),
    }
}

/// The most entries that an end-of-directory record in the last 64 KiB announces (a Zip64 one
/// included), so that a crafted archive of millions of entries is refused before the zip crate
/// builds its directory in memory. Records that cannot be read count as 0: the zip crate then
/// says what is wrong.
fn announced_entries(mut file: &File, len: u64) -> std::io::Result<u64> {
    let tail_len = len.min(22 + 0xFFFF + 20);
    file.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    file.read_exact(&mut tail)?;
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let mut most = 0;
    for at in memchr::memmem::find_iter(&tail, b"PK\x05\x06") {
        let Some(record) = tail.get(at..at + 22) else {
            continue;
        };
        most = most.max(u64::from(u16::from_le_bytes([record[10], record[11]])));
        // A Zip64 locator just before the record points at the Zip64 record and its count.
        let Some(locator) = at.checked_sub(20).map(|from| &tail[from..at]) else {
            continue;
        };
        let offset = u64_at(locator, 8);
        if !locator.starts_with(b"PK\x06\x07") || offset.saturating_add(40) > len {
            continue;
        }
        let mut record64 = [0u8; 40];
        file.seek(SeekFrom::Start(offset))?;
        file.read_exact(&mut record64)?;
        if record64.starts_with(b"PK\x06\x06") {
            most = most.max(u64_at(&record64, 32));
        }
    }
    Ok(most)
}

/// A compression method as a message names it: `bzip2`, `deflate64`…
fn method_name(method: CompressionMethod) -> String {
    let name = method.to_string().to_ascii_lowercase();
    if name == "unknown" {
        "an unknown method".into()
    } else {
        name
    }
}

fn io(e: impl std::fmt::Display) -> ConvertError {
    ConvertError::new(ErrorKind::Io, format!("cannot read input: {e}"))
}

fn corrupt(what: String) -> ConvertError {
    ConvertError::new(
        ErrorKind::CorruptCompressedInput,
        format!("the zip archive is truncated or corrupt: {what}"),
    )
}

fn not_csv(message: String) -> ConvertError {
    ConvertError::new(ErrorKind::NotCsv, message)
}

/// A member's data, checked at its end against the size and CRC-32 of its directory entry:
/// raw deflate has no checksum of its own. Its errors are corrupt input (see [`Decompress`]).
struct Checked<R> {
    inner: R,
    name: String,
    crc: flate2::Crc,
    read: u64,
    size: u64,
    crc32: u32,
}

impl<R: Read> Checked<R> {
    fn new(inner: R, member: &Member, name: String) -> Decompress<Self> {
        let checked = Checked {
            inner,
            name,
            crc: flate2::Crc::new(),
            read: 0,
            size: member.size,
            crc32: member.crc32,
        };
        Decompress {
            inner: checked,
            format: "zip",
        }
    }
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        self.read += n as u64;
        let bad = |what: String| Err(std::io::Error::new(std::io::ErrorKind::InvalidData, what));
        if self.read > self.size {
            return bad(format!(
                "member {} holds more than the {} bytes its directory entry gives",
                self.name, self.size
            ));
        }
        if n == 0 && !buf.is_empty() {
            if self.read < self.size {
                return bad(format!(
                    "member {} ends after {} of its {} bytes",
                    self.name, self.read, self.size
                ));
            }
            if self.crc.sum() != self.crc32 {
                return bad(format!("member {} fails its CRC-32 check", self.name));
            }
        }
        Ok(n)
    }
}
