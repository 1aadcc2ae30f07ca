//! Turning command-line arguments into inputs, and opening them.
//!
//! # Expansion rule
//!
//! Each argument is, in order:
//!
//! * `-` — standard input.
//! * an existing regular file (or a symlink to one) — that file. It is opened
//!   once to check it is readable.
//! * an existing directory — every regular file below it, recursively, in
//!   byte-wise sorted order of file name within each directory (depth first).
//!   Files and directories whose name starts with `.` are skipped, symlinked
//!   directories are not followed (symlinked files are taken), and special
//!   files (sockets, FIFOs, devices) are skipped. Files found this way are not
//!   opened here; one that cannot be read becomes a per-input failure in the
//!   pipeline rather than stopping the whole run.
//! * otherwise, if it contains a glob metacharacter (`*`, `?`, `[`) — the
//!   matches of that pattern in sorted order, shell-style (`*` does not match
//!   a leading `.`); matching directories are expanded by the directory rule.
//!   A pattern that matches nothing is an error.
//! * otherwise — an error naming the path.
//!
//! # Decoding
//!
//! [`open_input`] sniffs the first bytes: gzip (`1f 8b`, multi-member streams
//! included) and zstd (`28 b5 2f fd`) are decompressed whatever the file is
//! called, everything else is read as is. Buffers are fixed-size
//! ([`READ_BUFFER_BYTES`]), so memory does not grow with the input.

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

/// Expands command-line arguments into inputs (see the module doc for the rule).
pub fn expand_inputs(args: &[String]) -> Result<Vec<InputSpec>, IngestError> {
    let mut out = Vec::new();
    for arg in args {
        if arg == "-" {
            out.push(InputSpec::Stdin);
            continue;
        }
        let path = Path::new(arg);
        match fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk_dir(path, &mut out)?,
            Ok(_) => {
                File::open(path).map_err(|source| IngestError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                })?;
                out.push(InputSpec::File(path.to_path_buf()));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && is_glob(arg) => {
                expand_glob(arg, &mut out)?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(IngestError::NotFound {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(IngestError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(out)
}

fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn expand_glob(pattern: &str, out: &mut Vec<InputSpec>) -> Result<(), IngestError> {
    let options = glob::MatchOptions {
        require_literal_leading_dot: true,
        ..glob::MatchOptions::new()
    };
    let paths = glob::glob_with(pattern, options).map_err(|e| IngestError::BadPattern {
        pattern: pattern.to_owned(),
        message: e.to_string(),
    })?;
    let before = out.len();
    let mut matched: Vec<PathBuf> = Vec::new();
    for entry in paths {
        match entry {
            Ok(p) => matched.push(p),
            Err(e) => {
                return Err(IngestError::Unreadable {
                    path: e.path().to_path_buf(),
                    source: e.into(),
                });
            }
        }
    }
    matched.sort();
    for p in matched {
        match fs::metadata(&p) {
            Ok(m) if m.is_dir() => walk_dir(&p, out)?,
            Ok(m) if m.is_file() => out.push(InputSpec::File(p)),
            _ => {}
        }
    }
    if out.len() == before {
        return Err(IngestError::NoMatch {
            pattern: pattern.to_owned(),
        });
    }
    Ok(())
}

fn walk_dir(dir: &Path, out: &mut Vec<InputSpec>) -> Result<(), IngestError> {
    let unreadable = |source| IngestError::Unreadable {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<fs::DirEntry> = fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<_, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        if entry.file_name().as_encoded_bytes().starts_with(b".") {
            continue;
        }
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            walk_dir(&path, out)?;
        } else if kind.is_file() {
            out.push(InputSpec::File(path));
        } else if kind.is_symlink() {
            // Follow symlinked files only: a symlinked directory could loop.
            if fs::metadata(&path).is_ok_and(|m| m.is_file()) {
                out.push(InputSpec::File(path));
            }
        }
    }
    Ok(())
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

/// Detects compression from a stream's first bytes.
pub fn sniff_compression(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
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
