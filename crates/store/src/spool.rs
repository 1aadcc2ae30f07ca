//! The `add` lines of a writer's files until its commit: in memory up to a bound, then in an
//! unnamed temporary file, so that an ingest writing a million files does not hold a million
//! lines (about 360 bytes each).
//!
//! Lines are kept as the commit will hold them, each after a newline. The temporary file is
//! created on the first spill, in the given directory or the system's temporary directory
//! (`TMPDIR`), and is unlinked from the start, so nothing is left behind whatever happens to
//! the process.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};

use crate::StoreError;

/// Bytes read back from the file at a time.
const READ_CHUNK: usize = 4 << 20;

/// Once lines go to the file, they are written this many bytes at a time (the first write
/// takes what memory held), so that a write blocks its caller for well under a millisecond.
const WRITE_CHUNK: usize = 1 << 20;

/// Lines in memory, then in a file once they pass `bound` bytes.
pub(crate) struct Spool {
    /// Lines not yet spilled.
    memory: BytesMut,
    /// Lines sealed by [`Spool::seal`]: they follow the file's and precede `memory`'s.
    sealed: Bytes,
    file: Option<File>,
    /// Bytes in `file`.
    spilled: u64,
    bound: usize,
    /// Where the file goes; `None` for the system's temporary directory.
    dir: Option<PathBuf>,
    lines: usize,
}

impl Spool {
    /// A spool that holds up to `bound` bytes of lines in memory, then spills to a file in
    /// `dir` (the system's temporary directory when `None`).
    pub(crate) fn new(bound: usize, dir: Option<PathBuf>) -> Self {
        Self {
            memory: BytesMut::new(),
            sealed: Bytes::new(),
            file: None,
            spilled: 0,
            bound,
            dir,
            lines: 0,
        }
    }

    /// A failure of the file, as the error that names its directory.
    pub(crate) fn error(&self, source: io::Error) -> StoreError {
        let dir = self.dir.clone().unwrap_or_else(std::env::temp_dir);
        StoreError::Spool {
            dir: dir.display().to_string(),
            source,
        }
    }

    /// Appends a newline and `line`; writes what memory holds to the file once it passes the
    /// bound. That write blocks the caller for one buffer of `bound` bytes (milliseconds), once
    /// per `bound` bytes of lines. When it fails, the lines stay in memory (and are read back
    /// from there), and the error is returned.
    pub(crate) fn push(&mut self, line: &[u8]) -> io::Result<()> {
        self.memory.reserve(line.len() + 1);
        self.memory.extend_from_slice(b"\n");
        self.memory.extend_from_slice(line);
        self.lines += 1;
        let bound = if self.file.is_some() {
            self.bound.min(WRITE_CHUNK)
        } else {
            self.bound
        };
        if self.memory.len() > bound {
            let file = match &mut self.file {
                Some(file) => file,
                None => self.file.insert(match &self.dir {
                    Some(dir) => tempfile::tempfile_in(dir)?,
                    None => tempfile::tempfile()?,
                }),
            };
            // After the last write that succeeded: a failed one may have left part of itself.
            file.seek(SeekFrom::Start(self.spilled))?;
            // Lines sealed earlier precede these.
            file.write_all(&self.sealed)?;
            file.write_all(&self.memory)?;
            self.spilled += (self.sealed.len() + self.memory.len()) as u64;
            self.sealed = Bytes::new();
            self.memory.clear();
        }
        Ok(())
    }

    /// Lines pushed.
    pub(crate) fn lines(&self) -> usize {
        self.lines
    }

    /// Bytes of every line (with its newline).
    pub(crate) fn len(&self) -> u64 {
        self.spilled + (self.sealed.len() + self.memory.len()) as u64
    }

    /// Whether some lines are in the file.
    pub(crate) fn is_spilled(&self) -> bool {
        self.spilled > 0
    }

    /// The lines held in memory, as one buffer shared from then on (no copy): what a commit
    /// that did not spill sends.
    pub(crate) fn seal(&mut self) -> Bytes {
        if !self.memory.is_empty() {
            let more = self.memory.split().freeze();
            self.sealed = if self.sealed.is_empty() {
                more
            } else {
                Bytes::from([self.sealed.as_ref(), more.as_ref()].concat())
            };
        }
        self.sealed.clone()
    }

    /// The bytes from `offset` on, at most [`READ_CHUNK`] of them from the file, or the lines
    /// in memory; `None` at the end.
    pub(crate) async fn chunk(&self, offset: u64) -> io::Result<Option<Bytes>> {
        if offset < self.spilled {
            let Some(file) = &self.file else {
                return Err(io::Error::other("spilled lines without their file"));
            };
            let mut file = file.try_clone()?;
            let len =
                usize::try_from(self.spilled - offset).map_or(READ_CHUNK, |n| n.min(READ_CHUNK));
            let bytes = tokio::task::spawn_blocking(move || -> io::Result<Vec<u8>> {
                let mut bytes = vec![0; len];
                file.seek(SeekFrom::Start(offset))?;
                file.read_exact(&mut bytes)?;
                Ok(bytes)
            })
            .await
            .map_err(io::Error::other)??;
            return Ok(Some(Bytes::from(bytes)));
        }
        let in_memory = usize::try_from(offset - self.spilled).unwrap_or(usize::MAX);
        if in_memory < self.sealed.len() {
            return Ok(Some(self.sealed.slice(in_memory..)));
        }
        let in_memory = in_memory - self.sealed.len();
        if in_memory < self.memory.len() {
            return Ok(Some(Bytes::copy_from_slice(&self.memory[in_memory..])));
        }
        Ok(None)
    }

    /// [`chunk`](Self::chunk) at `offset`, which it then moves past the chunk; a failure is the
    /// error that names the file's directory.
    pub(crate) async fn next_chunk(&self, offset: &mut u64) -> Result<Option<Bytes>, StoreError> {
        let chunk = self.chunk(*offset).await.map_err(|err| self.error(err))?;
        if let Some(chunk) = &chunk {
            *offset += chunk.len() as u64;
        }
        Ok(chunk)
    }

    /// Whole lines from `offset` on (a [`chunk`](Self::chunk) cut after its last complete
    /// line), with the offset that follows them; `None` at the end.
    pub(crate) async fn lines_at(&self, offset: u64) -> io::Result<Option<(Bytes, u64)>> {
        let Some(chunk) = self.chunk(offset).await? else {
            return Ok(None);
        };
        let end = offset + chunk.len() as u64;
        // Memory and the file's end hold whole lines; a chunk that stops inside the file's
        // lines ends where the next line starts (lines begin with their newline). An `add`
        // line is a few hundred bytes, so one longer than a chunk is an error, not a cut.
        let whole = if offset >= self.spilled || end == self.spilled {
            chunk.len()
        } else {
            match chunk.iter().rposition(|b| *b == b'\n') {
                Some(0) | None => {
                    return Err(io::Error::other(format!(
                        "a line of more than {READ_CHUNK} bytes"
                    )));
                }
                Some(cut) => cut,
            }
        };
        Ok(Some((chunk.slice(..whole), offset + whole as u64)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(spool: &Spool) -> Vec<u8> {
        let mut all = Vec::new();
        let mut offset = 0;
        while let Some(chunk) = spool.chunk(offset).await.unwrap() {
            offset += chunk.len() as u64;
            all.extend_from_slice(&chunk);
        }
        all
    }

    async fn lines_of(spool: &Spool) -> Vec<String> {
        let mut lines = Vec::new();
        let mut offset = 0;
        while let Some((chunk, next)) = spool.lines_at(offset).await.unwrap() {
            assert!(
                chunk.is_empty() || chunk[0] == b'\n',
                "a chunk starts a line"
            );
            offset = next;
            lines.extend(
                chunk
                    .split(|b| *b == b'\n')
                    .skip(1)
                    .map(|l| String::from_utf8(l.to_vec()).unwrap()),
            );
        }
        lines
    }

    #[tokio::test]
    async fn lines_come_back_whole_and_in_order_from_memory_and_file() {
        for bound in [0, 1, 100, 1 << 20] {
            let mut spool = Spool::new(bound, None);
            let expected: Vec<String> = (0..2000)
                .map(|i| format!("line {i} {}", "x".repeat(i % 37)))
                .collect();
            for (i, line) in expected.iter().enumerate() {
                spool.push(line.as_bytes()).unwrap();
                if i == 1000 {
                    // Sealing in the middle (a failed flush) keeps the order.
                    spool.seal();
                }
            }
            assert_eq!(spool.lines(), 2000);
            assert_eq!(spool.is_spilled(), bound < 1 << 20, "bound {bound}");
            let all = read_all(&spool).await;
            assert_eq!(all.len() as u64, spool.len());
            let joined: String = expected.iter().map(|l| format!("\n{l}")).collect();
            assert!(all == joined.as_bytes(), "bound {bound}: bytes differ");
            assert!(
                lines_of(&spool).await == expected,
                "bound {bound}: lines differ"
            );
        }
    }

    #[test]
    fn a_directory_that_cannot_hold_the_file_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing");
        let mut spool = Spool::new(4, Some(missing.clone()));
        spool.push(b"ab").unwrap();
        let err = spool.push(b"cd").unwrap_err();
        let message = spool.error(err).to_string();
        assert!(
            message.contains(&missing.display().to_string()),
            "{message}"
        );
        assert!(!spool.is_spilled());
        // Both lines are still there.
        assert_eq!(spool.seal().as_ref(), b"\nab\ncd");
    }

    #[tokio::test]
    async fn a_line_longer_than_a_chunk_is_an_error_not_a_cut() {
        let mut spool = Spool::new(0, None);
        spool.push(&vec![b'a'; READ_CHUNK + 10]).unwrap();
        spool.push(b"next").unwrap();
        let err = spool.lines_at(0).await.unwrap_err();
        assert!(err.to_string().contains("a line of more than"), "{err}");
    }

    #[tokio::test]
    async fn file_chunks_are_bounded_and_cut_at_line_starts() {
        let mut spool = Spool::new(0, None);
        let line = vec![b'a'; 1000];
        let count = 3 * READ_CHUNK / 1001 + 7;
        for _ in 0..count {
            spool.push(&line).unwrap();
        }
        let mut offset = 0;
        let mut chunks = 0;
        while let Some((chunk, next)) = spool.lines_at(offset).await.unwrap() {
            assert!(chunk.len() <= READ_CHUNK);
            assert_eq!(chunk.len() % 1001, 0, "whole lines only");
            offset = next;
            chunks += 1;
        }
        assert_eq!(offset, spool.len());
        assert!(chunks >= 4, "{chunks} chunks");
        assert!(spool.seal().is_empty(), "everything is in the file");
    }
}
