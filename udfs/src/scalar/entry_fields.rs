//! `entry_fields(raw)`: the structured fields of an entry text, as ingest
//! extracts them with the default options.
//!
//! The archive leaves `fields` null when a parse of the entry text gives it
//! back (see `IngestOptions::derive_text`); the `logs` view calls this for
//! those rows.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, ScalarValue, plan_err, utils::take_function_args};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_STRING;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use logoscope_ingest::residual;

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
         without the keys promoted to columns. Null when the entry has none.",
        "entry_fields(raw)",
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
        let [raw] = take_function_args(Self::NAME, arg_types)?;
        if !is_string(raw) {
            return plan_err!("{}: raw must be a string, got {raw}", Self::NAME);
        }
        Ok(vec![DataType::Utf8])
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [raw] = take_function_args(Self::NAME, args.args)?;
        let scalar = matches!(raw, ColumnarValue::Scalar(_));
        let raw = raw.into_array(1)?;
        let out: ArrayRef = if raw.data_type() == &DataType::Utf8 {
            let raw = raw.as_string::<i32>();
            let mut out = StringBuilder::with_capacity(raw.len(), raw.value_data().len() / 2);
            for row in 0..raw.len() {
                out.append_option(
                    raw.is_valid(row)
                        .then(|| residual::derived_fields(raw.value(row)))
                        .flatten(),
                );
            }
            Arc::new(out.finish())
        } else {
            Arc::new(StringArray::new_null(raw.len()))
        };
        if scalar {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
        }
        Ok(ColumnarValue::Array(out))
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
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
}
