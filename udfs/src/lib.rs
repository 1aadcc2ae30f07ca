//! DataFusion user-defined functions for Logoscope analyses.
//!
//! This crate owns every UDF the `queries/*.sql` plans call — one file per
//! function under `scalar/` (and `aggregate/`, `window/` as they appear), each
//! with its [`Documentation`](datafusion::logical_expr::Documentation) and unit
//! tests — and [`register`], which installs them all on a `SessionContext`.
//! It depends on `logoscope-drain` for template rendering, on `logoscope-ingest`
//! for residual text and entry parsing, and on DataFusion; it
//! must not depend on the archive (`logoscope-store`) or on the engine, so that
//! every process that plans or executes queries (CLI, server, Ballista
//! scheduler and executors) can register the same functions by name.
//!
//! # Example
//!
//! ```
//! use datafusion::arrow::array::AsArray;
//! use datafusion::prelude::SessionContext;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> datafusion::error::Result<()> {
//! let ctx = SessionContext::new();
//! logoscope_udfs::register(&ctx);
//! let batches = ctx
//!     .sql("SELECT render_template('took <NUM> ms', ['42']) AS message")
//!     .await?
//!     .collect()
//!     .await?;
//! assert_eq!(batches[0].column(0).as_string::<i32>().value(0), "took 42 ms");
//! # Ok(())
//! # }
//! ```

pub mod rules;
pub mod scalar;

use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

/// Every scalar UDF this crate provides.
pub fn scalar_udfs() -> Vec<ScalarUDF> {
    vec![
        ScalarUDF::from(scalar::RenderTemplate::new()),
        ScalarUDF::from(scalar::RenderMessage::new()),
        ScalarUDF::from(scalar::FillResidual::new()),
        ScalarUDF::from(scalar::EntryFields::new()),
        ScalarUDF::from(scalar::StoredTs::new()),
        ScalarUDF::from(scalar::StoredId::new()),
        ScalarUDF::from(scalar::StoredParams::new()),
    ]
}

/// Registers every Logoscope UDF on `ctx`, replacing functions of the same
/// name, and the optimizer rules that go with them ([`rules`]).
pub fn register(ctx: &SessionContext) {
    for udf in scalar_udfs() {
        ctx.register_udf(udf);
    }
    ctx.remove_optimizer_rule(rules::StoredTsBounds::NAME);
    // The bounds must be added before common subexpression elimination: it
    // puts a repeated `stored_ts(ts, ts_us)` (as in `ts >= a AND ts < b`) in
    // a projection below the filter, where the rule no longer sees the call.
    // So the rule goes just before it, and the rules from there on after it.
    let later: Vec<_> = ctx
        .state()
        .optimizers()
        .iter()
        .skip_while(|rule| rule.name() != COMMON_SUBEXPR_RULE)
        .cloned()
        .collect();
    for rule in &later {
        ctx.remove_optimizer_rule(rule.name());
    }
    ctx.add_optimizer_rule(std::sync::Arc::new(rules::StoredTsBounds));
    for rule in later {
        ctx.add_optimizer_rule(rule);
    }
}

/// DataFusion's common subexpression elimination rule.
const COMMON_SUBEXPR_RULE: &str = "common_sub_expression_eliminate";
