use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};
use logoscope_drain::TemplateCatalog;
use logoscope_ingest::stored::{stored_schema, to_stored};
use logoscope_store::Archive;

use crate::EngineError;
use crate::scan::ArchiveTable;
use crate::templates::templates_batch;

/// Name of the table as stored: archive provider or in-memory batches.
pub const LOGS_STORED: &str = "logs_stored";
/// Name of the reader-facing view with `message` and `raw` rebuilt.
pub const LOGS: &str = "logs";
/// Name of the template catalog table.
pub const TEMPLATES: &str = "templates";
/// Name of the view of rows that did not parse cleanly.
pub const INGEST_ERRORS: &str = "ingest_errors";

/// SQL of the `logs` view (see the file's leading comment).
pub const LOGS_VIEW_SQL: &str = include_str!("../../../queries/logs_view.sql");
/// The `logs` view over archives written with table schema v1.
pub const LOGS_VIEW_V1_SQL: &str = include_str!("../../../queries/logs_view_v1.sql");
/// The `logs` view over archives written with table schema v2.
pub const LOGS_VIEW_V2_SQL: &str = include_str!("../../../queries/logs_view_v2.sql");
/// SQL of the `ingest_errors` view (see the file's leading comment).
pub const INGEST_ERRORS_SQL: &str = include_str!("../../../queries/ingest_errors.sql");

/// How a session is sized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineOptions {
    /// Partitions DataFusion plans for (scan and operator parallelism).
    /// Default: the number of available CPUs. Fix it (e.g. 4) where plans must
    /// be deterministic, as in tests.
    pub target_partitions: usize,
    /// Upper bound, in bytes, on memory held by operators that track it (sorts,
    /// joins, aggregations); exceeding it spills or fails the query instead of
    /// exhausting the machine. Default: 1 GiB.
    pub memory_limit: usize,
    /// Files of an archive a session keeps listed in memory (about 200 bytes
    /// each); an archive with more has its files streamed from the Delta log
    /// while the scan runs, so memory does not grow with the file count.
    /// Default: 65,536.
    pub held_files: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            target_partitions: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_limit: 1 << 30,
            held_files: crate::scan::HELD_FILES,
        }
    }
}

fn new_context(opts: &EngineOptions) -> Result<SessionContext, EngineError> {
    let config = SessionConfig::new()
        .with_target_partitions(opts.target_partitions.max(1))
        // `SHOW TABLES` / `SHOW COLUMNS` are how users discover the schema.
        .with_information_schema(true);
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(opts.memory_limit, 1.0)
        // A session answers one query, which reads each file's footer once: a
        // cache of footers (50 MiB by default) would only grow with the file count.
        .with_metadata_cache_limit(0)
        .build_arc()?;
    let ctx = SessionContext::new_with_config_rt(config, runtime);
    logoscope_udfs::register(&ctx);
    Ok(ctx)
}

/// Builds a session over an archive: `logs_stored` is the Delta table as
/// stored (with its `dt` and `hour` partition columns), `templates` the
/// archive's template catalog, and `logs` / `ingest_errors` the views of
/// `queries/logs_view.sql` and `queries/ingest_errors.sql`.
///
/// The session reads the table version `archive` has loaded; commits made
/// later are not seen until a new session is built.
pub async fn session_for_archive(
    archive: &Archive,
    opts: EngineOptions,
) -> Result<SessionContext, EngineError> {
    let ctx = new_context(&opts)?;
    // deltalake's provider gives the schema; the scan is ours (see `scan`),
    // except for files only deltalake's can read.
    let delta = archive.delta_provider(&ctx.state()).await?;
    match ArchiveTable::try_new(archive, delta.schema(), &ctx.state(), opts.held_files).await? {
        Some(provider) => ctx.register_table(LOGS_STORED, Arc::new(provider))?,
        None => ctx.register_table(LOGS_STORED, Arc::new(delta))?,
    };
    let catalog = archive.load_catalog().await?;
    let view = match archive.schema_version()? {
        1 => LOGS_VIEW_V1_SQL,
        2 => LOGS_VIEW_V2_SQL,
        _ => LOGS_VIEW_SQL,
    };
    register_catalog_and_views(&ctx, catalog.as_ref(), view).await?;
    Ok(ctx)
}

/// Builds a session over in-memory batches (one-shot analysis, follow
/// windows): the same tables and views as [`session_for_archive`], with
/// `logs_stored` a memory table of `batches` (which must have the
/// `logs_schema()` of `logoscope-ingest`) in the stored layout the archive has
/// (`logoscope_ingest::stored`), so the one `logs` view serves both. There are
/// no `dt`/`hour` columns.
pub async fn session_for_batches(
    batches: Vec<RecordBatch>,
    catalog: &TemplateCatalog,
    opts: EngineOptions,
) -> Result<SessionContext, EngineError> {
    let ctx = new_context(&opts)?;
    // Spread batches over the partitions so the scan is parallel from the start.
    let parts = opts.target_partitions.clamp(1, batches.len().max(1));
    let mut partitions = vec![Vec::new(); parts];
    for (i, batch) in batches.into_iter().enumerate() {
        partitions[i % parts].push(to_stored(&batch)?);
    }
    let table = MemTable::try_new(stored_schema(), partitions)?;
    ctx.register_table(LOGS_STORED, Arc::new(table))?;
    register_catalog_and_views(&ctx, Some(catalog), LOGS_VIEW_SQL).await?;
    Ok(ctx)
}

async fn register_catalog_and_views(
    ctx: &SessionContext,
    catalog: Option<&TemplateCatalog>,
    logs_view: &str,
) -> Result<(), EngineError> {
    let templates = templates_batch(catalog)?;
    let table = MemTable::try_new(templates.schema(), vec![vec![templates]])?;
    ctx.register_table(TEMPLATES, Arc::new(table))?;

    // Planned once here against the registered providers; queries on the views
    // inline these plans, so filters and projections still reach the scans.
    let logs = ctx.sql(logs_view).await?.into_view();
    ctx.register_table(LOGS, logs)?;
    let errors = ctx.sql(INGEST_ERRORS_SQL).await?.into_view();
    ctx.register_table(INGEST_ERRORS, errors)?;
    Ok(())
}
