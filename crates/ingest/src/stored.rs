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

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::types::{TimestampMicrosecondType, TimestampMillisecondType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, Int16Array, Int64Array, ListArray, PrimitiveArray, RecordBatch,
    StringArray, new_empty_array, new_null_array,
};
use arrow_buffer::{
    BooleanBuffer, Buffer, MutableBuffer, NullBuffer, OffsetBuffer, ScalarBuffer, bit_util,
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
    let us: Int16Array = ts.unary(|v| v.rem_euclid(1000) as i16);
    let nonzero: BooleanBuffer = us.values().iter().map(|&v| v != 0).collect();
    let nulls = NullBuffer::union(us.nulls(), Some(&NullBuffer::new(nonzero)));
    let us = Int16Array::new(us.values().clone(), nulls);
    Ok((Arc::new(ms.with_timezone_opt(ts.timezone())), Arc::new(us)))
}

/// Writes into `out` the bytes of `text` and returns true when `text` is
/// lowercase hex with an even number of digits (so [`write_hex`] gives it
/// back); false otherwise.
pub fn hex_bytes(text: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    push_hex_bytes(text.as_bytes(), out)
}

/// Each byte's value as a lowercase hex digit, 0xff when it is not one.
static HEX_VALUE: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut c = 0;
    while c < 10 {
        t[b'0' as usize + c] = c as u8;
        c += 1;
    }
    let mut c = 0;
    while c < 6 {
        t[b'a' as usize + c] = 10 + c as u8;
        c += 1;
    }
    t
};

/// [`hex_bytes`] appending to `out`; on false `out` is as it was.
fn push_hex_bytes(text: &[u8], out: &mut Vec<u8>) -> bool {
    if text.is_empty() || !text.len().is_multiple_of(2) {
        return false;
    }
    let at = out.len();
    out.reserve(text.len() / 2);
    let mut bad = 0u8;
    out.extend(text.chunks_exact(2).map(|pair| {
        let (hi, lo) = (HEX_VALUE[pair[0] as usize], HEX_VALUE[pair[1] as usize]);
        bad |= hi | lo;
        hi << 4 | (lo & 15)
    }));
    // Digits are below 16: a high bit anywhere means a byte that is not one.
    if bad & 0xf0 != 0 {
        out.truncate(at);
        return false;
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
    let rows = ids.len();
    if ids.null_count() == rows {
        let nulls = new_null_array(&DataType::Binary, rows);
        return Ok((Arc::new(ids.clone()), nulls));
    }
    // Plain buffers: most rows take one column and leave the other null, and
    // a builder's `append_null` per row cost more than decoding the hex.
    let too_long = || ArrowError::InvalidArgumentError("ids over 2 GiB in one batch".into());
    let mut text_offsets = Vec::<i32>::with_capacity(rows + 1);
    let mut text = Vec::<u8>::new();
    let mut text_valid = MutableBuffer::from_len_zeroed(rows.div_ceil(8));
    let mut byte_offsets = Vec::<i32>::with_capacity(rows + 1);
    let mut bytes = Vec::<u8>::with_capacity(ids.value_data().len() / 2);
    let mut bytes_valid = MutableBuffer::from_len_zeroed(rows.div_ceil(8));
    text_offsets.push(0);
    byte_offsets.push(0);
    for (row, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            if push_hex_bytes(id.as_bytes(), &mut bytes) {
                bit_util::set_bit(bytes_valid.as_slice_mut(), row);
            } else {
                text.extend_from_slice(id.as_bytes());
                bit_util::set_bit(text_valid.as_slice_mut(), row);
            }
        }
        text_offsets.push(i32::try_from(text.len()).map_err(|_| too_long())?);
        byte_offsets.push(i32::try_from(bytes.len()).map_err(|_| too_long())?);
    }
    let text = StringArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(text_offsets)),
        Buffer::from_vec(text),
        Some(validity(text_valid, rows)),
    )?;
    let bytes = BinaryArray::try_new(
        OffsetBuffer::new(ScalarBuffer::from(byte_offsets)),
        Buffer::from_vec(bytes),
        Some(validity(bytes_valid, rows)),
    )?;
    Ok((Arc::new(text), Arc::new(bytes)))
}

/// A validity bitmap set bit by bit (see `bit_util::set_bit`) as a null buffer.
fn validity(bits: MutableBuffer, rows: usize) -> NullBuffer {
    NullBuffer::new(BooleanBuffer::new(bits.into(), 0, rows))
}

/// The value of `text` when it is an integer written canonically: optional
/// `-`, no leading zero (but `0` itself), not `-0`, at most 18 digits (so
/// every such text fits an `i64`), else None. `n.to_string()` gives `text`
/// back.
pub fn canonical_int(text: &str) -> Option<i64> {
    canonical_int_bytes(text.as_bytes())
}

fn canonical_int_bytes(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
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

/// One position's pair of columns while they are built: the text of the
/// params that are not integers, and the integers.
struct PositionColumns {
    ints: Vec<i64>,
    int_valid: MutableBuffer,
    text_offsets: Vec<i32>,
    text: Vec<u8>,
    text_valid: MutableBuffer,
}

impl PositionColumns {
    fn new(rows: usize) -> Self {
        let mut text_offsets = Vec::with_capacity(rows + 1);
        text_offsets.push(0);
        PositionColumns {
            ints: vec![0; rows],
            int_valid: MutableBuffer::from_len_zeroed(rows.div_ceil(8)),
            text_offsets,
            text: Vec::new(),
            text_valid: MutableBuffer::from_len_zeroed(rows.div_ceil(8)),
        }
    }

    /// Sets row `row`'s param (rows come in increasing order).
    #[inline]
    fn set(&mut self, row: usize, v: &[u8]) -> Result<(), ArrowError> {
        match canonical_int_bytes(v) {
            Some(n) => {
                self.ints[row] = n;
                bit_util::set_bit(self.int_valid.as_slice_mut(), row);
            }
            None => {
                // Rows before this one without text end where the text is now.
                let end = self.text_len()?;
                self.text_offsets.resize(row + 1, end);
                self.text.extend_from_slice(v);
                self.text_offsets.push(self.text_len()?);
                bit_util::set_bit(self.text_valid.as_slice_mut(), row);
            }
        }
        Ok(())
    }

    fn text_len(&self) -> Result<i32, ArrowError> {
        i32::try_from(self.text.len()).map_err(|_| {
            ArrowError::InvalidArgumentError("params text over 2 GiB in one batch".into())
        })
    }

    fn finish(mut self, rows: usize, out: &mut Vec<ArrayRef>) -> Result<(), ArrowError> {
        let end = self.text_len()?;
        self.text_offsets.resize(rows + 1, end);
        out.push(Arc::new(StringArray::try_new(
            OffsetBuffer::new(ScalarBuffer::from(self.text_offsets)),
            Buffer::from_vec(self.text),
            Some(validity(self.text_valid, rows)),
        )?));
        out.push(Arc::new(Int64Array::new(
            ScalarBuffer::from(self.ints),
            Some(validity(self.int_valid, rows)),
        )));
        Ok(())
    }
}

/// Splits `params` into the per-position columns and the list of the params
/// after them. One pass over the params, each written straight into its
/// position's plain buffers (builders appended to row by row, for every
/// position of every row, cost more than the rest of the conversion
/// together).
fn split_params(params: &ArrayRef) -> Result<(ArrayRef, Vec<ArrayRef>), ArrowError> {
    let params = downcast::<ListArray>(params, col::PARAMS)?;
    let values = downcast::<StringArray>(params.values(), "params items")?;
    if values.null_count() > 0 {
        return Err(ArrowError::InvalidArgumentError(
            "params items are never null in a logs batch".into(),
        ));
    }
    let rows = params.len();
    let offsets = params.value_offsets();
    // Row `row`'s items; a null list has none.
    let span = |row: usize| {
        if params.is_null(row) {
            (0, 0)
        } else {
            (offsets[row] as usize, offsets[row + 1] as usize)
        }
    };
    let widest = (0..rows)
        .map(|row| {
            let (s, e) = span(row);
            e - s
        })
        .max()
        .unwrap_or(0);
    let item_offsets = values.value_offsets();
    let data = values.value_data();
    let item = |i: usize| &data[item_offsets[i] as usize..item_offsets[i + 1] as usize];
    let mut columns: Vec<PositionColumns> = (0..widest.min(PARAM_COLUMNS))
        .map(|_| PositionColumns::new(rows))
        .collect();
    for row in 0..rows {
        let (start, end) = span(row);
        for (k, column) in columns.iter_mut().enumerate().take(end - start) {
            column.set(row, item(start + k))?;
        }
    }
    let mut positions: Vec<ArrayRef> = Vec::with_capacity(2 * PARAM_COLUMNS);
    for column in columns {
        column.finish(rows, &mut positions)?;
    }
    while positions.len() < 2 * PARAM_COLUMNS {
        positions.push(new_null_array(&DataType::Utf8, rows));
        positions.push(new_null_array(&DataType::Int64, rows));
    }
    let item_field = Arc::new(Field::new_list_field(DataType::Utf8, true));
    let rest: ListArray = if widest <= PARAM_COLUMNS {
        ListArray::try_new(
            item_field,
            OffsetBuffer::new_zeroed(rows),
            new_empty_array(&DataType::Utf8),
            None,
        )?
    } else {
        let mut rest = ListBuilder::new(StringBuilder::new()).with_field(item_field);
        for row in 0..rows {
            let (start, end) = span(row);
            for i in (start + PARAM_COLUMNS).min(end)..end {
                rest.values().append_value(values.value(i));
            }
            rest.append(true);
        }
        rest.finish()
    };
    Ok((Arc::new(rest), positions))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each param lands in exactly one of its position's two columns, params
    /// past the eighth stay in the list, and `ts` splits into ms and µs; for
    /// a batch whose widest row has no params, a few, and more than eight.
    #[test]
    fn params_and_time_split_by_position() {
        use crate::batch::{LogBatchBuilder, LogRow};
        let rows: Vec<(Option<i64>, Vec<&str>)> = vec![
            (Some(1_700_000_000_123_456), vec!["7", "x", "-3", "007"]),
            (None, vec![]),
            (Some(-1), vec!["", "-0", "+1", "123456789012345678"]),
            (
                Some(5_000),
                (0..11).map(|i| ["1", "a", "22"][i % 3]).collect(),
            ),
        ];
        for take in [1, 3, 4] {
            let mut b = LogBatchBuilder::new();
            for (ts, params) in &rows[..take] {
                let row = LogRow {
                    ts: *ts,
                    source: "s",
                    ..LogRow::default()
                };
                b.append(&row, params.iter().copied()).unwrap();
            }
            let stored = to_stored(&b.finish().unwrap()).unwrap();
            let col = |name: &str| Arc::clone(stored.column_by_name(name).unwrap());
            let ms = col(col::TS);
            let ms = ms
                .as_any()
                .downcast_ref::<PrimitiveArray<TimestampMillisecondType>>()
                .unwrap();
            let us = col(stored_col::TS_US);
            let us = us.as_any().downcast_ref::<Int16Array>().unwrap();
            let rest = col(col::PARAMS);
            let rest = rest.as_any().downcast_ref::<ListArray>().unwrap();
            for (r, (ts, params)) in rows[..take].iter().enumerate() {
                match ts {
                    Some(t) => {
                        assert_eq!(ms.value(r), t.div_euclid(1000));
                        let want = t.rem_euclid(1000) as i16;
                        assert_eq!(us.is_valid(r), want != 0);
                        if want != 0 {
                            assert_eq!(us.value(r), want);
                        }
                    }
                    None => assert!(ms.is_null(r) && us.is_null(r)),
                }
                for k in 0..PARAM_COLUMNS {
                    let text = col(&stored_col::param(k));
                    let text = text.as_any().downcast_ref::<StringArray>().unwrap();
                    let int = col(&stored_col::param_int(k));
                    let int = int.as_any().downcast_ref::<Int64Array>().unwrap();
                    match params.get(k).copied().map(|p| (p, canonical_int(p))) {
                        None => assert!(text.is_null(r) && int.is_null(r), "{r} {k}"),
                        Some((_, Some(n))) => {
                            assert!(text.is_null(r) && int.is_valid(r), "{r} {k}");
                            assert_eq!(int.value(r), n);
                        }
                        Some((p, None)) => {
                            assert!(text.is_valid(r) && int.is_null(r), "{r} {k}");
                            assert_eq!(text.value(r), p);
                        }
                    }
                }
                let tail = rest.value(r);
                let tail = tail.as_any().downcast_ref::<StringArray>().unwrap();
                let want: Vec<&str> = params.iter().skip(PARAM_COLUMNS).copied().collect();
                let got: Vec<&str> = tail.iter().map(Option::unwrap).collect();
                assert_eq!(got, want);
                assert!(rest.is_valid(r));
            }
        }
    }

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

    /// Each id lands in exactly one of its text and bytes columns, for a
    /// batch mixing hex, other text, empty text and nulls.
    #[test]
    fn ids_split_into_text_and_bytes() {
        use crate::batch::{LogBatchBuilder, LogRow};
        let ids = [
            Some("4bf92f3577b34da6a3ce929d0e0e4736"),
            None,
            Some("req-42"),
            Some(""),
            Some("00"),
            Some("ABCD"),
            Some("abc"),
            Some("0a0b"),
        ];
        let mut b = LogBatchBuilder::new();
        for id in ids {
            let row = LogRow {
                source: "s",
                trace_id: id,
                ..LogRow::default()
            };
            b.append(&row, std::iter::empty::<&str>()).unwrap();
        }
        let stored = to_stored(&b.finish().unwrap()).unwrap();
        let text = stored.column_by_name(col::TRACE_ID).unwrap();
        let text = text.as_any().downcast_ref::<StringArray>().unwrap();
        let bytes = stored.column_by_name(stored_col::TRACE_ID_BYTES).unwrap();
        let bytes = bytes.as_any().downcast_ref::<BinaryArray>().unwrap();
        let mut scratch = Vec::new();
        for (r, id) in ids.iter().enumerate() {
            match id {
                None => assert!(text.is_null(r) && bytes.is_null(r), "{r}"),
                Some(id) if hex_bytes(id, &mut scratch) => {
                    assert!(text.is_null(r), "{r}");
                    assert_eq!(bytes.value(r), &scratch[..], "{r}");
                }
                Some(id) => {
                    assert!(bytes.is_null(r), "{r}");
                    assert_eq!(text.value(r), *id, "{r}");
                }
            }
        }
        assert_eq!(bytes.value(0)[0], 0x4b);
        assert_eq!(bytes.value(7), &[0x0a, 0x0b]);
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
        for id in [
            "4BF92F35", "abc", "", "req-42", "0x12", "zz", "0g", "g0", "é",
        ] {
            assert!(!hex_bytes(id, &mut bytes), "{id}");
        }
    }
}
