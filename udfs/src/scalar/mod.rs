//! Scalar UDFs: one row in, one value out.

mod entry_fields;
mod fill_residual;
mod render_message;
mod render_template;
mod stored_columns;

use datafusion::arrow::array::ArrayRef;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs};

pub use entry_fields::EntryFields;
pub use fill_residual::FillResidual;
pub use render_message::RenderMessage;
pub use render_template::RenderTemplate;
pub use stored_columns::{StoredId, StoredParams, StoredTs};

/// Runs `f` on the arguments as arrays; a scalar result when every argument was one.
pub(crate) fn invoke(
    args: &ScalarFunctionArgs,
    f: impl Fn(&[ArrayRef]) -> Result<ArrayRef>,
) -> Result<ColumnarValue> {
    let scalar = args
        .args
        .iter()
        .all(|a| matches!(a, ColumnarValue::Scalar(_)));
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    let out = f(&arrays)?;
    if scalar {
        return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?));
    }
    Ok(ColumnarValue::Array(out))
}
