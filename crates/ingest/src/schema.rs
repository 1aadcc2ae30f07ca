//! The `logs` table as ingest builds it (the archive stores it as [`crate::stored`] says).
//!
//! Text is not stored twice: `message` is null when the template and params
//! reproduce it exactly, `raw` is null when `header || message` does, `header`
//! and `raw` are residuals with holes for the time, message and ids (see
//! [`crate::residual`]), and `fields` is null when a parse of the entry text
//! gives it back. The query layer (`logoscope-engine`) rebuilds them for readers.
//!
//! Version 3 stores `ts` in milliseconds, hex ids as bytes and params one
//! column per position ([`crate::stored`]); version 2 introduced residuals
//! and derived `fields`; version 1 stored `header`, `raw` and `fields` whole.

use std::sync::{Arc, OnceLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Schema version written into the archive metadata.
pub const SCHEMA_VERSION: u32 = 3;

/// Column names, in schema order.
pub mod col {
    /// Event time, UTC, microseconds.
    pub const TS: &str = "ts";
    /// File path, `-` for stdin, or a push label set.
    pub const SOURCE: &str = "source";
    /// First physical line (1-based) of the entry in its source.
    pub const LINE: &str = "line";
    /// TRACE DEBUG INFO WARN ERROR FATAL.
    pub const LEVEL: &str = "level";
    /// Service name.
    pub const SERVICE: &str = "service";
    /// Host name.
    pub const HOST: &str = "host";
    /// Trace id.
    pub const TRACE_ID: &str = "trace_id";
    /// Span id.
    pub const SPAN_ID: &str = "span_id";
    /// Parent span id.
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    /// Drain template id at ingest time.
    pub const TEMPLATE_ID: &str = "template_id";
    /// Masked values, in template order.
    pub const PARAMS: &str = "params";
    /// Message body; null when `render(template, params)` equals it.
    pub const MESSAGE: &str = "message";
    /// Flattened structured fields not promoted to columns (JSON object text);
    /// null when a parse of the entry text gives them back.
    pub const FIELDS: &str = "fields";
    /// Text of the entry before the message (timestamp, level, …) as a
    /// residual; null when empty.
    pub const HEADER: &str = "header";
    /// Original entry text as a residual; null when `header || message` equals it.
    pub const RAW: &str = "raw";
    /// Parse problem kind, null when the entry parsed cleanly.
    pub const ERROR: &str = "error";
}

fn dict(key: DataType) -> DataType {
    DataType::Dictionary(Box::new(key), Box::new(DataType::Utf8))
}

/// The Arrow schema of one `logs` batch as built by ingest and written to Parquet.
pub fn logs_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new(
                col::TS,
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new(col::SOURCE, dict(DataType::Int32), false),
            Field::new(col::LINE, DataType::UInt64, false),
            Field::new(col::LEVEL, dict(DataType::Int8), true),
            Field::new(col::SERVICE, dict(DataType::Int32), true),
            Field::new(col::HOST, dict(DataType::Int32), true),
            Field::new(col::TRACE_ID, DataType::Utf8, true),
            Field::new(col::SPAN_ID, DataType::Utf8, true),
            Field::new(col::PARENT_SPAN_ID, DataType::Utf8, true),
            Field::new(col::TEMPLATE_ID, DataType::UInt64, false),
            Field::new(
                col::PARAMS,
                DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
                false,
            ),
            Field::new(col::MESSAGE, DataType::Utf8, true),
            Field::new(col::FIELDS, DataType::Utf8, true),
            Field::new(col::HEADER, DataType::Utf8, true),
            Field::new(col::RAW, DataType::Utf8, true),
            Field::new(col::ERROR, dict(DataType::Int8), true),
        ]))
    }))
}
