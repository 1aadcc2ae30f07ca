//! Optimizer rules that keep filters on rebuilt columns cheap.
//!
//! [`StoredTsBounds`]: the `logs` view's `ts` is `stored_ts(ts, ts_us)`, the
//! stored millisecond time plus the microseconds within it, so a filter on
//! it cannot be checked against the stored column's statistics as it is.
//! The rule adds, beside each comparison of `stored_ts(ts, ts_us)` with a
//! constant, the comparison of the stored `ts` that it implies, which file
//! and row-group pruning can use. The original filter stays, so results do
//! not change.

use std::sync::Arc;

use datafusion::common::tree_node::Transformed;
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{BinaryExpr, Expr, Filter, LogicalPlan, Operator};
use datafusion::optimizer::{ApplyOrder, OptimizerConfig, OptimizerRule};

use crate::scalar::StoredTs;

/// Adds the stored-`ts` bounds that filters on `stored_ts(ts, ts_us)` imply.
#[derive(Debug, Default)]
pub struct StoredTsBounds;

impl StoredTsBounds {
    /// The name the rule is registered under.
    pub const NAME: &'static str = "logoscope_stored_ts_bounds";
}

impl OptimizerRule for StoredTsBounds {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn apply_order(&self) -> Option<ApplyOrder> {
        Some(ApplyOrder::BottomUp)
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        let LogicalPlan::Filter(filter) = plan else {
            return Ok(Transformed::no(plan));
        };
        let conjuncts = split_conjunction(&filter.predicate);
        let mut implied: Vec<Expr> = Vec::new();
        for bound in conjuncts.iter().filter_map(|c| implied_bound(c)) {
            // Once added, a bound is a conjunct of its own: the optimizer's
            // repeated passes reach a fixed point.
            if !conjuncts.contains(&&bound) && !implied.contains(&bound) {
                implied.push(bound);
            }
        }
        if implied.is_empty() {
            return Ok(Transformed::no(LogicalPlan::Filter(filter)));
        }
        let predicate = conjunction(std::iter::once(filter.predicate.clone()).chain(implied))
            .unwrap_or_else(|| unreachable!("at least one conjunct"));
        Ok(Transformed::yes(LogicalPlan::Filter(Filter::try_new(
            predicate,
            Arc::clone(&filter.input),
        )?)))
    }
}

/// The condition on the stored time that `expr` implies, when `expr`
/// compares `stored_ts(ts, ts_us)` with a microsecond timestamp constant or
/// tests it for null.
///
/// `stored_ts(ts, ts_us)` is `ts + ts_us` with `0 <= ts_us < 1 ms`, so:
/// `> x` and `>= x` imply `ts > x - 1 ms`; `< x` implies `ts < x`; `<= x`
/// implies `ts <= x`; `= x` implies both `ts > x - 1 ms` and `ts <= x`.
/// It is null exactly when `ts` is, so `IS [NOT] NULL` carries over.
fn implied_bound(expr: &Expr) -> Option<Expr> {
    let stored = |e: &Expr| match e {
        Expr::ScalarFunction(call) if call.name() == StoredTs::NAME => match call.args.as_slice() {
            [ts, _us] => Some(ts.clone()),
            _ => None,
        },
        _ => None,
    };
    let (left, op, right) = match expr {
        Expr::IsNull(inner) => return stored(inner).map(Expr::is_null),
        Expr::IsNotNull(inner) => return stored(inner).map(Expr::is_not_null),
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => (left, op, right),
        _ => return None,
    };
    let (call, op, constant) = match (left.as_ref(), right.as_ref()) {
        (Expr::ScalarFunction(call), Expr::Literal(v, _)) => (call, *op, v),
        (Expr::Literal(v, _), Expr::ScalarFunction(call)) => (call, op.swap()?, v),
        _ => return None,
    };
    if call.name() != StoredTs::NAME {
        return None;
    }
    let [ts, _us] = call.args.as_slice() else {
        return None;
    };
    let ScalarValue::TimestampMicrosecond(Some(x), tz) = constant else {
        return None;
    };
    let at = |v: i64| Expr::Literal(ScalarValue::TimestampMicrosecond(Some(v), tz.clone()), None);
    let after = |v: i64| ts.clone().gt(at(v.saturating_sub(1000)));
    match op {
        Operator::Gt | Operator::GtEq => Some(after(*x)),
        Operator::Lt => Some(ts.clone().lt(at(*x))),
        Operator::LtEq => Some(ts.clone().lt_eq(at(*x))),
        Operator::Eq => Some(after(*x).and(ts.clone().lt_eq(at(*x)))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int16Array, RecordBatch, TimestampMicrosecondArray};
    use datafusion::arrow::util::pretty::pretty_format_batches;
    use datafusion::catalog::MemTable;
    use datafusion::prelude::SessionContext;

    /// Times around a millisecond boundary, and the filters to try on them.
    async fn context() -> SessionContext {
        // As the archive gives it: whole milliseconds in a microsecond column.
        let ms = TimestampMicrosecondArray::from(vec![
            Some(999_000),
            Some(1_000_000),
            Some(1_000_000),
            None,
        ])
        .with_timezone("UTC");
        let us = Int16Array::from(vec![Some(999), None, Some(1), Some(5)]);
        let batch = RecordBatch::try_from_iter([
            ("ts", Arc::new(ms) as ArrayRef),
            ("ts_us", Arc::new(us) as ArrayRef),
        ])
        .unwrap();
        let ctx = SessionContext::new();
        crate::register(&ctx);
        let table = MemTable::try_new(batch.schema(), vec![vec![batch]]).unwrap();
        ctx.register_table("s", Arc::new(table)).unwrap();
        ctx.sql("CREATE VIEW v AS SELECT stored_ts(ts, ts_us) AS ts FROM s")
            .await
            .unwrap();
        ctx
    }

    #[tokio::test]
    async fn filters_on_the_rebuilt_time_gain_a_stored_bound_and_keep_their_results() {
        let ctx = context().await;
        // µs since the epoch: 999_999, 1_000_000, 1_000_001.
        for (filter, expected) in [
            (
                "ts > arrow_cast(1000000, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                1,
            ),
            (
                "ts >= arrow_cast(1000000, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                2,
            ),
            (
                "ts < arrow_cast(1000000, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                1,
            ),
            (
                "ts <= arrow_cast(1000000, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                2,
            ),
            (
                "ts = arrow_cast(1000001, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                1,
            ),
            (
                "ts = arrow_cast(999999, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                1,
            ),
            (
                "arrow_cast(999999, 'Timestamp(Microsecond, Some(\"UTC\"))') < ts",
                2,
            ),
        ] {
            let sql = format!("SELECT count(*) AS n FROM v WHERE {filter}");
            let df = ctx.sql(&sql).await.unwrap();
            let plan = df.clone().into_optimized_plan().unwrap();
            let text = format!("{}", plan.display_indent());
            assert!(
                text.contains("s.ts >") || text.contains("s.ts <"),
                "{filter}: no stored bound in\n{text}"
            );
            let batches = df.collect().await.unwrap();
            let n = pretty_format_batches(&batches).unwrap().to_string();
            assert!(
                n.contains(&format!("| {expected} ")),
                "{filter}: expected {expected}\n{n}"
            );
        }
    }

    /// A range names `stored_ts(ts, ts_us)` twice, which common subexpression
    /// elimination would move out of the filter: both bounds still arrive.
    #[tokio::test]
    async fn both_ends_of_a_time_range_gain_a_stored_bound() {
        let ctx = context().await;
        let at = |us: i64| format!("arrow_cast({us}, 'Timestamp(Microsecond, Some(\"UTC\"))')");
        let sql = format!(
            "SELECT count(*) AS n FROM v WHERE ts >= {} AND ts < {}",
            at(1_000_000),
            at(1_000_001)
        );
        let df = ctx.sql(&sql).await.unwrap();
        let text = format!(
            "{}",
            df.clone().into_optimized_plan().unwrap().display_indent()
        );
        assert!(
            text.contains("s.ts > TimestampMicrosecond(999000")
                && text.contains("s.ts < TimestampMicrosecond(1000001"),
            "no stored bounds in\n{text}"
        );
        let n = pretty_format_batches(&df.collect().await.unwrap())
            .unwrap()
            .to_string();
        assert!(n.contains("| 1 "), "{n}");
    }

    #[tokio::test]
    async fn null_tests_on_the_rebuilt_time_carry_over() {
        let ctx = context().await;
        for (filter, bound, expected) in [
            ("ts IS NULL", "s.ts IS NULL", 1),
            ("ts IS NOT NULL", "s.ts IS NOT NULL", 3),
        ] {
            let df = ctx
                .sql(&format!("SELECT count(*) AS n FROM v WHERE {filter}"))
                .await
                .unwrap();
            let text = format!(
                "{}",
                df.clone().into_optimized_plan().unwrap().display_indent()
            );
            assert!(text.contains(bound), "{filter}: no stored bound in\n{text}");
            let n = pretty_format_batches(&df.collect().await.unwrap())
                .unwrap()
                .to_string();
            assert!(n.contains(&format!("| {expected} ")), "{filter}: {n}");
        }
    }
}
