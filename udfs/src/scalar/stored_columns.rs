//! `stored_ts`, `stored_id` and `stored_params`: rebuild the `logs` columns
//! the archive stores in a cheaper exact form (table schema v3, see
//! `logoscope_ingest::stored`).
//!
//! - `stored_ts(ts, ts_us)`: the time in microseconds from the stored
//!   millisecond time and the microseconds within it;
//! - `stored_id(text, bytes)`: a trace or span id, from its text or from its
//!   bytes written as lowercase hex;
//! - `stored_params(params, param0, param0_int, …, param7, param7_int)`: the
//!   params list, from the per-position columns and the overflow list.
//!
//! The `logs` view calls them on every row.

use std::fmt::Write as _;
use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{
    DataType, Field, Int16Type, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{Result, exec_err, plan_err, utils::take_function_args};
use datafusion::logical_expr::scalar_doc_sections::{DOC_SECTION_DATETIME, DOC_SECTION_STRING};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use logoscope_ingest::stored::{PARAM_COLUMNS, write_hex};

use super::invoke;
use super::render_template::is_string;

fn string_or_null(name: &str, what: &str, t: &DataType) -> Result<DataType> {
    if is_string(t) || t == &DataType::Null {
        Ok(DataType::Utf8)
    } else {
        plan_err!("{name}: {what} must be a string, got {t}")
    }
}

/// The `stored_ts` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StoredTs {
    signature: Signature,
}

impl StoredTs {
    /// The name this function is registered under.
    pub const NAME: &'static str = "stored_ts";

    /// Creates the UDF implementation.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for StoredTs {
    fn default() -> Self {
        Self::new()
    }
}

static TS_DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_DATETIME,
        "Rebuilds a row's time in microseconds from the archive's stored \
         millisecond time `ts` and `ts_us`, the microseconds within that \
         millisecond (null for 0). Null when `ts` is null.",
        "stored_ts(ts, ts_us)",
    )
    .with_sql_example(
        "```sql\n\
         > SELECT stored_ts(TIMESTAMP '2024-01-02 15:04:05.123', 456);\n\
         2024-01-02T15:04:05.123456\n\
         ```",
    )
    .with_argument("ts", "The stored time (any timestamp unit).")
    .with_argument("ts_us", "Microseconds to add (0–999), or null.")
    .build()
});

impl ScalarUDFImpl for StoredTs {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match arg_types.first() {
            Some(DataType::Timestamp(_, tz)) => {
                Ok(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
            }
            _ => Ok(DataType::Timestamp(TimeUnit::Microsecond, None)),
        }
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [ts, us] = take_function_args(Self::NAME, arg_types)?;
        let ts = match ts {
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            DataType::Null => DataType::Timestamp(TimeUnit::Microsecond, None),
            other => return plan_err!("{}: ts must be a timestamp, got {other}", Self::NAME),
        };
        if !(us.is_integer() || us == &DataType::Null) {
            return plan_err!("{}: ts_us must be an integer, got {us}", Self::NAME);
        }
        Ok(vec![ts, DataType::Int16])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke(&args, |arrays| {
            let [ts, us] = take_function_args(Self::NAME, arrays)?;
            let (Some(ts), Some(us)) = (
                ts.as_primitive_opt::<TimestampMicrosecondType>(),
                us.as_primitive_opt::<Int16Type>(),
            ) else {
                return exec_err!("{}: arguments were not coerced", Self::NAME);
            };
            let out = if us.null_count() == us.len() {
                ts.clone()
            } else {
                ts.iter()
                    .zip(us.iter())
                    .map(|(t, u)| t.map(|t| t + i64::from(u.unwrap_or(0))))
                    .collect::<datafusion::arrow::array::PrimitiveArray<TimestampMicrosecondType>>()
                    .with_timezone_opt(ts.timezone())
            };
            Ok(Arc::new(out) as ArrayRef)
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&TS_DOCUMENTATION)
    }
}

/// The `stored_id` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StoredId {
    signature: Signature,
}

impl StoredId {
    /// The name this function is registered under.
    pub const NAME: &'static str = "stored_id";

    /// Creates the UDF implementation.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for StoredId {
    fn default() -> Self {
        Self::new()
    }
}

static ID_DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STRING,
        "Rebuilds a trace or span id: its stored text when there is one, else \
         its stored bytes written as lowercase hex. Null when both are null.",
        "stored_id(text, bytes)",
    )
    .with_sql_example(
        "```sql\n\
         > SELECT stored_id(NULL, X'00f067aa0ba902b7');\n\
         00f067aa0ba902b7\n\
         ```",
    )
    .with_argument("text", "The id as text, when it was not lowercase hex.")
    .with_argument("bytes", "The id's bytes, when it was lowercase hex.")
    .build()
});

impl ScalarUDFImpl for StoredId {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        let [text, bytes] = take_function_args(Self::NAME, arg_types)?;
        let text = string_or_null(Self::NAME, "text", text)?;
        if !matches!(
            bytes,
            DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::Null
        ) {
            return plan_err!("{}: bytes must be binary, got {bytes}", Self::NAME);
        }
        Ok(vec![text, DataType::Binary])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke(&args, |arrays| {
            let [text, bytes] = take_function_args(Self::NAME, arrays)?;
            let (Some(text), Some(bytes)) =
                (text.as_string_opt::<i32>(), bytes.as_binary_opt::<i32>())
            else {
                return exec_err!("{}: arguments were not coerced", Self::NAME);
            };
            if bytes.null_count() == bytes.len() {
                return Ok(Arc::new(text.clone()) as ArrayRef);
            }
            let mut out = StringBuilder::with_capacity(text.len(), bytes.value_data().len() * 2);
            let mut hex = String::new();
            for row in 0..text.len() {
                if text.is_valid(row) {
                    out.append_value(text.value(row));
                } else if bytes.is_valid(row) {
                    hex.clear();
                    write_hex(bytes.value(row), &mut hex);
                    out.append_value(&hex);
                } else {
                    out.append_null();
                }
            }
            Ok(Arc::new(out.finish()) as ArrayRef)
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&ID_DOCUMENTATION)
    }
}

/// The `stored_params` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct StoredParams {
    signature: Signature,
}

impl StoredParams {
    /// The name this function is registered under.
    pub const NAME: &'static str = "stored_params";

    /// Creates the UDF implementation.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for StoredParams {
    fn default() -> Self {
        Self::new()
    }
}

static PARAMS_DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STRING,
        "Rebuilds a row's params list from the archive's per-position columns: \
         for each position in order, the integer column written as decimal \
         when it is set, else the text column; the first position with neither \
         ends the list, and the stored `params` list (the params past the \
         per-position columns) follows.",
        "stored_params(params, param0, param0_int, ..., param7, param7_int)",
    )
    .with_sql_example(
        "```sql\n\
         > SELECT stored_params(make_array('z'), 'a', NULL, NULL, 42, 'b', NULL,\n\
         >   'c', NULL, 'd', NULL, 'e', NULL, 'f', NULL, 'g', NULL);\n\
         [a, 42, b, c, d, e, f, g, z]\n\
         ```",
    )
    .with_argument("params", "The stored params past the per-position columns.")
    .with_argument("paramK", "Position K's param, when it is not an integer.")
    .with_argument("paramK_int", "Position K's param, when it is an integer.")
    .build()
});

fn list_of_strings() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

impl ScalarUDFImpl for StoredParams {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(list_of_strings())
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        if arg_types.len() != 1 + 2 * PARAM_COLUMNS {
            return plan_err!(
                "{}: takes params and {PARAM_COLUMNS} (text, integer) pairs, got {} arguments",
                Self::NAME,
                arg_types.len()
            );
        }
        let mut types = Vec::with_capacity(arg_types.len());
        match &arg_types[0] {
            DataType::List(f) | DataType::LargeList(f) if is_string(f.data_type()) => {}
            DataType::Null => {}
            other => {
                return plan_err!(
                    "{}: params must be a list of strings, got {other}",
                    Self::NAME
                );
            }
        }
        types.push(list_of_strings());
        for pair in arg_types[1..].chunks_exact(2) {
            types.push(string_or_null(Self::NAME, "paramK", &pair[0])?);
            if !(pair[1].is_integer() || pair[1] == DataType::Null) {
                return plan_err!(
                    "{}: paramK_int must be an integer, got {}",
                    Self::NAME,
                    pair[1]
                );
            }
            types.push(DataType::Int64);
        }
        Ok(types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke(&args, rebuild_params)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&PARAMS_DOCUMENTATION)
    }
}

fn rebuild_params(arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let Some(rest) = arrays.first().and_then(|a| a.as_list_opt::<i32>()) else {
        return exec_err!("{}: arguments were not coerced", StoredParams::NAME);
    };
    let rest_items: &StringArray = match rest.values().as_string_opt::<i32>() {
        Some(items) => items,
        None => return exec_err!("{}: params items are not strings", StoredParams::NAME),
    };
    let mut positions = Vec::with_capacity(PARAM_COLUMNS);
    for pair in arrays[1..].chunks_exact(2) {
        let (Some(text), Some(int)) = (
            pair[0].as_string_opt::<i32>(),
            pair[1].as_primitive_opt::<Int64Type>(),
        ) else {
            return exec_err!("{}: arguments were not coerced", StoredParams::NAME);
        };
        positions.push((text, int));
    }
    let rows = rest.len();
    let mut out = ListBuilder::with_capacity(StringBuilder::new(), rows)
        .with_field(Arc::new(Field::new_list_field(DataType::Utf8, true)));
    let mut number = String::with_capacity(20);
    let offsets = rest.value_offsets();
    for row in 0..rows {
        for (text, int) in &positions {
            if int.is_valid(row) {
                number.clear();
                let _ = write!(number, "{}", int.value(row));
                out.values().append_value(&number);
            } else if text.is_valid(row) {
                out.values().append_value(text.value(row));
            } else {
                break;
            }
        }
        if rest.is_valid(row) {
            for item in offsets[row] as usize..offsets[row + 1] as usize {
                out.values()
                    .append_option(rest_items.is_valid(item).then(|| rest_items.value(item)));
            }
        }
        out.append(true);
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::prelude::SessionContext;

    async fn one(sql: &str) -> datafusion::arrow::array::ArrayRef {
        let ctx = SessionContext::new();
        crate::register(&ctx);
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        std::sync::Arc::clone(batches[0].column(0))
    }

    #[tokio::test]
    async fn ts_adds_the_microseconds_and_keeps_the_zone() {
        let out = one(
            "SELECT stored_ts(arrow_cast(t, 'Timestamp(Millisecond, Some(\"UTC\"))'), u) FROM (VALUES \
             (TIMESTAMP '2024-01-02 15:04:05.123', 456), \
             (TIMESTAMP '2024-01-02 15:04:05.123', NULL), \
             (NULL, 5)) AS v(t, u)",
        )
        .await;
        let ts = out.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
        assert_eq!(ts.timezone(), Some("UTC"));
        assert_eq!(ts.value(0), 1_704_207_845_123_456);
        assert_eq!(ts.value(1), 1_704_207_845_123_000);
        assert!(ts.is_null(2));
    }

    #[tokio::test]
    async fn ids_come_from_text_or_from_bytes_as_lowercase_hex() {
        let out = one("SELECT stored_id(t, b) FROM (VALUES \
             (NULL, X'00F067AA0BA902B7'), ('Req-42', NULL), (NULL, NULL)) AS v(t, b)")
        .await;
        let ids = out.as_string::<i32>();
        assert_eq!(ids.value(0), "00f067aa0ba902b7");
        assert_eq!(ids.value(1), "Req-42");
        assert!(ids.is_null(2));
    }

    #[tokio::test]
    async fn params_are_rebuilt_in_position_order_up_to_the_first_gap() {
        let out = one("SELECT stored_params(r, 'a', NULL, NULL, -42, p2, NULL, \
               'c', NULL, 'd', NULL, 'e', NULL, 'f', NULL, 'g', NULL) FROM (VALUES \
             (make_array('z', 'y'), 'b'), \
             (make_array(), NULL)) AS v(r, p2)")
        .await;
        let lists = out.as_list::<i32>();
        let row = |i: usize| -> Vec<String> {
            let v = lists.value(i);
            let v = v.as_string::<i32>();
            (0..v.len()).map(|j| v.value(j).to_owned()).collect()
        };
        assert_eq!(row(0), ["a", "-42", "b", "c", "d", "e", "f", "g", "z", "y"]);
        assert_eq!(row(1), ["a", "-42"]);
    }
}
