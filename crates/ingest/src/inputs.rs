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
//! * otherwise, if it contains a glob metacharacter (`*`, `?`, `[`) — the
//!   matches of that pattern in sorted order, shell-style (`*` does not match
//!   a leading `.`); matching directories are expanded by the directory rule.
//!   A pattern that matches nothing is an error.
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
//! whatever the file is called, everything else is read as is. Buffers are
//! fixed-size ([`READ_BUFFER_BYTES`]), so memory does not grow with the input.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
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
pub fn expand_inputs(args: &[String]) -> Result<Vec<InputSpec>, IngestError> {
    let mut found = expand(args);
    if found.errors.is_empty() {
        Ok(found.inputs)
    } else {
        Err(found.errors.swap_remove(0))
    }
}

/// Expands command-line arguments into inputs (see the module doc for the
/// rule), going on past errors: an unreadable subdirectory costs only itself.
pub fn expand(args: &[String]) -> Expansion {
    let mut found = Expansion::default();
    for arg in args {
        if arg == "-" {
            found.inputs.push(InputSpec::Stdin);
            continue;
        }
        let path = Path::new(arg);
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk_dir(path, &mut found),
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
            Err(e) if e.kind() == io::ErrorKind::NotFound && is_glob(arg) => {
                expand_glob(arg, &mut found)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                found.errors.push(IngestError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => found.errors.push(IngestError::Unreadable {
                path: path.to_path_buf(),
                source,
            }),
        }
    }
    found
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn expand_glob(pattern: &str, found: &mut Expansion) {
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..glob::MatchOptions::new()
    };
    let paths = match glob::glob_with(pattern, options) {
        Ok(paths) => paths,
        Err(e) => {
            found.errors.push(IngestError::BadPattern {
                pattern: pattern.to_owned(),
                message: e.to_string(),
            });
            return;
        }
    };
    let (inputs_before, errors_before) = (found.inputs.len(), found.errors.len());
    let mut matched: Vec<PathBuf> = Vec::new();
    for entry in paths {
        match entry {
            Ok(p) => matched.push(p),
            Err(e) => found.errors.push(IngestError::Unreadable {
                path: e.path().to_path_buf(),
                source: e.into(),
            }),
        }
    }
    matched.sort();
    for p in matched {
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => walk_dir(&p, found),
            Ok(m) if m.is_file() => found.inputs.push(InputSpec::File(p)),
            Ok(_) => {}
            // A match that cannot be reached (a link whose target is gone).
            Err(source) => found
                .errors
                .push(IngestError::Unreadable { path: p, source }),
        }
    }
    if found.inputs.len() == inputs_before && found.errors.len() == errors_before {
        found.errors.push(IngestError::NoMatch {
            pattern: pattern.to_owned(),
        });
    }
}

fn walk_dir(dir: &Path, found: &mut Expansion) {
    let unreadable = |source| IngestError::Unreadable {
        path: dir.to_path_buf(),
        source,
    };
    let listing = match fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(source) => {
            found.errors.push(unreadable(source));
            return;
        }
    };
    let mut entries: Vec<fs::DirEntry> = Vec::new();
    for entry in listing {
        match entry {
            Ok(entry) => entries.push(entry),
            Err(source) => {
                // The listing broke off; what it gave so far is still taken.
                found.errors.push(unreadable(source));
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
                found.errors.push(IngestError::Unreadable { path, source });
                continue;
            }
        };
        if kind.is_dir() {
            walk_dir(&path, found);
        } else if kind.is_file() {
            found.inputs.push(InputSpec::File(path));
        } else if kind.is_symlink() {
            // Follow symlinked files only: a symlinked directory could loop.
            // A link whose target cannot be reached is an input not read.
            match fs::metadata(&path) {
                Ok(m) if m.is_file() => found.inputs.push(InputSpec::File(path)),
                Ok(_) => {}
                Err(source) => found.errors.push(IngestError::Unreadable { path, source }),
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
            flate2::bufread::MultiGzDecoder::new(buffered),
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
