//! `entry_fields(raw)`: the structured fields of an entry text, as ingest
//! extracts them with the default options; `entry_fields(raw, ts, level,
//! message, service, host, trace_id, span_id, parent_span_id)`: those of a
//! row whose `fields` the archive left out.
//!
//! The archive leaves `fields` null when a parse of the entry text gives it
//! back (see `IngestOptions::derive_text`); the `logs` view calls the second
//! form for those rows, which keeps a key in `fields` unless the row's column
//! holds its value (`logoscope_ingest::residual::derived_fields`), so rows
//! written by older parsing rules lose nothing.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, plan_err};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_STRING;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use logoscope_ingest::residual;

use super::invoke;
use super::render_template::is_string;

/// The `entry_fields` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct EntryFields {
    signature: Signature,
}

impl EntryFields {
    /// The name this function is registered under.
    pub const NAME: &'static str = "entry_fields";

    /// Creates the UDF implementation.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for EntryFields {
    fn default() -> Self {
        Self::new()
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STRING,
        "Parses one log entry's text the way `logoscope ingest` does with default \
         options and returns its structured fields (JSON keys flattened to dotted \
         names, logfmt pairs, syslog and access-log parts) as JSON object text, \
         without the keys promoted to columns. Null when the entry has none. \
         Given a row's columns too, a key leaves the fields only when its column \
         holds its value: what the `logs` view shows for rows whose fields the \
         archive left out.",
        "entry_fields(raw [, ts, level, message, service, host, trace_id, span_id, parent_span_id])",
    )
    .with_sql_example(
        "```sql\n\
         > SELECT entry_fields('{\"msg\":\"hi\",\"user\":{\"id\":7}}');\n\
         {\"user.id\":7}\n\
         ```",
    )
    .with_argument("raw", "The entry text.")
    .build()
});

impl ScalarUDFImpl for EntryFields {
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
        let names = COLUMNS.iter().skip(1);
        match arg_types {
            [raw] if is_string(raw) => Ok(vec![DataType::Utf8]),
            [raw, ts, rest @ ..] if rest.len() == COLUMNS.len() - 2 => {
                let ts = match ts {
                    DataType::Timestamp(_, tz) => {
                        DataType::Timestamp(TimeUnit::Microsecond, tz.clone())
                    }
                    DataType::Null | DataType::Int64 => {
                        DataType::Timestamp(TimeUnit::Microsecond, None)
                    }
                    other => {
                        return plan_err!("{}: ts must be a timestamp, got {other}", Self::NAME);
                    }
                };
                for (name, t) in names.skip(1).zip(rest).chain([(&"raw", raw)]) {
                    if !is_string(t) {
                        return plan_err!("{}: {name} must be a string, got {t}", Self::NAME);
                    }
                }
                let mut types = vec![DataType::Utf8; COLUMNS.len()];
                types[1] = ts;
                Ok(types)
            }
            _ => plan_err!(
                "{}: takes raw, or raw and the row's {}",
                Self::NAME,
                COLUMNS[1..].join(", ")
            ),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke(&args, fields)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// The arguments of the long form, in order.
const COLUMNS: [&str; 9] = [
    "raw",
    "ts",
    "level",
    "message",
    "service",
    "host",
    "trace_id",
    "span_id",
    "parent_span_id",
];

fn strings(a: &ArrayRef) -> Option<&StringArray> {
    (a.data_type() == &DataType::Utf8).then(|| a.as_string::<i32>())
}

fn get(a: Option<&StringArray>, row: usize) -> Option<&str> {
    a.filter(|a| a.is_valid(row)).map(|a| a.value(row))
}

fn fields(arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let rows = arrays.first().map_or(0, |a| a.len());
    let Some(raw) = arrays.first().and_then(strings) else {
        return Ok(Arc::new(StringArray::new_null(rows)));
    };
    let mut out = StringBuilder::with_capacity(rows, raw.value_data().len() / 2);
    if let [_] = arrays {
        for row in 0..rows {
            out.append_option(get(Some(raw), row).and_then(residual::parsed_fields));
        }
        return Ok(Arc::new(out.finish()));
    }
    let [_, ts, text @ ..] = arrays else {
        return plan_err!(
            "{}: takes raw, or raw and the row's columns",
            EntryFields::NAME
        );
    };
    let ts = ts.as_primitive_opt::<TimestampMicrosecondType>();
    let text: Vec<Option<&StringArray>> = text.iter().map(strings).collect();
    let [
        level,
        message,
        service,
        host,
        trace_id,
        span_id,
        parent_span_id,
    ] = text[..]
    else {
        return plan_err!(
            "{}: takes raw, or raw and the row's columns",
            EntryFields::NAME
        );
    };
    for row in 0..rows {
        let Some(text) = get(Some(raw), row) else {
            out.append_null();
            continue;
        };
        let columns = residual::RowColumns {
            ts: ts.filter(|t| t.is_valid(row)).map(|t| t.value(row)),
            level: get(level, row),
            message: get(message, row),
            service: get(service, row),
            host: get(host, row),
            trace_id: get(trace_id, row),
            span_id: get(span_id, row),
            parent_span_id: get(parent_span_id, row),
        };
        out.append_option(residual::derived_fields(text, &columns));
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn fields_come_from_a_parse_of_the_text() {
        let ctx = SessionContext::new();
        crate::register(&ctx);
        let sql = "SELECT entry_fields(r) AS f FROM (VALUES \
            ('{\"msg\":\"hi\",\"service\":\"a\",\"user\":{\"id\":7}}'), \
            ('ts=2024-01-02T15:04:08Z msg=x key=k1'), \
            ('plain text'), (NULL)) AS v(r)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let f = batches[0].column(0).as_string::<i32>();
        assert_eq!(f.value(0), "{\"user.id\":7}");
        assert_eq!(f.value(1), "{\"key\":\"k1\"}");
        assert!(f.is_null(2));
        assert!(f.is_null(3));
    }

    /// Given the row's columns, a key whose value no column holds stays.
    #[tokio::test]
    async fn with_the_row_a_key_leaves_only_for_its_column() {
        let ctx = SessionContext::new();
        crate::register(&ctx);
        let sql = "SELECT entry_fields(r, ts, NULL, m, NULL, NULL, NULL, NULL, NULL) AS f FROM (VALUES \
            ('{\"time\":\"2024-03-01 10:00:00 UTC\",\"msg\":\"x\"}', CAST(NULL AS TIMESTAMP), 'x'), \
            ('{\"time\":\"2024-03-01 10:00:00 UTC\",\"msg\":\"x\",\"k\":1}', TIMESTAMP '2024-03-01T10:00:00Z', 'x')) \
            AS v(r, ts, m)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let f = batches[0].column(0).as_string::<i32>();
        assert_eq!(f.value(0), "{\"time\":\"2024-03-01 10:00:00 UTC\"}");
        assert_eq!(f.value(1), "{\"k\":1}");
        let err = ctx.sql("SELECT entry_fields('a', 'b')").await.unwrap_err();
        assert!(
            err.to_string()
                .contains("takes raw, or raw and the row's ts"),
            "{err}"
        );
    }
}
