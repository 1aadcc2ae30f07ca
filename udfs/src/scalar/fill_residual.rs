//! `fill_residual(residual, ts, message, trace_id, span_id, parent_span_id)`:
//! rebuilds a stored header or entry text from its residual.
//!
//! The archive stores `header` and `raw` with holes where the row's time,
//! message and ids were (see `logoscope_ingest::residual`); this fills them
//! back, byte for byte. The `logs` view calls it for both columns.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{Result, plan_err, utils::take_function_args};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_STRING;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use logoscope_ingest::residual::{self, HoleValues};

use super::invoke;
use super::render_template::is_string;

/// The `fill_residual` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct FillResidual {
    signature: Signature,
}

impl FillResidual {
    /// The name this function is registered under.
    pub const NAME: &'static str = "fill_residual";

    /// Creates the UDF implementation.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for FillResidual {
    fn default() -> Self {
        Self::new()
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STRING,
        "Rebuilds a stored `header` or `raw` text from its residual: each hole \
         (`\\x01M` message, `\\x01T`/`\\x01S`/`\\x01P` trace, span and parent span \
         id, `\\x01t` + format the time) is filled from the row's columns and \
         `\\x01\\x01` becomes one SOH byte. Null when the residual is null, or \
         when a hole has no value (a damaged row).",
        "fill_residual(residual, ts, message, trace_id, span_id, parent_span_id)",
    )
    .with_argument("residual", "The stored text with holes.")
    .with_argument("ts", "The row's time (timestamp, µs).")
    .with_argument("message", "The row's full message.")
    .with_argument("trace_id", "The row's trace id.")
    .with_argument("span_id", "The row's span id.")
    .with_argument("parent_span_id", "The row's parent span id.")
    .build()
});

impl ScalarUDFImpl for FillResidual {
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
        let [residual, ts, message, trace, span, parent] =
            take_function_args(Self::NAME, arg_types)?;
        let ts = match ts {
            DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
            DataType::Null | DataType::Int64 => DataType::Timestamp(TimeUnit::Microsecond, None),
            other => return plan_err!("{}: ts must be a timestamp, got {other}", Self::NAME),
        };
        for (name, t) in [
            ("residual", residual),
            ("message", message),
            ("trace_id", trace),
            ("span_id", span),
            ("parent_span_id", parent),
        ] {
            if !is_string(t) {
                return plan_err!("{}: {name} must be a string, got {t}", Self::NAME);
            }
        }
        let s = DataType::Utf8;
        Ok(vec![s.clone(), ts, s.clone(), s.clone(), s.clone(), s])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke(&args, fill)
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

fn get(a: Option<&StringArray>, row: usize) -> Option<&str> {
    a.filter(|a| a.is_valid(row)).map(|a| a.value(row))
}

fn strings(a: &ArrayRef) -> Option<&StringArray> {
    (a.data_type() == &DataType::Utf8).then(|| a.as_string::<i32>())
}

fn fill(arrays: &[ArrayRef]) -> Result<ArrayRef> {
    let [residual, ts, message, trace, span, parent] =
        take_function_args(FillResidual::NAME, arrays)?;
    let rows = residual.len();
    let Some(residual) = strings(residual) else {
        return Ok(Arc::new(StringArray::new_null(rows)));
    };
    let ts = ts.as_primitive_opt::<TimestampMicrosecondType>();
    let (message, trace, span, parent) = (
        strings(message),
        strings(trace),
        strings(span),
        strings(parent),
    );
    let mut out = StringBuilder::with_capacity(rows, residual.value_data().len() * 2);
    let mut buf = String::new();
    for row in 0..rows {
        if residual.is_null(row) {
            out.append_null();
            continue;
        }
        let values = HoleValues {
            ts: ts.filter(|t| t.is_valid(row)).map(|t| t.value(row)),
            message: get(message, row),
            trace_id: get(trace, row),
            span_id: get(span, row),
            parent_span_id: get(parent, row),
        };
        buf.clear();
        match residual::decode(residual.value(row), &values, &mut buf) {
            Ok(()) => out.append_value(&buf),
            Err(_) => out.append_null(),
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn holes_are_filled_from_the_row() {
        let ctx = SessionContext::new();
        crate::register(&ctx);
        let sql = "SELECT fill_residual(r, ts, m, t, s, p) AS x FROM (VALUES \
            ('\u{1}tI3Z INFO \u{1}M', TIMESTAMP '2026-03-02T00:00:00.079Z', 'hi', NULL, NULL, NULL), \
            ('{\"ts\":\u{1}tEm-,\"trace\":\"\u{1}T\",\"span\":\"\u{1}S\",\"p\":\"\u{1}P\"}', TIMESTAMP '2026-03-02T00:00:02.478Z', NULL, 'a', 'b', 'c'), \
            ('soh \u{1}\u{1} kept', NULL, NULL, NULL, NULL, NULL), \
            ('\u{1}M without a message', NULL, NULL, NULL, NULL, NULL), \
            (NULL, NULL, 'm', NULL, NULL, NULL)) AS v(r, ts, m, t, s, p)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let x = batches[0].column(0).as_string::<i32>();
        assert_eq!(x.value(0), "2026-03-02T00:00:00.079Z INFO hi");
        assert_eq!(
            x.value(1),
            "{\"ts\":1772409602478,\"trace\":\"a\",\"span\":\"b\",\"p\":\"c\"}"
        );
        assert_eq!(x.value(2), "soh \u{1} kept");
        assert!(
            x.is_null(3),
            "a hole without its value is null, not a guess"
        );
        assert!(x.is_null(4));
    }
}
