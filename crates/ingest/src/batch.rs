//! Arrow batch building for the `logs` schema.

use std::sync::Arc;

use arrow_array::builder::{
    ListBuilder, StringBuilder, StringDictionaryBuilder, TimestampMicrosecondBuilder, UInt64Builder,
};
use arrow_array::types::{Int8Type, Int32Type};
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray};

use crate::IngestError;
use crate::parse::ParsedEntry;
use crate::schema::logs_schema;

/// One row of the `logs` table, borrowed. Nullity is decided by the caller
/// (see the schema doc: `message` null when the template reproduces it, `raw`
/// null when `header + message` does).
#[derive(Debug, Clone, Copy, Default)]
pub struct LogRow<'a> {
    /// Event time, UTC µs.
    pub ts: Option<i64>,
    /// Source label.
    pub source: &'a str,
    /// First physical line.
    pub line: u64,
    /// Normalised level.
    pub level: Option<&'a str>,
    /// Service.
    pub service: Option<&'a str>,
    /// Host.
    pub host: Option<&'a str>,
    /// Trace id.
    pub trace_id: Option<&'a str>,
    /// Span id.
    pub span_id: Option<&'a str>,
    /// Parent span id.
    pub parent_span_id: Option<&'a str>,
    /// Template id.
    pub template_id: u64,
    /// Stored message (null when reconstructible).
    pub message: Option<&'a str>,
    /// Fields JSON.
    pub fields: Option<&'a str>,
    /// Header (null when empty).
    pub header: Option<&'a str>,
    /// Stored raw text (null when reconstructible).
    pub raw: Option<&'a str>,
    /// Error kind.
    pub error: Option<&'a str>,
}

/// Accumulates rows and produces [`logs_schema`] batches.
pub struct LogBatchBuilder {
    ts: TimestampMicrosecondBuilder,
    source: StringDictionaryBuilder<Int32Type>,
    line: UInt64Builder,
    level: StringDictionaryBuilder<Int8Type>,
    service: StringDictionaryBuilder<Int32Type>,
    host: StringDictionaryBuilder<Int32Type>,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent_span_id: StringBuilder,
    template_id: UInt64Builder,
    params: ListBuilder<StringBuilder>,
    message: StringBuilder,
    fields: StringBuilder,
    header: StringBuilder,
    raw: StringBuilder,
    error: StringDictionaryBuilder<Int8Type>,
    rows: usize,
    text_bytes: usize,
}

impl std::fmt::Debug for LogBatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogBatchBuilder")
            .field("rows", &self.rows)
            .field("text_bytes", &self.text_bytes)
            .finish_non_exhaustive()
    }
}

impl Default for LogBatchBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl LogBatchBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        LogBatchBuilder {
            ts: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            source: StringDictionaryBuilder::new(),
            line: UInt64Builder::new(),
            level: StringDictionaryBuilder::new(),
            service: StringDictionaryBuilder::new(),
            host: StringDictionaryBuilder::new(),
            trace_id: StringBuilder::new(),
            span_id: StringBuilder::new(),
            parent_span_id: StringBuilder::new(),
            template_id: UInt64Builder::new(),
            params: ListBuilder::new(StringBuilder::new()),
            message: StringBuilder::new(),
            fields: StringBuilder::new(),
            header: StringBuilder::new(),
            raw: StringBuilder::new(),
            error: StringDictionaryBuilder::new(),
            rows: 0,
            text_bytes: 0,
        }
    }

    /// Rows appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no row has been appended since the last finish.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Approximate bytes of text held (for memory bounds).
    pub fn text_bytes(&self) -> usize {
        self.text_bytes
    }

    /// Appends one row; `params` are the template's values in order.
    pub fn append<'p>(
        &mut self,
        row: &LogRow<'_>,
        params: impl IntoIterator<Item = &'p str>,
    ) -> Result<(), IngestError> {
        self.ts.append_option(row.ts);
        self.source.append(row.source)?;
        self.line.append_value(row.line);
        append_dict8(&mut self.level, row.level)?;
        append_dict32(&mut self.service, row.service)?;
        append_dict32(&mut self.host, row.host)?;
        self.trace_id.append_option(row.trace_id);
        self.span_id.append_option(row.span_id);
        self.parent_span_id.append_option(row.parent_span_id);
        self.template_id.append_value(row.template_id);
        let mut bytes = 0;
        for p in params {
            bytes += p.len();
            self.params.values().append_value(p);
        }
        self.params.append(true);
        self.message.append_option(row.message);
        self.fields.append_option(row.fields);
        self.header
            .append_option(row.header.filter(|h| !h.is_empty()));
        self.raw.append_option(row.raw);
        append_dict8(&mut self.error, row.error)?;
        self.rows += 1;
        self.text_bytes += bytes
            + row.message.map_or(0, str::len)
            + row.fields.map_or(0, str::len)
            + row.header.map_or(0, str::len)
            + row.raw.map_or(0, str::len);
        Ok(())
    }

    /// Appends a parsed entry (the contract's convenience form): `store_message`
    /// / `store_raw` say whether those columns are kept or left null;
    /// `error` overrides the parse error (framing flags).
    #[allow(clippy::too_many_arguments)]
    pub fn append_parsed<'p>(
        &mut self,
        parsed: &ParsedEntry<'_>,
        source: &str,
        line: u64,
        template_id: u64,
        params: impl IntoIterator<Item = &'p str>,
        store_message: bool,
        store_raw: bool,
    ) -> Result<(), IngestError> {
        let row = LogRow {
            ts: parsed.ts,
            source,
            line,
            level: parsed.level.map(|l| l.as_str()),
            service: parsed.service.as_deref(),
            host: parsed.host.as_deref(),
            trace_id: parsed.trace_id.as_deref(),
            span_id: parsed.span_id.as_deref(),
            parent_span_id: parsed.parent_span_id.as_deref(),
            template_id,
            message: store_message.then_some(&*parsed.message),
            fields: parsed.fields.as_deref(),
            header: Some(parsed.header),
            raw: store_raw.then_some(parsed.raw),
            error: parsed.error.map(|e| e.as_str()),
        };
        self.append(&row, params)
    }

    /// Builds the batch of the rows appended so far and resets the builder.
    ///
    /// The text builders start the next batch with the room this one used,
    /// so they fill without growing (and copying) from empty each batch.
    pub fn finish(&mut self) -> Result<RecordBatch, IngestError> {
        let rows = self.rows;
        let params = self.params.finish();
        let param_values = params.values().len();
        let param_bytes = params
            .values()
            .as_any()
            .downcast_ref::<StringArray>()
            .map_or(0, |a| a.value_data().len());
        self.params = ListBuilder::with_capacity(
            StringBuilder::with_capacity(param_values, param_bytes),
            rows,
        );
        let cols: Vec<ArrayRef> = vec![
            Arc::new(self.ts.finish()),
            Arc::new(self.source.finish()),
            Arc::new(self.line.finish()),
            Arc::new(self.level.finish()),
            Arc::new(self.service.finish()),
            Arc::new(self.host.finish()),
            text(&mut self.trace_id, rows),
            text(&mut self.span_id, rows),
            text(&mut self.parent_span_id, rows),
            Arc::new(self.template_id.finish()),
            Arc::new(params),
            text(&mut self.message, rows),
            text(&mut self.fields, rows),
            text(&mut self.header, rows),
            text(&mut self.raw, rows),
            Arc::new(self.error.finish()),
        ];
        self.rows = 0;
        self.text_bytes = 0;
        Ok(RecordBatch::try_new(logs_schema(), cols)?)
    }
}

/// Finishes a text column and gives its builder the room it used again.
fn text(b: &mut StringBuilder, rows: usize) -> ArrayRef {
    let a = b.finish();
    *b = StringBuilder::with_capacity(rows, a.value_data().len());
    Arc::new(a)
}

fn append_dict8(
    b: &mut StringDictionaryBuilder<Int8Type>,
    v: Option<&str>,
) -> Result<(), IngestError> {
    match v {
        Some(v) => {
            b.append(v)?;
        }
        None => b.append_null(),
    }
    Ok(())
}

fn append_dict32(
    b: &mut StringDictionaryBuilder<Int32Type>,
    v: Option<&str>,
) -> Result<(), IngestError> {
    match v {
        Some(v) => {
            b.append(v)?;
        }
        None => b.append_null(),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use arrow_array::{Array, ListArray};

    #[test]
    fn batch_matches_schema() {
        let mut b = LogBatchBuilder::new();
        b.append(
            &LogRow {
                ts: Some(1),
                source: "a.log",
                line: 1,
                level: Some("INFO"),
                template_id: 7,
                header: Some(""),
                ..LogRow::default()
            },
            ["x", "y"],
        )
        .unwrap();
        b.append(
            &LogRow {
                source: "a.log",
                line: 2,
                message: Some("m"),
                raw: Some("r"),
                error: Some("truncated"),
                ..LogRow::default()
            },
            [],
        )
        .unwrap();
        let batch = b.finish().unwrap();
        assert_eq!(batch.schema(), logs_schema());
        assert_eq!(batch.num_rows(), 2);
        let params = batch
            .column_by_name("params")
            .unwrap()
            .as_any()
            .downcast_ref::<ListArray>()
            .unwrap();
        assert_eq!(params.value(0).as_string::<i32>().value(1), "y");
        assert_eq!(params.value(1).len(), 0);
        assert!(batch.column_by_name("header").unwrap().is_null(0));
        assert!(b.is_empty());
        assert_eq!(b.finish().unwrap().num_rows(), 0);
    }
}
