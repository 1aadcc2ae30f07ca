//! The Logoscope archive: a Delta Lake table of zstd-compressed Parquet files on any object
//! store (a local directory by default, `s3://`, `memory://`).
//!
//! This crate owns the archive's physical layout — Hive partitions `dt=YYYY-MM-DD/hour=HH`
//! derived from `ts` (`dt=unknown/hour=unknown` for rows without one), files sorted by
//! `(service, template_id, ts)`, dictionary-encoded and zstd-compressed — and its
//! transactions: an [`ArchiveWriter`] buffers batches under a configured memory bound, writes
//! files that stay invisible, and [`ArchiveWriter::commit`] publishes all of them together with
//! the template catalog in one Delta commit. It depends on `logoscope-ingest` only for the
//! `logs` schema and on `logoscope-drain` only to (de)serialise the catalog; it must not depend
//! on the engine, the server or the CLI, and it does not plan queries: the engine builds its
//! scan from [`Archive::files`] (or deltalake's provider, [`Archive::delta_provider`]).
//!
//! An opened archive holds the table's protocol, metadata and log listing, never its file
//! list: opening, writing and committing cost the same memory for ten files or a million. A
//! writer keeps its commit's `add` lines in memory up to a bound, then in a temporary file it
//! uploads the commit from. The writer's checkpoints (every `delta.checkpointInterval` commits,
//! and when JSON commits pile up) are Parquet in row groups of a few thousand files, so reading
//! the files back streams too.
//!
//! Delta has no dictionary or unsigned types: the Delta schema says `string` for dictionary
//! columns, `long` for `line` and `decimal(20,0)` for `template_id` (xxh3 ids use all 64 bits),
//! while the Parquet files keep the Arrow schema of [`logoscope_ingest::stored::stored_schema`]
//! (the `logs` batches the writer takes, in the stored layout that module describes).
//! [`Archive::register_table`] gives DataFusion the archive with exactly [`archive_schema`].
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use arrow_array::RecordBatch;
//! use logoscope_drain::{DrainConfig, TemplateCatalog};
//! use logoscope_store::{Archive, ArchiveOptions};
//!
//! let archive = Archive::open("memory://doc-example").await?;
//! let mut writer = archive.writer(ArchiveOptions::default()).await?;
//! writer.write(RecordBatch::new_empty(logoscope_ingest::schema::logs_schema())).await?;
//! let catalog = TemplateCatalog::new(DrainConfig::default());
//! let summary = writer.commit(&catalog).await?;
//! assert_eq!((summary.files, summary.rows), (0, 0));
//!
//! let reopened = Archive::open("memory://doc-example").await?;
//! assert_eq!(reopened.version(), Some(summary.version));
//! assert!(reopened.load_catalog().await?.is_some());
//! # Ok::<(), logoscope_store::StoreError>(())
//! # }).unwrap();
//! ```

mod catalog;
mod location;
mod partition;
mod spool;
mod writer;

use std::collections::HashMap;
use std::sync::{Arc, Once, OnceLock};

use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use deltalake::TableProperty;
use deltalake::datafusion::common::Column;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::execution::context::SessionState;
use deltalake::datafusion::prelude::{Expr, SessionContext, cast, col};
use deltalake::delta_datafusion::{DeltaScanNext, TableProviderBuilder};
use deltalake::kernel::StructField;
use deltalake::kernel::StructType;
use deltalake::kernel::engine::arrow_conversion::TryIntoKernel;
use deltalake::kernel::transaction::CommitProperties;
use deltalake::kernel::{LogicalFileView, Snapshot};
use deltalake::logstore::LogStoreRef;
use deltalake::operations::create::CreateBuilder;
use deltalake::protocol::SaveMode;
use deltalake::{DeltaTable, DeltaTableBuilder, DeltaTableError, ObjectStore};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use logoscope_drain::TemplateCatalog;
use logoscope_ingest::schema::{SCHEMA_VERSION, logs_schema};
use logoscope_ingest::stored::stored_schema;
use parquet::errors::ParquetError;
use url::Url;

use location::Mode;
pub use location::{DEFAULT_LOCATION, local_dir};
pub use partition::{DT, HOUR, UNKNOWN};
pub use writer::{ArchiveOptions, ArchiveWriter};

/// Errors of the archive.
///
/// Each message is complete on its own (it includes its cause's text), so `to_string` is
/// enough to report one; [`std::error::Error::source`] still gives the cause for programs that
/// look at it. Printing the whole chain therefore repeats text: a printer that walks the chain
/// should leave out a cause whose text it has already printed, as the `logoscope` binary does.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The location is not a path or a supported URL.
    #[error("invalid archive location `{location}`: {reason}")]
    InvalidLocation {
        /// What the user gave.
        location: String,
        /// Why it was refused.
        reason: String,
    },
    /// [`ArchiveOptions`] out of range.
    #[error("invalid archive options: {reason}")]
    InvalidOptions {
        /// Which bound was violated.
        reason: String,
    },
    /// A read-only open found no archive at the location (nothing was created).
    #[error("no Logoscope archive at {location}: {reason}")]
    NoArchive {
        /// The location as given (a path) or resolved (a URL).
        location: String,
        /// What is there instead.
        reason: String,
    },
    /// A local directory could not be created or resolved.
    #[error("cannot use directory {path}: {source}")]
    Io {
        /// The directory.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A batch, or an existing table, does not have the `logs` schema.
    #[error("schema mismatch: {reason}")]
    SchemaMismatch {
        /// What differs.
        reason: String,
    },
    /// Planning a read failed.
    #[error("query: {0}")]
    Query(#[source] Box<DataFusionError>),
    /// The Delta table layer failed (log, commit, snapshot).
    #[error("delta table: {0}")]
    Delta(#[source] Box<DeltaTableError>),
    /// Reading or writing an object failed.
    #[error("object store: {0}")]
    ObjectStore(#[from] object_store::Error),
    /// Arrow compute (concat, sort, take) failed.
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// Parquet encoding failed.
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    /// The temporary file holding a commit's `add` lines failed.
    #[error("the commit's temporary file (in {dir}): {source}")]
    Spool {
        /// The temporary directory (`TMPDIR`).
        dir: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The stored template catalog could not be read back.
    #[error("template catalog {path}: {reason}")]
    Catalog {
        /// Catalog object path, relative to the table root.
        path: String,
        /// Why it could not be used.
        reason: String,
    },
    /// Other writers kept committing first.
    #[error("commit lost to concurrent writers {attempts} times in a row; nothing was committed")]
    CommitConflict {
        /// Attempts made.
        attempts: u32,
    },
    /// An earlier write of this writer failed (that error was returned then); the writer
    /// commits nothing after it.
    #[error("an earlier write to the archive failed, so nothing can be committed: {reason}")]
    WriterFailed {
        /// The earlier error.
        reason: String,
    },
    /// A background task died.
    #[error("internal error: {reason}")]
    Internal {
        /// What happened.
        reason: String,
    },
}

impl From<DataFusionError> for StoreError {
    fn from(err: DataFusionError) -> Self {
        Self::Query(Box::new(err))
    }
}

impl From<DeltaTableError> for StoreError {
    fn from(err: DeltaTableError) -> Self {
        Self::Delta(Box::new(err))
    }
}

/// What one [`ArchiveWriter::commit`] published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitSummary {
    /// The Delta table version the commit created.
    pub version: u64,
    /// Parquet files added.
    pub files: usize,
    /// Rows added.
    pub rows: u64,
    /// Bytes of Parquet added.
    pub bytes: u64,
    /// Why the checkpoint that was due after this commit could not be written. The commit
    /// stands; readers replay more of the log until the next checkpoint is written.
    pub checkpoint_failure: Option<String>,
}

/// Size of the archive at its loaded version, from the Delta log alone (no data file is read).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArchiveStats {
    /// Loaded table version.
    pub version: u64,
    /// Live Parquet files.
    pub files: usize,
    /// Rows, summed from each file's `numRecords` statistic.
    pub rows: u64,
    /// Files whose log entry has no row count (written by other tools); not in `rows`.
    pub files_without_row_count: usize,
    /// Bytes of Parquet.
    pub bytes: u64,
}

/// An opened archive: one Delta table, loaded at some version.
///
/// Loading reads the table's protocol, metadata and log listing, not its file list: what a
/// reader or writer holds does not grow with the number of files. The files are streamed from
/// the log when they are needed ([`Archive::files`], [`Archive::stats`], the engine's scan).
#[derive(Clone)]
pub struct Archive {
    log_store: LogStoreRef,
    snapshot: Arc<Snapshot>,
    url: String,
    /// See [`location::Location::copy_commits`].
    copy_commits: bool,
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archive")
            .field("url", &self.url)
            .field("version", &self.snapshot.version())
            .finish()
    }
}

impl Archive {
    /// Opens the archive at `location`, creating an empty table when there is none.
    ///
    /// `location` is a plain path (empty: [`DEFAULT_LOCATION`]), `file://…`, `s3://bucket/prefix`
    /// or `memory://name` (process-wide, shared by every `open` of the same name). S3 settings
    /// come from the standard `AWS_*` variables; see [`Archive::open_with_storage_options`].
    pub async fn open(location: &str) -> Result<Archive, StoreError> {
        Self::open_with_storage_options(location, HashMap::new()).await
    }

    /// Opens the archive at `location` for reading: nothing is created, not even a directory.
    /// A location without an archive (a local directory that does not exist, or holds no Delta
    /// table) is [`StoreError::NoArchive`].
    pub async fn open_existing(location: &str) -> Result<Archive, StoreError> {
        Self::open_inner(location, HashMap::new(), Mode::Existing).await
    }

    /// [`Archive::open`] with explicit storage options, which win over the environment.
    ///
    /// Keys are object_store's S3 keys (`aws_access_key_id`, `aws_secret_access_key`,
    /// `aws_region`, `aws_endpoint`, `aws_allow_http`, `aws_virtual_hosted_style_request`,
    /// `aws_conditional_put`, …) or deltalake's (`AWS_S3_ALLOW_UNSAFE_RENAME`). Defaults decided
    /// here: path-style requests when an endpoint is set (`AWS_ENDPOINT_URL`) or
    /// `AWS_S3_FORCE_PATH_STYLE` is true, virtual-hosted otherwise; region `us-east-1` for custom
    /// endpoints without one; `aws_conditional_put=etag`, so commits are `If-None-Match: *` puts
    /// and concurrent writers are safe. A plain-HTTP endpoint is allowed on loopback
    /// (`localhost`, `127.0.0.0/8`, `::1`); anywhere else it needs `AWS_ALLOW_HTTP=true`, and
    /// without it opening fails with [`StoreError::InvalidLocation`] saying so.
    pub async fn open_with_storage_options(
        location: &str,
        storage_options: HashMap<String, String>,
    ) -> Result<Archive, StoreError> {
        Self::open_inner(location, storage_options, Mode::Create).await
    }

    async fn open_inner(
        location: &str,
        storage_options: HashMap<String, String>,
        mode: Mode,
    ) -> Result<Archive, StoreError> {
        register_object_stores();
        let location = location::resolve(location, &storage_options, mode)?;
        let mut builder = DeltaTableBuilder::from_url(location.url.clone())?
            .with_storage_options(location.options.clone());
        if let Some(memory) = &location.memory {
            let root = Url::parse("memory:///").map_err(|err| StoreError::Internal {
                reason: err.to_string(),
            })?;
            builder =
                builder.with_storage_backend(Arc::clone(memory) as Arc<dyn ObjectStore>, root);
        }
        let log_store = builder.build()?.log_store();
        let snapshot = match Snapshot::try_new(log_store.as_ref(), None).await {
            Ok(snapshot) => snapshot,
            Err(DeltaTableError::NotATable(_)) if mode == Mode::Create => {
                create_table(Arc::clone(&log_store)).await?;
                Snapshot::try_new(log_store.as_ref(), None).await?
            }
            Err(DeltaTableError::NotATable(_)) => {
                let reason = if location.memory.is_some() {
                    "no Delta table there (a memory:// archive lives only as long as the \
                     process that wrote it)"
                } else {
                    "no Delta table there (`logoscope ingest --to` creates one)"
                };
                return Err(StoreError::NoArchive {
                    location: location.display,
                    reason: reason.into(),
                });
            }
            Err(err) => return Err(err.into()),
        };
        check_table(&snapshot, location.url.as_str())?;
        Ok(Archive {
            log_store,
            snapshot: Arc::new(snapshot),
            url: location.url.to_string(),
            copy_commits: location.copy_commits,
        })
    }

    /// The table's log store (its object store, commit files, engine).
    pub fn log_store(&self) -> LogStoreRef {
        Arc::clone(&self.log_store)
    }

    /// The object store rooted at the table.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.log_store.object_store(None)
    }

    /// The loaded Delta snapshot: protocol, metadata and log segment, without the file list.
    pub fn snapshot(&self) -> &Arc<Snapshot> {
        &self.snapshot
    }

    /// The live data files at the loaded version, streamed from the log (newest first): the
    /// checkpoint is read a batch at a time, so only what the caller keeps stays in memory.
    pub fn files(&self) -> BoxStream<'_, Result<LogicalFileView, StoreError>> {
        self.snapshot
            .file_views(self.log_store.as_ref(), None)
            .map_err(StoreError::from)
            .boxed()
    }

    /// The archive as a deltalake [`DeltaTable`] loaded at this version, for operations
    /// deltalake does itself (table properties, maintenance). Loading it reads every file's log
    /// entry into memory, which a reader or writer of the archive does not need.
    pub async fn delta_table(&self) -> Result<DeltaTable, StoreError> {
        let mut table = DeltaTable::new(Arc::clone(&self.log_store));
        table.load_version(self.snapshot.version()).await?;
        Ok(table)
    }

    /// Registers the archive in `ctx` as table `name` with exactly [`archive_schema`]'s types,
    /// so the same SQL runs on the archive and on in-memory `logs` batches.
    ///
    /// Underneath is deltalake's provider (partition pruning on `dt`/`hour`, file skipping on
    /// `ts` statistics) at this archive's loaded version; a projection casts what Delta cannot
    /// express back (`string` → dictionaries, `decimal(20,0)` → `UInt64`, `long` → `UInt64`).
    pub async fn register_table(&self, ctx: &SessionContext, name: &str) -> Result<(), StoreError> {
        let provider = self.delta_provider(&ctx.state()).await?;
        let raw = ctx.read_table(Arc::new(provider))?;
        let projection: Vec<Expr> = archive_schema()
            .fields()
            .iter()
            .map(|f| cast(col(Column::from_name(f.name())), f.data_type().clone()).alias(f.name()))
            .collect();
        ctx.register_table(name, raw.select(projection)?.into_view())?;
        Ok(())
    }

    /// deltalake's DataFusion provider over the loaded version (it lists the files when a
    /// query is planned). The table root's object store is registered in `session`'s runtime.
    pub async fn delta_provider(
        &self,
        session: &SessionState,
    ) -> Result<DeltaScanNext, StoreError> {
        let url = self.log_store.object_store_url();
        let runtime = session.runtime_env();
        if runtime.object_store(&url).is_err() {
            runtime.register_object_store(url.as_ref(), self.object_store());
        }
        Ok(TableProviderBuilder::default()
            .with_log_store(Arc::clone(&self.log_store))
            .with_snapshot(Arc::clone(&self.snapshot))
            .with_session(Arc::new(session.clone()))
            .build()
            .await?)
    }

    /// The table root URL (`file:///abs/dir/`, `s3://bucket/prefix`, `memory:///name`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The loaded table version.
    pub fn version(&self) -> Option<u64> {
        Some(self.snapshot.version())
    }

    /// Loads the newest committed version (commits by this process's writers included).
    pub async fn refresh(&mut self) -> Result<(), StoreError> {
        self.snapshot = Arc::clone(&self.snapshot)
            .update(self.log_store.engine(None), None)
            .await?;
        Ok(())
    }

    /// File, row and byte counts at the loaded version, summed from the log as it streams.
    pub async fn stats(&self) -> Result<ArchiveStats, StoreError> {
        let mut stats = ArchiveStats {
            version: self.snapshot.version(),
            ..ArchiveStats::default()
        };
        let mut files = self.files();
        while let Some(file) = files.try_next().await? {
            stats.files += 1;
            stats.bytes += u64::try_from(file.size()).unwrap_or(0);
            match file.num_records() {
                Some(rows) => stats.rows += rows as u64,
                None => stats.files_without_row_count += 1,
            }
        }
        Ok(stats)
    }

    /// The template catalog saved by the newest commit at or below the loaded version, or None
    /// when no commit saved one (a new archive).
    pub async fn load_catalog(&self) -> Result<Option<TemplateCatalog>, StoreError> {
        let version = self.snapshot.version();
        let store = self.object_store();
        match catalog::newest_reference(self.log_store.as_ref(), store.as_ref(), None, version)
            .await?
        {
            Some(path) => Ok(Some(catalog::read(store.as_ref(), &path).await?)),
            None => Ok(None),
        }
    }

    /// The table schema version the archive was created with (`logoscope.schemaVersion`;
    /// 1 when absent). Readers pick the `logs` view for it; writers append only to
    /// [`SCHEMA_VERSION`] tables.
    pub fn schema_version(&self) -> Result<u32, StoreError> {
        let version = self
            .snapshot
            .metadata()
            .configuration()
            .get(SCHEMA_VERSION_KEY);
        match version {
            None => Ok(1),
            Some(v) => v.parse().map_err(|_| StoreError::SchemaMismatch {
                reason: format!("{}: {SCHEMA_VERSION_KEY} is {v:?}, not a number", self.url),
            }),
        }
    }

    /// Whether the table maps column names to other names in its files (Delta column mapping,
    /// turned on by other writers): files are then not read or written by their logical names.
    pub fn column_mapping(&self) -> Result<bool, StoreError> {
        Ok(self
            .snapshot
            .metadata()
            .configuration()
            .get(COLUMN_MAPPING_KEY)
            .is_some_and(|mode| mode != "none"))
    }

    /// A writer appending to this archive. Its commit treats the loaded version as the one the
    /// caller's catalog came from (see [`ArchiveWriter::commit`]).
    ///
    /// An archive created with another table schema version is refused: its rows store text
    /// differently and one table must not mix the two. So is a table with column mapping,
    /// whose files name columns differently from the ones the writer writes.
    pub async fn writer(&self, options: ArchiveOptions) -> Result<ArchiveWriter, StoreError> {
        if self.column_mapping()? {
            return Err(StoreError::SchemaMismatch {
                reason: format!(
                    "{} uses Delta column mapping ({COLUMN_MAPPING_KEY}), which Logoscope does \
                     not write; it can still be queried, but ingest into a new archive (--to)",
                    self.url
                ),
            });
        }
        let version = self.schema_version()?;
        if version != SCHEMA_VERSION {
            return Err(StoreError::SchemaMismatch {
                reason: format!(
                    "{} holds table schema v{version} and this Logoscope writes v{SCHEMA_VERSION}; \
                     it can still be queried, but ingest into a new archive (--to)",
                    self.url
                ),
            });
        }
        ArchiveWriter::new(
            Arc::clone(&self.log_store),
            self.snapshot.version(),
            options,
            self.copy_commits,
        )
    }
}

/// The table property holding the Logoscope table schema version.
const SCHEMA_VERSION_KEY: &str = "logoscope.schemaVersion";

/// The Delta table property naming the column mapping mode.
const COLUMN_MAPPING_KEY: &str = "delta.columnMapping.mode";

fn register_object_stores() {
    static ONCE: Once = Once::new();
    // deltalake registers S3 from a constructor too; doing it here keeps it working if the
    // linker drops that constructor.
    ONCE.call_once(|| deltalake::aws::register_handlers(None));
}

/// The stored layout ([`stored_schema`]) plus the partition columns: the Delta table's
/// columns and the Arrow schema readers get from [`Archive::register_table`]. `ts` is a
/// microsecond timestamp here, as the Delta protocol's `timestamp` is; the Parquet files hold
/// it in milliseconds (with `ts_us` beside it), which readers widen on read.
pub fn archive_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        let logs = logs_schema();
        let mut fields: Vec<Field> = stored_schema()
            .fields()
            .iter()
            .map(|f| match logs.field_with_name(f.name()) {
                Ok(logical) if f.name() == logoscope_ingest::schema::col::TS => logical.clone(),
                _ => f.as_ref().clone(),
            })
            .collect();
        fields.push(Field::new(DT, DataType::Utf8, false));
        fields.push(Field::new(HOUR, DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }))
}

/// The Delta columns: dictionaries become `string`, `line` becomes `long`, and `template_id`
/// becomes `decimal(20,0)` — xxh3 ids use all 64 bits, and deltalake's scan casts a Parquet
/// `UInt64` to a `long` column with overflow checks (an error for half of all ids), while the
/// cast to `decimal(20,0)` is lossless (and is how Spark reads unsigned 64-bit Parquet too).
fn table_columns() -> Result<Vec<StructField>, StoreError> {
    let delta: StructType = archive_schema().as_ref().try_into_kernel()?;
    delta
        .fields()
        .map(|field| {
            if field.name() != logoscope_ingest::schema::col::TEMPLATE_ID {
                return Ok(field.clone());
            }
            let wide = deltalake::kernel::DataType::decimal(20, 0).map_err(|err| {
                StoreError::Internal {
                    reason: format!("decimal(20,0): {err}"),
                }
            })?;
            Ok(StructField::new(
                field.name().clone(),
                wide,
                field.is_nullable(),
            ))
        })
        .collect()
}

async fn create_table(log_store: LogStoreRef) -> Result<(), StoreError> {
    let created = CreateBuilder::new()
        .with_log_store(Arc::clone(&log_store))
        .with_table_name("logs")
        .with_comment("Logoscope log archive")
        .with_columns(table_columns()?)
        .with_partition_columns([DT, HOUR])
        // Statistics on `ts` are what time-range queries skip files with; the writer computes
        // exactly those, so other Delta writers (optimize) are told to do the same.
        .with_configuration_property(TableProperty::DataSkippingStatsColumns, Some("ts"))
        .with_configuration([(SCHEMA_VERSION_KEY, Some(SCHEMA_VERSION.to_string()))])
        .with_raise_if_key_not_exists(false)
        .with_save_mode(SaveMode::Ignore)
        // Losing the race for version 0 means another process created the table: deltalake's
        // retry would commit a second CREATE (a new table id) at the next version.
        .with_commit_properties(CommitProperties::default().with_max_retries(0))
        .await;
    match created {
        Ok(_) => Ok(()),
        // Another process created it between our load and our create: use theirs.
        Err(create_err) => match Snapshot::try_new(log_store.as_ref(), None).await {
            Ok(_) => Ok(()),
            Err(_) => Err(create_err.into()),
        },
    }
}

/// Refuses Delta tables that are not Logoscope archives, before anything is written to them.
fn check_table(snapshot: &Snapshot, location: &str) -> Result<(), StoreError> {
    let partitions = snapshot.metadata().partition_columns();
    let schema = snapshot.schema();
    let logs = logs_schema();
    let missing: Vec<&String> = logs
        .fields()
        .iter()
        .map(|f| f.name())
        .filter(|name| schema.field(name.as_str()).is_none())
        .collect();
    if !partitions.iter().map(String::as_str).eq([DT, HOUR]) || !missing.is_empty() {
        return Err(StoreError::SchemaMismatch {
            reason: format!(
                "{location} is a Delta table but not a Logoscope archive \
                 (partitions {partitions:?}, missing columns {missing:?})"
            ),
        });
    }
    Ok(())
}
