//! Buffering, sorting and writing Parquet files, then committing them in one Delta transaction.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, TimestampMicrosecondArray};
use arrow::compute::{
    SortColumn, SortOptions, concat_batches, lexsort_to_indices, take_record_batch,
};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use deltalake::DeltaTable;
use deltalake::kernel::transaction::{
    CommitBuilder, CommitProperties, TableReference, TransactionError,
};
use deltalake::kernel::{Action, Add};
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::{DeltaTableError, ObjectStore};
use logoscope_drain::TemplateCatalog;
use logoscope_ingest::schema::{col, logs_schema};
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use parquet::arrow::{ArrowSchemaConverter, ArrowWriter};
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::metadata::SortingColumn;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use serde_json::{Value, json};

use crate::catalog;
use crate::partition::{DT, HOUR, PartitionKey, split_by_partition};
use crate::{CommitSummary, StoreError};

/// How many times `commit` re-reads the table and tries again when another writer committed
/// first.
const MAX_COMMIT_ATTEMPTS: u32 = 16;

/// Tuning for an [`ArchiveWriter`]. Memory use is bounded by `max_buffered_rows` /
/// `max_buffered_bytes` (plus one file being encoded), never by input size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveOptions {
    /// Rows per Parquet file at most; a partition that reaches it is written out.
    pub target_file_rows: usize,
    /// Rows buffered across all partitions before the largest partition is written out.
    pub max_buffered_rows: usize,
    /// Arrow memory buffered across all partitions before the largest partition is written out.
    pub max_buffered_bytes: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// zstd level, 1..=22.
    pub zstd_level: i32,
}

impl Default for ArchiveOptions {
    /// 1 M rows per file and buffered, 256 MiB buffered, 128 Ki-row row groups, zstd level 3.
    fn default() -> Self {
        Self {
            target_file_rows: 1_000_000,
            max_buffered_rows: 1_000_000,
            max_buffered_bytes: 256 << 20,
            row_group_rows: 128 * 1024,
            zstd_level: 3,
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
        if self.target_file_rows == 0 {
            return bad("target_file_rows must be at least 1");
        }
        if self.max_buffered_rows == 0 || self.max_buffered_bytes == 0 {
            return bad("max_buffered_rows and max_buffered_bytes must be at least 1");
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

#[derive(Default)]
struct PartitionBuffer {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
}

/// Writes `logs` batches into the archive. Files it writes stay invisible until
/// [`commit`](Self::commit); dropping the writer (or [`abort`](Self::abort)) leaves the table as
/// it was.
pub struct ArchiveWriter {
    table: DeltaTable,
    store: Arc<dyn ObjectStore>,
    /// Table version the caller's catalog was read against (None: the table was empty).
    base_version: Option<u64>,
    options: ArchiveOptions,
    properties: WriterProperties,
    schema: SchemaRef,
    ts_index: usize,
    sort_indices: [usize; 3],
    buffers: BTreeMap<PartitionKey, PartitionBuffer>,
    buffered_rows: usize,
    buffered_bytes: usize,
    adds: Vec<Add>,
    rows_written: u64,
    bytes_written: u64,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("table", &self.table.table_url().as_str())
            .field("base_version", &self.base_version)
            .field("options", &self.options)
            .field("buffered_rows", &self.buffered_rows)
            .field("files_written", &self.adds.len())
            .finish_non_exhaustive()
    }
}

impl ArchiveWriter {
    pub(crate) fn new(table: DeltaTable, options: ArchiveOptions) -> Result<Self, StoreError> {
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
        let properties = writer_properties(&schema, &options, &sort_indices)?;
        Ok(Self {
            store: table.object_store(),
            base_version: table.version(),
            table,
            options,
            properties,
            schema,
            ts_index,
            sort_indices,
            buffers: BTreeMap::new(),
            buffered_rows: 0,
            buffered_bytes: 0,
            adds: Vec::new(),
            rows_written: 0,
            bytes_written: 0,
        })
    }

    /// Buffers `batch` (which must have [`logs_schema`]) by partition, writing files as the
    /// configured bounds demand.
    pub async fn write(&mut self, batch: RecordBatch) -> Result<(), StoreError> {
        check_schema(&self.schema, &batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        // Re-stamp with the canonical schema so concat never trips over field metadata.
        let batch = RecordBatch::try_new(Arc::clone(&self.schema), batch.columns().to_vec())?;
        for (key, part) in split_by_partition(&batch, self.ts_index)? {
            let rows = part.num_rows();
            let bytes = part.get_array_memory_size();
            let buffer = self.buffers.entry(key).or_default();
            buffer.batches.push(part);
            buffer.rows += rows;
            buffer.bytes += bytes;
            self.buffered_rows += rows;
            self.buffered_bytes += bytes;
        }

        let full: Vec<PartitionKey> = self
            .buffers
            .iter()
            .filter(|(_, b)| b.rows >= self.options.target_file_rows)
            .map(|(k, _)| *k)
            .collect();
        for key in full {
            self.flush_partition(key).await?;
        }
        while self.buffered_rows > self.options.max_buffered_rows
            || self.buffered_bytes > self.options.max_buffered_bytes
        {
            let Some(largest) = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| (b.rows, b.bytes))
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.flush_partition(largest).await?;
        }
        Ok(())
    }

    /// Writes every buffered partition out (still invisible until [`commit`](Self::commit)).
    pub async fn flush(&mut self) -> Result<(), StoreError> {
        let keys: Vec<PartitionKey> = self.buffers.keys().copied().collect();
        for key in keys {
            self.flush_partition(key).await?;
        }
        Ok(())
    }

    /// Rows buffered in memory, not yet in a file.
    pub fn buffered_rows(&self) -> usize {
        self.buffered_rows
    }

    /// Parquet files written so far (uncommitted).
    pub fn files_written(&self) -> usize {
        self.adds.len()
    }

    /// Flushes, saves `catalog` and makes exactly one Delta commit holding every file this
    /// writer wrote: readers see all of them or none.
    ///
    /// The catalog goes to `_logoscope/catalog/<version:020>-<uuid>.json` and the commit's
    /// `commitInfo` names it (`logoscope.catalog`). When another writer committed since this
    /// writer's table version, the newest committed catalog is reloaded, `catalog` is merged
    /// into it, and the commit is retried at the next version (appends never conflict
    /// logically), up to 16 attempts. `TemplateCatalog::merge` sums the counts of templates
    /// both catalogs hold, so after such a race the counts of templates the two writers shared
    /// are overstated; ids, texts and parents stay exact.
    pub async fn commit(mut self, catalog: &TemplateCatalog) -> Result<CommitSummary, StoreError> {
        self.flush().await?;
        let rows: u64 = self.rows_written;
        let bytes = self.bytes_written;
        let files = self.adds.len();
        let actions: Vec<Action> = self.adds.iter().cloned().map(Action::Add).collect();
        let operation = DeltaOperation::Write {
            mode: SaveMode::Append,
            partition_by: Some(vec![DT.to_owned(), HOUR.to_owned()]),
            predicate: None,
        };

        let mut attempt = 0;
        loop {
            attempt += 1;
            self.table.update_state().await?;
            let snapshot = self.table.snapshot()?;
            let latest = snapshot.version();
            let log_store = self.table.log_store();

            let catalog_json = match catalog::newest_reference(
                log_store.as_ref(),
                self.store.as_ref(),
                self.base_version,
                latest,
            )
            .await?
            {
                // Someone else committed a catalog after ours was read: keep their templates too.
                Some(path) => {
                    let mut merged = catalog::read(self.store.as_ref(), &path).await?;
                    merged.merge(catalog);
                    merged.to_json()
                }
                None => catalog.to_json(),
            };
            let catalog_path = catalog::new_path(latest + 1);
            self.store
                .put(&catalog_path, PutPayload::from(catalog_json.into_bytes()))
                .await?;

            let metadata: HashMap<String, Value> = HashMap::from([
                (
                    catalog::COMMIT_INFO_KEY.to_owned(),
                    Value::String(catalog_path.to_string()),
                ),
                ("logoscope.operation".to_owned(), json!("ingest")),
                (
                    "operationMetrics".to_owned(),
                    json!({
                        "numFiles": files,
                        "numOutputRows": rows,
                        "numOutputBytes": bytes,
                    }),
                ),
            ]);
            // Retries are ours (they must re-merge the catalog), so deltalake gets none.
            let result = CommitBuilder::from(
                CommitProperties::default()
                    .with_metadata(metadata)
                    .with_max_retries(0),
            )
            .with_actions(actions.clone())
            .build(
                Some(snapshot as &dyn TableReference),
                log_store,
                operation.clone(),
            )
            .await;

            match result {
                Ok(finalized) => {
                    return Ok(CommitSummary {
                        version: finalized.version(),
                        files,
                        rows,
                        bytes,
                    });
                }
                Err(err) => {
                    // Best effort: an orphaned catalog is harmless, only untidy.
                    let _ = self.store.delete(&catalog_path).await;
                    if !is_lost_race(&err) {
                        return Err(err.into());
                    }
                    if attempt >= MAX_COMMIT_ATTEMPTS {
                        return Err(StoreError::CommitConflict { attempts: attempt });
                    }
                    tokio::time::sleep(backoff(attempt)).await;
                }
            }
        }
    }

    /// Deletes the files this writer wrote and drops its buffers; the table is untouched.
    pub async fn abort(self) -> Result<(), StoreError> {
        for add in &self.adds {
            match self.store.delete(&Path::from(add.path.as_str())).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    async fn flush_partition(&mut self, key: PartitionKey) -> Result<(), StoreError> {
        let Some(buffer) = self.buffers.remove(&key) else {
            return Ok(());
        };
        self.buffered_rows -= buffer.rows;
        self.buffered_bytes -= buffer.bytes;
        let batch = concat_batches(&self.schema, &buffer.batches)?;
        drop(buffer);
        let sorted = sort_for_compression(&batch, &self.sort_indices)?;
        drop(batch);

        let (dt, hour) = key.values();
        let directory = key.directory();
        let mut offset = 0;
        while offset < sorted.num_rows() {
            let len = self
                .options
                .target_file_rows
                .min(sorted.num_rows() - offset);
            let chunk = sorted.slice(offset, len);
            offset += len;

            let stats = file_stats(&chunk, self.ts_index)?;
            let properties = self.properties.clone();
            let encoded = tokio::task::spawn_blocking(move || encode_parquet(&chunk, properties))
                .await
                .map_err(|err| StoreError::Internal {
                    reason: format!("parquet encoder task failed: {err}"),
                })??;
            let size = encoded.len();
            let relative = format!(
                "{directory}/part-{}.zstd.parquet",
                uuid::Uuid::new_v4().simple()
            );
            self.store
                .put(&Path::from(relative.as_str()), PutPayload::from(encoded))
                .await?;

            self.rows_written += len as u64;
            self.bytes_written += size as u64;
            self.adds.push(Add {
                path: relative,
                partition_values: HashMap::from([
                    (DT.to_owned(), Some(dt.clone())),
                    (HOUR.to_owned(), Some(hour.clone())),
                ]),
                size: i64::try_from(size).unwrap_or(i64::MAX),
                modification_time: Utc::now().timestamp_millis(),
                data_change: true,
                stats: Some(stats),
                ..Default::default()
            });
        }
        Ok(())
    }
}

fn is_lost_race(err: &DeltaTableError) -> bool {
    matches!(
        err,
        DeltaTableError::VersionAlreadyExists(_)
            | DeltaTableError::Transaction {
                source: TransactionError::VersionAlreadyExists(_)
                    | TransactionError::MaxCommitAttempts(_)
                    | TransactionError::CommitConflict(_)
            }
    )
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

fn sort_for_compression(
    batch: &RecordBatch,
    sort_indices: &[usize; 3],
) -> Result<RecordBatch, StoreError> {
    let options = SortOptions {
        descending: false,
        nulls_first: false,
    };
    let columns: Vec<SortColumn> = sort_indices
        .iter()
        .map(|&i| SortColumn {
            values: Arc::clone(batch.column(i)),
            options: Some(options),
        })
        .collect();
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

fn writer_properties(
    schema: &SchemaRef,
    options: &ArchiveOptions,
    sort_indices: &[usize; 3],
) -> Result<WriterProperties, StoreError> {
    let descriptor = ArrowSchemaConverter::new().convert(schema)?;
    let sorting: Vec<SortingColumn> = sort_indices
        .iter()
        .filter_map(|&i| {
            let name = schema.field(i).name();
            let leaf = descriptor
                .columns()
                .iter()
                .position(|c| c.path().parts().first() == Some(name))?;
            Some(SortingColumn {
                column_idx: i32::try_from(leaf).ok()?,
                descending: false,
                nulls_first: false,
            })
        })
        .collect();
    // Rows are sorted by (service, template_id, ts): within a template, `ts` and
    // `line` mostly grow, so deltas are small; `header` and `raw` of one template
    // share long prefixes (timestamp, level, logger), which prefix encoding drops
    // before zstd sees them.
    let path = |name: &str| ColumnPath::from(name);
    Ok(WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(options.zstd_level)?))
        .set_dictionary_enabled(true)
        .set_column_dictionary_enabled(path(col::TS), false)
        .set_column_encoding(path(col::TS), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(path(col::LINE), false)
        .set_column_encoding(path(col::LINE), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(path(col::HEADER), false)
        .set_column_encoding(path(col::HEADER), Encoding::DELTA_BYTE_ARRAY)
        .set_column_dictionary_enabled(path(col::RAW), false)
        .set_column_encoding(path(col::RAW), Encoding::DELTA_BYTE_ARRAY)
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(options.row_group_rows))
        .set_sorting_columns(Some(sorting))
        .set_created_by(format!("logoscope {}", env!("CARGO_PKG_VERSION")))
        .build())
}

fn encode_parquet(
    batch: &RecordBatch,
    properties: WriterProperties,
) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties))?;
    writer.write(batch)?;
    writer.close()?;
    Ok(out)
}

/// Delta per-file statistics: the row count, and min/max/null count of `ts` (what time-range
/// queries skip files with). Timestamps are written at millisecond precision as the Delta
/// protocol expects, rounded outwards so the range still covers every row.
fn file_stats(batch: &RecordBatch, ts_index: usize) -> Result<String, StoreError> {
    let ts = batch
        .column(ts_index)
        .as_any()
        .downcast_ref::<TimestampMicrosecondArray>()
        .ok_or_else(|| StoreError::SchemaMismatch {
            reason: "column `ts` is not Timestamp(µs)".into(),
        })?;
    let mut stats = json!({
        "numRecords": batch.num_rows(),
        "nullCount": { col::TS: ts.null_count() },
    });
    let min = arrow::compute::min(ts).and_then(|v| millis_string(v.div_euclid(1000)));
    let max =
        arrow::compute::max(ts).and_then(|v| millis_string(v.saturating_add(999).div_euclid(1000)));
    if let (Some(min), Some(max)) = (min, max) {
        stats["minValues"] = json!({ col::TS: min });
        stats["maxValues"] = json!({ col::TS: max });
    }
    Ok(stats.to_string())
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
        ] {
            assert!(matches!(
                bad.validate(),
                Err(StoreError::InvalidOptions { .. })
            ));
        }
    }

    #[test]
    fn timestamp_stats_round_outwards_to_millis() {
        assert_eq!(millis_string(0).unwrap(), "1970-01-01T00:00:00.000Z");
        let ts = TimestampMicrosecondArray::from(vec![Some(1_500), None, Some(2_001)])
            .with_timezone("UTC");
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "ts",
            ts.data_type().clone(),
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(ts)]).unwrap();
        let stats: Value = serde_json::from_str(&file_stats(&batch, 0).unwrap()).unwrap();
        assert_eq!(stats["numRecords"], 3);
        assert_eq!(stats["nullCount"]["ts"], 1);
        assert_eq!(stats["minValues"]["ts"], "1970-01-01T00:00:00.001Z");
        assert_eq!(stats["maxValues"]["ts"], "1970-01-01T00:00:00.003Z");
    }
}
