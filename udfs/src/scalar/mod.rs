//! Scalar UDFs: one row in, one value out.

mod entry_fields;
mod fill_residual;
mod render_message;
mod render_template;
mod stored_columns;

pub use entry_fields::EntryFields;
pub use fill_residual::FillResidual;
pub use render_message::RenderMessage;
pub use render_template::RenderTemplate;
pub use stored_columns::{StoredId, StoredParams, StoredTs};
