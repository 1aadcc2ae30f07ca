//! `render_template(template, params)`: rebuilds a message from its Drain
//! template and the values the template masked.
//!
//! The archive leaves `message` null whenever this function reproduces it, so
//! the `logs` view calls it for every row whose text was not stored.

use std::sync::{Arc, LazyLock};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListArray, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::{Result, ScalarValue, exec_err, plan_err, utils::take_function_args};
use datafusion::logical_expr::scalar_doc_sections::DOC_SECTION_STRING;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility,
};

/// The `render_template` scalar UDF.
///
/// Accepts any string type for the template and any list of strings for the
/// params: both are coerced to `Utf8` / `List(Utf8)` so that data read back
/// from Parquet (where lists may name their item `element`) and data built in
/// memory go through the same kernel.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RenderTemplate {
    signature: Signature,
}

impl RenderTemplate {
    /// The name this function is registered under.
    pub const NAME: &'static str = "render_template";

    /// Creates the UDF implementation.
    pub fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl Default for RenderTemplate {
    fn default() -> Self {
        Self::new()
    }
}

static DOCUMENTATION: LazyLock<Documentation> = LazyLock::new(|| {
    Documentation::builder(
        DOC_SECTION_STRING,
        "Rebuilds a log message from its Drain template and parameters: each \
         placeholder (`<*>`, `<NUM>`, `<IP>`, …) takes the next parameter, in order. \
         Returns null when the template or the parameter list is null; a null \
         parameter renders as an empty string.",
        "render_template(template, params)",
    )
    .with_sql_example(
        "```sql\n\
         > SELECT render_template('user <*> logged in from <IP>', ['alice', '10.0.0.1']);\n\
         +---------------------------------------------------------------------------+\n\
         | render_template(Utf8(\"user <*> logged in from <IP>\"),make_array(...))   |\n\
         +---------------------------------------------------------------------------+\n\
         | user alice logged in from 10.0.0.1                                        |\n\
         +---------------------------------------------------------------------------+\n\
         ```",
    )
    .with_argument("template", "Template text as produced by Drain.")
    .with_argument(
        "params",
        "List of strings: the values the template masked, in placeholder order.",
    )
    .build()
});

pub(super) fn is_string(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null
    ) || matches!(t, DataType::Dictionary(_, v) if is_string(v))
}

/// `List(Utf8)` with the standard item name: the single params type the kernel reads.
fn params_type() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}

impl ScalarUDFImpl for RenderTemplate {
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
        let [template, params] = take_function_args(Self::NAME, arg_types)?;
        coerce_render_args(Self::NAME, template, params)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [template, params] = take_function_args(Self::NAME, args.args)?;
        match (template, params) {
            (ColumnarValue::Scalar(template), ColumnarValue::Scalar(params)) => {
                let templates = template.to_array()?;
                let params = params.to_array()?;
                let out = render_arrays(&templates, &params, 1)?;
                Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?))
            }
            // A constant side is read at index 0 for every row instead of being
            // expanded to `number_rows` copies.
            (ColumnarValue::Scalar(template), ColumnarValue::Array(params)) => {
                let rows = params.len();
                Ok(ColumnarValue::Array(render_arrays(
                    &template.to_array()?,
                    &params,
                    rows,
                )?))
            }
            (ColumnarValue::Array(templates), ColumnarValue::Scalar(params)) => {
                let rows = templates.len();
                Ok(ColumnarValue::Array(render_arrays(
                    &templates,
                    &params.to_array()?,
                    rows,
                )?))
            }
            (ColumnarValue::Array(templates), ColumnarValue::Array(params)) => {
                if templates.len() != params.len() {
                    return exec_err!(
                        "{}: argument lengths differ ({} templates, {} params)",
                        Self::NAME,
                        templates.len(),
                        params.len()
                    );
                }
                let rows = templates.len();
                Ok(ColumnarValue::Array(render_arrays(
                    &templates, &params, rows,
                )?))
            }
        }
    }

    fn documentation(&self) -> Option<&Documentation> {
        Some(&DOCUMENTATION)
    }
}

/// Coerces a template argument to `Utf8` and a params argument to a list of
/// `Utf8` (see [`RenderTemplate`]); `name` is the calling function's.
pub(super) fn coerce_render_args(
    name: &str,
    template: &DataType,
    params: &DataType,
) -> Result<Vec<DataType>> {
    if !is_string(template) {
        return plan_err!("{}: template must be a string, got {template}", name);
    }
    let params = match params {
        // Keep the caller's item field (name, nullability) when it is already
        // Utf8: casting only to rename `element` to `item` would copy every row.
        DataType::List(item) if item.data_type() == &DataType::Utf8 => params.clone(),
        DataType::List(item)
        | DataType::LargeList(item)
        | DataType::ListView(item)
        | DataType::LargeListView(item)
        | DataType::FixedSizeList(item, _)
            if is_string(item.data_type()) =>
        {
            params_type()
        }
        DataType::Null => params_type(),
        other => {
            return plan_err!("{}: params must be a list of strings, got {other}", name);
        }
    };
    Ok(vec![DataType::Utf8, params])
}

/// Renders `rows` messages. An input of length 1 is broadcast to every row.
pub(super) fn render_arrays(
    templates: &ArrayRef,
    params: &ArrayRef,
    rows: usize,
) -> Result<ArrayRef> {
    let templates = as_utf8(templates)?;
    let params = as_utf8_list(params)?;
    let (Some(templates), Some(params)) = (templates, params) else {
        // A null-typed argument makes every row null.
        return Ok(Arc::new(StringArray::new_null(rows)));
    };
    let values = params.values().as_string_opt::<i32>().ok_or_else(|| {
        datafusion::common::exec_datafusion_err!(
            "{}: params items must be Utf8, got {}",
            RenderTemplate::NAME,
            params.values().data_type()
        )
    })?;
    let offsets = params.value_offsets();
    let pick = |len: usize, row: usize| if len == 1 { 0 } else { row };

    let mut out = StringBuilder::with_capacity(rows, templates.value_data().len());
    // One buffer for every row: the builder copies out of it, so no per-row allocation.
    let mut buf = String::new();
    for row in 0..rows {
        let t = pick(templates.len(), row);
        let p = pick(params.len(), row);
        if templates.is_null(t) || params.is_null(p) {
            out.append_null();
            continue;
        }
        let (start, end) = (offsets[p] as usize, offsets[p + 1] as usize);
        let mut items = (start..end).map(|i| {
            if values.is_null(i) {
                ""
            } else {
                values.value(i)
            }
        });
        buf.clear();
        logoscope_drain::render_into(templates.value(t), &mut items, &mut buf);
        out.append_value(&buf);
    }
    Ok(Arc::new(out.finish()))
}

/// `None` for a `Null`-typed array (an untyped SQL `NULL` literal).
fn as_utf8(array: &ArrayRef) -> Result<Option<&StringArray>> {
    match array.data_type() {
        DataType::Null => Ok(None),
        DataType::Utf8 => Ok(Some(array.as_string::<i32>())),
        other => exec_err!(
            "{}: template must be Utf8 after coercion, got {other}",
            RenderTemplate::NAME
        ),
    }
}

fn as_utf8_list(array: &ArrayRef) -> Result<Option<&ListArray>> {
    match array.data_type() {
        DataType::Null => Ok(None),
        DataType::List(_) => Ok(Some(array.as_list::<i32>())),
        other => exec_err!(
            "{}: params must be List(Utf8) after coercion, got {other}",
            RenderTemplate::NAME
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use datafusion::arrow::array::{LargeListArray, ListBuilder, StringBuilder};
    use datafusion::arrow::buffer::OffsetBuffer;
    use datafusion::arrow::datatypes::Field;
    use datafusion::config::ConfigOptions;
    use datafusion::logical_expr::ScalarUDF;
    use datafusion::prelude::SessionContext;

    fn list(rows: Vec<Option<Vec<Option<&str>>>>) -> ListArray {
        let mut b = ListBuilder::new(StringBuilder::new());
        for row in rows {
            match row {
                Some(items) => {
                    for item in items {
                        b.values().append_option(item);
                    }
                    b.append(true);
                }
                None => b.append(false),
            }
        }
        b.finish()
    }

    fn invoke(template: ColumnarValue, params: ColumnarValue, rows: usize) -> ColumnarValue {
        let arg_fields = vec![
            Arc::new(Field::new("template", DataType::Utf8, true)),
            Arc::new(Field::new("params", params_type(), true)),
        ];
        RenderTemplate::new()
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![template, params],
                arg_fields,
                number_rows: rows,
                return_field: Arc::new(Field::new("out", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .expect("invoke")
    }

    fn strings(value: ColumnarValue) -> Vec<Option<String>> {
        let array = value.into_array(1).expect("array");
        array
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_owned))
            .collect()
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn array_templates_and_array_params() {
        let templates: ArrayRef = Arc::new(StringArray::from(vec![
            Some("user <*> from <IP>"),
            Some("took <NUM> ms"),
            None,
            Some("no placeholders"),
        ]));
        let params: ArrayRef = Arc::new(list(vec![
            Some(vec![Some("alice"), Some("10.0.0.1")]),
            Some(vec![Some("42")]),
            Some(vec![Some("x")]),
            Some(vec![]),
        ]));
        let out = invoke(
            ColumnarValue::Array(templates),
            ColumnarValue::Array(params),
            4,
        );
        assert_eq!(
            strings(out),
            vec![
                some("user alice from 10.0.0.1"),
                some("took 42 ms"),
                None,
                some("no placeholders"),
            ]
        );
    }

    #[test]
    fn agrees_with_drain_render() {
        let template = "GET <PATH> -> <NUM> in <*>";
        let values = ["/api/v1/users", "200", "3.5ms"];
        let params: ArrayRef = Arc::new(list(vec![Some(values.map(Some).to_vec())]));
        let out = invoke(
            ColumnarValue::Scalar(ScalarValue::from(template)),
            ColumnarValue::Array(params),
            1,
        );
        assert_eq!(
            strings(out),
            vec![Some(logoscope_drain::render(template, &values))]
        );
    }

    #[test]
    fn scalar_template_is_broadcast_over_params() {
        let params: ArrayRef = Arc::new(list(vec![
            Some(vec![Some("1")]),
            None,
            Some(vec![Some("3")]),
        ]));
        let out = invoke(
            ColumnarValue::Scalar(ScalarValue::from("n=<NUM>")),
            ColumnarValue::Array(params),
            3,
        );
        assert_eq!(strings(out), vec![some("n=1"), None, some("n=3")]);
    }

    #[test]
    fn scalar_params_are_broadcast_over_templates() {
        let templates: ArrayRef = Arc::new(StringArray::from(vec!["a=<*>", "b=<*>"]));
        let params = ScalarValue::List(Arc::new(list(vec![Some(vec![Some("7")])])));
        let out = invoke(
            ColumnarValue::Array(templates),
            ColumnarValue::Scalar(params),
            2,
        );
        assert_eq!(strings(out), vec![some("a=7"), some("b=7")]);
    }

    #[test]
    fn scalar_scalar_returns_a_scalar() {
        let params = ScalarValue::List(Arc::new(list(vec![Some(vec![Some("7")])])));
        let out = invoke(
            ColumnarValue::Scalar(ScalarValue::from("a=<*>")),
            ColumnarValue::Scalar(params),
            5,
        );
        match out {
            ColumnarValue::Scalar(ScalarValue::Utf8(s)) => assert_eq!(s.as_deref(), Some("a=7")),
            other => panic!("expected a Utf8 scalar, got {other:?}"),
        }
    }

    #[test]
    fn nulls_propagate_and_null_items_render_empty() {
        let templates: ArrayRef = Arc::new(StringArray::from(vec![Some("[<*>]"), Some("[<*>]")]));
        let params: ArrayRef = Arc::new(list(vec![Some(vec![None]), None]));
        let out = invoke(
            ColumnarValue::Array(templates),
            ColumnarValue::Array(params),
            2,
        );
        assert_eq!(strings(out), vec![some("[]"), None]);

        let out = invoke(
            ColumnarValue::Scalar(ScalarValue::Utf8(None)),
            ColumnarValue::Array(Arc::new(list(vec![Some(vec![Some("x")])]))),
            1,
        );
        assert_eq!(strings(out), vec![None]);
    }

    #[test]
    fn sliced_inputs_read_the_right_rows() {
        let templates: ArrayRef = Arc::new(StringArray::from(vec!["x=<*>", "y=<*>", "z=<*>"]));
        let params = list(vec![
            Some(vec![Some("1")]),
            Some(vec![Some("2")]),
            Some(vec![Some("3")]),
        ]);
        let out = invoke(
            ColumnarValue::Array(templates.slice(1, 2)),
            ColumnarValue::Array(Arc::new(params.slice(1, 2))),
            2,
        );
        assert_eq!(strings(out), vec![some("y=2"), some("z=3")]);
    }

    #[test]
    fn mismatched_lengths_are_an_error_not_a_panic() {
        let templates: ArrayRef = Arc::new(StringArray::from(vec!["a", "b"]));
        let params: ArrayRef = Arc::new(list(vec![Some(vec![])]));
        let err = RenderTemplate::new()
            .invoke_with_args(ScalarFunctionArgs {
                args: vec![
                    ColumnarValue::Array(templates),
                    ColumnarValue::Array(params),
                ],
                arg_fields: vec![],
                number_rows: 2,
                return_field: Arc::new(Field::new("out", DataType::Utf8, true)),
                config_options: Arc::new(ConfigOptions::default()),
            })
            .unwrap_err();
        assert!(err.to_string().contains("lengths differ"), "{err}");
    }

    #[test]
    fn coercion_accepts_string_lists_and_rejects_others() {
        let udf = RenderTemplate::new();
        let element = DataType::List(Arc::new(Field::new("element", DataType::Utf8, true)));
        assert_eq!(
            udf.coerce_types(&[DataType::Utf8View, element.clone()])
                .unwrap(),
            vec![DataType::Utf8, element]
        );
        let large = DataType::LargeList(Arc::new(Field::new_list_field(DataType::LargeUtf8, true)));
        assert_eq!(
            udf.coerce_types(&[DataType::Utf8, large]).unwrap(),
            vec![DataType::Utf8, params_type()]
        );
        assert!(udf.coerce_types(&[DataType::Int64, params_type()]).is_err());
        assert!(udf.coerce_types(&[DataType::Utf8, DataType::Utf8]).is_err());
        assert!(udf.coerce_types(&[DataType::Utf8]).is_err());
    }

    #[test]
    fn documented() {
        let doc = RenderTemplate::new().documentation().cloned().expect("doc");
        assert_eq!(doc.syntax_example, "render_template(template, params)");
        assert_eq!(doc.arguments.map(|a| a.len()), Some(2));
    }

    #[tokio::test]
    async fn from_sql_with_literals_and_large_lists() {
        let ctx = SessionContext::new();
        ctx.register_udf(ScalarUDF::from(RenderTemplate::new()));

        let batch = ctx
            .sql(
                "SELECT render_template(t, p) AS m FROM (VALUES \
                   ('user <*> from <IP>', ['bob', '::1']), \
                   (NULL, ['x'])) AS v(t, p)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let got: Vec<_> = batch[0].column(0).as_string::<i32>().iter().collect();
        assert_eq!(got, vec![Some("user bob from ::1"), None]);

        let large: ArrayRef = Arc::new(LargeListArray::new(
            Arc::new(Field::new_list_field(DataType::Utf8, true)),
            OffsetBuffer::from_lengths([1]),
            Arc::new(StringArray::from(vec!["9"])),
            None,
        ));
        let batch =
            datafusion::arrow::record_batch::RecordBatch::try_from_iter([("p", large)]).unwrap();
        ctx.register_batch("t", batch).unwrap();
        let out = ctx
            .sql("SELECT render_template('v=<NUM>', p) FROM t")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(out[0].column(0).as_string::<i32>().value(0), "v=9");

        let err = ctx
            .sql("SELECT render_template(1, ['a'])")
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("template must be a string"),
            "{err}"
        );
    }
}
