//! The `logs` table as the archive stores it (table schema v3).
//!
//! [`to_stored`] turns a batch of [`logs_schema`] into the stored layout and
//! the `logs` view (`queries/logs_view.sql`) turns it back, value for value.
//! The stored layout keeps every column of `logs_schema` under its name and
//! adds columns after them, so that values with a cheaper exact form get it:
//!
//! - `ts` is stored in milliseconds (most logs write milliseconds, and a
//!   Parquet delta of milliseconds is 10 bits shorter than one of
//!   microseconds); `ts_us` holds the microseconds within the millisecond,
//!   null when 0.
//! - A trace, span or parent span id written as lowercase hex (an even number
//!   of digits) is stored as its bytes in `trace_id_bytes`, `span_id_bytes`,
//!   `parent_span_id_bytes`, with the text column null; any other id keeps
//!   its text.
//! - The first [`PARAM_COLUMNS`] params are stored one column per position,
//!   so that rows of one template (stored next to each other) put like values
//!   together: `paramK_int` when the param is an integer written canonically
//!   (no `+`, no leading zero, no `-0`, at most 18 digits), else the text in
//!   `paramK`. `params` keeps the params after those.
//!
//! Nothing else changes: a row's params are never null (ingest builds them
//! from text), so a position with both columns null ends the list.

use std::sync::{Arc, OnceLock};

use arrow_array::builder::{BinaryBuilder, Int64Builder, ListBuilder, StringBuilder};
use arrow_array::types::{TimestampMicrosecondType, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, Int16Array, ListArray, PrimitiveArray, RecordBatch, StringArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::schema::{col, logs_schema};

/// How many params are stored one column per position.
pub const PARAM_COLUMNS: usize = 8;

/// Names of the columns the stored layout adds after the `logs` columns.
pub mod stored_col {
    /// Microseconds within `ts`'s millisecond (1–999), null when 0.
    pub const TS_US: &str = "ts_us";
    /// `trace_id` as bytes when it was written as lowercase hex.
    pub const TRACE_ID_BYTES: &str = "trace_id_bytes";
    /// `span_id` as bytes when it was written as lowercase hex.
    pub const SPAN_ID_BYTES: &str = "span_id_bytes";
    /// `parent_span_id` as bytes when it was written as lowercase hex.
    pub const PARENT_SPAN_ID_BYTES: &str = "parent_span_id_bytes";

    /// Name of the text column of param position `k` (`param0`, …).
    pub fn param(k: usize) -> String {
        format!("param{k}")
    }

    /// Name of the integer column of param position `k` (`param0_int`, …).
    pub fn param_int(k: usize) -> String {
        format!("param{k}_int")
    }
}

fn index_of(name: &str) -> usize {
    logs_schema()
        .index_of(name)
        .unwrap_or_else(|_| unreachable!("the logs schema has column {name}"))
}

/// The Arrow schema of a stored batch: [`logs_schema`] with `ts` in
/// milliseconds, then the columns of [`stored_col`].
pub fn stored_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(SCHEMA.get_or_init(|| {
        let logs = logs_schema();
        let mut fields: Vec<Field> = logs
            .fields()
            .iter()
            .map(|f| {
                if f.name() == col::TS {
                    Field::new(
                        col::TS,
                        DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                        true,
                    )
                } else {
                    f.as_ref().clone()
                }
            })
            .collect();
        fields.push(Field::new(stored_col::TS_US, DataType::Int16, true));
        for name in [
            stored_col::TRACE_ID_BYTES,
            stored_col::SPAN_ID_BYTES,
            stored_col::PARENT_SPAN_ID_BYTES,
        ] {
            fields.push(Field::new(name, DataType::Binary, true));
        }
        for k in 0..PARAM_COLUMNS {
            fields.push(Field::new(stored_col::param(k), DataType::Utf8, true));
            fields.push(Field::new(stored_col::param_int(k), DataType::Int64, true));
        }
        Arc::new(Schema::new(fields))
    }))
}

/// Turns a batch of [`logs_schema`] into a batch of [`stored_schema`].
///
/// Errors only on a batch that is not of the `logs` schema, or whose params
/// hold a null (ingest never builds one).
pub fn to_stored(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let logs = logs_schema();
    if batch.num_columns() != logs.fields().len() {
        return Err(ArrowError::SchemaError(format!(
            "a stored batch is built from the logs schema, got {}",
            batch.schema()
        )));
    }
    let mut columns = batch.columns().to_vec();
    let (ms, us) = split_ts(&columns[index_of(col::TS)])?;
    columns[index_of(col::TS)] = ms;
    let mut extra: Vec<ArrayRef> = vec![us];
    for name in [col::TRACE_ID, col::SPAN_ID, col::PARENT_SPAN_ID] {
        let i = index_of(name);
        let (text, bytes) = split_id(&columns[i])?;
        columns[i] = text;
        extra.push(bytes);
    }
    let i = index_of(col::PARAMS);
    let (rest, positions) = split_params(&columns[i])?;
    columns[i] = rest;
    extra.extend(positions);
    columns.extend(extra);
    RecordBatch::try_new(stored_schema(), columns)
}

fn downcast<'a, T: 'static>(array: &'a ArrayRef, what: &str) -> Result<&'a T, ArrowError> {
    array
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| ArrowError::SchemaError(format!("{what} has type {}", array.data_type())))
}

fn split_ts(ts: &ArrayRef) -> Result<(ArrayRef, ArrayRef), ArrowError> {
    let ts = downcast::<PrimitiveArray<TimestampMicrosecondType>>(ts, col::TS)?;
    let ms: PrimitiveArray<TimestampMillisecondType> = ts.unary(|v| v.div_euclid(1000));
    let us: Int16Array = ts
        .iter()
        .map(|v| v.map(|v| v.rem_euclid(1000) as i16).filter(|&r| r != 0))
        .collect();
    Ok((Arc::new(ms.with_timezone_opt(ts.timezone())), Arc::new(us)))
}

/// Writes into `out` the bytes of `text` and returns true when `text` is
/// lowercase hex with an even number of digits (so [`write_hex`] gives it
/// back); false otherwise.
pub fn hex_bytes(text: &str, out: &mut Vec<u8>) -> bool {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    out.clear();
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return false;
    }
    for pair in text.chunks_exact(2) {
        match (digit(pair[0]), digit(pair[1])) {
            (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
            _ => return false,
        }
    }
    true
}

/// Appends `bytes` as lowercase hex.
pub fn write_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
}

fn split_id(ids: &ArrayRef) -> Result<(ArrayRef, ArrayRef), ArrowError> {
    let ids = downcast::<StringArray>(ids, "an id column")?;
    if ids.null_count() == ids.len() {
        let nulls = arrow_array::new_null_array(&DataType::Binary, ids.len());
        return Ok((Arc::new(ids.clone()), nulls));
    }
    let mut text = StringBuilder::with_capacity(ids.len(), 0);
    let mut bytes = BinaryBuilder::with_capacity(ids.len(), ids.value_data().len() / 2);
    let mut scratch = Vec::with_capacity(32);
    for id in ids.iter() {
        match id {
            Some(id) if hex_bytes(id, &mut scratch) => {
                text.append_null();
                bytes.append_value(&scratch);
            }
            other => {
                text.append_option(other);
                bytes.append_null();
            }
        }
    }
    Ok((Arc::new(text.finish()), Arc::new(bytes.finish())))
}

/// The value of `text` when it is an integer written canonically: optional
/// `-`, no leading zero (but `0` itself), not `-0`, at most 18 digits (so
/// every such text fits an `i64`), else None. `n.to_string()` gives `text`
/// back.
pub fn canonical_int(text: &str) -> Option<i64> {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    let negative = digits.len() != text.len();
    match digits {
        [] => None,
        [b'0'] => (!negative).then_some(0),
        [b'0', ..] => None,
        _ if digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) => None,
        _ => {
            let n = digits
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
            Some(if negative { -n } else { n })
        }
    }
}

fn split_params(params: &ArrayRef) -> Result<(ArrayRef, Vec<ArrayRef>), ArrowError> {
    let params = downcast::<ListArray>(params, col::PARAMS)?;
    let values = downcast::<StringArray>(params.values(), "params items")?;
    if values.null_count() > 0 {
        return Err(ArrowError::InvalidArgumentError(
            "params items are never null in a logs batch".into(),
        ));
    }
    let rows = params.len();
    let mut text: Vec<StringBuilder> = (0..PARAM_COLUMNS)
        .map(|_| StringBuilder::with_capacity(rows, 0))
        .collect();
    let mut ints: Vec<Int64Builder> = (0..PARAM_COLUMNS)
        .map(|_| Int64Builder::with_capacity(rows))
        .collect();
    let mut rest = ListBuilder::new(StringBuilder::new())
        .with_field(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let offsets = params.value_offsets();
    for row in 0..rows {
        let (start, end) = if params.is_null(row) {
            (0, 0)
        } else {
            (offsets[row] as usize, offsets[row + 1] as usize)
        };
        for k in 0..PARAM_COLUMNS {
            let item = start + k;
            if item >= end {
                text[k].append_null();
                ints[k].append_null();
                continue;
            }
            let value = values.value(item);
            match canonical_int(value) {
                Some(n) => {
                    text[k].append_null();
                    ints[k].append_value(n);
                }
                None => {
                    text[k].append_value(value);
                    ints[k].append_null();
                }
            }
        }
        for item in (start + PARAM_COLUMNS).min(end)..end {
            rest.values().append_value(values.value(item));
        }
        rest.append(true);
    }
    let mut positions: Vec<ArrayRef> = Vec::with_capacity(2 * PARAM_COLUMNS);
    for (mut t, mut n) in text.into_iter().zip(ints) {
        positions.push(Arc::new(t.finish()));
        positions.push(Arc::new(n.finish()));
    }
    Ok((Arc::new(rest.finish()), positions))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_ints_and_only_those_are_numbers() {
        for (text, n) in [
            ("0", Some(0)),
            ("7", Some(7)),
            ("-7", Some(-7)),
            ("123456789012345678", Some(123_456_789_012_345_678)),
            ("-123456789012345678", Some(-123_456_789_012_345_678)),
            ("1234567890123456789", None),
            ("-0", None),
            ("007", None),
            ("+7", None),
            ("", None),
            ("-", None),
            ("1.5", None),
            ("12ms", None),
            ("١٢", None),
        ] {
            assert_eq!(canonical_int(text), n, "{text:?}");
            if let Some(n) = n {
                assert_eq!(n.to_string(), text);
            }
        }
    }

    #[test]
    fn hex_ids_round_trip_and_others_are_refused() {
        let mut bytes = Vec::new();
        for id in ["4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "00"] {
            assert!(hex_bytes(id, &mut bytes), "{id}");
            let mut back = String::new();
            write_hex(&bytes, &mut back);
            assert_eq!(back, id);
        }
        for id in ["4BF92F35", "abc", "", "req-42", "0x12", "zz"] {
            assert!(!hex_bytes(id, &mut bytes), "{id}");
        }
    }
}
