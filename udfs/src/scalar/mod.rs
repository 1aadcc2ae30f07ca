//! Scalar UDFs: one row in, one value out.

mod render_template;

pub use render_template::RenderTemplate;
