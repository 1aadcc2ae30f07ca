//! The crate's error type.

use std::io;
use std::path::PathBuf;

use arrow_schema::ArrowError;

/// Everything that can go wrong while finding, opening, reading or batching inputs.
///
/// Every variant that concerns one input names its path so a user seeing the
/// message knows which file to look at.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A path given on the command line does not exist.
    #[error("{}: no such file or directory", path.display())]
    NotFound {
        /// The path as given.
        path: PathBuf,
    },
    /// A path exists but could not be opened or read.
    #[error("{}: cannot read: {source}", path.display())]
    Unreadable {
        /// The path as given.
        path: PathBuf,
        /// The underlying I/O error.
        source: io::Error,
    },
    /// A directory was found where a file was expected.
    #[error("{}: is a directory, expected a file", path.display())]
    IsDirectory {
        /// The path as given.
        path: PathBuf,
    },
    /// A glob pattern matched no file.
    #[error("{pattern}: pattern matched no files{}{}", match specials {
        0 => String::new(),
        n => format!(" but {n} special (FIFO, socket, device), which are read only when named directly"),
    }, match archived {
        0 => String::new(),
        n => format!(" but {n} in the archive being written, which are not read"),
    })]
    NoMatch {
        /// The pattern as given.
        pattern: String,
        /// Special files (FIFOs, sockets, devices) it matched, which globs leave out.
        specials: usize,
        /// Paths in the archive being written it matched, which are left out.
        archived: usize,
    },
    /// A path named as an input is the archive being written, or inside it.
    #[error("{}: is in the archive being written; its files are not read as logs", path.display())]
    InArchive {
        /// The path as given.
        path: PathBuf,
    },
    /// A glob pattern could not be compiled.
    #[error("{pattern}: invalid glob pattern: {message}")]
    BadPattern {
        /// The pattern as given.
        pattern: String,
        /// Why it is invalid.
        message: String,
    },
    /// Reading (or decompressing) an input failed part-way; the entries read
    /// before the failure have been kept.
    #[error("{path}: read failed after {entries} entries: {source}")]
    Read {
        /// Path as given, or `-` for stdin.
        path: String,
        /// Entries read from this input before the failure.
        entries: u64,
        /// The underlying I/O or decoder error.
        source: io::Error,
    },
    /// Building an Arrow batch failed (a bug: the builders mirror the schema).
    #[error("building Arrow batch: {0}")]
    Arrow(#[from] ArrowError),
    /// The background parsing thread stopped unexpectedly.
    #[error("ingest worker thread stopped unexpectedly")]
    WorkerStopped,
}
