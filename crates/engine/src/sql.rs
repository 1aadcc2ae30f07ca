use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::SendableRecordBatchStream;
use datafusion::execution::context::SQLOptions;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;

use crate::EngineError;

/// The options user SQL runs under: queries only.
///
/// DDL (`CREATE [EXTERNAL] TABLE`, `CREATE VIEW`, `DROP`), DML (`INSERT`,
/// `UPDATE`, `DELETE`, `COPY`) and statements (`SET`, transactions) are
/// refused. Servers that receive plans another way (pgwire, Flight) check them
/// with [`SQLOptions::verify_plan`] on these options.
pub fn read_only_options() -> SQLOptions {
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_dml(false)
        .with_allow_statements(false)
}

/// Plans `sql` (one statement), refuses it unless it only reads, then runs it
/// to completion.
///
/// The check covers the whole plan, so `EXPLAIN ANALYZE INSERT …` is refused
/// as well. Results are held in memory: callers bound them with `LIMIT` or by
/// the session's memory limit; [`run_sql_stream`] hands them out as they come.
pub async fn run_sql(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
    let plan = read_only_plan(ctx, sql).await?;
    Ok(ctx.execute_logical_plan(plan).await?.collect().await?)
}

/// As [`run_sql`], but the result streams: batches come as the plan produces
/// them, so a caller can write the first rows before the last are read, and
/// stopping early stops the query.
pub async fn run_sql_stream(
    ctx: &SessionContext,
    sql: &str,
) -> Result<SendableRecordBatchStream, EngineError> {
    let plan = read_only_plan(ctx, sql).await?;
    Ok(ctx
        .execute_logical_plan(plan)
        .await?
        .execute_stream()
        .await?)
}

async fn read_only_plan(ctx: &SessionContext, sql: &str) -> Result<LogicalPlan, EngineError> {
    let plan = ctx
        .state()
        .create_logical_plan(sql)
        .await
        .map_err(|e| match e.find_root() {
            // Its own text, once (the wrapper repeats it as debug output).
            DataFusionError::SQL(parse, _) => EngineError::Syntax(parse.to_string()),
            _ => EngineError::DataFusion(e),
        })?;
    read_only_options()
        .verify_plan(&plan)
        .map_err(|e| EngineError::ReadOnly {
            reason: e
                .strip_backtrace()
                .trim_start_matches("Error during planning: ")
                .to_owned(),
        })?;
    Ok(plan)
}
