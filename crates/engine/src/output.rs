use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion::arrow::csv;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::json::{self, writer::JsonArray, writer::LineDelimited};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;

use crate::EngineError;

/// How [`write_batches`] renders results.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// A boxed text table for people.
    Table,
    /// CSV with a header row; list and struct values are written as their
    /// text form (`[a, b]`), since CSV has no nested types.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

/// Writes `batches` to `out` in `format`.
///
/// Every format prints timestamps as RFC 3339 (`2024-05-01T14:20:00.123Z`)
/// and nulls as empty cells (table, CSV) or `null` (JSON: every column is
/// present in every object, so consumers see a fixed set of keys).
pub fn write_batches(
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), EngineError> {
    let mut sink = Sink { out, failed: None };
    match write_to(batches, format, &mut sink) {
        // The CSV writer turns a write error into text; the sink kept it,
        // so a closed pipe stays one.
        Err(EngineError::Arrow(_)) if sink.failed.is_some() => {
            Err(EngineError::Io(sink.failed.take().expect("checked")))
        }
        result => result,
    }
}

/// The output, keeping its first error.
struct Sink<'a> {
    out: &'a mut dyn Write,
    failed: Option<std::io::Error>,
}

impl Sink<'_> {
    fn keep<T>(&mut self, r: std::io::Result<T>) -> std::io::Result<T> {
        r.map_err(|e| {
            let copy = std::io::Error::new(e.kind(), e.to_string());
            self.failed.get_or_insert(e);
            copy
        })
    }
}

impl Write for Sink<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.out.write(buf);
        self.keep(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.out.flush();
        self.keep(r)
    }
}

fn write_to(
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), EngineError> {
    match format {
        OutputFormat::Table => {
            let options = FormatOptions::default().with_display_error(true);
            writeln!(
                out,
                "{}",
                pretty_format_batches_with_options(batches, &options)?
            )?;
        }
        OutputFormat::Csv => {
            let mut writer = csv::WriterBuilder::new().with_header(true).build(&mut *out);
            for batch in batches {
                writer.write(&nested_as_text(batch)?)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            writeln!(out)?;
        }
        OutputFormat::Ndjson => {
            let mut writer = json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, LineDelimited>(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Replaces nested columns (lists, structs, maps) by their display text, which
/// the CSV writer would otherwise reject.
fn nested_as_text(batch: &RecordBatch) -> Result<RecordBatch, EngineError> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = FormatOptions::default();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(Arc::clone(field));
            columns.push(Arc::clone(column));
            continue;
        }
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        for row in 0..column.len() {
            if column.is_null(row) {
                text.append_null();
            } else {
                // Formats straight into the builder's buffer: no per-row String.
                write!(text, "{}", formatter.value(row))
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                text.append_value("");
            }
        }
        fields.push(Arc::new(Field::new(
            field.name(),
            DataType::Utf8,
            field.is_nullable(),
        )));
        columns.push(Arc::new(text.finish()));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
