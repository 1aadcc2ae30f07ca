//! Logoscope ingest: turns bytes into `logs` record batches.
//!
//! This crate owns everything between an input and an Arrow batch: finding
//! inputs ([`expand_inputs`]), opening and decompressing them
//! ([`open_input`]), splitting them into entries with multi-line
//! consolidation ([`EntryFramer`]), extracting fields per entry
//! ([`EntryParser`]: format, timestamp, level, service, host, trace ids,
//! flattened fields), and building batches of the `logs` schema
//! ([`LogBatchBuilder`], [`schema::logs_schema`]). [`Pipeline`] ties these
//! together with templating by `logoscope-drain`.
//!
//! It must not depend on DataFusion or on the store: batches leave through a
//! sink callback, so the same code feeds an in-memory table, the archive, or
//! the server.
//!
//! ```
//! use logoscope_drain::{DrainConfig, TemplateCatalog};
//! use logoscope_ingest::{IngestOptions, InputSpec, Pipeline, IngestError};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("app.log");
//! std::fs::write(
//!     &path,
//!     "2024-01-02T15:04:05Z INFO user 42 logged in\n\
//!      2024-01-02T15:04:06Z ERROR payment failed\n\
//!      \tat com.shop.Pay.charge(Pay.java:10)\n",
//! )
//! .unwrap();
//!
//! let mut catalog = TemplateCatalog::new(DrainConfig::default());
//! let mut rows = 0;
//! let stats = Pipeline::new(vec![InputSpec::File(path)], IngestOptions::default())
//!     .run(&mut catalog, |batch| {
//!         rows += batch.num_rows();
//!         Ok::<(), IngestError>(())
//!     }, |_progress| {})
//!     .unwrap();
//! assert_eq!(stats.entries, 2);
//! assert_eq!(rows, 2);
//! ```

mod batch;
mod error;
pub mod framing;
pub mod inputs;
pub mod level;
pub mod parse;
mod pipeline;
pub mod residual;
pub mod schema;
pub mod stored;
pub mod timestamp;

pub use batch::{LogBatchBuilder, LogRow};
pub use error::IngestError;
pub use framing::{Entry, EntryFramer, FramerConfig};
pub use inputs::{Compression, InputSpec, expand_inputs, open_input};
pub use level::Level;
pub use parse::{EntryError, EntryParser, Format, ParseOptions, ParsedEntry, parse_entry};
pub use pipeline::{IngestOptions, IngestStats, InputFailure, Pipeline, Progress};
pub use timestamp::{TimeValue, TimestampDetector, TsScan};
