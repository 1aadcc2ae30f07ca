//! Turning command-line arguments into inputs, and opening them.
//!
//! # Expansion rule
//!
//! Each argument is, in order:
//!
//! * `-` — standard input.
//! * an existing regular file (or a symlink to one) — that file. It is opened
//!   once to check it is readable.
//! * an existing FIFO, character device or other special file named directly
//!   (`mkfifo`, `/dev/stdin`, `<(cmd)`) — that file, *not* opened here: a
//!   FIFO can be opened for reading only once per writer, so the pipeline
//!   opens it (once) when its turn comes.
//! * an existing directory — every regular file below it, recursively, in
//!   byte-wise sorted order of file name within each directory (depth first).
//!   Files and directories whose name starts with `.` are skipped, symlinked
//!   directories are not followed (symlinked files are taken; a link whose
//!   target is missing is an error naming it), and special
//!   files (sockets, FIFOs, devices) are skipped. Files found this way are not
//!   opened here; one that cannot be read becomes a per-input failure in the
//!   pipeline rather than stopping the whole run. A subdirectory that cannot
//!   be listed is an error naming it, and the rest of the tree is still taken.
//!   With [`expand_except`], the archive directory being written is left out
//!   wherever the walk meets it, and naming it is an error.
//! * otherwise, if it is UTF-8 and contains a glob metacharacter (`*`, `?`,
//!   `[`) — the matches of that pattern in sorted order, shell-style (a name
//!   starting with `.` only under a pattern component starting with a
//!   literal `.`, `.` and `..` only by themselves, see `shell_visible`);
//!   matching directories are expanded by the directory rule, matching
//!   special files are left out. Names that are not UTF-8 are never matched
//!   (the glob crate skips them). A pattern that matches nothing is an error.
//! * otherwise — an error naming the path.
//!
//! [`expand`] keeps going past errors and returns both what it found and what
//! it could not read; [`expand_inputs`] stops at the first error.
//!
//! # Decoding
//!
//! [`open_input`] sniffs the first bytes: gzip (`1f 8b`, multi-member streams
//! included) and zstd (a frame, `28 b5 2f fd`, or a skippable frame,
//! `5? 2a 4d 18`, which `pzstd` and seekable-zstd writers put first; skippable
//! frames are skipped, concatenated frames are all read) are decompressed
//! whatever the file is called, everything else is read as is. After the
//! last gzip member, NUL padding is dropped and other bytes are read as they
//! are (`GzMembers`). Buffers are
//! fixed-size ([`READ_BUFFER_BYTES`]), so memory does not grow with the input.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::IngestError;

/// Size of each read buffer (raw file and decoder output).
pub const READ_BUFFER_BYTES: usize = 64 * 1024;

/// One input to ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// Standard input (`-`).
    Stdin,
    /// A file path, as given or as found by expansion.
    File(PathBuf),
}

impl InputSpec {
    /// The value of the `source` column for rows from this input: the path as
    /// given, or `-` for stdin.
    pub fn source_name(&self) -> String {
        match self {
            InputSpec::Stdin => "-".to_owned(),
            InputSpec::File(p) => p.to_string_lossy().into_owned(),
        }
    }
}

/// What [`expand`] found: the inputs, and the parts it could not read.
#[derive(Debug, Default)]
pub struct Expansion {
    /// Inputs found, in argument order.
    pub inputs: Vec<InputSpec>,
    /// Arguments, or parts of a directory tree, that could not be expanded;
    /// each names its path. The inputs found beside them are still in `inputs`.
    pub errors: Vec<IngestError>,
}

/// Expands command-line arguments into inputs (see the module doc for the
/// rule), stopping at the first error.
pub fn expand_inputs<S: AsRef<OsStr>>(args: &[S]) -> Result<Vec<InputSpec>, IngestError> {
    let mut found = expand(args);
    if found.errors.is_empty() {
        Ok(found.inputs)
    } else {
        Err(found.errors.swap_remove(0))
    }
}

/// Expands command-line arguments into inputs (see the module doc for the
/// rule), going on past errors: an unreadable subdirectory costs only itself.
pub fn expand<S: AsRef<OsStr>>(args: &[S]) -> Expansion {
    expand_except(args, None)
}

/// [`expand`], leaving out the archive being written: a directory walk or a
/// glob that meets the directory `archive` passes over it, so that ingesting
/// a directory that holds the archive does not read the archive's own files
/// back in; naming the archive, or a file or directory inside it, is an
/// error.
pub fn expand_except<S: AsRef<OsStr>>(args: &[S], archive: Option<&Path>) -> Expansion {
    let archive = archive.and_then(|p| Some((fs::metadata(p).ok()?, fs::canonicalize(p).ok()?)));
    let mut walk = Walk {
        found: Expansion::default(),
        skip: archive.as_ref().map(|(m, _)| (m.dev(), m.ino())),
        archive: archive.map(|(_, canonical)| canonical),
    };
    for arg in args {
        let arg = arg.as_ref();
        if arg == "-" {
            walk.found.inputs.push(InputSpec::Stdin);
            continue;
        }
        let path = Path::new(arg);
        let meta = fs::metadata(path);
        if meta.is_ok() && walk.in_archive(path) {
            walk.found.errors.push(IngestError::InArchive {
                path: path.to_path_buf(),
            });
            continue;
        }
        let found = &mut walk.found;
        match meta {
            Ok(meta) if meta.is_dir() => walk.dir(path),
            Ok(meta) if meta.is_file() => match File::open(path) {
                Ok(_) => found.inputs.push(InputSpec::File(path.to_path_buf())),
                Err(source) => found.errors.push(IngestError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                }),
            },
            // Opening a FIFO here would take the writer's data stream away
            // from the pipeline's open; it is opened once, when it is read.
            Ok(_) => found.inputs.push(InputSpec::File(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match arg.to_str() {
                Some(pattern) if is_glob(pattern) => walk.glob(pattern),
                _ => found.errors.push(IngestError::NotFound {
                    path: path.to_path_buf(),
                }),
            },
            Err(source) => found.errors.push(IngestError::Unreadable {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
    walk.found
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Whether a glob match is one a shell would give: a name starting with `.`
/// is matched only by a pattern component that starts with a literal `.`,
/// and `.` or `..` only by themselves.
///
/// The glob crate's own `require_literal_leading_dot` panics on a directory
/// holding a name that is not UTF-8, so matching is done with it off and the
/// rule applied here. Pattern components line up with the match's from the
/// front up to the first `**` and from the back after the last one; a
/// component matched by `**` itself must not start with `.`.
fn shell_visible(pattern: &str, matched: &Path) -> bool {
    // Raw components: `Path::iter` would drop the `.` that `.*` can match.
    // A leading `./` is left out of both: the glob crate drops it from
    // what it returns.
    fn split(b: &[u8]) -> Vec<&[u8]> {
        b.split(|&c| c == b'/')
            .filter(|c| !c.is_empty())
            .skip_while(|c| *c == b".")
            .collect()
    }
    let pat = split(pattern.as_bytes());
    let got = split(matched.as_os_str().as_encoded_bytes());
    let special = |c: &[u8]| c == b"." || c == b"..";
    let dot = |c: &[u8]| !special(c) && c.starts_with(b".");
    let first = pat.iter().position(|c| *c == b"**");
    let last = pat.iter().rposition(|c| *c == b"**");
    let (head, tail) = match (first, last) {
        (Some(f), Some(l)) => (f, pat.len() - l - 1),
        _ => (pat.len(), 0),
    };
    // A component that went missing was a `.` matched by a wildcard.
    if got.len() < head + tail || (first.is_none() && got.len() != pat.len()) {
        return false;
    }
    // `.` and `..` only where the pattern says so (bash's `globskipdots`).
    let fits = |p: &[u8], g: &[u8]| match special(g) {
        true => p == g,
        false => !dot(g) || p.starts_with(b"."),
    };
    let front = pat[..head]
        .iter()
        .zip(&got[..head])
        .all(|(p, g)| fits(p, g));
    let back = pat[pat.len() - tail..]
        .iter()
        .zip(&got[got.len() - tail..])
        .all(|(p, g)| fits(p, g));
    let middle = got[head..got.len() - tail]
        .iter()
        .all(|g| !dot(g) && !special(g));
    front && back && (first.is_none() || middle)
}

/// Expansion state: what was found, and the archive directory to leave out.
struct Walk {
    found: Expansion,
    /// Device and inode of the archive directory being written, if local.
    skip: Option<(u64, u64)>,
    /// Its canonical path.
    archive: Option<PathBuf>,
}

impl Walk {
    /// Whether `path` is the archive being written or lies inside it.
    fn in_archive(&self, path: &Path) -> bool {
        self.archive
            .as_ref()
            .is_some_and(|a| fs::canonicalize(path).is_ok_and(|c| c.starts_with(a)))
    }

    fn glob(&mut self, pattern: &str) {
        let options = glob::MatchOptions {
            require_literal_leading_dot: false,
            ..glob::MatchOptions::new()
        };
        let paths = match glob::glob_with(pattern, options) {
            Ok(paths) => paths,
            Err(e) => {
                self.found.errors.push(IngestError::BadPattern {
                    pattern: pattern.to_owned(),
                    message: e.to_string(),
                });
                return;
            }
        };
        let (inputs_before, errors_before) = (self.found.inputs.len(), self.found.errors.len());
        let mut matched: Vec<PathBuf> = Vec::new();
        let mut specials = 0usize;
        let mut archived = 0usize;
        for entry in paths {
            match entry {
                Ok(p) if self.in_archive(&p) => archived += 1,
                Ok(p) if shell_visible(pattern, &p) => matched.push(p),
                Ok(_) => {}
                Err(e) => self.found.errors.push(IngestError::Unreadable {
                    path: e.path().to_path_buf(),
                    source: e.into(),
                }),
            }
        }
        matched.sort();
        for p in matched {
            match fs::metadata(&p) {
                Ok(m) if m.is_dir() => self.dir(&p),
                Ok(m) if m.is_file() => self.found.inputs.push(InputSpec::File(p)),
                // Special files are taken only when named directly.
                Ok(_) => specials += 1,
                // A match that cannot be reached (a link whose target is gone).
                Err(source) => self
                    .found
                    .errors
                    .push(IngestError::Unreadable { path: p, source }),
            }
        }
        if self.found.inputs.len() == inputs_before && self.found.errors.len() == errors_before {
            self.found.errors.push(IngestError::NoMatch {
                pattern: pattern.to_owned(),
                specials,
                archived,
            });
        }
    }

    fn dir(&mut self, dir: &Path) {
        let unreadable = |source| IngestError::Unreadable {
            path: dir.to_path_buf(),
            source,
        };
        let listing = match fs::read_dir(dir) {
            Ok(listing) => listing,
            Err(source) => {
                self.found.errors.push(unreadable(source));
                return;
            }
        };
        let mut entries: Vec<fs::DirEntry> = Vec::new();
        for entry in listing {
            match entry {
                Ok(entry) => entries.push(entry),
                Err(source) => {
                    // The listing broke off; what it gave so far is still taken.
                    self.found.errors.push(unreadable(source));
                    break;
                }
            }
        }
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let path = entry.path();
            let kind = match entry.file_type() {
                Ok(kind) => kind,
                Err(source) => {
                    self.found
                        .errors
                        .push(IngestError::Unreadable { path, source });
                    continue;
                }
            };
            if kind.is_dir() {
                let is_archive = self.skip.is_some()
                    && fs::metadata(&path).is_ok_and(|m| self.skip == Some((m.dev(), m.ino())));
                if !is_archive {
                    self.dir(&path);
                }
            } else if kind.is_file() {
                self.found.inputs.push(InputSpec::File(path));
            } else if kind.is_symlink() {
                // Follow symlinked files only: a symlinked directory could loop.
                // A link whose target cannot be reached is an input not read.
                match fs::metadata(&path) {
                    Ok(m) if m.is_file() => self.found.inputs.push(InputSpec::File(path)),
                    Ok(_) => {}
                    Err(source) => self
                        .found
                        .errors
                        .push(IngestError::Unreadable { path, source }),
                }
            }
        }
    }
}

/// Compression detected from an input's first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Plain bytes.
    None,
    /// gzip (RFC 1952), possibly several members.
    Gzip,
    /// Zstandard frames.
    Zstd,
}

/// Zstandard frame magic number, as it appears in a file (little-endian).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Detects compression from a stream's first bytes.
///
/// A zstd stream may open with a skippable frame (magic `0x184D2A50` to
/// `0x184D2A5F`, bytes `5? 2a 4d 18`): `pzstd` writes one before every frame.
pub fn sniff_compression(head: &[u8]) -> Compression {
    let skippable_zstd =
        head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18];
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) || skippable_zstd {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Opens an input for reading, decompressing gzip/zstd detected by magic bytes.
///
/// Errors name the path: missing, unreadable, or a directory. Decoder errors
/// (a truncated or corrupt stream) surface later as read errors.
pub fn open_input(spec: &InputSpec) -> Result<Box<dyn BufRead + Send>, IngestError> {
    match spec {
        InputSpec::Stdin => wrap_decoder(Box::new(io::stdin()), Path::new("-")),
        InputSpec::File(path) => {
            let file = File::open(path).map_err(|source| match source.kind() {
                io::ErrorKind::NotFound => IngestError::NotFound { path: path.clone() },
                _ => IngestError::Unreadable {
                    path: path.clone(),
                    source,
                },
            })?;
            let meta = file.metadata().map_err(|source| IngestError::Unreadable {
                path: path.clone(),
                source,
            })?;
            if meta.is_dir() {
                return Err(IngestError::IsDirectory { path: path.clone() });
            }
            wrap_decoder(Box::new(file), path)
        }
    }
}

/// Wraps any byte source with compression detection and bounded buffers.
pub fn decode_reader(
    inner: Box<dyn Read + Send>,
    name: &Path,
) -> Result<Box<dyn BufRead + Send>, IngestError> {
    wrap_decoder(inner, name)
}

fn wrap_decoder(
    inner: Box<dyn Read + Send>,
    name: &Path,
) -> Result<Box<dyn BufRead + Send>, IngestError> {
    let mut buffered = BufReader::with_capacity(READ_BUFFER_BYTES, inner);
    let head = loop {
        match buffered.fill_buf() {
            Ok(h) => break h,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) if e.kind() == io::ErrorKind::IsADirectory => {
                return Err(IngestError::IsDirectory {
                    path: name.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(IngestError::Unreadable {
                    path: name.to_path_buf(),
                    source,
                });
            }
        }
    };
    Ok(match sniff_compression(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER_BYTES,
            GzMembers::new(buffered),
        )),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(buffered).map_err(|source| {
                IngestError::Unreadable {
                    path: name.to_path_buf(),
                    source,
                }
            })?;
            Box::new(BufReader::with_capacity(READ_BUFFER_BYTES, decoder))
        }
    })
}

/// A gzip stream of one or more members, and what follows the last one.
///
/// `gzip -d` ignores zero padding after the last member (tape blocks, a file
/// preallocated and not filled) and warns about anything else there. Here
/// trailing NUL bytes are dropped too, and any other trailing bytes are read
/// as they are, not decompressed, so that text appended to a `.gz` file is
/// not lost: a NUL run right after a member is padding, dropped when the
/// input or another member follows it and kept when other bytes do; from
/// the first byte read as it is, the rest of the input is read as it is,
/// whatever it holds (where a buffer happens to start must not decide it). A member that is corrupt or cut short is a read error, as is
/// a damaged member header.
struct GzMembers<R: BufRead> {
    state: Gz<R>,
}

/// The compressed input, behind a byte put back when a lone `0x1f` at the
/// end of a read buffer had to be looked past.
type Src<R> = io::Chain<io::Cursor<Vec<u8>>, R>;

fn src<R: BufRead>(put_back: Vec<u8>, inner: R) -> Src<R> {
    io::Cursor::new(put_back).chain(inner)
}

enum Gz<R: BufRead> {
    /// Inside a member.
    Member(Box<flate2::bufread::GzDecoder<Src<R>>>),
    /// Between members, or after the last one: `zeros` NUL bytes held back,
    /// written out only when bytes that are not a member follow them
    /// (`flush`); once bytes have been read as they are, `text`.
    Between {
        inner: Src<R>,
        zeros: u64,
        flush: bool,
        text: bool,
    },
    /// Taken out for a moment while the state changes.
    Moving,
}

impl<R: BufRead> GzMembers<R> {
    fn new(inner: R) -> Self {
        GzMembers {
            state: Gz::Member(Box::new(flate2::bufread::GzDecoder::new(src(
                Vec::new(),
                inner,
            )))),
        }
    }

    /// Between members, with `0x1f` alone left in the read buffer: whether
    /// `0x8b` follows decides between a member and bytes read as they are.
    /// The byte is put back either way; an error leaves the state as it was.
    fn past_lone_1f(&mut self) -> io::Result<()> {
        let Gz::Between {
            mut inner,
            zeros,
            flush,
            text,
        } = std::mem::replace(&mut self.state, Gz::Moving)
        else {
            unreachable!("called between members")
        };
        inner.consume(1);
        let (_, mut rest) = inner.into_inner();
        let next = rest.fill_buf().map(|b| b.first().copied());
        let inner = src(vec![0x1f], rest);
        self.state = match next {
            Ok(Some(0x8b)) => Gz::Member(Box::new(flate2::bufread::GzDecoder::new(inner))),
            Ok(_) => Gz::Between {
                inner,
                zeros,
                flush: zeros > 0,
                text: true,
            },
            Err(e) => {
                self.state = Gz::Between {
                    inner,
                    zeros,
                    flush,
                    text,
                };
                return Err(e);
            }
        };
        Ok(())
    }
}

impl<R: BufRead> Read for GzMembers<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.state {
                Gz::Moving => return Ok(0),
                Gz::Member(decoder) => {
                    let n = decoder.read(buf)?;
                    if n > 0 {
                        return Ok(n);
                    }
                    let Gz::Member(decoder) = std::mem::replace(&mut self.state, Gz::Moving) else {
                        unreachable!("matched a member above")
                    };
                    self.state = Gz::Between {
                        inner: decoder.into_inner(),
                        zeros: 0,
                        flush: false,
                        text: false,
                    };
                }
                Gz::Between {
                    inner,
                    zeros,
                    flush,
                    text,
                } => {
                    if *flush {
                        if *zeros == 0 {
                            *flush = false;
                            continue;
                        }
                        let n = buf.len().min(usize::try_from(*zeros).unwrap_or(usize::MAX));
                        buf[..n].fill(0);
                        *zeros -= n as u64;
                        return Ok(n);
                    }
                    // An error here leaves the state as it is, to be retried.
                    let head = inner.fill_buf()?;
                    match head {
                        // Only padding was left, if anything.
                        [] => return Ok(0),
                        [0, ..] if !*text => {
                            let run = head.iter().take_while(|&&b| b == 0).count();
                            *zeros += run as u64;
                            inner.consume(run);
                        }
                        [0x1f, 0x8b, ..] if !*text => {
                            let Gz::Between { inner, .. } =
                                std::mem::replace(&mut self.state, Gz::Moving)
                            else {
                                unreachable!("matched between members above")
                            };
                            self.state =
                                Gz::Member(Box::new(flate2::bufread::GzDecoder::new(inner)));
                        }
                        [0x1f] if !*text => self.past_lone_1f()?,
                        _ if *zeros > 0 => {
                            *flush = true;
                            *text = true;
                        }
                        _ => {
                            *text = true;
                            let n = head.len().min(buf.len());
                            buf[..n].copy_from_slice(&head[..n]);
                            inner.consume(n);
                            return Ok(n);
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(n: usize) -> String {
        (0..n)
            .map(|i| format!("2024-01-02T15:04:05Z INFO line {i}\n"))
            .collect()
    }

    /// A skippable frame as `pzstd` writes one: magic, length, payload.
    fn skippable_frame(magic_low: u8, payload: &[u8]) -> Vec<u8> {
        let mut frame = vec![0x50 | magic_low, 0x2a, 0x4d, 0x18];
        frame.extend_from_slice(&u32::try_from(payload.len()).unwrap().to_le_bytes());
        frame.extend_from_slice(payload);
        frame
    }

    fn decode_all_bytes(bytes: Vec<u8>) -> Vec<u8> {
        let mut reader = decode_reader(Box::new(io::Cursor::new(bytes)), Path::new("t")).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        out
    }

    fn decode_all(bytes: Vec<u8>) -> String {
        let mut reader = decode_reader(Box::new(io::Cursor::new(bytes)), Path::new("t")).unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        text
    }

    #[test]
    fn zstd_opening_with_a_skippable_frame_is_decoded() {
        let text = lines(5000);
        let (first, second) = text.split_at(text.len() / 2);
        // pzstd's layout: each frame preceded by a skippable frame holding its size.
        let mut bytes = Vec::new();
        for (magic_low, part) in [(0x0, first), (0xf, second)] {
            let frame = zstd::encode_all(part.as_bytes(), 3).unwrap();
            let size = u32::try_from(frame.len()).unwrap().to_le_bytes();
            bytes.extend(skippable_frame(magic_low, &size));
            bytes.extend(frame);
        }
        assert_eq!(sniff_compression(&bytes), Compression::Zstd);
        assert_eq!(decode_all(bytes), text);
    }

    fn gzip(text: &str) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    }

    /// What follows the last gzip member: zero padding is dropped, other
    /// bytes are read as they are, and further members are decompressed.
    #[test]
    fn gzip_trailing_bytes() {
        let text = lines(3000);
        let with = |tail: &[u8]| {
            let mut bytes = gzip(&text);
            bytes.extend_from_slice(tail);
            bytes
        };
        assert_eq!(decode_all(with(&[0; 4])), text);
        assert_eq!(decode_all(with(&[0; 200_000])), text);
        assert_eq!(
            decode_all(with(b"appended plain\n")),
            format!("{text}appended plain\n")
        );
        assert_eq!(
            decode_all(with(b"\0\0x\0y\0\0")),
            format!("{text}\0\0x\0y\0\0")
        );
        let mut two = with(&gzip("second member\n"));
        two.extend_from_slice(b"tail\n\0");
        assert_eq!(decode_all(two), format!("{text}second member\ntail\n\0"));
        // After text, a member is bytes too, wherever the read buffers fall.
        for gap in [1, 4096, 65536 - 40, 65536, 200_000] {
            let mut bytes = with(&vec![b'x'; gap]);
            let member = gzip("two\n");
            bytes.extend_from_slice(&member);
            let got = decode_all_bytes(bytes);
            assert_eq!(got.len(), text.len() + gap + member.len(), "gap {gap}");
            assert!(got.ends_with(&member), "gap {gap}");
        }
        // A member after zero padding is still a member.
        let padded = with(&[&[0u8; 512][..], &gzip("after padding\n")].concat());
        assert_eq!(decode_all(padded), format!("{text}after padding\n"));
        // A member cut short is still an error, not trailing text.
        let cut = gzip(&text);
        let mut reader = decode_reader(
            Box::new(io::Cursor::new(cut[..cut.len() / 2].to_vec())),
            Path::new("t"),
        )
        .unwrap();
        assert!(reader.read_to_end(&mut Vec::new()).is_err());
    }

    /// A `0x1f` after a member is a member only when `0x8b` follows it, also
    /// when it is the last byte of a read buffer.
    #[test]
    fn gzip_a_lone_1f_at_a_buffer_end_is_looked_past() {
        struct Chunks(Vec<Vec<u8>>);
        impl Read for Chunks {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let bytes = self.0.remove(0);
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
        }
        let member = gzip("in the member\n");
        let second = gzip("second\n");
        for (tail, want) in [
            (b"\x1fsep\n".to_vec(), "in the member\n\u{1f}sep\n"),
            (second.clone(), "in the member\nsecond\n"),
            (b"\x1f".to_vec(), "in the member\n\u{1f}"),
        ] {
            // Each read of the file ends right after the 0x1f.
            let chunks = Chunks(vec![[&member[..], &tail[..1]].concat(), tail[1..].to_vec()]);
            let mut reader = decode_reader(Box::new(chunks), Path::new("t")).unwrap();
            let mut text = String::new();
            reader.read_to_string(&mut text).unwrap();
            assert_eq!(text, want);
        }
    }

    /// A read interrupted between members is retried, not taken for the end.
    #[test]
    fn gzip_reads_interrupted_after_a_member_go_on() {
        struct Steps(Vec<io::Result<Vec<u8>>>);
        impl Read for Steps {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.0.is_empty() {
                    return Ok(0);
                }
                let bytes = self.0.remove(0)?;
                buf[..bytes.len()].copy_from_slice(&bytes);
                Ok(bytes.len())
            }
        }
        let steps = Steps(vec![
            Ok(gzip("in the member\n")),
            Err(io::ErrorKind::Interrupted.into()),
            Ok(b"after it\n".to_vec()),
        ]);
        let mut reader = decode_reader(Box::new(steps), Path::new("t")).unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert_eq!(text, "in the member\nafter it\n");
    }

    /// The shell's rule for hidden names, on what the glob crate returns
    /// (which drops a leading `./`, also one that `.*` matched).
    #[test]
    fn glob_matches_a_shell_would_give() {
        let cases = [
            ("./*", "a.log", true),
            ("./*", ".hid", false),
            ("./d/*", "d/a.log", true),
            ("./d/*", "d/.h.log", false),
            ("./.*", ".h.log", true),
            (".*/*", ".h/x", true),
            (".*/*", "a.log", false),
            (".*/*", "./a.log", false),
            (".*/*", "../x", false),
            ("../*", "../x", true),
            ("/t/*.log", "/t/.z.log", false),
            ("/t/.*.log", "/t/.z.log", true),
            ("d/**/y", "d/a/b/y", true),
            ("d/**/y", "d/.hid/y", false),
            ("d/**/.hid/y", "d/.hid/y", true),
            ("d/**/y", "d/y", true),
        ];
        for (pattern, matched, visible) in cases {
            assert_eq!(
                shell_visible(pattern, Path::new(matched)),
                visible,
                "{pattern} {matched}"
            );
        }
    }

    #[test]
    fn sniffing_needs_the_whole_skippable_magic() {
        assert_eq!(
            sniff_compression(&[0x5a, 0x2a, 0x4d, 0x18]),
            Compression::Zstd
        );
        assert_eq!(
            sniff_compression(&[0x60, 0x2a, 0x4d, 0x18]),
            Compression::None
        );
        assert_eq!(sniff_compression(&[0x50, 0x2a, 0x4d]), Compression::None);
        assert_eq!(sniff_compression(b"P*M\x18"), Compression::Zstd);
        assert_eq!(sniff_compression(b"P*MX hello"), Compression::None);
    }

    #[test]
    fn named_fifos_are_taken_without_being_opened() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(status.success());
        // Opening a FIFO for reading blocks until a writer comes: expansion
        // returning at all shows it did not open it.
        let arg = fifo.to_string_lossy().into_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(expand(&[arg])));
        let found = match rx.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(found) => found,
            Err(_) => {
                // Release the blocked open before failing.
                let _ = fs::OpenOptions::new().read(true).write(true).open(&fifo);
                panic!("expanding a FIFO opened it and waited for a writer");
            }
        };
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        assert_eq!(found.inputs, vec![InputSpec::File(fifo)]);
    }

    #[test]
    fn expansion_goes_on_past_a_missing_argument() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.log"), "a\n").unwrap();
        let missing = dir.path().join("missing.log");
        let found = expand(&[
            missing.to_string_lossy().into_owned(),
            dir.path().to_string_lossy().into_owned(),
        ]);
        assert_eq!(
            found.inputs,
            vec![InputSpec::File(dir.path().join("a.log"))]
        );
        assert_eq!(found.errors.len(), 1);
        assert!(found.errors[0].to_string().contains("missing.log"));
    }
}
