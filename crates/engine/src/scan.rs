//! `logs_stored` over an archive: its Parquet files as one DataFusion table,
//! scanned a run of files at a time.
//!
//! deltalake's provider plans one Parquet scan over every file of the
//! table, and DataFusion keeps a set of about 20 scan metrics for each file
//! that scan opens (labelled with the file name) until the query ends; with
//! deltalake's reader factory each file gets two. That is about 10 KB a file,
//! whatever the file holds: a query over 160,000 small files held 2.35 GB,
//! most of it metrics.
//!
//! [`ArchiveTable`] lists the files of the loaded Delta version as the log
//! streams them (path, size, partition values, `ts` bounds, row count), skips
//! the files whose partition values or `ts` bounds rule out the query's
//! filters, and reads the rest in runs of [`FILES_PER_SCAN`], each run a
//! DataFusion Parquet scan of its own, dropped with its metrics when the run
//! ends. Inside a file the scan prunes row groups and pages by the same
//! filters, as DataFusion's Parquet scan does.
//!
//! A table of up to `held_files` files (65,536 by default) keeps that list
//! for the query: output partitions get contiguous stretches of it, balanced
//! by bytes. A larger table keeps only its file and row counts; while the
//! scan runs, a [`FileFeed`] lists the files from the log again, a chunk at a
//! time, and hands runs to whichever partition asks. So the memory a query
//! holds for files does not grow with their number; the price is a second
//! pass over the log.
//!
//! The table has the schema deltalake's provider gives (text as `Utf8View`,
//! `dt`/`hour` as dictionaries, the Delta types of `line` and
//! `template_id`), so the `logs` views plan the same over both; each file is
//! read into it with DataFusion's casts. Tables whose files cannot be read
//! as they are (deletion vectors, column mapping: other writers' features)
//! are left to deltalake's provider ([`ArchiveTable::try_new`] gives None).

use std::fmt;
use std::sync::Arc;
use std::task::Poll;

use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, BooleanArray, StringArray, UInt64Array};
use datafusion::arrow::compute::cast;
use datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
use datafusion::arrow::datatypes::{DataType, FieldRef, SchemaRef, TimeUnit};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{
    Column, DFSchema, DataFusionError, Result, ScalarValue, Statistics, internal_datafusion_err,
};
use datafusion::config::{ConfigOptions, TableParquetOptions};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::utils::{
    conjunction as conjunction_physical, reassign_expr_columns, split_conjunction,
};
use datafusion::physical_expr::{EquivalenceProperties, PhysicalExpr};
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use datafusion::physical_plan::execution_plan::{
    Boundedness, ChildrenPropertiesMode, EmissionType, ReplaceChildrenOptions,
};
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterPushdownPhase, FilterPushdownPropagation, PushedDown,
};
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, RecordOutput,
};
use datafusion::physical_plan::statistics::StatisticsArgs;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PlanProperties,
};
use deltalake::kernel::LogicalFileView;
use deltalake::logstore::LogStore;
use deltalake::{ObjectMeta, Path};
use futures::{StreamExt, TryStreamExt, stream};
use logoscope_store::Archive;
use logoscope_store::{DT, HOUR};
use serde::Deserialize;

use crate::EngineError;

/// Files one Parquet scan reads before it is dropped with its metrics. The
/// scan opens a file while it reads the one before, so a run of files keeps
/// that overlap; the metrics a run holds (about 10 KB a file) stay small.
pub(crate) const FILES_PER_SCAN: usize = 64;

/// Files a table keeps listed in memory while a query is planned and run.
/// A table with more has its files streamed from the Delta log as the scan
/// goes (see [`FileFeed`]), so what a query holds does not grow with them.
pub(crate) const HELD_FILES: usize = 64 * 1024;

/// Files pulled from the log at a time in a streamed scan, and skipped
/// together by the query's filters.
const FEED_CHUNK: usize = 1024;

/// One data file of the loaded table version.
#[derive(Debug)]
struct ArchiveFile {
    /// Object store path relative to the table root.
    path: Box<str>,
    size: u64,
    modified_ms: i64,
    /// Partition values, shared by the files of one day or hour.
    dt: Option<Arc<str>>,
    hour: Option<Arc<str>>,
    /// `ts` bounds in microseconds, from the file's Delta statistics.
    ts_min: Option<i64>,
    ts_max: Option<i64>,
    ts_nulls: Option<u64>,
    rows: Option<u64>,
}

/// One shared copy of each distinct string.
#[derive(Default)]
struct Interner(std::collections::HashSet<Arc<str>>);

impl Interner {
    fn intern(&mut self, value: String) -> Arc<str> {
        match self.0.get(value.as_str()) {
            Some(shared) => Arc::clone(shared),
            None => {
                let shared: Arc<str> = value.into();
                self.0.insert(Arc::clone(&shared));
                shared
            }
        }
    }
}

/// The parts of a file's Delta statistics the scan uses.
#[derive(Deserialize)]
struct FileStats<'a> {
    #[serde(rename = "numRecords")]
    num_records: Option<u64>,
    #[serde(rename = "minValues", borrow)]
    min_values: Option<TsStat<'a>>,
    #[serde(rename = "maxValues", borrow)]
    max_values: Option<TsStat<'a>>,
    #[serde(rename = "nullCount")]
    null_count: Option<TsNulls>,
}

#[derive(Deserialize)]
struct TsNulls {
    ts: Option<u64>,
}

#[derive(Deserialize)]
struct TsStat<'a> {
    #[serde(borrow)]
    ts: Option<&'a str>,
}

fn micros(text: &str) -> Option<i64> {
    string_to_timestamp_nanos(text)
        .ok()
        .map(|ns| ns.div_euclid(1_000))
}

/// The archive's files as a DataFusion table (see the module doc).
#[derive(Debug)]
pub(crate) struct ArchiveTable {
    /// File columns, then the partition columns `dt` and `hour`.
    schema: SchemaRef,
    table_schema: TableSchema,
    store_url: ObjectStoreUrl,
    listing: Listing,
}

/// Where a scan gets its files from.
#[derive(Debug, Clone)]
enum Listing {
    /// Every file, in path order (a table of at most `held_files`).
    Held(Arc<[ArchiveFile]>),
    /// From the archive's log, as the scan goes.
    Streamed(StreamedTable),
}

/// A table too large to keep listed: its files are read from the log as
/// the scan goes.
#[derive(Debug, Clone)]
struct StreamedTable {
    archive: Archive,
    /// Files and their summed row counts (None when a file has none),
    /// counted when the table was listed.
    files: usize,
    rows: Option<u64>,
}

/// What the scan keeps of a listed file; None for a file with a deletion
/// vector, which only deltalake's provider applies.
fn archive_file(
    file: &LogicalFileView,
    dt_values: &mut Interner,
    hour_values: &mut Interner,
) -> Option<ArchiveFile> {
    if file.deletion_vector_descriptor().is_some() {
        return None;
    }
    let mut partitions = file.partition_values_map();
    let stats = file.stats();
    let stats = stats
        .as_deref()
        .and_then(|text| serde_json::from_str::<FileStats<'_>>(text).ok());
    let (rows, ts_nulls, ts_min, ts_max) = match &stats {
        Some(s) => (
            s.num_records,
            s.null_count.as_ref().and_then(|n| n.ts),
            s.min_values.as_ref().and_then(|v| v.ts).and_then(micros),
            // Writers may cut times to milliseconds; widen a whole
            // millisecond to its last microsecond.
            s.max_values
                .as_ref()
                .and_then(|v| v.ts)
                .and_then(micros)
                .map(|us| if us % 1_000 == 0 { us + 999 } else { us }),
        ),
        None => (None, None, None, None),
    };
    Some(ArchiveFile {
        path: file.object_store_path().as_ref().into(),
        size: u64::try_from(file.size()).unwrap_or(0),
        modified_ms: file.modification_time(),
        dt: partitions.remove(DT).flatten().map(|v| dt_values.intern(v)),
        hour: partitions
            .remove(HOUR)
            .flatten()
            .map(|v| hour_values.intern(v)),
        ts_min,
        ts_max,
        ts_nulls,
        rows,
    })
}

/// Indices of the `files` that `pruning` says may hold rows (all of them
/// without it, or when it cannot tell).
fn keep(files: &[ArchiveFile], schema: &SchemaRef, pruning: Option<&PruningPredicate>) -> Vec<u32> {
    let all = || (0..files.len() as u32).collect();
    let Some(pruning) = pruning else {
        return all();
    };
    let stats = FileStatistics { files, schema };
    match pruning.prune(&stats) {
        Ok(keep) => keep
            .iter()
            .enumerate()
            .filter(|(_, keep)| **keep)
            .map(|(i, _)| i as u32)
            .collect(),
        Err(_) => all(),
    }
}

fn pruning_predicate(
    schema: &SchemaRef,
    predicate: Option<&Arc<dyn PhysicalExpr>>,
) -> Option<Arc<PruningPredicate>> {
    PruningPredicateBuilder::new()
        .with_file_schema(Arc::clone(schema))
        .build(Arc::clone(predicate?))
}

impl ArchiveTable {
    /// Lists the files of `archive`'s loaded version. `schema` is the table
    /// schema readers get (deltalake's provider's); its partition columns are
    /// moved last. The table root's object store is registered in `state`'s
    /// runtime under deltalake's per-table URL.
    ///
    /// None when the files cannot be read as they are: a table with column
    /// mapping (files name columns otherwise) or with deletion vectors (rows
    /// of a file that are deleted). Logoscope writes neither; other Delta
    /// writers may, and deltalake's provider reads them.
    pub(crate) async fn try_new(
        archive: &Archive,
        schema: SchemaRef,
        state: &dyn Session,
        held_files: usize,
    ) -> Result<Option<Self>, EngineError> {
        if archive.column_mapping()? {
            return Ok(None);
        }
        let log_store = archive.log_store();
        let store_url = log_store.object_store_url();
        let runtime = state.runtime_env();
        if runtime.object_store(&store_url).is_err() {
            runtime.register_object_store(store_url.as_ref(), log_store.object_store(None));
        }

        let (partition_cols, file_cols): (Vec<FieldRef>, Vec<FieldRef>) = schema
            .fields()
            .iter()
            .cloned()
            .partition(|f| f.name() == DT || f.name() == HOUR);
        let table_schema = TableSchema::builder(Arc::new(
            datafusion::arrow::datatypes::Schema::new(file_cols),
        ))
        .with_table_partition_cols(partition_cols)
        .build();
        let schema = Arc::clone(table_schema.table_schema());

        // The log streams a batch of files at a time; only what the scan
        // needs of each is kept, and only up to `held_files` files.
        let mut files = Vec::new();
        let (mut count, mut rows) = (0usize, Some(0u64));
        let (mut dt_values, mut hour_values) = (Interner::default(), Interner::default());
        let mut listed = archive.files();
        while let Some(file) = listed.try_next().await? {
            if file.deletion_vector_descriptor().is_some() {
                return Ok(None);
            }
            count += 1;
            if count <= held_files {
                let file = archive_file(&file, &mut dt_values, &mut hour_values)
                    .expect("a file without a deletion vector");
                rows = rows.zip(file.rows).map(|(a, b)| a + b);
                files.push(file);
            } else {
                // Only counted now: the scan lists the files again as it runs.
                files = Vec::new();
                rows = rows.zip(file.num_records()).map(|(a, b)| a + b as u64);
            }
        }
        let listing = if count <= held_files {
            // Paths start with `dt=…/hour=…`: in path order, each output
            // partition reads a stretch of time.
            files.sort_unstable_by(|a, b| a.path.cmp(&b.path));
            Listing::Held(files.into())
        } else {
            Listing::Streamed(StreamedTable {
                archive: archive.clone(),
                files: count,
                rows,
            })
        };
        Ok(Some(Self {
            schema,
            table_schema,
            store_url,
            listing,
        }))
    }
}

#[async_trait]
impl TableProvider for ArchiveTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        // Filters skip files, row groups and pages; rows are still filtered above.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let predicate = match conjunction(filters.iter().cloned()) {
            Some(expr) => {
                let df_schema = DFSchema::try_from(Arc::clone(&self.schema))?;
                Some(state.create_physical_expr(expr, &df_schema)?)
            }
            None => None,
        };
        let projected = match projection {
            Some(indices) => Arc::new(self.schema.project(indices)?),
            None => Arc::clone(&self.schema),
        };
        let partitions = state.config().target_partitions().max(1);
        let source = match &self.listing {
            Listing::Held(files) => {
                let pruning = pruning_predicate(&self.schema, predicate.as_ref());
                let kept = keep(files, &self.schema, pruning.as_deref());
                Source::Held {
                    groups: split_by_bytes(files, &kept, partitions),
                    files: Arc::clone(files),
                }
            }
            Listing::Streamed(table) => Source::Streamed {
                table: table.clone(),
                partitions,
                feed: Arc::default(),
            },
        };
        let properties = PlanProperties::new(
            EquivalenceProperties::new(Arc::clone(&projected)),
            Partitioning::UnknownPartitioning(source.partitions()),
            EmissionType::Incremental,
            Boundedness::Bounded,
        );
        Ok(Arc::new(ArchiveScanExec {
            scan: Arc::new(RunScan {
                schema: Arc::clone(&self.schema),
                table_schema: self.table_schema.clone(),
                store_url: self.store_url.clone(),
                parquet_options: state.table_options().parquet.clone(),
                projection: projection.cloned(),
                predicate,
                limit,
            }),
            source,
            schema: projected,
            properties: Arc::new(properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }
}

/// Splits `kept` (in path order) into at most `parts` contiguous groups of
/// about equal bytes; always at least one group, which may be empty.
fn split_by_bytes(files: &[ArchiveFile], kept: &[u32], parts: usize) -> Vec<Vec<u32>> {
    let parts = parts.clamp(1, kept.len().max(1));
    let total: u64 = kept.iter().map(|&i| files[i as usize].size.max(1)).sum();
    let mut groups: Vec<Vec<u32>> = Vec::with_capacity(parts);
    let mut group = Vec::new();
    let mut filled = 0u64;
    for &i in kept {
        let size = files[i as usize].size.max(1);
        // Group k ends before the file whose middle lies past k/parts of the total.
        let boundary = total * (groups.len() as u64 + 1) / parts as u64;
        if filled + size / 2 >= boundary && !group.is_empty() && groups.len() + 1 < parts {
            groups.push(std::mem::take(&mut group));
        }
        filled += size;
        group.push(i);
    }
    groups.push(group);
    groups
}

/// Partition values and `ts` bounds of every file, for DataFusion's `PruningPredicate`.
struct FileStatistics<'a> {
    files: &'a [ArchiveFile],
    schema: &'a SchemaRef,
}

impl FileStatistics<'_> {
    fn partition_values(&self, column: &Column) -> Option<ArrayRef> {
        let values: StringArray = match column.name.as_str() {
            DT => self.files.iter().map(|f| f.dt.as_deref()).collect(),
            HOUR => self.files.iter().map(|f| f.hour.as_deref()).collect(),
            _ => return None,
        };
        Some(Arc::new(values))
    }

    fn ts_bounds(&self, column: &Column, max: bool) -> Option<ArrayRef> {
        if column.name != logoscope_ingest::schema::col::TS {
            return None;
        }
        let field = self.schema.field_with_name(&column.name).ok()?;
        let values: datafusion::arrow::array::TimestampMicrosecondArray = self
            .files
            .iter()
            .map(|f| if max { f.ts_max } else { f.ts_min })
            .collect();
        let tz = match field.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, tz) => tz.clone(),
            _ => None,
        };
        let values: ArrayRef = Arc::new(values.with_timezone_opt(tz));
        cast(&values, field.data_type()).ok()
    }
}

impl PruningStatistics for FileStatistics<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.partition_values(column)
            .or_else(|| self.ts_bounds(column, false))
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.partition_values(column)
            .or_else(|| self.ts_bounds(column, true))
    }

    fn num_containers(&self) -> usize {
        self.files.len()
    }

    fn null_counts(&self, column: &Column) -> Option<ArrayRef> {
        // A partition value is the same for every row of its file.
        let nulls: UInt64Array = match column.name.as_str() {
            logoscope_ingest::schema::col::TS => self.files.iter().map(|f| f.ts_nulls).collect(),
            DT | HOUR => self
                .files
                .iter()
                .map(|f| {
                    let value = if column.name == DT { &f.dt } else { &f.hour };
                    match (value, f.rows) {
                        (Some(_), _) => Some(0),
                        (None, rows) => rows,
                    }
                })
                .collect(),
            _ => return None,
        };
        Some(Arc::new(nulls))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let rows: UInt64Array = self.files.iter().map(|f| f.rows).collect();
        Some(Arc::new(rows))
    }

    fn contained(
        &self,
        _column: &Column,
        _values: &std::collections::HashSet<ScalarValue>,
    ) -> Option<BooleanArray> {
        None
    }
}

/// What every run of an [`ArchiveScanExec`] scans with.
#[derive(Debug, Clone)]
struct RunScan {
    /// The table's schema (file columns, then `dt` and `hour`).
    schema: SchemaRef,
    table_schema: TableSchema,
    store_url: ObjectStoreUrl,
    parquet_options: TableParquetOptions,
    projection: Option<Vec<usize>>,
    predicate: Option<Arc<dyn PhysicalExpr>>,
    limit: Option<usize>,
}

impl RunScan {
    fn partitioned_file(&self, file: &ArchiveFile) -> Result<PartitionedFile> {
        let location = Path::parse(&*file.path)
            .map_err(|err| internal_datafusion_err!("archive file path {}: {err}", file.path))?;
        let last_modified = chrono_millis(file.modified_ms);
        let meta = ObjectMeta {
            location,
            last_modified,
            size: file.size,
            e_tag: None,
            version: None,
        };
        let mut values = Vec::with_capacity(2);
        for (field, value) in self
            .table_schema
            .table_partition_cols()
            .iter()
            .map(|f| (f, if f.name() == DT { &file.dt } else { &file.hour }))
        {
            values.push(
                ScalarValue::Utf8(value.as_deref().map(str::to_owned))
                    .cast_to(field.data_type())?,
            );
        }
        Ok(PartitionedFile::new_from_meta(meta).with_partition_values(values))
    }

    /// A fresh Parquet scan of `run`'s files, its metrics its own.
    fn open<'a>(
        &self,
        run: impl IntoIterator<Item = &'a ArchiveFile>,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let files = run
            .into_iter()
            .map(|file| self.partitioned_file(file))
            .collect::<Result<Vec<_>>>()?;
        let mut source = ParquetSource::new(self.table_schema.clone())
            .with_table_parquet_options(self.parquet_options.clone());
        if let Some(predicate) = &self.predicate {
            // Rows the predicate rules out are dropped while decoding, before
            // the other columns of the row group are read.
            source = source
                .with_predicate(Arc::clone(predicate))
                .with_pushdown_filters(true);
        }
        let config = FileScanConfigBuilder::new(self.store_url.clone(), Arc::new(source))
            .with_file_group(FileGroup::new(files))
            .with_projection_indices(self.projection.clone())?
            .with_limit(self.limit)
            .build();
        DataSourceExec::from_data_source(config).execute(0, context)
    }
}

fn chrono_millis(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// Reads an [`ArchiveTable`]'s kept files in runs of [`FILES_PER_SCAN`].
#[derive(Debug)]
pub(crate) struct ArchiveScanExec {
    scan: Arc<RunScan>,
    source: Source,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

/// Which files each output partition of an [`ArchiveScanExec`] reads.
#[derive(Debug, Clone)]
enum Source {
    /// Partition `i` reads `groups[i]` (indices into `files`, skipped by the
    /// filters when the plan was made).
    Held {
        files: Arc<[ArchiveFile]>,
        groups: Vec<Vec<u32>>,
    },
    /// Every partition takes the next run from one [`FileFeed`] of the log.
    Streamed {
        table: StreamedTable,
        partitions: usize,
        feed: Arc<std::sync::Mutex<FeedRound>>,
    },
}

impl Source {
    fn partitions(&self) -> usize {
        match self {
            Source::Held { groups, .. } => groups.len(),
            Source::Streamed { partitions, .. } => *partitions,
        }
    }

    /// The same files, with a feed of its own for a streamed table.
    fn fresh(&self) -> Source {
        match self {
            Source::Streamed {
                table, partitions, ..
            } => Source::Streamed {
                table: table.clone(),
                partitions: *partitions,
                feed: Arc::default(),
            },
            held => held.clone(),
        }
    }

    /// Files in the table.
    fn of(&self) -> usize {
        match self {
            Source::Held { files, .. } => files.len(),
            Source::Streamed { table, .. } => table.files,
        }
    }
}

/// The feed the partitions of one execution share: each partition's first
/// `execute` joins the current feed. A new feed starts when the plan runs
/// again: an `execute` with another task context than the feed's (each run
/// of a plan has its own), or a second one for the same partition.
#[derive(Debug, Default)]
struct FeedRound {
    context: std::sync::Weak<TaskContext>,
    joined: Vec<bool>,
    feed: Option<Arc<FileFeed>>,
}

/// A table's files as the log streams them, skipped by the query's filters
/// a chunk at a time and handed out a run at a time to whichever partition
/// asks. The filters are evaluated when a chunk is pulled, so a `TopK`'s
/// bound that has tightened by then skips files too. What it holds is a
/// chunk and a few runs, whatever the number of files.
struct FileFeed {
    archive: Archive,
    scan: Arc<RunScan>,
    state: futures::lock::Mutex<FeedState>,
}

impl fmt::Debug for FileFeed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileFeed").finish_non_exhaustive()
    }
}

/// A listed file, or `None` once the log has no more (a channel that closes
/// without it means the listing task failed).
type Listed = Result<Option<ArchiveFile>>;

#[derive(Default)]
struct FeedState {
    files: Option<tokio::sync::mpsc::Receiver<Listed>>,
    /// Files received and not yet skipped or kept (kept here, not in the
    /// future that receives them, so a partition dropped while it waits loses
    /// none).
    chunk: Vec<ArchiveFile>,
    kept: std::collections::VecDeque<ArchiveFile>,
    done: bool,
}

impl FileFeed {
    /// The next run of kept files, or None when the log has no more.
    async fn next_run(&self) -> Result<Option<Vec<ArchiveFile>>> {
        let mut state = self.state.lock().await;
        loop {
            if state.kept.len() >= FILES_PER_SCAN || (state.done && !state.kept.is_empty()) {
                let n = state.kept.len().min(FILES_PER_SCAN);
                return Ok(Some(state.kept.drain(..n).collect()));
            }
            if state.done {
                return Ok(None);
            }
            let state = &mut *state;
            let files = state.files.get_or_insert_with(|| self.list());
            while state.chunk.len() < FEED_CHUNK {
                match files.recv().await {
                    Some(Ok(Some(file))) => state.chunk.push(file),
                    Some(Ok(None)) => {
                        state.done = true;
                        break;
                    }
                    Some(Err(err)) => return Err(err),
                    None => {
                        return Err(DataFusionError::Execution(format!(
                            "{}: listing the archive's files stopped before the end",
                            self.archive.url()
                        )));
                    }
                }
            }
            if state.done {
                state.files = None;
            }
            // Built for each chunk: a dynamic filter (a TopK's bound) has its value of now.
            let pruning = pruning_predicate(&self.scan.schema, self.scan.predicate.as_ref());
            let kept = keep(&state.chunk, &self.scan.schema, pruning.as_deref());
            let mut chunk: Vec<Option<ArchiveFile>> = state.chunk.drain(..).map(Some).collect();
            state
                .kept
                .extend(kept.into_iter().filter_map(|i| chunk[i as usize].take()));
        }
    }

    /// Lists the archive's files on a task of their own, a bounded channel
    /// ahead of the scan.
    fn list(&self) -> tokio::sync::mpsc::Receiver<Listed> {
        let (send, receive) = tokio::sync::mpsc::channel(FEED_CHUNK);
        let archive = self.archive.clone();
        tokio::spawn(async move {
            let (mut dt_values, mut hour_values) = (Interner::default(), Interner::default());
            let mut listed = archive.files();
            loop {
                let file = match listed.try_next().await {
                    Ok(Some(file)) => archive_file(&file, &mut dt_values, &mut hour_values)
                        .map(Some)
                        .ok_or_else(|| {
                            DataFusionError::Execution(format!(
                                "{}: a file has a deletion vector, which this scan does not apply",
                                archive.url()
                            ))
                        }),
                    Ok(None) => Ok(None),
                    Err(err) => Err(DataFusionError::External(Box::new(err))),
                };
                let last = !matches!(file, Ok(Some(_)));
                if send.send(file).await.is_err() || last {
                    return;
                }
            }
        });
        receive
    }
}

impl ArchiveScanExec {
    /// Number of files the scan reads (after skipping by partition values
    /// and `ts` bounds), when the plan knows it.
    fn file_count(&self) -> Option<usize> {
        match &self.source {
            Source::Held { groups, .. } => Some(groups.iter().map(Vec::len).sum()),
            Source::Streamed { .. } => None,
        }
    }
}

impl DisplayAs for ArchiveScanExec {
    fn fmt_as(&self, t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match t {
            DisplayFormatType::Default | DisplayFormatType::Verbose => {
                match self.file_count() {
                    Some(files) => write!(f, "ArchiveScanExec: files={files}")?,
                    None => write!(f, "ArchiveScanExec: files=streamed")?,
                }
                write!(
                    f,
                    ", of={}, partitions={}",
                    self.source.of(),
                    self.source.partitions()
                )?;
                if let Some(predicate) = &self.scan.predicate {
                    write!(f, ", predicate={predicate}")?;
                }
                if let Some(limit) = self.scan.limit {
                    write!(f, ", limit={limit}")?;
                }
                Ok(())
            }
            DisplayFormatType::TreeRender => match self.file_count() {
                Some(files) => write!(f, "files={files}"),
                None => write!(f, "files=streamed"),
            },
        }
    }
}

impl ExecutionPlan for ArchiveScanExec {
    fn name(&self) -> &'static str {
        "ArchiveScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        match &self.scan.predicate {
            Some(predicate) => f(predicate),
            None => Ok(TreeNodeRecursion::Continue),
        }
    }

    fn replace_children(
        self: Arc<Self>,
        _: Vec<Arc<dyn ExecutionPlan>>,
        _: ReplaceChildrenOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    /// A copy to run again (a recursive query's next round): a streamed
    /// table's copy lists the files afresh.
    fn reset_state(self: Arc<Self>) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(ArchiveScanExec {
            scan: Arc::clone(&self.scan),
            source: self.source.fresh(),
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
            metrics: ExecutionPlanMetricsSet::new(),
        }))
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.replace_children(
            children,
            ReplaceChildrenOptions::new(ChildrenPropertiesMode::Recompute),
        )
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition >= self.source.partitions() {
            return Err(internal_datafusion_err!(
                "ArchiveScanExec has {} partitions, not {partition}",
                self.source.partitions()
            ));
        }
        let baseline = BaselineMetrics::new(&self.metrics, partition);
        let opened: Count = MetricBuilder::new(&self.metrics).counter("files_opened", partition);
        let scan = Arc::clone(&self.scan);
        let mut batches = match &self.source {
            Source::Held { files, groups } => {
                let runs: Vec<Vec<u32>> = groups[partition]
                    .chunks(FILES_PER_SCAN)
                    .map(<[u32]>::to_vec)
                    .collect();
                let files = Arc::clone(files);
                stream::iter(runs)
                    .map(move |run| {
                        opened.add(run.len());
                        scan.open(
                            run.iter().map(|&i| &files[i as usize]),
                            Arc::clone(&context),
                        )
                    })
                    .try_flatten()
                    .boxed()
            }
            Source::Streamed {
                table,
                partitions,
                feed,
            } => {
                let feed = {
                    let mut round = feed.lock().map_err(|_| {
                        internal_datafusion_err!("ArchiveScanExec feed lock poisoned")
                    })?;
                    let same_run = round
                        .context
                        .upgrade()
                        .is_some_and(|c| Arc::ptr_eq(&c, &context));
                    if !same_run
                        || round.joined.get(partition).copied().unwrap_or(true)
                        || round.feed.is_none()
                    {
                        round.context = Arc::downgrade(&context);
                        round.joined = vec![false; *partitions];
                        round.feed = Some(Arc::new(FileFeed {
                            archive: table.archive.clone(),
                            scan: Arc::clone(&scan),
                            state: futures::lock::Mutex::default(),
                        }));
                    }
                    round.joined[partition] = true;
                    round.feed.clone().expect("set above")
                };
                // After an error the partition asks for no further run.
                stream::unfold(Some(feed), |feed| async move {
                    let feed = feed?;
                    match feed.next_run().await {
                        Ok(Some(run)) => Some((Ok(run), Some(feed))),
                        Ok(None) => None,
                        Err(err) => Some((Err(err), None)),
                    }
                })
                .map(move |run: Result<Vec<ArchiveFile>>| {
                    let run = run?;
                    opened.add(run.len());
                    scan.open(&run, Arc::clone(&context))
                })
                .try_flatten()
                .boxed()
            }
        };
        // Rows still wanted under the limit: once none are, the runs are not
        // polled again, so no further batch is read and no run opened.
        let mut left = self.scan.limit.unwrap_or(usize::MAX);
        let batches = stream::poll_fn(move |cx| {
            if left == 0 {
                return Poll::Ready(None);
            }
            match batches.poll_next_unpin(cx) {
                Poll::Ready(Some(Ok(batch))) => {
                    let rows = batch.num_rows().min(left);
                    left -= rows;
                    Poll::Ready(Some(Ok(batch.slice(0, rows).record_output(&baseline))))
                }
                other => other,
            }
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            batches,
        )))
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    /// Row counts from the Delta statistics: exact without a predicate (so
    /// `count(*)` of a whole table reads no file), an upper bound with one.
    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let rows: Option<u64> = match (&self.source, args.partition()) {
            (Source::Held { files, groups }, partition) => {
                let indices = match partition {
                    Some(i) => groups.get(i).cloned().unwrap_or_default(),
                    None => groups.concat(),
                };
                indices.iter().map(|&i| files[i as usize].rows).sum()
            }
            // Which files a partition reads is settled as it runs.
            (Source::Streamed { table, .. }, None) => table.rows,
            (Source::Streamed { .. }, Some(_)) => None,
        };
        let mut statistics = Statistics::new_unknown(&self.schema);
        if let Some(rows) = rows {
            let rows = usize::try_from(rows)
                .unwrap_or(usize::MAX)
                .min(self.scan.limit.unwrap_or(usize::MAX));
            // Each partition stops at the limit on its own: with several,
            // more rows than the limit may come out.
            let capped = args.partition().is_none()
                && self.scan.limit.is_some()
                && self.source.partitions() > 1;
            statistics.num_rows = if self.scan.predicate.is_none() && !capped {
                Precision::Exact(rows)
            } else {
                Precision::Inexact(rows)
            };
        }
        Ok(Arc::new(statistics))
    }

    /// Filters from above (a `TopK`'s dynamic bound, a join's keys) join the
    /// predicate each run's Parquet scan prunes row groups with; they are
    /// still applied above, as nothing here filters rows.
    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> Result<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        let filters: Vec<Arc<dyn PhysicalExpr>> = child_pushdown_result
            .parent_filters
            .into_iter()
            .map(|f| reassign_expr_columns(f.filter, self.scan.table_schema.table_schema()))
            .collect::<Result<_>>()?;
        let kept = vec![PushedDown::No; filters.len()];
        if filters.is_empty() {
            return Ok(FilterPushdownPropagation::with_parent_pushdown_result(kept));
        }
        // The scan's own filters come back from the filter above it: keep each once.
        let mut conjuncts: Vec<Arc<dyn PhysicalExpr>> = self
            .scan
            .predicate
            .as_ref()
            .map(split_conjunction)
            .unwrap_or_default()
            .into_iter()
            .cloned()
            .collect();
        for filter in filters.iter().flat_map(split_conjunction) {
            if !conjuncts.iter().any(|c| c.as_ref() == filter.as_ref()) {
                conjuncts.push(Arc::clone(filter));
            }
        }
        let predicate = conjunction_physical(conjuncts);
        let scan = RunScan {
            predicate: Some(predicate),
            ..self.scan.as_ref().clone()
        };
        let node = ArchiveScanExec {
            scan: Arc::new(scan),
            source: self.source.fresh(),
            schema: Arc::clone(&self.schema),
            properties: Arc::clone(&self.properties),
            metrics: ExecutionPlanMetricsSet::new(),
        };
        Ok(FilterPushdownPropagation::with_parent_pushdown_result(kept)
            .with_updated_node(Arc::new(node) as Arc<dyn ExecutionPlan>))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> ArchiveFile {
        ArchiveFile {
            path: path.into(),
            size,
            modified_ms: 0,
            dt: None,
            hour: None,
            ts_min: None,
            ts_max: None,
            ts_nulls: None,
            rows: None,
        }
    }

    #[test]
    fn groups_split_by_bytes_in_order() {
        let files: Vec<ArchiveFile> = [10, 10, 10, 10, 40, 10, 10]
            .iter()
            .enumerate()
            .map(|(i, &size)| file(&format!("f{i}"), size))
            .collect();
        let kept: Vec<u32> = (0..files.len() as u32).collect();
        let groups = split_by_bytes(&files, &kept, 2);
        assert_eq!(groups, vec![vec![0, 1, 2, 3], vec![4, 5, 6]]);
        // Two files of about the same size go to two partitions.
        let pair = [file("a", 8213), file("b", 8222)];
        assert_eq!(split_by_bytes(&pair, &[0, 1], 2), vec![vec![0], vec![1]]);
        assert_eq!(split_by_bytes(&files, &kept, 1), vec![kept.clone()]);
        // More parts than files: one file each.
        assert_eq!(split_by_bytes(&files, &[2, 5], 8), vec![vec![2], vec![5]]);
        assert_eq!(split_by_bytes(&files, &[], 4), vec![Vec::<u32>::new()]);
        let groups = split_by_bytes(&files, &kept, 3);
        assert_eq!(groups.concat(), kept);
        assert!(groups.len() <= 3 && groups.iter().all(|g| !g.is_empty()));
    }

    #[test]
    fn stats_times_read_as_microseconds() {
        assert_eq!(micros("1970-01-01T00:00:00.001Z"), Some(1_000));
        assert_eq!(micros("2024-03-05T08:00:00Z"), Some(1_709_625_600_000_000));
        assert_eq!(micros("not a time"), None);
        let stats: FileStats<'_> = serde_json::from_str(
            r#"{"numRecords":3,"nullCount":{"ts":1},"minValues":{"ts":"1970-01-01T00:00:00.001Z"},"maxValues":{"ts":"1970-01-01T00:00:00.003Z"}}"#,
        )
        .unwrap();
        assert_eq!(stats.num_records, Some(3));
        assert_eq!(stats.null_count.and_then(|n| n.ts), Some(1));
        assert_eq!(
            stats.min_values.and_then(|v| v.ts),
            Some("1970-01-01T00:00:00.001Z")
        );
    }
}
