//! Buffering, sorting and writing Parquet files, then committing them in one Delta transaction.
//!
//! `write` only splits a batch by partition and buffers it; a partition that is full, idle
//! (log time moved on) or the largest when the buffers grow is handed to a background task that
//! sorts and encodes it on tokio's blocking pool and puts the file, while `write` keeps
//! accepting batches. At most [`ArchiveOptions::max_concurrent_encodes`] files are in flight,
//! and what they hold counts against the memory bound. `commit` encodes what is left in
//! parallel, waits for every file, and only then makes the one Delta commit.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use arrow::compute::{concat, interleave, take};
use arrow::datatypes::{DataType, Int32Type, TimestampMicrosecondType, UInt64Type};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use delta_kernel::checkpoint::LastCheckpointHintStats;
use delta_kernel::engine::arrow_data::ArrowEngineData;
use delta_kernel::table_features::TableFeature;
use deltalake::kernel::transaction::{PROTOCOL, TransactionError};
use deltalake::kernel::{Protocol, StructType};
use deltalake::logstore::{CommitOrBytes, LogStore, LogStoreRef, commit_uri_from_version};
use deltalake::table::config::TablePropertiesExt;
use deltalake::{DeltaTableError, ObjectStore};
use logoscope_drain::TemplateCatalog;
use logoscope_ingest::schema::{col, logs_schema};
use logoscope_ingest::stored::{PARAM_COLUMNS, stored_col, stored_schema, to_stored};
use object_store::buffered::BufWriter;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use parquet::arrow::arrow_writer::ArrowWriterOptions;
use parquet::arrow::async_writer::AsyncArrowWriter;
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde_json::{Value, json};
use tokio::task::{JoinError, JoinSet};

use crate::catalog;
use crate::partition::{DT, HOUR, PartitionKey, Piece, split_by_partition};
use crate::spool::Spool;
use crate::{CommitSummary, StoreError};

/// How a commit failed: whether the table may name this writer's files.
enum CommitFailure {
    /// Nothing this writer wrote was committed.
    NothingCommitted(StoreError),
    /// A commit attempt failed in a way that does not say whether it landed.
    Unknown(StoreError),
}

/// Rows gathered into sorted order at a time while a file is encoded: the encoder's only copy
/// of the data is this big, not the whole file.
const GATHER_ROWS: usize = 32 * 1024;

/// Arrow bytes gathered at a time (fewer rows than [`GATHER_ROWS`] when rows are wide): with
/// [`ROW_GROUP_BYTES`], bounds an encode's working memory whatever the rows hold. Each slice
/// is held twice while it is written (gathered, then in the stored layout), and every encode
/// in flight holds its own, so this stays small: on ordinary rows 32 Ki rows fit in it anyway.
const GATHER_BYTES: usize = 8 << 20;

/// A row group is closed once the Parquet writer holds this much for it (else it closes at
/// [`ArchiveOptions::row_group_rows`]); it is checked after each slice, so a row group holds
/// at most this plus one slice's encoding.
const ROW_GROUP_BYTES: usize = 16 << 20;

/// Files with fewer rows are not compressed. The Parquet writer sets up a zstd compressor and
/// decompressor for every column of every file, which on a file of a few rows (an hour with
/// little traffic, out-of-order input spread over many hours) costs more than the file's
/// encoding and saves a few hundred bytes against a footer of several KB.
const SMALL_FILE_ROWS: usize = 64;

/// Tuning for an [`ArchiveWriter`]. Memory use is bounded by `max_buffered_rows` /
/// `max_buffered_bytes` (rows buffered plus rows being sorted and encoded), plus per encode in
/// flight one sorted slice of 32 Ki rows or 32 MiB, a row group of 32 MiB at most and the
/// compressed file, plus `commit_memory_bytes` of the commit's `add` lines; never by input
/// size or by the number of files written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveOptions {
    /// Rows per Parquet file at most; a partition that reaches it has a file written out.
    pub target_file_rows: usize,
    /// Rows the writer holds in memory at most, buffered or being sorted and encoded. When the
    /// buffered rows pass half of it, the largest partition is written out (in the background);
    /// while buffered and in-flight rows together pass it, `write` waits for encodes to finish.
    pub max_buffered_rows: usize,
    /// The same bound for Arrow memory, in bytes.
    pub max_buffered_bytes: usize,
    /// A partition that received no row while this many rows went to other partitions is
    /// written out (in the background): on time-ordered logs, an hour that is over. A
    /// partition of fewer than `idle_flush_min_rows` rows waits eight times as long, so
    /// out-of-order input (hours that get a row now and then) does not become many tiny files.
    /// 0 turns this off (partitions are then written when full, when the buffers grow, or at
    /// commit).
    pub idle_flush_rows: usize,
    /// See `idle_flush_rows`.
    pub idle_flush_min_rows: usize,
    /// Files sorted, encoded and stored at the same time, each encode on a blocking thread,
    /// while `write` keeps accepting batches; `commit` encodes the remaining partitions this
    /// many at a time.
    pub max_concurrent_encodes: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// zstd level, 1..=22.
    pub zstd_level: i32,
    /// Commit attempts when other writers keep committing first (each re-reads the table and
    /// merges the catalog); at least 1.
    pub commit_attempts: u32,
    /// A commit after which the table's JSON commits past its newest checkpoint hold at least
    /// this many bytes is followed by a checkpoint at its version (as well as every
    /// `delta.checkpointInterval` versions). Readers load the files of a checkpoint from its
    /// Parquet; for the files of JSON commits the Delta kernel keeps a set of every path it
    /// has seen (about 200 bytes a file, where each file's JSON is about 360) while it lists
    /// them, so this bounds that set.
    pub checkpoint_after_log_bytes: u64,
    /// Bytes of `add` lines (one per file written, about 360 bytes each) held in memory until
    /// the commit; past it they go to an unnamed temporary file in `TMPDIR`, and the commit
    /// uploads its log entry from there in parts, then copies it into place only if its
    /// version is free. 0 sends every line to the file.
    pub commit_memory_bytes: usize,
    /// Where those lines go past `commit_memory_bytes`; `None` for the system's temporary
    /// directory (`TMPDIR`). The file has no name and goes away with the writer.
    pub spool_dir: Option<std::path::PathBuf>,
}

impl Default for ArchiveOptions {
    /// 1 M rows per file and held, 128 MiB held, partitions idle for 32,768 rows written out
    /// (idle for 262,144 rows when they hold fewer than 1,024),
    /// as many concurrent encodes as cores (at least 2, at most 8), 128 Ki-row row groups, zstd
    /// level 2 (on the generated corpus both faster and smaller than level 3), a checkpoint
    /// once 32 MiB of JSON commits (some 90,000 files) follow the last one, the `add` lines
    /// of up to 16 MiB (some 45,000 files) in memory.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Self {
            target_file_rows: 1_000_000,
            max_buffered_rows: 1_000_000,
            max_buffered_bytes: 128 << 20,
            idle_flush_rows: 32 * 1024,
            idle_flush_min_rows: 1024,
            max_concurrent_encodes: cores.clamp(2, 8),
            row_group_rows: 128 * 1024,
            zstd_level: 2,
            commit_attempts: 16,
            checkpoint_after_log_bytes: 32 << 20,
            commit_memory_bytes: 16 << 20,
            spool_dir: None,
        }
    }
}

impl ArchiveOptions {
    fn validate(&self) -> Result<(), StoreError> {
        let bad = |reason: &str| {
            Err(StoreError::InvalidOptions {
                reason: reason.to_owned(),
            })
        };
        if self.target_file_rows == 0 || u32::try_from(self.target_file_rows).is_err() {
            return bad("target_file_rows must be between 1 and 4,294,967,295");
        }
        if self.max_buffered_rows == 0 || self.max_buffered_bytes == 0 {
            return bad("max_buffered_rows and max_buffered_bytes must be at least 1");
        }
        if self.max_concurrent_encodes == 0 {
            return bad("max_concurrent_encodes must be at least 1");
        }
        if self.row_group_rows == 0 {
            return bad("row_group_rows must be at least 1");
        }
        if ZstdLevel::try_new(self.zstd_level).is_err() {
            return bad("zstd_level must be between 1 and 22");
        }
        Ok(())
    }
}

/// Rows of one partition, waiting for a file.
#[derive(Default)]
struct PartitionBuffer {
    pieces: Vec<Piece>,
    rows: usize,
    bytes: usize,
    /// `rows_seen` when this partition last received a row.
    last_row: u64,
}

/// Rows on their way into one file.
struct Chunk {
    pieces: Vec<Piece>,
    rows: usize,
    bytes: usize,
}

/// A file a background task encoded and stored (not yet committed).
struct WrittenFile {
    rows: usize,
    /// Arrow bytes the file's rows were counted as while in flight.
    held_bytes: usize,
    size: usize,
    /// The file's Delta `add` action, as its line of the commit.
    entry: Box<[u8]>,
}

/// What every background encode needs, shared.
struct Encoder {
    /// The `logs` schema batches arrive with.
    schema: SchemaRef,
    /// The schema of the Parquet files ([`stored_schema`]).
    stored: SchemaRef,
    properties: WriterProperties,
    /// `properties` without compression, for files of fewer than [`SMALL_FILE_ROWS`] rows.
    small_properties: WriterProperties,
    ts_index: usize,
    sort_indices: [usize; 3],
}

/// Writes `logs` batches into the archive. Files it writes stay invisible until
/// [`commit`](Self::commit); dropping the writer (or [`abort`](Self::abort)) leaves the table as
/// it was.
///
/// Files are sorted, encoded and stored by background tasks (see [`ArchiveOptions`]); the
/// first error of one is returned by the next [`write`](Self::write), [`flush`](Self::flush) or
/// [`commit`](Self::commit), and from then on the writer refuses to write or commit
/// ([`StoreError::WriterFailed`]): a commit never misses a file.
pub struct ArchiveWriter {
    log_store: LogStoreRef,
    store: Arc<dyn ObjectStore>,
    /// Table version the caller's catalog was read against.
    base_version: u64,
    options: ArchiveOptions,
    encoder: Arc<Encoder>,
    buffers: BTreeMap<PartitionKey, PartitionBuffer>,
    buffered_rows: usize,
    buffered_bytes: usize,
    /// Rows written so far, to tell idle partitions.
    rows_seen: u64,
    in_flight: JoinSet<Result<WrittenFile, StoreError>>,
    in_flight_rows: usize,
    in_flight_bytes: usize,
    /// The `add` line of every written file, each after a newline, in the order the files
    /// finished: the commit's log entry but for its first line. Only this is kept per file
    /// (about 360 bytes), not deltalake's actions, and past
    /// [`ArchiveOptions::commit_memory_bytes`] it goes to a temporary file.
    spool: Spool,
    /// Whether a spilled commit may be put in place with the store's copy-if-absent.
    copy_commits: bool,
    rows_written: u64,
    bytes_written: u64,
    /// The first background failure, once reported.
    failed: Option<String>,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("table", &self.log_store.root_url().as_str())
            .field("base_version", &self.base_version)
            .field("options", &self.options)
            .field("buffered_rows", &self.buffered_rows)
            .field("encodes_in_flight", &self.in_flight.len())
            .field("files_written", &self.spool.lines())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl ArchiveWriter {
    pub(crate) fn new(
        log_store: LogStoreRef,
        base_version: u64,
        options: ArchiveOptions,
        copy_commits: bool,
    ) -> Result<Self, StoreError> {
        options.validate()?;
        let schema = logs_schema();
        let index = |name: &str| {
            schema
                .index_of(name)
                .map_err(|_| StoreError::SchemaMismatch {
                    reason: format!("logs schema has no column `{name}`"),
                })
        };
        let ts_index = index(col::TS)?;
        let sort_indices = [index(col::SERVICE)?, index(col::TEMPLATE_ID)?, ts_index];
        let stored = stored_schema();
        let properties = writer_properties(&stored, &options)?;
        // Small files are stored plain: no compression (see SMALL_FILE_ROWS), and no delta
        // encodings, whose encoders set up a MiB of buffers per column for a few values.
        let small_properties = non_dictionary_encodings()
            .iter()
            .fold(
                properties
                    .clone()
                    .into_builder()
                    .set_compression(Compression::UNCOMPRESSED),
                |builder, (name, _)| {
                    builder.set_column_encoding(ColumnPath::from(name.as_str()), Encoding::PLAIN)
                },
            )
            .build();
        Ok(Self {
            store: log_store.object_store(None),
            base_version,
            log_store,
            spool: Spool::new(options.commit_memory_bytes, options.spool_dir.clone()),
            options,
            encoder: Arc::new(Encoder {
                schema,
                stored,
                properties,
                small_properties,
                ts_index,
                sort_indices,
            }),
            buffers: BTreeMap::new(),
            buffered_rows: 0,
            buffered_bytes: 0,
            rows_seen: 0,
            in_flight: JoinSet::new(),
            in_flight_rows: 0,
            in_flight_bytes: 0,
            copy_commits,
            rows_written: 0,
            bytes_written: 0,
            failed: None,
        })
    }

    /// Buffers `batch` (which must have [`logs_schema`]) by partition, starting background
    /// files as the configured bounds demand, and waiting for some when the memory bound is
    /// reached. Returns the error of a background file that failed since the last call.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), StoreError> {
        self.check_failed()?;
        self.collect_finished()?;
        check_schema(&self.encoder.schema, &batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Re-stamp with the canonical schema so concat never trips over field metadata.
        let batch =
            RecordBatch::try_new(Arc::clone(&self.encoder.schema), batch.columns().to_vec())?;
        let parts = split_by_partition(&batch, self.encoder.ts_index)?;
        self.rows_seen += batch.num_rows() as u64;
        for (key, piece) in parts {
            let rows = piece.len();
            // A piece keeps its whole batch alive.
            let bytes = piece.batch.get_array_memory_size();
            let buffer = self.buffers.entry(key).or_default();
            buffer.pieces.push(piece);
            buffer.rows += rows;
            buffer.bytes += bytes;
            buffer.last_row = self.rows_seen;
            self.buffered_rows += rows;
            self.buffered_bytes += bytes;
            let (dropped, added) = coalesce_small_pieces(&mut buffer.pieces)?;
            buffer.bytes = buffer.bytes + added - dropped;
            self.buffered_bytes = self.buffered_bytes + added - dropped;
        }
        self.schedule().await
    }

    /// Writes every buffered partition out and waits for every file (still invisible until
    /// [`commit`](Self::commit)).
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        self.check_failed()?;
        // Largest first, so the last encodes to start are short and finish together.
        let mut keys: Vec<(usize, PartitionKey)> =
            self.buffers.iter().map(|(k, b)| (b.rows, *k)).collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        for (_, key) in keys {
            self.flush_partition(key).await?;
        }
        while let Some(result) = self.in_flight.join_next().await {
            self.record(result)?;
        }
        Ok(())
    }

    /// Rows held in memory and not yet in a file: buffered, or being sorted and encoded.
    pub fn buffered_rows(&self) -> usize {
        self.buffered_rows + self.in_flight_rows
    }

    /// Bytes the rows of [`buffered_rows`](Self::buffered_rows) are counted as against
    /// `max_buffered_bytes`.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered_bytes + self.in_flight_bytes
    }

    /// Parquet files written so far (uncommitted); files still being encoded are not counted.
    pub fn files_written(&self) -> usize {
        self.spool.lines()
    }

    /// The catalog committed at or below this writer's table version, if any.
    async fn base_catalog(
        &self,
        log_store: &dyn deltalake::logstore::LogStore,
    ) -> Result<Option<TemplateCatalog>, StoreError> {
        let version = self.base_version;
        match catalog::newest_reference(log_store, self.store.as_ref(), None, version).await? {
            Some(path) => Ok(Some(catalog::read(self.store.as_ref(), &path).await?)),
            None => Ok(None),
        }
    }

    /// Flushes, saves `catalog` and makes exactly one Delta commit holding every file this
    /// writer wrote: readers see all of them or none.
    ///
    /// The catalog goes to `_logoscope/catalog/<version:020>-<uuid>.json` and the commit's
    /// `commitInfo` names it (`logoscope.catalog`). When another writer committed since this
    /// writer's table version, the newest committed catalog is reloaded, `catalog` is merged
    /// into it, and the commit is retried at the next version (appends never conflict
    /// logically), up to `commit_attempts` attempts. The merge adds the counts this writer made since its base
    /// catalog (the one committed at or below its table version, which
    /// `Archive::load_catalog` gives the ingest), so every entry is counted once.
    ///
    /// When a file cannot be written (now or earlier), or the commit fails before its attempt
    /// or loses every race, nothing is committed and the files this writer did write are
    /// deleted (best effort). They are kept when the outcome of a commit attempt is unknown (a
    /// network error while writing the log entry): it may have landed and name them.
    pub async fn commit(mut self, catalog: &TemplateCatalog) -> Result<CommitSummary, StoreError> {
        if let Err(err) = self.flush().await {
            self.discard().await;
            return Err(err);
        }
        match self.commit_files(catalog).await {
            Ok(summary) => Ok(summary),
            Err(CommitFailure::NothingCommitted(err)) => {
                self.discard().await;
                Err(err)
            }
            Err(CommitFailure::Unknown(err)) => Err(err),
        }
    }

    /// The commit of [`commit`](Self::commit), after every file is written.
    async fn commit_files(
        &mut self,
        catalog: &TemplateCatalog,
    ) -> Result<CommitSummary, CommitFailure> {
        let rows: u64 = self.rows_written;
        let bytes = self.bytes_written;
        let files = self.spool.lines();
        // The lines in memory, shared by the attempts; spilled ones are read back by each.
        let sealed = self.spool.seal();

        // Errors before an attempt leave nothing committed (earlier attempts lost their race).
        let before = |err: StoreError| CommitFailure::NothingCommitted(err);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let log_store = Arc::clone(&self.log_store);
            // The newest version's protocol and metadata; its files are not read.
            let snapshot = newest_snapshot(log_store.as_ref())
                .await
                .map_err(|e| before(e.into()))?;
            check_appendable(
                snapshot.table_configuration().protocol(),
                snapshot.schema().as_ref(),
            )
            .map_err(before)?;
            let latest = snapshot.version();
            let properties = snapshot.table_properties();
            let checkpoint_interval = properties.checkpoint_interval().get();
            let log_retention = properties.log_retention_duration();
            let cleanup = properties.enable_expired_log_cleanup();
            // JSON commits readers replay past the newest checkpoint.
            let segment = snapshot.log_segment();
            let log_bytes: u64 = segment
                .listed
                .ascending_commit_files
                .iter()
                .filter(|c| segment.checkpoint_version.is_none_or(|v| c.version > v))
                .map(|c| c.location.size)
                .sum();
            drop(snapshot);

            let catalog_json = match catalog::newest_reference(
                log_store.as_ref(),
                self.store.as_ref(),
                Some(self.base_version),
                latest,
            )
            .await
            .map_err(before)?
            {
                // Someone else committed a catalog after ours was read: keep their templates
                // too, and add only what this ingest counted to the counts they already hold.
                Some(path) => {
                    let mut merged = catalog::read(self.store.as_ref(), &path)
                        .await
                        .map_err(before)?;
                    match self
                        .base_catalog(log_store.as_ref())
                        .await
                        .map_err(before)?
                    {
                        Some(base) => merged.merge_since(catalog, &base),
                        None => merged.merge(catalog),
                    }
                    merged.to_json()
                }
                None => catalog.to_json(),
            };
            let version = latest + 1;
            let catalog_path = catalog::new_path(version);
            self.store
                .put(&catalog_path, PutPayload::from(catalog_json.into_bytes()))
                .await
                .map_err(|e| before(e.into()))?;

            let info = Bytes::from(commit_info(&catalog_path, files, rows, bytes).to_string());
            let entry_len = info.len() as u64 + self.spool.len();
            let operation_id = uuid::Uuid::new_v4();
            let entry = Entry {
                info: &info,
                spool: &self.spool,
                sealed: &sealed,
            };
            let outcome = write_commit(
                log_store.as_ref(),
                version,
                entry,
                self.copy_commits,
                operation_id,
            )
            .await;
            let landed = match outcome {
                Ok(()) => true,
                // The version exists: another writer's commit, or this one's when the answer
                // to its PUT was lost and the retried PUT found it there.
                Err(Attempt::Taken) => {
                    match catalog::commit_reference(log_store.as_ref(), version).await {
                        Ok(Some(reference)) => reference.as_deref() == Some(catalog_path.as_ref()),
                        Ok(None) => false,
                        Err(err) => return Err(CommitFailure::Unknown(err)),
                    }
                }
                // The entry could not be staged: the version was never touched.
                Err(Attempt::NotMade(err)) => {
                    let _ = self.store.delete(&catalog_path).await;
                    return Err(before(err));
                }
                // The commit may have landed and name the catalog: it stays.
                Err(Attempt::Unknown(err)) => return Err(CommitFailure::Unknown(err)),
            };
            if landed {
                // As deltalake does after a commit: a checkpoint every `checkpointInterval`
                // versions, then the clean-up of expired log entries; and one once the JSON
                // commits past the newest checkpoint reach `checkpoint_after_log_bytes`. The
                // commit stands whatever they do; a missed checkpoint only makes loading
                // slower, and the summary says why it was missed.
                let appended = std::mem::replace(&mut self.spool, Spool::new(0, None));
                let mut checkpoint_failure = None;
                if (version + 1).is_multiple_of(checkpoint_interval)
                    || log_bytes + entry_len >= self.options.checkpoint_after_log_bytes
                {
                    let retention = cleanup.then_some(log_retention);
                    let checkpointed =
                        checkpoint(log_store.as_ref(), version, retention, Some(appended)).await;
                    if let Err(err) = checkpointed {
                        checkpoint_failure =
                            Some(format!("the checkpoint of version {version} failed: {err}"));
                    }
                }
                return Ok(CommitSummary {
                    version,
                    files,
                    rows,
                    bytes,
                    checkpoint_failure,
                });
            }
            // Best effort: an orphaned catalog is harmless, only untidy.
            let _ = self.store.delete(&catalog_path).await;
            if attempt >= self.options.commit_attempts.max(1) {
                return Err(before(StoreError::CommitConflict { attempts: attempt }));
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    /// Deletes every file this writer wrote, reading their paths back from the spool; stops
    /// at the first error unless `best_effort`.
    async fn delete_written(&self, best_effort: bool) -> Result<(), StoreError> {
        let mut offset = 0;
        loop {
            let lines = match self.spool.lines_at(offset).await {
                Ok(Some((lines, next))) => {
                    offset = next;
                    lines
                }
                Ok(None) => return Ok(()),
                Err(_) if best_effort => return Ok(()),
                Err(source) => return Err(self.spool.error(source)),
            };
            let paths = lines
                .split(|b| *b == b'\n')
                .filter(|line| !line.is_empty())
                .filter_map(entry_path);
            for path in paths {
                match self.store.delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(_) if best_effort => {}
                    Err(err) => return Err(err.into()),
                }
            }
        }
    }

    /// Books a written file's `add` line.
    fn add_entry(&mut self, entry: &[u8]) -> Result<(), StoreError> {
        self.spool.push(entry).map_err(|err| self.spool.error(err))
    }

    /// Waits for the files in flight, then deletes every file this writer wrote and drops its
    /// buffers; the table is untouched.
    pub async fn abort(mut self) -> Result<(), StoreError> {
        self.delete_in_flight(false).await?;
        self.delete_written(false).await
    }

    /// [`abort`](Self::abort) that ignores errors: the cleanup after a failed write.
    async fn discard(&mut self) {
        // Best effort: an orphaned file is invisible, only untidy.
        let _ = self.delete_in_flight(true).await;
        let _ = self.delete_written(true).await;
        self.spool = Spool::new(0, None);
    }

    /// Waits for the files in flight and deletes those that were stored.
    async fn delete_in_flight(&mut self, best_effort: bool) -> Result<(), StoreError> {
        while let Some(result) = self.in_flight.join_next().await {
            let Ok(Ok(file)) = result else { continue };
            let Some(path) = entry_path(&file.entry) else {
                continue;
            };
            match self.store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(_) if best_effort => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Starts files for partitions that are full, idle, or the largest while the buffers are
    /// over half the bound; then waits for files in flight while the bound is exceeded.
    async fn schedule(&mut self) -> Result<(), StoreError> {
        let target = self.options.target_file_rows;
        let full: Vec<PartitionKey> = self
            .buffers
            .iter()
            .filter(|(_, b)| b.rows >= target)
            .map(|(k, _)| *k)
            .collect();
        for key in full {
            while let Some(chunk) = self.take_rows(key, target) {
                self.start_file(key, chunk).await?;
            }
        }

        let idle_after = self.options.idle_flush_rows as u64;
        if idle_after > 0 {
            let idle: Vec<PartitionKey> = self
                .buffers
                .iter()
                .filter(|(_, b)| {
                    let idle = self.rows_seen - b.last_row;
                    idle >= idle_after
                        && (b.rows >= self.options.idle_flush_min_rows || idle >= 8 * idle_after)
                })
                .map(|(k, _)| *k)
                .collect();
            for key in idle {
                self.flush_partition(key).await?;
            }
        }

        // Half the bound for buffers, so that a file can be encoded while the next one fills.
        // The largest partitions first, from one sorted list: with thousands of small
        // partitions (out-of-order input), a search for the largest before each flush made
        // this quadratic.
        if self.over_half_bound() {
            let mut sizes: Vec<(usize, usize, PartitionKey)> = self
                .buffers
                .iter()
                .map(|(k, b)| (b.rows, b.bytes, *k))
                .collect();
            sizes.sort_unstable_by(|a, b| b.cmp(a));
            for (_, _, key) in sizes {
                if !self.over_half_bound() {
                    break;
                }
                self.flush_partition(key).await?;
            }
        }

        while (self.buffered_rows + self.in_flight_rows > self.options.max_buffered_rows
            || self.buffered_bytes + self.in_flight_bytes > self.options.max_buffered_bytes)
            && !self.in_flight.is_empty()
        {
            self.finish_one().await?;
        }
        Ok(())
    }

    fn over_half_bound(&self) -> bool {
        self.buffered_rows > self.options.max_buffered_rows / 2
            || self.buffered_bytes > self.options.max_buffered_bytes / 2
    }

    /// Starts files for all of partition `key`'s buffered rows.
    async fn flush_partition(&mut self, key: PartitionKey) -> Result<(), StoreError> {
        while let Some(chunk) = self.take_rows(key, self.options.target_file_rows) {
            self.start_file(key, chunk).await?;
        }
        if let Some(buffer) = self.buffers.remove(&key) {
            self.buffered_rows -= buffer.rows;
            self.buffered_bytes -= buffer.bytes;
            let chunk = Chunk {
                pieces: buffer.pieces,
                rows: buffer.rows,
                bytes: buffer.bytes,
            };
            self.start_file(key, chunk).await?;
        }
        Ok(())
    }

    /// The first `rows` buffered rows of partition `key` (in arrival order), when it has that
    /// many.
    fn take_rows(&mut self, key: PartitionKey, rows: usize) -> Option<Chunk> {
        let buffer = self.buffers.get_mut(&key)?;
        if buffer.rows < rows || rows == 0 {
            return None;
        }
        let mut taken = Vec::new();
        let mut kept = Vec::new();
        let mut count = 0;
        for piece in std::mem::take(&mut buffer.pieces) {
            let want = rows - count;
            if want == 0 {
                kept.push(piece);
            } else if piece.len() <= want {
                count += piece.len();
                taken.push(piece);
            } else {
                // Both halves share the batch: no copy.
                let (head, tail) = piece.split_at(want);
                taken.push(head);
                kept.push(tail);
                count += want;
            }
        }
        // Halves of a piece share its batch, so bytes are apportioned by rows.
        let bytes = if rows == buffer.rows {
            buffer.bytes
        } else {
            usize::try_from(buffer.bytes as u128 * rows as u128 / buffer.rows as u128)
                .unwrap_or(buffer.bytes)
        };
        // What is left was counted by an estimate (bytes apportioned by rows): joining pieces
        // needs each piece's exact count. (Today what is left is at most one cut piece, which
        // is not compact anyway; this keeps the rule when that changes.)
        for piece in &mut kept {
            piece.compact = false;
        }
        buffer.pieces = kept;
        buffer.rows -= rows;
        buffer.bytes -= bytes;
        if buffer.rows == 0 {
            self.buffers.remove(&key);
        }
        self.buffered_rows -= rows;
        self.buffered_bytes -= bytes;
        Some(Chunk {
            pieces: taken,
            rows,
            bytes,
        })
    }

    /// Hands `chunk` to a background task that sorts and encodes it on the blocking pool and
    /// puts the file; first waits for a file to finish when the most are in flight.
    async fn start_file(&mut self, key: PartitionKey, chunk: Chunk) -> Result<(), StoreError> {
        while self.in_flight.len() >= self.options.max_concurrent_encodes {
            self.finish_one().await?;
        }
        self.in_flight_rows += chunk.rows;
        self.in_flight_bytes += chunk.bytes;
        let encoder = Arc::clone(&self.encoder);
        let store = Arc::clone(&self.store);
        self.in_flight.spawn(async move {
            let Chunk {
                pieces,
                rows,
                bytes,
            } = chunk;
            let (encoded, stats) = tokio::task::spawn_blocking(move || encoder.encode(&pieces))
                .await
                .map_err(task_failed)??;
            let size = encoded.len();
            let relative = format!(
                "{}/part-{}.{}parquet",
                key.directory(),
                uuid::Uuid::new_v4().simple(),
                if rows < SMALL_FILE_ROWS { "" } else { "zstd." }
            );
            store
                .put(&Path::from(relative.as_str()), PutPayload::from(encoded))
                .await?;
            let (dt, hour) = key.values();
            let entry = add_line(
                &relative,
                &dt,
                &hour,
                i64::try_from(size).unwrap_or(i64::MAX),
                &stats,
            )?;
            Ok(WrittenFile {
                rows,
                held_bytes: bytes,
                size,
                entry: entry.into_boxed_slice(),
            })
        });
        Ok(())
    }

    /// Waits for one file in flight to finish.
    async fn finish_one(&mut self) -> Result<(), StoreError> {
        match self.in_flight.join_next().await {
            Some(result) => self.record(result),
            None => Ok(()),
        }
    }

    /// Takes the results of files that finished, without waiting.
    fn collect_finished(&mut self) -> Result<(), StoreError> {
        while let Some(result) = self.in_flight.try_join_next() {
            self.record(result)?;
        }
        Ok(())
    }

    /// Books a finished file, or remembers (and returns) its failure.
    fn record(
        &mut self,
        result: Result<Result<WrittenFile, StoreError>, JoinError>,
    ) -> Result<(), StoreError> {
        match result.map_err(task_failed).and_then(|r| r) {
            Ok(file) => {
                self.in_flight_rows -= file.rows;
                self.in_flight_bytes -= file.held_bytes;
                self.rows_written += file.rows as u64;
                self.bytes_written += file.size as u64;
                // The commit would miss a file whose line the spool could not write out (the
                // line stays in memory, so the file is deleted with the others).
                self.add_entry(&file.entry).inspect_err(|err| {
                    self.failed = Some(err.to_string());
                })
            }
            Err(err) => {
                self.failed = Some(err.to_string());
                Err(err)
            }
        }
    }

    fn check_failed(&self) -> Result<(), StoreError> {
        match &self.failed {
            Some(reason) => Err(StoreError::WriterFailed {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }
}

/// Pieces below this many rows are joined into larger ones as they arrive.
const COALESCE_ROWS: usize = 256;

/// Small pieces that together hold at most this many rows are always joined: an hour that gets
/// a row now and then is one piece (one set of arrays) until it has this many.
const JOIN_ALWAYS_ROWS: usize = 64;

/// Pieces that together hold more Arrow bytes than this are never joined: their arrays' fixed
/// cost (what joining saves) is small beside their rows, and joining copies them all while
/// both copies are alive (with entries of a MiB, 64 rows are 64 MiB).
const JOIN_MAX_BYTES: usize = 1 << 20;

/// Joins the last two pieces of a partition while both are small copies, together hold at
/// most [`JOIN_MAX_BYTES`], and the earlier one is
/// no larger than the later, or both together hold at most [`JOIN_ALWAYS_ROWS`] (a binary
/// counter above that: a partition holds O(log n) small pieces and each row is copied O(log n)
/// times, plus at most 64 times while its piece is that small). Out-of-order input sends a row or two per batch to each of
/// many hours; each such piece carries the fixed cost of its arrays (some KB), which would
/// otherwise fill the byte bound with overhead and end in many tiny files. Returns the bytes of
/// the pieces joined and of the pieces they became. Arrival order is kept.
fn coalesce_small_pieces(pieces: &mut Vec<Piece>) -> Result<(usize, usize), StoreError> {
    let (mut dropped, mut added) = (0, 0);
    while let [.., a, b] = pieces.as_slice()
        && a.compact
        && b.compact
        && (a.len() <= b.len() || a.len() + b.len() <= JOIN_ALWAYS_ROWS)
        && b.len() < COALESCE_ROWS
        && a.batch.get_array_memory_size() + b.batch.get_array_memory_size() <= JOIN_MAX_BYTES
    {
        let joined = arrow::compute::concat_batches(&a.batch.schema(), [&a.batch, &b.batch])?;
        // A piece joined in this loop was counted as added: this keeps the sums exact.
        dropped += a.batch.get_array_memory_size() + b.batch.get_array_memory_size();
        added += joined.get_array_memory_size();
        pieces.truncate(pieces.len() - 2);
        pieces.push(Piece::whole(joined));
    }
    Ok((dropped, added))
}

fn task_failed(err: JoinError) -> StoreError {
    StoreError::Internal {
        reason: format!("a Parquet file task failed: {err}"),
    }
}

impl Encoder {
    /// Sorts `pieces` (one partition's rows) by (service, template_id, ts) and encodes them as
    /// one zstd Parquet file; returns the file and its Delta statistics.
    fn encode(&self, pieces: &[Piece]) -> Result<(Vec<u8>, String), StoreError> {
        let gather = Gather::new(pieces)?;
        let (order, range) = sort_order(pieces, &self.sort_indices)?;
        let mut out = Vec::new();
        let properties = if order.len() < SMALL_FILE_ROWS {
            &self.small_properties
        } else {
            &self.properties
        };
        let mut writer =
            ArrowWriter::try_new(&mut out, Arc::clone(&self.stored), Some(properties.clone()))?;
        let bytes: usize = pieces
            .iter()
            .map(|p| p.batch.get_array_memory_size() / p.batch.num_rows().max(1) * p.len())
            .sum();
        let per_row = (bytes / order.len().max(1)).max(1);
        for rows in order.chunks((GATHER_BYTES / per_row).clamp(1, GATHER_ROWS)) {
            writer.write(&to_stored(&gather.rows(&self.schema, rows)?)?)?;
            if writer.memory_size() > ROW_GROUP_BYTES {
                writer.flush()?;
            }
        }
        writer.close()?;
        Ok((out, range.stats()))
    }
}

/// The columns of a partition's pieces, ready to be gathered in sorted order.
struct Gather<'a> {
    columns: Vec<Source<'a>>,
    /// Index of each piece's batch's first row in the concatenated columns.
    offsets: Vec<u32>,
}

enum Source<'a> {
    /// Dictionary columns (small: keys and a few values) and single batches: one array,
    /// `take`n from.
    Whole(ArrayRef),
    /// Text, lists and numbers are interleaved straight from the batches: one copy.
    Batches(Vec<&'a dyn Array>),
}

impl<'a> Gather<'a> {
    fn new(pieces: &'a [Piece]) -> Result<Self, StoreError> {
        let mut offsets = Vec::with_capacity(pieces.len());
        let mut total = 0u32;
        for piece in pieces {
            offsets.push(total);
            total = u32::try_from(piece.batch.num_rows())
                .ok()
                .and_then(|rows| total.checked_add(rows))
                .ok_or_else(|| StoreError::Internal {
                    reason: "a Parquet file may hold at most u32::MAX rows".into(),
                })?;
        }
        let width = pieces.first().map_or(0, |p| p.batch.num_columns());
        let mut columns = Vec::with_capacity(width);
        for i in 0..width {
            let arrays: Vec<&dyn Array> =
                pieces.iter().map(|p| p.batch.column(i).as_ref()).collect();
            columns.push(match (pieces, arrays[0].data_type()) {
                ([single], _) => Source::Whole(Arc::clone(single.batch.column(i))),
                (_, DataType::Dictionary(..)) => Source::Whole(concat(&arrays)?),
                _ => Source::Batches(arrays),
            });
        }
        Ok(Self { columns, offsets })
    }

    /// The rows `order` names ((piece, row of its batch) pairs), as one batch.
    fn rows(&self, schema: &SchemaRef, order: &[(u32, u32)]) -> Result<RecordBatch, StoreError> {
        let mut global: Option<UInt32Array> = None;
        let mut pairs: Option<Vec<(usize, usize)>> = None;
        let mut columns = Vec::with_capacity(self.columns.len());
        for source in &self.columns {
            columns.push(match source {
                Source::Whole(array) => {
                    let indices = global.get_or_insert_with(|| {
                        order
                            .iter()
                            .map(|&(p, r)| self.offsets[p as usize] + r)
                            .collect()
                    });
                    take(array.as_ref(), indices, None)?
                }
                Source::Batches(arrays) => {
                    let indices = pairs.get_or_insert_with(|| {
                        order
                            .iter()
                            .map(|&(p, r)| (p as usize, r as usize))
                            .collect()
                    });
                    interleave(arrays, indices)?
                }
            });
        }
        Ok(RecordBatch::try_new(Arc::clone(schema), columns)?)
    }
}

/// Row count and `ts` range of one file.
#[derive(Debug, Default)]
struct TsRange {
    rows: usize,
    nulls: usize,
    min: Option<i64>,
    max: Option<i64>,
}

impl TsRange {
    fn add(&mut self, ts: Option<i64>) {
        self.rows += 1;
        match ts {
            Some(v) => {
                self.min = Some(self.min.map_or(v, |m| m.min(v)));
                self.max = Some(self.max.map_or(v, |m| m.max(v)));
            }
            None => self.nulls += 1,
        }
    }

    /// Delta per-file statistics: the row count, and min/max/null count of `ts` (what
    /// time-range queries skip files with). Timestamps are written at millisecond precision as
    /// the Delta protocol expects, rounded outwards so the range still covers every row.
    fn stats(&self) -> String {
        let mut stats = json!({
            "numRecords": self.rows,
            "nullCount": { col::TS: self.nulls },
        });
        let min = self.min.and_then(|v| millis_string(v.div_euclid(1000)));
        let max = self
            .max
            .and_then(|v| millis_string(v.saturating_add(999).div_euclid(1000)));
        if let (Some(min), Some(max)) = (min, max) {
            stats["minValues"] = json!({ col::TS: min });
            stats["maxValues"] = json!({ col::TS: max });
        }
        // Kept until the commit, one per file: without the slack of a growing string.
        let mut text = stats.to_string();
        text.shrink_to_fit();
        text
    }
}

/// The order of the rows of `pieces` by (service, template_id, ts), ascending with nulls last
/// (what the files' `sorting_columns` declare), ties in arrival order, as (piece, row of its
/// batch) pairs; and the rows' `ts` range.
fn sort_order(
    pieces: &[Piece],
    &[service, template, ts]: &[usize; 3],
) -> Result<(Vec<(u32, u32)>, TsRange), StoreError> {
    let mismatch = |name: &str| StoreError::SchemaMismatch {
        reason: format!("column `{name}` does not have the logs schema's type"),
    };
    // Services compare as text: rank each batch's dictionary values among all of them.
    let mut dictionaries = Vec::with_capacity(pieces.len());
    for piece in pieces {
        let dictionary = piece
            .batch
            .column(service)
            .as_dictionary_opt::<Int32Type>()
            .ok_or_else(|| mismatch(col::SERVICE))?;
        let values = dictionary
            .values()
            .as_string_opt::<i32>()
            .ok_or_else(|| mismatch(col::SERVICE))?;
        dictionaries.push((dictionary, values));
    }
    let mut names: Vec<&str> = dictionaries
        .iter()
        .flat_map(|(_, values)| values.iter().flatten())
        .collect();
    names.sort_unstable();
    names.dedup();

    let total: usize = pieces.iter().map(Piece::len).sum();
    let too_many = || StoreError::Internal {
        reason: "too many rows in one file".into(),
    };
    u32::try_from(total).map_err(|_| too_many())?;
    let mut range = TsRange::default();
    // Each row's key is packed in 128 bits, compared as one integer instead of a tuple: its
    // group (service rank, template_id, ts is null), renumbered below in the groups' sorted
    // order; then `ts`, order-preserving as unsigned (0 when null); then its arrival index,
    // which makes ties keep arrival order (pieces in order, rows ascending in each), which
    // keeps `line` ascending within a template.
    let mut groups: HashMap<(u32, u64, bool), u32, BuildGroupHasher> = HashMap::default();
    let mut keys: Vec<u128> = Vec::with_capacity(total);
    let mut arrivals: Vec<(u32, u32)> = Vec::with_capacity(total);
    for (p, (piece, (dictionary, values))) in pieces.iter().zip(&dictionaries).enumerate() {
        let ranks: Vec<u32> = values
            .iter()
            .map(|v| {
                v.and_then(|name| names.binary_search(&name).ok())
                    .and_then(|rank| u32::try_from(rank).ok())
                    .unwrap_or(u32::MAX)
            })
            .collect();
        let templates = piece
            .batch
            .column(template)
            .as_primitive_opt::<UInt64Type>()
            .ok_or_else(|| mismatch(col::TEMPLATE_ID))?;
        let times = piece
            .batch
            .column(ts)
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| mismatch(col::TS))?;
        let p = u32::try_from(p).map_err(|_| too_many())?;
        let service_keys = dictionary.keys();
        let mut push = |row: u32| {
            let i = row as usize;
            let rank = if service_keys.is_valid(i) {
                usize::try_from(service_keys.value(i))
                    .ok()
                    .and_then(|k| ranks.get(k).copied())
                    .unwrap_or(u32::MAX)
            } else {
                u32::MAX
            };
            let time = times.is_valid(i).then(|| times.value(i));
            range.add(time);
            // `template_id` is not nullable (RecordBatch checks that).
            let next = groups.len() as u32;
            let group = *groups
                .entry((rank, templates.value(i), time.is_none()))
                .or_insert(next);
            let time = time.map_or(0, |t| (t as u64) ^ (1 << 63));
            // `total` fits u32, so the arrival index does.
            let arrival = arrivals.len() as u32;
            keys.push((u128::from(group) << 96) | (u128::from(time) << 32) | u128::from(arrival));
            arrivals.push((p, row));
        };
        match &piece.rows {
            Some(rows) => rows.iter().copied().for_each(&mut push),
            // `Gather::new` checked that batches hold at most u32::MAX rows.
            None => (0..piece.batch.num_rows() as u32).for_each(&mut push),
        }
    }
    let mut sorted: Vec<((u32, u64, bool), u32)> = groups.into_iter().collect();
    sorted.sort_unstable();
    let mut position = vec![0u32; sorted.len()];
    for (at, (_, group)) in sorted.iter().enumerate() {
        // There are at most `total` groups.
        position[*group as usize] = at as u32;
    }
    const LOW: u128 = (1 << 96) - 1;
    for key in &mut keys {
        let group = (*key >> 96) as usize;
        *key = (*key & LOW) | (u128::from(position[group]) << 96);
    }
    keys.sort_unstable();
    let order = keys
        .iter()
        .map(|&key| arrivals[(key as u32) as usize])
        .collect();
    Ok((order, range))
}

/// Hashes the sort groups (two integers and a flag) with a multiply-rotate step per word,
/// as rustc's FxHasher does: the keys come from the batches, not from an adversary, and
/// SipHash would cost more than the sort saves.
#[derive(Default, Clone, Copy)]
struct BuildGroupHasher;

impl std::hash::BuildHasher for BuildGroupHasher {
    type Hasher = GroupHasher;
    fn build_hasher(&self) -> GroupHasher {
        GroupHasher(0)
    }
}

struct GroupHasher(u64);

impl GroupHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl std::hash::Hasher for GroupHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.add(u64::from(b));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
}

/// The first line of a commit: `commitInfo`, naming the catalog the commit saved.
fn commit_info(catalog_path: &Path, files: usize, rows: u64, bytes: u64) -> Value {
    json!({
        "commitInfo": {
            "timestamp": Utc::now().timestamp_millis(),
            "operation": "WRITE",
            "operationParameters": {"mode": "Append", "partitionBy": "[\"dt\",\"hour\"]"},
            "isBlindAppend": true,
            "engineInfo": concat!("logoscope:", env!("CARGO_PKG_VERSION")),
            "clientVersion": concat!("logoscope-", env!("CARGO_PKG_VERSION")),
            catalog::COMMIT_INFO_KEY: catalog_path.as_ref(),
            "logoscope.operation": "ingest",
            "operationMetrics": {
                "numFiles": files,
                "numOutputRows": rows,
                "numOutputBytes": bytes,
            },
        }
    })
}

/// Writer features a table may require for Logoscope to append to it. The writer adds files
/// and nothing else, so it accepts the features an append cannot break: `appendOnly`,
/// `invariants` (when no column has one), deletion vectors (its files have none), v2
/// checkpoints (written by the Delta kernel), `timestampNtz` (the archive has no such
/// column), domain metadata (left as it is), the vacuum protocol check, and the change data
/// feed (an append's changes are its `add` lines). Other writers' constraints, generated or
/// identity columns, column mapping and row tracking would need work the writer does not do.
const APPENDABLE_WRITER_FEATURES: [TableFeature; 8] = [
    TableFeature::AppendOnly,
    TableFeature::Invariants,
    TableFeature::DeletionVectors,
    TableFeature::V2Checkpoint,
    TableFeature::TimestampWithoutTimezone,
    TableFeature::DomainMetadata,
    TableFeature::VacuumProtocolCheck,
    TableFeature::ChangeDataFeed,
];

/// The table-property key of a column invariant (in a field's metadata).
const INVARIANTS_KEY: &str = "delta.invariants";

/// Refuses tables that ask more of a writer than appending files: reader features deltalake
/// cannot read, a legacy writer version above 2 (constraints, generated or identity columns,
/// column mapping), writer features outside [`APPENDABLE_WRITER_FEATURES`], or a column
/// invariant (which the writer does not check).
fn check_appendable(protocol: &Protocol, schema: &StructType) -> Result<(), StoreError> {
    PROTOCOL
        .can_read_from_protocol(protocol)
        .map_err(|e| StoreError::from(DeltaTableError::from(e)))?;
    let mut refused: Vec<String> = match protocol.min_writer_version() {
        ..=2 => Vec::new(),
        7 => protocol
            .writer_features()
            .unwrap_or_default()
            .iter()
            .filter(|f| !APPENDABLE_WRITER_FEATURES.contains(f))
            .map(ToString::to_string)
            .collect(),
        v => vec![format!("writer version {v}")],
    };
    refused.extend(
        schema
            .fields()
            .filter(|f| f.metadata().contains_key(INVARIANTS_KEY))
            .map(|f| format!("the invariant on column {}", f.name())),
    );
    if refused.is_empty() {
        return Ok(());
    }
    Err(StoreError::SchemaMismatch {
        reason: format!(
            "the table's protocol requires {} of its writers, which Logoscope does not do; it can \
             still be queried, but ingest into a new archive (--to)",
            refused.join(", ")
        ),
    })
}

/// Rows per row group of the checkpoints the writer makes. The Delta kernel's own checkpoint
/// is one row group (up to a million files), which its writer buffers whole and every reader
/// of the table fetches whole; in groups of this many files (a few MB) both stay small.
pub(crate) const CHECKPOINT_ROW_GROUP_ROWS: usize = 8 * 1024;

/// The table's newest version as the Delta kernel loads it: protocol, metadata and the log
/// listing (with each commit's size), not its files.
async fn newest_snapshot(
    log_store: &dyn LogStore,
) -> Result<delta_kernel::snapshot::SnapshotRef, DeltaTableError> {
    let engine = log_store.engine(None);
    let root = table_root(log_store);
    tokio::task::spawn_blocking(move || {
        delta_kernel::snapshot::Snapshot::builder_for(root).build(engine.as_ref())
    })
    .await
    .map_err(|e| DeltaTableError::Generic(e.to_string()))?
    .map_err(DeltaTableError::from)
}

/// The table root URL, ending in `/` as the kernel joins paths to it.
fn table_root(log_store: &dyn LogStore) -> url::Url {
    let mut root = log_store.root_url().clone();
    if !root.path().ends_with('/') {
        root.set_path(&format!("{}/", root.path()));
    }
    root
}

/// Writes the checkpoint of exactly `version` (other commits may have followed it); then, when
/// `cleanup` gives the table's log retention, removes log entries older than that which the
/// checkpoint replaces.
///
/// The Delta kernel reconciles the log into the checkpoint's actions a batch at a time; they
/// are written here as zstd Parquet in row groups of [`CHECKPOINT_ROW_GROUP_ROWS`], and then
/// `_last_checkpoint` is updated. (Tables with the `v2Checkpoint` feature, which other writers
/// may turn on, get the kernel's own checkpoint.)
///
/// `appended` is the spool of this writer's commit when that is `version`. The kernel
/// reconciles the state of the version before, and the commit's `add` lines follow it as they
/// are: a Logoscope commit only adds files, under names never used before, so nothing in it
/// replaces or removes an earlier action. This keeps the checkpoint from holding what the
/// kernel's reconciliation holds for every file of the JSON commits it replays (a set of
/// their paths, about 200 bytes a file): a commit of a million files would cost 200 MB.
async fn checkpoint(
    log_store: &dyn LogStore,
    version: u64,
    cleanup: Option<Duration>,
    appended: Option<Spool>,
) -> Result<(), DeltaTableError> {
    let engine = log_store.engine(None);
    let root = table_root(log_store);
    let store = log_store.object_store(None);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> Result<(), DeltaTableError> {
        let snapshot = delta_kernel::snapshot::Snapshot::builder_for(root.clone())
            .at_version(version)
            .build(engine.as_ref())?;
        // Another writer (or an earlier attempt) checkpointed this version already.
        if snapshot.log_segment().checkpoint_version == Some(version) {
            return Ok(());
        }
        let v2 = snapshot
            .table_configuration()
            .protocol()
            .writer_features()
            .is_some_and(|f| f.contains(&TableFeature::V2Checkpoint));
        if v2 {
            snapshot.checkpoint(engine.as_ref(), None)?;
            return Ok(());
        }
        let path = Path::from(format!("_delta_log/{version:020}.checkpoint.parquet"));
        let mut parquet = CheckpointFile::new(Arc::clone(&store), path, &runtime);
        let spool = match appended {
            Some(spool) if version > 0 => spool,
            _ => return kernel_checkpoint(snapshot, engine.as_ref(), parquet),
        };
        // The version before, reconciled by the kernel, then this writer's lines.
        let base = delta_kernel::snapshot::Snapshot::builder_for(root)
            .at_version(version - 1)
            .build(engine.as_ref())?;
        let writer = base.create_checkpoint_writer(engine.as_ref())?;
        let mut actions = writer.checkpoint_data(engine.as_ref())?;
        let state = actions.state();
        for batch in &mut actions {
            let data = batch?.apply_selection_vector()?;
            let batch = RecordBatch::from(*ArrowEngineData::try_from_engine_data(data)?);
            if !parquet.started() && !appendable_as_is(&batch.schema()) {
                // The kernel derives more from each `add` than its JSON holds (statistics as
                // a struct, when the table asks for them): it reconciles the whole version.
                drop(actions);
                return kernel_checkpoint(snapshot, engine.as_ref(), parquet);
            }
            parquet.write(&batch)?;
        }
        drop(actions);
        let state = Arc::into_inner(state).ok_or_else(|| {
            DeltaTableError::Generic("checkpoint state still shared after the write".into())
        })?;
        if !state.is_exhausted() {
            return Err(DeltaTableError::Generic(format!(
                "checkpoint of version {version}: the log was not read to its end"
            )));
        }
        let appended = parquet.append_lines(&spool)?;
        let actions = state.actions_count() + appended;
        let adds = state.add_actions_count() + appended;
        let size = parquet.close(version)?;
        // As the kernel's `finalize`: a hint naming a newer checkpoint stays.
        let hint_path = Path::from("_delta_log/_last_checkpoint");
        let hint_newer = match runtime.block_on(store.get(&hint_path)) {
            Ok(found) => {
                let bytes = runtime.block_on(found.bytes())?;
                serde_json::from_slice::<Value>(&bytes)
                    .ok()
                    .and_then(|hint| hint["version"].as_u64())
                    .is_some_and(|hint| hint > version)
            }
            Err(object_store::Error::NotFound { .. }) => false,
            Err(err) => return Err(err.into()),
        };
        if !hint_newer {
            let hint = json!({
                "version": version,
                "size": actions,
                "sizeInBytes": size,
                "numOfAddFiles": adds,
            });
            runtime
                .block_on(store.put(&hint_path, PutPayload::from(hint.to_string().into_bytes())))?;
        }
        Ok(())
    })
    .await
    .map_err(|e| DeltaTableError::Generic(e.to_string()))??;
    if let Some(retention) = cleanup {
        let cutoff = Utc::now().timestamp_millis() - retention.as_millis() as i64;
        deltalake::checkpoints::cleanup_expired_logs_for(version, log_store, cutoff, None).await?;
    }
    Ok(())
}

/// Whether `add` lines decoded into a checkpoint of this schema are what the kernel would
/// write for them: no column the kernel derives (`stats_parsed`, `partitionValues_parsed`).
fn appendable_as_is(schema: &SchemaRef) -> bool {
    let Ok(add) = schema.field_with_name("add") else {
        return false;
    };
    match add.data_type() {
        DataType::Struct(fields) => fields.iter().all(|f| !f.name().ends_with("_parsed")),
        _ => false,
    }
}

/// The kernel's checkpoint of all of `snapshot`, written to `parquet` (nothing written yet).
fn kernel_checkpoint(
    snapshot: delta_kernel::snapshot::SnapshotRef,
    engine: &dyn delta_kernel::Engine,
    mut parquet: CheckpointFile<'_>,
) -> Result<(), DeltaTableError> {
    let version = snapshot.version();
    let writer = snapshot.create_checkpoint_writer(engine)?;
    let mut actions = writer.checkpoint_data(engine)?;
    let state = actions.state();
    for batch in &mut actions {
        let data = batch?.apply_selection_vector()?;
        parquet.write(&RecordBatch::from(*ArrowEngineData::try_from_engine_data(
            data,
        )?))?;
    }
    drop(actions);
    let size = parquet.close(version)?;
    let state = Arc::into_inner(state).ok_or_else(|| {
        DeltaTableError::Generic("checkpoint state still shared after the write".into())
    })?;
    let stats = LastCheckpointHintStats::from_reconciliation_state(state, size, 0)?;
    writer.finalize(engine, &stats)?;
    Ok(())
}

/// A checkpoint's Parquet file, created with its first batch. It lives on a blocking thread:
/// it blocks on the runtime for its writes.
struct CheckpointFile<'a> {
    store: Arc<dyn ObjectStore>,
    path: Path,
    runtime: &'a tokio::runtime::Handle,
    writer: Option<AsyncArrowWriter<BufWriter>>,
    /// The schema of the first batch, which every batch has.
    schema: Option<SchemaRef>,
}

impl<'a> CheckpointFile<'a> {
    fn new(store: Arc<dyn ObjectStore>, path: Path, runtime: &'a tokio::runtime::Handle) -> Self {
        Self {
            store,
            path,
            runtime,
            writer: None,
            schema: None,
        }
    }

    fn started(&self) -> bool {
        self.writer.is_some()
    }

    fn write(&mut self, batch: &RecordBatch) -> Result<(), DeltaTableError> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => {
                let properties = WriterProperties::builder()
                    .set_max_row_group_row_count(Some(CHECKPOINT_ROW_GROUP_ROWS))
                    .set_compression(Compression::ZSTD(ZstdLevel::try_new(1)?))
                    .build();
                let options = ArrowWriterOptions::new()
                    .with_properties(properties)
                    .with_skip_arrow_metadata(true);
                self.schema = Some(batch.schema());
                self.writer.insert(AsyncArrowWriter::try_new_with_options(
                    BufWriter::new(Arc::clone(&self.store), self.path.clone()),
                    batch.schema(),
                    options,
                )?)
            }
        };
        self.runtime.block_on(writer.write(batch))?;
        Ok(())
    }

    /// Decodes `spool`'s `add` lines into the checkpoint's schema and writes them; returns how
    /// many there were.
    fn append_lines(&mut self, spool: &Spool) -> Result<i64, DeltaTableError> {
        let schema = match &self.schema {
            Some(schema) => Arc::clone(schema),
            None => {
                return Err(DeltaTableError::Generic(
                    "checkpoint: the version before gave no actions".into(),
                ));
            }
        };
        let mut decoder = arrow_json::ReaderBuilder::new(schema)
            .with_batch_size(CHECKPOINT_ROW_GROUP_ROWS)
            .build_decoder()?;
        let mut rows = 0;
        let mut offset = 0;
        while let Some(chunk) = self
            .runtime
            .block_on(spool.next_chunk(&mut offset))
            .map_err(|err| DeltaTableError::Generic(err.to_string()))?
        {
            let mut rest = chunk.as_ref();
            while !rest.is_empty() {
                let read = decoder.decode(rest)?;
                rest = &rest[read..];
                // A full batch stops the decoder short of the chunk's end.
                if !rest.is_empty() {
                    let flushed = self.flush(&mut decoder)?;
                    if read == 0 && flushed == 0 {
                        return Err(DeltaTableError::Generic(
                            "checkpoint: the add lines stopped decoding".into(),
                        ));
                    }
                    rows += flushed;
                }
            }
        }
        rows += self.flush(&mut decoder)?;
        if rows != spool.lines() {
            return Err(DeltaTableError::Generic(format!(
                "checkpoint: {rows} add actions decoded from {} lines",
                spool.lines()
            )));
        }
        i64::try_from(rows).map_err(|e| DeltaTableError::Generic(e.to_string()))
    }

    fn flush(
        &mut self,
        decoder: &mut arrow_json::reader::Decoder,
    ) -> Result<usize, DeltaTableError> {
        match decoder.flush()? {
            Some(batch) if batch.num_rows() > 0 => {
                let rows = batch.num_rows();
                self.write(&batch)?;
                Ok(rows)
            }
            _ => Ok(0),
        }
    }

    /// Finishes the file; returns its size.
    fn close(mut self, version: u64) -> Result<u64, DeltaTableError> {
        // Taken out first: a writer whose finish failed is shut down and cannot be aborted.
        let Some(mut writer) = self.writer.take() else {
            return Err(DeltaTableError::Generic(format!(
                "checkpoint of version {version}: the log gave no actions"
            )));
        };
        self.runtime.block_on(writer.finish())?;
        Ok(self.runtime.block_on(self.store.head(&self.path))?.size)
    }
}

impl Drop for CheckpointFile<'_> {
    /// A checkpoint given up on an error before its upload finished: the upload is aborted, so
    /// no incomplete multipart upload stays behind on S3 (a checkpoint that never completed is
    /// never seen anyway).
    fn drop(&mut self) {
        if let Some(writer) = self.writer.take() {
            let _ = self.runtime.block_on(writer.into_inner().abort());
        }
    }
}

/// A log entry: the `commitInfo` line, then the spool's lines (`sealed` is the part in memory).
#[derive(Clone, Copy)]
struct Entry<'a> {
    info: &'a Bytes,
    spool: &'a Spool,
    sealed: &'a Bytes,
}

/// How an attempt to write a version did not succeed.
enum Attempt {
    /// The version exists (another writer's, or this attempt's when an answer was lost).
    Taken,
    /// Nothing was written at the version.
    NotMade(StoreError),
    /// The version may or may not have been written.
    Unknown(StoreError),
}

impl Attempt {
    /// A failure of the log store's commit, whose outcome is not known.
    fn of(err: TransactionError) -> Self {
        match err {
            TransactionError::VersionAlreadyExists(_) => Self::Taken,
            err => Self::Unknown(DeltaTableError::from(err).into()),
        }
    }
}

/// Puts `entry` as version `version`, as deltalake's commit does: with a conditional `PUT`
/// where the store has them, else as a temporary file renamed only if the version is absent
/// (lakeFS's log store takes the bytes).
///
/// When `copy` and the spool went to its file, the entry is not read back into memory: it is
/// uploaded (in parts on stores that have them) as a temporary object, then copied to the
/// version only if that is absent (`copy_if_not_exists`: a hard link on a local disk, a
/// multipart copy completed with `If-None-Match: *` on S3). A copy that fails otherwise falls
/// back to the `PUT`, with the lines read back into memory; should the copy have landed after
/// all, the `PUT` finds the version taken.
async fn write_commit(
    log_store: &dyn LogStore,
    version: u64,
    entry: Entry<'_>,
    copy: bool,
    operation_id: uuid::Uuid,
) -> Result<(), Attempt> {
    let commit = match log_store.name().as_str() {
        "DefaultLogStore" => {
            let store = log_store.object_store(None);
            let target = commit_uri_from_version(Some(version));
            // A copy that failed may still have put the version in place.
            let mut copy_failed = false;
            if copy && entry.spool.is_spilled() {
                let tmp = temporary_commit_path();
                stage_entry(Arc::clone(&store), &tmp, entry)
                    .await
                    .map_err(Attempt::NotMade)?;
                let result = store.copy_if_not_exists(&tmp, &target).await;
                let _ = store.delete(&tmp).await;
                match result {
                    Ok(()) => return Ok(()),
                    Err(object_store::Error::AlreadyExists { .. }) => return Err(Attempt::Taken),
                    Err(_) => copy_failed = true,
                }
            }
            let payload = match entry_payload(entry).await {
                Ok(payload) => payload,
                Err(err) if copy_failed => return Err(Attempt::Unknown(err)),
                Err(err) => return Err(Attempt::NotMade(err)),
            };
            let put = store
                .put_opts(&target, payload, PutOptions::from(PutMode::Create))
                .await;
            return match put {
                Ok(_) => Ok(()),
                Err(object_store::Error::AlreadyExists { .. }) => Err(Attempt::Taken),
                Err(err) => Err(Attempt::Unknown(err.into())),
            };
        }
        "LakeFSLogStore" => {
            let payload = entry_payload(entry).await.map_err(Attempt::NotMade)?;
            let bytes = payload.into_iter().fold(Vec::new(), |mut all, part| {
                all.extend_from_slice(&part);
                all
            });
            CommitOrBytes::LogBytes(Bytes::from(bytes))
        }
        _ => {
            let tmp = temporary_commit_path();
            let store = log_store.object_store(Some(operation_id));
            stage_entry(store, &tmp, entry)
                .await
                .map_err(Attempt::NotMade)?;
            CommitOrBytes::TmpCommit(tmp)
        }
    };
    let result = log_store
        .write_commit_entry(version, commit.clone(), operation_id)
        .await;
    if result.is_err() {
        let _ = log_store
            .abort_commit_entry(version, commit, operation_id)
            .await;
    }
    result.map_err(Attempt::of)
}

/// Where deltalake puts a commit before renaming it into place; Delta readers skip the name.
fn temporary_commit_path() -> Path {
    Path::from_iter([
        "_delta_log",
        &format!("_commit_{}.json.tmp", uuid::Uuid::new_v4()),
    ])
}

/// The whole entry as one payload (the spool's file read back, if it has one).
async fn entry_payload(entry: Entry<'_>) -> Result<PutPayload, StoreError> {
    if !entry.spool.is_spilled() {
        return Ok(PutPayload::from_iter([
            entry.info.clone(),
            entry.sealed.clone(),
        ]));
    }
    let mut parts = vec![entry.info.clone()];
    let mut offset = 0;
    while let Some(chunk) = entry.spool.next_chunk(&mut offset).await? {
        parts.push(chunk);
    }
    Ok(PutPayload::from_iter(parts))
}

/// Writes `entry` to `path`, holding a few MiB at a time: in parts on stores with multipart
/// uploads (S3, GCS, Azure), one `PUT` when the whole fits in one part. A failed upload is
/// aborted.
async fn stage_entry(
    store: Arc<dyn ObjectStore>,
    path: &Path,
    entry: Entry<'_>,
) -> Result<(), StoreError> {
    let mut writer = BufWriter::new(store, path.clone());
    let written = async {
        writer.put(entry.info.clone()).await?;
        let mut offset = 0;
        while let Some(chunk) = entry.spool.next_chunk(&mut offset).await? {
            writer.put(chunk).await?;
        }
        Ok::<_, StoreError>(())
    }
    .await;
    if let Err(err) = written {
        let _ = writer.abort().await;
        return Err(err);
    }
    // A writer whose shutdown failed cannot be aborted (`BufWriter::abort` panics then).
    tokio::io::AsyncWriteExt::shutdown(&mut writer)
        .await
        .map_err(|err| {
            StoreError::ObjectStore(object_store::Error::Generic {
                store: "commit",
                source: Box::new(err),
            })
        })
}

/// A file's `add` action as one line of JSON: the fields the Delta protocol requires and its
/// statistics. Optional fields that would be null (tags, deletion vector, row tracking,
/// clustering) are left out rather than written as `null`: the line is held until the commit,
/// one per file, and is a fifth shorter so.
fn add_line(
    path: &str,
    dt: &str,
    hour: &str,
    size: i64,
    stats: &str,
) -> Result<Vec<u8>, StoreError> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        add: AddFields<'a>,
    }
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct AddFields<'a> {
        path: &'a str,
        partition_values: BTreeMap<&'a str, &'a str>,
        size: i64,
        modification_time: i64,
        data_change: bool,
        stats: &'a str,
    }
    let line = Line {
        add: AddFields {
            path,
            partition_values: BTreeMap::from([(DT, dt), (HOUR, hour)]),
            size,
            modification_time: Utc::now().timestamp_millis(),
            data_change: true,
            stats,
        },
    };
    serde_json::to_vec(&line).map_err(|err| StoreError::Internal {
        reason: format!("add action as JSON: {err}"),
    })
}

/// The path in an `add` line.
fn entry_path(entry: &[u8]) -> Option<Path> {
    #[derive(serde::Deserialize)]
    struct Line {
        add: AddPath,
    }
    #[derive(serde::Deserialize)]
    struct AddPath {
        path: String,
    }
    let line: Line = serde_json::from_slice(entry).ok()?;
    Some(Path::from(line.add.path.as_str()))
}

fn backoff(attempt: u32) -> Duration {
    // Jitter from the clock keeps racing writers from retrying in lock step.
    let jitter = u64::from(Utc::now().timestamp_subsec_micros() % 50);
    Duration::from_millis(25 * u64::from(attempt.min(8)) + jitter)
}

fn check_schema(expected: &SchemaRef, batch: &RecordBatch) -> Result<(), StoreError> {
    let found = batch.schema();
    let same = found.fields().len() == expected.fields().len()
        && found.fields().iter().zip(expected.fields()).all(|(a, b)| {
            a.name() == b.name()
                && a.data_type().equals_datatype(b.data_type())
                && (b.is_nullable() || !a.is_nullable())
        });
    if same {
        Ok(())
    } else {
        Err(StoreError::SchemaMismatch {
            reason: format!("batch schema {found} is not the logs schema {expected}"),
        })
    }
}

fn writer_properties(
    stored: &SchemaRef,
    options: &ArchiveOptions,
) -> Result<WriterProperties, StoreError> {
    let descriptor = ArrowSchemaConverter::new().convert(stored)?;
    let sorting: Vec<SortingColumn> = [col::SERVICE, col::TEMPLATE_ID, col::TS]
        .iter()
        .filter_map(|name| {
            let leaf = descriptor
                .columns()
                .iter()
                .position(|c| c.path().parts().first().map(String::as_str) == Some(*name))?;
            Some(SortingColumn {
                column_idx: i32::try_from(leaf).ok()?,
                descending: false,
                nulls_first: false,
            })
        })
        .collect();
    // Rows are sorted by (service, template_id, ts): within a template, `ts` and
    // `line` mostly grow, so deltas are small, and each param position holds like
    // values; `header` and `raw` of one template share long prefixes (the residual's
    // literal text), which prefix encoding drops before zstd sees them. Ids, messages
    // JSON fields and overflow params are mostly distinct values: a dictionary costs interning time
    // and (measured on the generated corpus) bytes. Param text columns keep a dictionary
    // (user agents, URLs, names repeat). Min/max statistics of free text, params and
    // random ids prune nothing (queries prune on `ts`, `service`, `level`,
    // `template_id`, ...) and cost a comparison per value: those columns have none.
    let path = |name: &str| ColumnPath::from(name);
    let params_item =
        || ColumnPath::new(vec![col::PARAMS.to_owned(), "list".into(), "item".into()]);
    let mut builder = WriterProperties::builder();
    let mut no_stats: Vec<String> = [
        col::RAW,
        col::HEADER,
        col::MESSAGE,
        col::FIELDS,
        col::TRACE_ID,
        col::SPAN_ID,
        col::PARENT_SPAN_ID,
        stored_col::TRACE_ID_BYTES,
        stored_col::SPAN_ID_BYTES,
        stored_col::PARENT_SPAN_ID_BYTES,
        stored_col::TS_US,
    ]
    .map(str::to_owned)
    .to_vec();
    for k in 0..PARAM_COLUMNS {
        no_stats.push(stored_col::param(k));
        no_stats.push(stored_col::param_int(k));
    }
    for name in &no_stats {
        builder = builder.set_column_statistics_enabled(path(name), EnabledStatistics::None);
    }
    builder = builder.set_column_statistics_enabled(params_item(), EnabledStatistics::None);
    for (name, encoding) in &non_dictionary_encodings() {
        builder = builder
            .set_column_dictionary_enabled(path(name), false)
            .set_column_encoding(path(name), *encoding);
    }
    Ok(builder
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(options.zstd_level)?))
        .set_dictionary_enabled(true)
        .set_column_dictionary_enabled(path(col::MESSAGE), false)
        .set_column_dictionary_enabled(path(col::FIELDS), false)
        .set_column_dictionary_enabled(params_item(), false)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.row_group_rows))
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("logoscope {}", env!("CARGO_PKG_VERSION")))
        .build())
}

/// Encodings other than a dictionary, where they beat one: deltas for sorted (or per-position)
/// integers, shared prefixes for residual text and text ids, lengths apart from
/// the bytes of binary ids.
fn non_dictionary_encodings() -> Vec<(String, Encoding)> {
    let mut encodings: Vec<(String, Encoding)> = vec![
        (col::TS.into(), Encoding::DELTA_BINARY_PACKED),
        (col::LINE.into(), Encoding::DELTA_BINARY_PACKED),
        (col::HEADER.into(), Encoding::DELTA_BYTE_ARRAY),
        (col::RAW.into(), Encoding::DELTA_BYTE_ARRAY),
        (col::TRACE_ID.into(), Encoding::DELTA_BYTE_ARRAY),
        (col::SPAN_ID.into(), Encoding::DELTA_BYTE_ARRAY),
        (col::PARENT_SPAN_ID.into(), Encoding::DELTA_BYTE_ARRAY),
        (
            stored_col::TRACE_ID_BYTES.into(),
            Encoding::DELTA_LENGTH_BYTE_ARRAY,
        ),
        (
            stored_col::SPAN_ID_BYTES.into(),
            Encoding::DELTA_LENGTH_BYTE_ARRAY,
        ),
        (
            stored_col::PARENT_SPAN_ID_BYTES.into(),
            Encoding::DELTA_LENGTH_BYTE_ARRAY,
        ),
    ];
    for k in 0..PARAM_COLUMNS {
        encodings.push((stored_col::param_int(k), Encoding::DELTA_BINARY_PACKED));
    }
    encodings
}

fn millis_string(millis: i64) -> Option<String> {
    DateTime::from_timestamp_millis(millis).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_are_validated() {
        assert!(ArchiveOptions::default().validate().is_ok());
        for bad in [
            ArchiveOptions {
                target_file_rows: 0,
                ..Default::default()
            },
            ArchiveOptions {
                max_buffered_rows: 0,
                ..Default::default()
            },
            ArchiveOptions {
                zstd_level: 23,
                ..Default::default()
            },
            ArchiveOptions {
                max_concurrent_encodes: 0,
                ..Default::default()
            },
            ArchiveOptions {
                target_file_rows: 1 << 32,
                ..Default::default()
            },
        ] {
            assert!(matches!(
                bad.validate(),
                Err(StoreError::InvalidOptions { .. })
            ));
        }
    }

    #[test]
    fn sort_order_matches_a_tuple_sort() {
        use logoscope_ingest::{LogBatchBuilder, LogRow};
        // Services with and without a name (nulls rank last), templates whose ids differ in
        // high and low bits, times before and after 1970, equal times (ties keep arrival
        // order), null times; two batches, the second one only partly in the piece.
        let services = [Some("web"), None, Some("api"), Some("db")];
        let templates = [7u64, u64::MAX, 1 << 63, 0];
        let times = [
            Some(-5_000_000i64),
            Some(0),
            None,
            Some(3),
            Some(i64::MIN + 1),
            Some(3),
        ];
        let mut batches = Vec::new();
        for b in 0..2u64 {
            let mut builder = LogBatchBuilder::new();
            for i in 0..150u64 {
                let k = (i * 7 + b * 3) as usize;
                let row = LogRow {
                    ts: times[k % times.len()],
                    source: "t.log",
                    line: i,
                    service: services[(k / 5) % services.len()],
                    template_id: templates[(k / 3) % templates.len()],
                    ..LogRow::default()
                };
                builder.append(&row, std::iter::empty()).unwrap();
            }
            batches.push(builder.finish().unwrap());
        }
        let picked: Vec<u32> = (0..150).filter(|r| r % 3 != 1).collect();
        let pieces = vec![
            Piece::whole(batches[0].clone()),
            Piece {
                batch: batches[1].clone(),
                rows: Some(picked.clone().into()),
                compact: false,
            },
        ];
        let schema = logs_schema();
        let index = |name| schema.index_of(name).unwrap();
        let (order, range) = sort_order(
            &pieces,
            &[index(col::SERVICE), index(col::TEMPLATE_ID), index(col::TS)],
        )
        .unwrap();

        let mut oracle = Vec::new();
        for (p, rows) in [(0u32, (0..150).collect::<Vec<u32>>()), (1, picked)] {
            let batch = &batches[p as usize];
            let service = batch
                .column(index(col::SERVICE))
                .as_dictionary::<Int32Type>();
            let names = service.values().as_string::<i32>();
            let tid = batch
                .column(index(col::TEMPLATE_ID))
                .as_primitive::<UInt64Type>();
            let ts = batch
                .column(index(col::TS))
                .as_primitive::<TimestampMicrosecondType>();
            for row in rows {
                let i = row as usize;
                let name = service
                    .is_valid(i)
                    .then(|| names.value(service.keys().value(i) as usize));
                let t = ts.is_valid(i).then(|| ts.value(i));
                oracle.push(((name.is_none(), name), tid.value(i), t.is_none(), t, p, row));
            }
        }
        oracle.sort();
        let expected: Vec<(u32, u32)> = oracle.iter().map(|k| (k.4, k.5)).collect();
        assert_eq!(order, expected);
        assert_eq!(range.rows, 250);
    }

    /// Small copies are joined as they arrive, in a binary counter: few pieces, rows in arrival
    /// order, the byte count exact; shared pieces and large ones are left alone.
    #[test]
    fn small_pieces_are_joined_in_arrival_order() {
        use logoscope_ingest::{LogBatchBuilder, LogRow};
        let one = |line: u64| {
            let mut builder = LogBatchBuilder::new();
            let row = LogRow {
                source: "t.log",
                line,
                ..LogRow::default()
            };
            builder.append(&row, std::iter::empty()).unwrap();
            Piece::whole(builder.finish().unwrap())
        };
        let mut pieces = Vec::new();
        let mut counted = 0;
        for line in 0..300 {
            let piece = one(line);
            counted += piece.batch.get_array_memory_size();
            pieces.push(piece);
            let (dropped, added) = coalesce_small_pieces(&mut pieces).unwrap();
            counted = counted + added - dropped;
        }
        // A piece grows alone to 64 rows; two of 64 make 128, two of 128 make 256 (no piece of
        // 256 rows or more is joined again): 300 = 256 + 44.
        let sizes: Vec<usize> = pieces.iter().map(Piece::len).collect();
        assert_eq!(sizes, [256, 44]);
        let actual: usize = pieces.iter().map(|p| p.batch.get_array_memory_size()).sum();
        assert_eq!(counted, actual);
        let index = logs_schema().index_of(col::LINE).unwrap();
        let lines: Vec<u64> = pieces
            .iter()
            .flat_map(|p| {
                let c = p.batch.column(index).as_primitive::<UInt64Type>();
                c.values().to_vec()
            })
            .collect();
        assert_eq!(lines, (0..300).collect::<Vec<u64>>());
        // A slice shares its batch: never joined.
        let (head, tail) = pieces.pop().unwrap().split_at(2);
        pieces.extend([head, tail]);
        assert_eq!(coalesce_small_pieces(&mut pieces).unwrap(), (0, 0));
        assert_eq!(pieces.len(), 3);
    }

    /// Pieces of wide rows stay apart: joining them would copy megabytes to save the fixed
    /// cost of a few arrays.
    #[test]
    fn wide_pieces_are_not_joined() {
        use logoscope_ingest::{LogBatchBuilder, LogRow};
        let one = |line: u64, message: &str| {
            let mut builder = LogBatchBuilder::new();
            let row = LogRow {
                source: "t.log",
                line,
                message: Some(message),
                ..LogRow::default()
            };
            builder.append(&row, std::iter::empty()).unwrap();
            Piece::whole(builder.finish().unwrap())
        };
        let wide = "x".repeat(600 << 10);
        let mut pieces = Vec::new();
        for line in 0..8 {
            pieces.push(one(line, &wide));
            assert_eq!(coalesce_small_pieces(&mut pieces).unwrap(), (0, 0));
        }
        assert_eq!(pieces.len(), 8);
        // Two of them fit in the bound: joined.
        let small = "x".repeat(100 << 10);
        let mut pieces = Vec::new();
        for line in 0..2 {
            pieces.push(one(line, &small));
            coalesce_small_pieces(&mut pieces).unwrap();
        }
        assert_eq!(pieces.len(), 1);
    }

    #[test]
    fn timestamp_stats_round_outwards_to_millis() {
        assert_eq!(millis_string(0).unwrap(), "1970-01-01T00:00:00.000Z");
        let mut range = TsRange::default();
        for ts in [Some(1_500), None, Some(2_001)] {
            range.add(ts);
        }
        let stats: Value = serde_json::from_str(&range.stats()).unwrap();
        assert_eq!(stats["numRecords"], 3);
        assert_eq!(stats["nullCount"]["ts"], 1);
        assert_eq!(stats["minValues"]["ts"], "1970-01-01T00:00:00.001Z");
        assert_eq!(stats["maxValues"]["ts"], "1970-01-01T00:00:00.003Z");
    }
}
