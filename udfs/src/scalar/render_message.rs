//! `render_message(template, params, raw)`: rebuilds a stored row's message.
//!
//! Like `render_template`, and for a row whose entry text has a message hole
//! (a JSON or logfmt entry: its Drain input was the message plus its key
//! shape, `msg {k1,k2}`) the shape is cut back out of the rendering. The
//! `logs` view calls it for every row whose `message` was left null.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{Result, plan_err, utils::take_function_args};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_STRING;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};
use logoscope_ingest::residual;

use super::invoke;
use super::render_template::{coerce_render_args, is_string, render_arrays};

/// The `render_message` scalar UDF.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RenderMessage {
    signature: Signature,
}

impl RenderMessage {
    /// The name this function is registered under.
    pub const NAME: &'static str = "render_message";

    /// Creates the UDF implementation.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for RenderMessage {
    fn default() -> Self {
        Self::new()
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STRING,
        "Rebuilds a stored row's message from its Drain template and parameters, \
         as `render_template` does; when the row's stored entry text `raw` has a \
         message hole (JSON and logfmt entries), the key shape ` {k1,k2}` that \
         ends the first line of the rendering is cut off. Null when the template \
         or params are null.",
        "render_message(template, params, raw)",
    )
    .with_sql_example(
        "```sql\n\
         > SELECT render_message('login <*> {user}', ['ok'], '{\"msg\":\"\\x01M\"}');\n\
         login ok\n\
         ```",
    )
    .with_argument("template", "Template text as produced by Drain.")
    .with_argument("params", "List of strings: the masked values, in order.")
    .with_argument("raw", "The stored (residual) entry text, or null.")
    .build()
});

impl ScalarUDFImpl for RenderMessage {
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
        let [template, params, raw] = take_function_args(Self::NAME, arg_types)?;
        if !is_string(raw) {
            return plan_err!("{}: raw must be a string, got {raw}", Self::NAME);
        }
        let mut types = coerce_render_args(Self::NAME, template, params)?;
        types.push(DataType::Utf8);
        Ok(types)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        invoke(&args, |arrays| {
            let [templates, params, raw] = take_function_args(Self::NAME, arrays)?;
            let rendered = render_arrays(templates, params, templates.len())?;
            cut_shapes(&rendered, raw)
        })
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// Cuts the shape from each rendering whose `raw` has a message hole.
fn cut_shapes(rendered: &ArrayRef, raw: &ArrayRef) -> Result<ArrayRef> {
    let rendered = rendered.as_string::<i32>();
    if raw.data_type() == &DataType::Null || raw.null_count() == raw.len() {
        return Ok(Arc::new(rendered.clone()));
    }
    let raw = raw.as_string::<i32>();
    let mut out = StringBuilder::with_capacity(rendered.len(), rendered.value_data().len());
    let mut buf = String::new();
    for row in 0..rendered.len() {
        if rendered.is_null(row) {
            out.append_null();
            continue;
        }
        let text = rendered.value(row);
        let holed = raw.is_valid(row) && residual::has_message_hole(raw.value(row));
        match holed.then(|| residual::shape_range(text)).flatten() {
            Some(cut) => {
                buf.clear();
                buf.push_str(&text[..cut.start]);
                buf.push_str(&text[cut.end..]);
                out.append_value(&buf);
            }
            None => out.append_value(text),
        }
    }
    Ok(Arc::new(out.finish()))
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn shapes_are_cut_only_for_rows_with_a_message_hole() {
        let ctx = SessionContext::new();
        crate::register(&ctx);
        let sql = "SELECT render_message(t, p, r) AS m FROM (VALUES \
            ('login <*> {user}', ['ok'], '{\"msg\":\"\u{1}M\",\"user\":1}'), \
            ('login <*> {user}', ['ok'], NULL), \
            ('boom {a}', [], 'x=1 msg=\"\u{1}\u{1}M\"'), \
            ('{a}', [], '{\"msg\":\"\u{1}M\",\"a\":1}'), \
            (NULL, ['x'], '\u{1}M')) AS v(t, p, r)";
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let m = batches[0].column(0).as_string::<i32>();
        assert_eq!(m.value(0), "login ok");
        assert_eq!(m.value(1), "login ok {user}");
        assert_eq!(m.value(2), "boom {a}", "an escaped SOH is not a hole");
        assert_eq!(m.value(3), "");
        assert!(m.is_null(4));
    }
}
