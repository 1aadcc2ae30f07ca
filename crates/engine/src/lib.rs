//! DataFusion session setup, SQL execution and output formats for Logoscope.
//!
//! This crate owns the `SessionContext` every entry point queries through: it
//! registers the tables (`logs_stored`, `templates`) and views (`logs`,
//! `ingest_errors`, whose SQL lives in `queries/*.sql`), the UDFs of
//! `logoscope-udfs`, memory limits, the read-only guard for user SQL, and the
//! writers that turn results into tables, CSV or JSON. It depends on
//! `logoscope-store` (the archive), `logoscope-udfs` and `logoscope-drain`;
//! it must not depend on the CLI, the server or the MCP crate, which sit on
//! top of it.
//!
//! The same views are planned over an archive ([`session_for_archive`]) and
//! over in-memory batches ([`session_for_batches`]), so an analysis runs the
//! same plan on a one-shot file as on months of stored logs.
//!
//! # Example
//!
//! ```
//! use logoscope_drain::{DrainConfig, TemplateCatalog};
//! use logoscope_engine::{EngineOptions, OutputFormat, run_sql, session_for_batches, write_batches};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), logoscope_engine::EngineError> {
//! let catalog = TemplateCatalog::new(DrainConfig::default());
//! let ctx = session_for_batches(Vec::new(), &catalog, EngineOptions::default()).await?;
//!
//! let batches = run_sql(&ctx, "SELECT count(*) AS n FROM logs").await?;
//! let mut out = Vec::new();
//! write_batches(&batches[0].schema(), &batches, OutputFormat::Csv, &mut out)?;
//! assert_eq!(String::from_utf8_lossy(&out), "n\n0\n");
//!
//! // User SQL is read-only.
//! assert!(run_sql(&ctx, "DROP VIEW logs").await.is_err());
//! # Ok(())
//! # }
//! ```

mod error;
mod output;
mod scan;
mod session;
mod sql;
mod templates;

pub use error::EngineError;
pub use output::{OutputFormat, ResultWriter, TABLE_BYTES, TABLE_ROWS, write_batches};
pub use session::{
    EngineOptions, INGEST_ERRORS, INGEST_ERRORS_SQL, LOGS, LOGS_STORED, LOGS_VIEW_SQL,
    LOGS_VIEW_V1_SQL, LOGS_VIEW_V2_SQL, TEMPLATES, session_for_archive, session_for_batches,
};
pub use sql::{read_only_options, run_sql, run_sql_stream};
pub use templates::templates_schema;

#[cfg(test)]
mod tests;
