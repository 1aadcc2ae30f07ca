use datafusion::error::DataFusionError;

/// Everything that can go wrong while setting up a session, running SQL or
/// writing results.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Planning or executing a query failed (bad SQL, unknown column, memory
    /// limit reached, …).
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),

    /// The SQL text does not parse (`sql parser error: Expected: …, found:
    /// … at Line: 1, Column: 1`).
    #[error("{0}")]
    Syntax(String),

    /// The statement would change something; user SQL is read-only.
    #[error(
        "read-only: {reason}. Logoscope SQL may only query (SELECT, WITH, EXPLAIN, SHOW, DESCRIBE); \
         use `logoscope ingest` to write"
    )]
    ReadOnly {
        /// What DataFusion found in the plan (e.g. `DDL not supported: CreateMemoryTable`).
        reason: String,
    },

    /// The archive could not be read.
    #[error("archive: {0}")]
    Store(#[from] logoscope_store::StoreError),

    /// The Delta table could not be attached to the session.
    #[error("delta table: {0}")]
    Delta(#[from] deltalake::DeltaTableError),

    /// Arrow could not build or encode a batch (e.g. a type the chosen
    /// output format cannot represent).
    #[error("arrow: {0}")]
    Arrow(#[from] datafusion::arrow::error::ArrowError),

    /// The output sink failed (closed pipe, full disk, …).
    #[error("writing results: {0}")]
    Io(#[from] std::io::Error),
}
