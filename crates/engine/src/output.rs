use std::collections::HashSet;
use std::fmt::Write as _;
use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::json::{self, writer::LineDelimited};
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchOptions};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::arrow::util::pretty::pretty_format_batches_with_options;

use crate::EngineError;

/// How [`ResultWriter`] renders results.
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

/// Writes `batches`, the whole result of a query with `schema`, to `out` in
/// `format`; see [`ResultWriter`] for what each format writes.
pub fn write_batches(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
    out: &mut dyn Write,
) -> Result<(), EngineError> {
    let mut writer = ResultWriter::new(format, schema, out);
    for batch in batches {
        writer.write(batch)?;
    }
    writer.finish()
}

/// Writes a query's result batch by batch, as it streams in: the first rows
/// reach a reader (`… | head`) before the query has finished. The table
/// format sizes its columns to the rows it holds: it holds up to
/// [`TABLE_ROWS`] rows (or [`TABLE_BYTES`] of them), then prints them as
/// one table and starts the next, as psql does with `FETCH_COUNT`, so
/// memory stays bounded on any result.
///
/// Every format prints timestamps as RFC 3339 (`2024-05-01T14:20:00.123Z`).
/// Column names that repeat in the result (`a.id` and `b.id` of a join are
/// both `id`) get a suffix, as DuckDB does (`id`, `id_1`), so JSON objects
/// never hold a key twice and CSV headers name each column once.
///
/// - **Table**: for people. `NULL` for nulls; control characters in values
///   (escape sequences, carriage returns, tabs; all but the line feed) are
///   shown escaped (`\x1b`, `\r`, `\t`), so log text cannot move the cursor
///   or rewrite the terminal. An empty result is the header alone.
/// - **CSV** (RFC 4180): a header row, even for no rows; a null is an empty
///   field and an empty string `""`, as DuckDB and PostgreSQL write them; a
///   field is quoted when it holds `,`, `"`, CR or LF; lists and structs are
///   written as their text form (`[a, b]`).
/// - **JSON**: one array of row objects; **NDJSON**: one object per line.
///   Every column is present in every object (`null` when null), so
///   consumers see a fixed set of keys.
pub struct ResultWriter<'a> {
    format: OutputFormat,
    schema: SchemaRef,
    out: &'a mut dyn Write,
    /// JSON: whether the opening bracket has been written.
    started: bool,
    /// Table: the escaped batches not printed yet, their rows and bytes.
    held: Vec<RecordBatch>,
    held_rows: usize,
    held_bytes: usize,
    buf: Vec<u8>,
}

/// Rows one printed table holds at most (see [`ResultWriter`]).
pub const TABLE_ROWS: usize = 10_000;

/// Bytes of cell text one printed table holds at most.
pub const TABLE_BYTES: usize = 64 << 20;

/// Columns of a cell's line a table shows on one line (of the 65,535 it can
/// lay out); longer lines go on in the lines below.
const TABLE_LINE_COLUMNS: usize = 60_000;

/// Arrow bytes of a result encoded as CSV or JSON at a time (fewer rows of a
/// batch when its rows are wide).
const ENCODE_BYTES: usize = 4 << 20;

impl<'a> ResultWriter<'a> {
    /// A writer of a result with `schema` to `out`; nothing is written yet.
    pub fn new(format: OutputFormat, schema: &SchemaRef, out: &'a mut dyn Write) -> Self {
        let schema = unique_names(schema);
        Self {
            format,
            schema,
            out,
            started: false,
            held: Vec::new(),
            held_rows: 0,
            held_bytes: 0,
            buf: Vec::new(),
        }
    }

    /// Writes one batch of the result (held until `finish` for the table).
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        // The row count is given: a result may have rows and no columns (`SELECT FROM logs`).
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&self.schema),
            batch.columns().to_vec(),
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )?;
        match self.format {
            OutputFormat::Table => {
                let mut at = 0;
                while at < batch.num_rows() {
                    let take = (batch.num_rows() - at).min(TABLE_ROWS - self.held_rows);
                    let part = escaped_for_terminal(&batch.slice(at, take))?;
                    at += take;
                    self.held_rows += part.num_rows();
                    self.held_bytes += part.get_array_memory_size();
                    self.held.push(part);
                    if self.held_rows >= TABLE_ROWS || self.held_bytes >= TABLE_BYTES {
                        self.print_table()?;
                    }
                }
            }
            OutputFormat::Csv | OutputFormat::Json | OutputFormat::Ndjson => {
                // Encoded a slice at a time: the text of a batch of wide rows
                // (8,192 rows of KBs each) is tens of MB.
                let rows = batch.num_rows();
                let per_row = batch.get_array_memory_size() / rows.max(1);
                let step = (ENCODE_BYTES / per_row.max(1)).clamp(1, rows.max(1));
                let mut at = 0;
                while at < rows {
                    let take = step.min(rows - at);
                    self.write_text(&batch.slice(at, take))?;
                    at += take;
                }
                if rows == 0 && self.format == OutputFormat::Csv {
                    self.csv_header()?;
                }
            }
        }
        Ok(())
    }

    /// Writes `batch` as CSV, JSON or NDJSON.
    fn write_text(&mut self, batch: &RecordBatch) -> Result<(), EngineError> {
        if self.format == OutputFormat::Csv {
            self.csv_header()?;
            self.buf.clear();
            write_csv_rows(batch, &mut self.buf)?;
            self.out.write_all(&self.buf)?;
        } else {
            {
                self.buf.clear();
                let mut writer = json::WriterBuilder::new()
                    .with_explicit_nulls(true)
                    .build::<_, LineDelimited>(&mut self.buf);
                writer.write(batch)?;
                writer.finish()?;
                drop(writer);
                if self.format == OutputFormat::Ndjson {
                    self.out.write_all(&self.buf)?;
                } else {
                    // One object per line from the encoder (strings escape
                    // their line feeds), joined into one array.
                    for object in self.buf.split(|&b| b == b'\n').filter(|o| !o.is_empty()) {
                        self.out.write_all(if self.started { b"," } else { b"[" })?;
                        self.started = true;
                        self.out.write_all(object)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// Ends the output: the table, the closing bracket, the CSV header of an
    /// empty result. Flushes `out`.
    pub fn finish(mut self) -> Result<(), EngineError> {
        match self.format {
            OutputFormat::Table => {
                // An empty result is its header alone.
                if !self.held.is_empty() || !self.started {
                    self.print_table()?;
                }
            }
            OutputFormat::Csv => self.csv_header()?,
            OutputFormat::Json => {
                self.out
                    .write_all(if self.started { b"]\n" } else { b"[]\n" })?;
            }
            OutputFormat::Ndjson => {}
        }
        self.out.flush()?;
        Ok(())
    }

    /// Prints the held rows as one table (the header alone when none).
    fn print_table(&mut self) -> Result<(), EngineError> {
        if self.held.is_empty() {
            self.held
                .push(RecordBatch::new_empty(text_schema(&self.schema)));
        }
        let options = FormatOptions::default()
            .with_display_error(true)
            .with_null("NULL");
        writeln!(
            self.out,
            "{}",
            pretty_format_batches_with_options(&self.held, &options)?
        )?;
        self.held.clear();
        (self.held_rows, self.held_bytes) = (0, 0);
        self.started = true;
        Ok(())
    }

    fn csv_header(&mut self) -> Result<(), EngineError> {
        if !self.started {
            self.started = true;
            self.buf.clear();
            for (i, field) in self.schema.fields().iter().enumerate() {
                if i > 0 {
                    self.buf.push(b',');
                }
                csv_field(field.name(), &mut self.buf);
            }
            self.buf.push(b'\n');
            self.out.write_all(&self.buf)?;
        }
        Ok(())
    }
}

/// `schema` with repeated column names suffixed `_1`, `_2`, … (skipping names
/// the result already has).
fn unique_names(schema: &SchemaRef) -> SchemaRef {
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let mut taken: HashSet<String> = HashSet::new();
    let mut renamed = false;
    let mut fields = Vec::with_capacity(names.len());
    for field in schema.fields() {
        let mut name = field.name().clone();
        if taken.contains(&name) {
            renamed = true;
            let mut n = 1;
            loop {
                let candidate = format!("{}_{n}", field.name());
                if !taken.contains(&candidate) && !names.contains(&candidate.as_str()) {
                    name = candidate;
                    break;
                }
                n += 1;
            }
        }
        taken.insert(name.clone());
        fields.push(Arc::new(field.as_ref().clone().with_name(name)));
    }
    if renamed {
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
    } else {
        Arc::clone(schema)
    }
}

/// The table's schema: every column as text.
fn text_schema(schema: &Schema) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect::<Vec<_>>(),
    ))
}

/// Every column as its display text with control characters escaped; nulls
/// stay null.
fn escaped_for_terminal(batch: &RecordBatch) -> Result<RecordBatch, EngineError> {
    let options = FormatOptions::default();
    let mut cell = String::new();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for column in batch.columns() {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        // Logical: a `NULL` column (type Null) has no validity buffer.
        let nulls = column.logical_nulls();
        for row in 0..column.len() {
            if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                text.append_null();
                continue;
            }
            cell.clear();
            write!(cell, "{}", formatter.value(row))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            let long = cell.len() > TABLE_LINE_COLUMNS / 4;
            if long || cell.chars().any(needs_escape) {
                // The table lays out lines of at most 65,535 columns, and splits
                // longer ones word by word in quadratic time (a 1 MB cell took
                // 7 s): longer lines are broken here, counting every character
                // outside ASCII as two columns.
                let mut line_columns = 0;
                for c in cell.chars() {
                    let width = match c {
                        '\n' => 0,
                        '\t' | '\r' => 2,
                        c if needs_escape(c) => 4,
                        c if c.is_ascii() => 1,
                        _ => 2,
                    };
                    if c == '\n' {
                        line_columns = 0;
                    } else if line_columns + width > TABLE_LINE_COLUMNS {
                        text.write_char('\n')
                            .map_err(|e| std::io::Error::other(e.to_string()))?;
                        line_columns = 0;
                    }
                    line_columns += width;
                    match c {
                        '\t' => text.write_str("\\t"),
                        '\r' => text.write_str("\\r"),
                        c if needs_escape(c) => write!(text, "\\x{:02x}", c as u32),
                        c => text.write_char(c),
                    }
                    .map_err(|e| std::io::Error::other(e.to_string()))?;
                }
                text.append_value("");
            } else {
                text.append_value(&cell);
            }
        }
        columns.push(Arc::new(text.finish()));
    }
    Ok(RecordBatch::try_new_with_options(
        text_schema(&batch.schema()),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

/// C0 controls but the line feed, DEL and C1 controls.
fn needs_escape(c: char) -> bool {
    (c.is_control() && c != '\n') || c == '\u{7f}'
}

/// Appends the rows of `batch` as CSV lines.
fn write_csv_rows(batch: &RecordBatch, buf: &mut Vec<u8>) -> Result<(), EngineError> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    // Logical: a `NULL` column (type Null) has no validity buffer.
    let nulls: Vec<_> = batch.columns().iter().map(|c| c.logical_nulls()).collect();
    let mut cell = String::new();
    for row in 0..batch.num_rows() {
        for (i, (formatter, null)) in formatters.iter().zip(&nulls).enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            if null.as_ref().is_some_and(|n| n.is_null(row)) {
                continue;
            }
            cell.clear();
            write!(cell, "{}", formatter.value(row))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
            csv_field(&cell, buf);
        }
        buf.push(b'\n');
    }
    Ok(())
}

/// One CSV field: quoted when empty (to tell it from a null) or when it holds
/// a delimiter, quote or line break.
fn csv_field(text: &str, buf: &mut Vec<u8>) {
    if !text.is_empty()
        && !text
            .bytes()
            .any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'))
    {
        buf.extend_from_slice(text.as_bytes());
        return;
    }
    buf.push(b'"');
    for b in text.bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{ArrayRef, StringArray};

    /// A batch of wide rows is encoded a slice at a time: the output is the
    /// whole result, and the encode buffer holds a few MiB, not the batch's text.
    /// A result of rows without columns (`SELECT FROM logs`) is written, not
    /// refused: an empty object per row, an empty CSV line per row.
    #[test]
    fn rows_without_columns_are_written() {
        let schema = Arc::new(Schema::empty());
        let batch = RecordBatch::try_new_with_options(
            Arc::clone(&schema),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(2)),
        )
        .unwrap();
        for (format, expected) in [
            (OutputFormat::Ndjson, "{}\n{}\n"),
            (OutputFormat::Json, "[{},{}]\n"),
            (OutputFormat::Csv, "\n\n\n"),
        ] {
            let mut out = Vec::new();
            let mut writer = ResultWriter::new(format, &schema, &mut out);
            writer.write(&batch).unwrap();
            writer.finish().unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), expected, "{format:?}");
        }
        let mut out = Vec::new();
        let mut writer = ResultWriter::new(OutputFormat::Table, &schema, &mut out);
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
    }

    /// A cell line longer than the table can lay out goes on in the lines
    /// below, whole; the table of a 1 MB cell is printed at once (laying out
    /// its one line took seconds).
    #[test]
    fn long_cell_lines_are_broken_for_the_table() {
        let line = format!("{}\x1b{}", "a".repeat(150_000), "é".repeat(40_000));
        let column: ArrayRef = Arc::new(StringArray::from(vec![line.as_str()]));
        let batch = RecordBatch::try_from_iter([("raw", column)]).unwrap();
        let mut out = Vec::new();
        let mut writer = ResultWriter::new(OutputFormat::Table, &batch.schema(), &mut out);
        writer.write(&batch).unwrap();
        writer.finish().unwrap();
        let text = String::from_utf8(out).unwrap();
        // The cell's lines: those after the header and its rule.
        let lines: Vec<&str> = text
            .lines()
            .skip(3)
            .filter(|l| l.starts_with('|'))
            .collect();
        assert!(lines.len() >= 4, "{} lines", lines.len());
        let shown: Vec<&str> = lines
            .iter()
            .map(|l| {
                l.trim_start_matches("| ")
                    .trim_end()
                    .trim_end_matches('|')
                    .trim_end()
            })
            .collect();
        for l in &shown {
            let columns: usize = l.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
            assert!(columns <= TABLE_LINE_COLUMNS, "{columns} columns");
        }
        // Compared without printing them: they are 230 KB.
        assert!(
            shown.concat() == line.replace('\x1b', "\\x1b"),
            "the cell differs"
        );
    }

    #[test]
    fn wide_batches_are_encoded_in_slices() {
        let wide = "w".repeat(100 << 10);
        let values: Vec<String> = (0..200).map(|i| format!("{i} {wide}")).collect();
        let column: ArrayRef = Arc::new(StringArray::from(values.clone()));
        let batch = RecordBatch::try_from_iter([("message", column)]).unwrap();
        for format in [OutputFormat::Csv, OutputFormat::Json, OutputFormat::Ndjson] {
            let mut out = Vec::new();
            let mut writer = ResultWriter::new(format, &batch.schema(), &mut out);
            writer.write(&batch).unwrap();
            assert!(
                writer.buf.capacity() < 2 * ENCODE_BYTES,
                "{format:?}: {} bytes buffered for {} of text",
                writer.buf.capacity(),
                200 * wide.len()
            );
            writer.finish().unwrap();
            let text = String::from_utf8(out).unwrap();
            let got: Vec<String> = match format {
                OutputFormat::Csv => text.lines().skip(1).map(str::to_owned).collect(),
                OutputFormat::Json => serde_json::from_str::<Vec<serde_json::Value>>(&text)
                    .unwrap()
                    .iter()
                    .map(|o| o["message"].as_str().unwrap().to_owned())
                    .collect(),
                _ => text
                    .lines()
                    .map(|l| {
                        let o: serde_json::Value = serde_json::from_str(l).unwrap();
                        o["message"].as_str().unwrap().to_owned()
                    })
                    .collect(),
            };
            assert_eq!(got, values, "{format:?}");
        }
    }
}
