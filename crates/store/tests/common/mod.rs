//! Helpers shared by the store's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use arrow::array::{
    ArrayRef, DictionaryArray, ListBuilder, StringArray, StringBuilder, TimestampMicrosecondArray,
    UInt64Array,
};
use arrow::datatypes::{Int8Type, Int32Type};
use arrow_array::RecordBatch;
use deltalake::datafusion::prelude::SessionContext;
use logoscope_drain::{DrainConfig, TemplateCatalog};
use logoscope_ingest::schema::logs_schema;
use logoscope_store::{Archive, ArchiveOptions};

/// 2024-03-05T06:00:00Z in microseconds.
pub const T0: i64 = 1_709_618_400_000_000;
/// One hour in microseconds.
pub const HOUR: i64 = 3_600_000_000;

/// One synthetic log row.
#[derive(Debug, Clone)]
pub struct Row {
    pub ts: Option<i64>,
    pub service: Option<&'static str>,
    pub template_id: u64,
    pub message: String,
}

/// Rows spread over `hours` consecutive hours from `start`, plus `nulls` rows without a
/// timestamp; template ids include values above `i64::MAX`.
pub fn rows(start: i64, n: usize, hours: i64, nulls: usize) -> Vec<Row> {
    let services = [Some("api"), Some("db"), None, Some("auth")];
    let mut out: Vec<Row> = (0..n)
        .map(|i| {
            let i64i = i as i64;
            Row {
                ts: Some(start + (i64i % hours) * HOUR + i64i * 1_001),
                service: services[i % services.len()],
                template_id: if i % 3 == 0 {
                    u64::MAX - (i as u64 % 7)
                } else {
                    i as u64 % 11
                },
                message: format!("request {i} took {} ms", i * 7 % 1000),
            }
        })
        .collect();
    out.extend((0..nulls).map(|i| Row {
        ts: None,
        service: Some("cron"),
        template_id: 99,
        message: format!("no timestamp {i}"),
    }));
    out
}

/// A `logs_schema` batch holding `rows`.
pub fn batch(rows: &[Row]) -> RecordBatch {
    let ts = TimestampMicrosecondArray::from(rows.iter().map(|r| r.ts).collect::<Vec<_>>())
        .with_timezone("UTC");
    let source: DictionaryArray<Int32Type> = rows.iter().map(|_| Some("app.log")).collect();
    let line = UInt64Array::from((1..=rows.len() as u64).collect::<Vec<_>>());
    let level: DictionaryArray<Int8Type> = rows
        .iter()
        .enumerate()
        .map(|(i, _)| (i % 5 != 0).then_some("INFO"))
        .collect();
    let service: DictionaryArray<Int32Type> = rows.iter().map(|r| r.service).collect();
    let host: DictionaryArray<Int32Type> = rows.iter().map(|_| Some("web-1")).collect();
    let nulls = || Arc::new(StringArray::from(vec![None::<&str>; rows.len()])) as ArrayRef;
    let template_id = UInt64Array::from(rows.iter().map(|r| r.template_id).collect::<Vec<_>>());
    let mut params = ListBuilder::new(StringBuilder::new());
    for r in rows {
        params
            .values()
            .append_value(r.message.split(' ').nth(1).unwrap_or(""));
        params.append(true);
    }
    let message = StringArray::from(
        rows.iter()
            .map(|r| Some(r.message.as_str()))
            .collect::<Vec<_>>(),
    );
    let error: DictionaryArray<Int8Type> = rows.iter().map(|_| None::<&str>).collect();
    RecordBatch::try_new(
        logs_schema(),
        vec![
            Arc::new(ts),
            Arc::new(source),
            Arc::new(line),
            Arc::new(level),
            Arc::new(service),
            Arc::new(host),
            nulls(),
            nulls(),
            nulls(),
            Arc::new(template_id),
            Arc::new(params.finish()),
            Arc::new(message),
            nulls(),
            nulls(),
            nulls(),
            Arc::new(error),
        ],
    )
    .expect("test batch matches logs_schema")
}

/// A catalog that has learned `messages`.
pub fn catalog(messages: &[&str]) -> TemplateCatalog {
    let mut catalog = TemplateCatalog::new(DrainConfig::default());
    let mut params = Vec::new();
    for m in messages {
        catalog.add(m, None, &mut params);
    }
    catalog
}

/// Template texts of `catalog`, sorted, for comparisons.
pub fn template_texts(catalog: &TemplateCatalog) -> Vec<String> {
    let mut texts: Vec<String> = catalog.templates().map(|t| t.template.clone()).collect();
    texts.sort();
    texts
}

/// Runs `sql` against the archive registered as `logs` through deltalake's DataFusion provider.
pub async fn query(archive: &Archive, sql: &str) -> Vec<RecordBatch> {
    let ctx = SessionContext::new();
    archive
        .register_table(&ctx, "logs")
        .await
        .expect("register");
    ctx.sql(sql)
        .await
        .expect("plan")
        .collect()
        .await
        .expect("execute")
}

/// The single i64 a `SELECT count(*)`-like query returns.
pub async fn query_count(archive: &Archive, sql: &str) -> i64 {
    let batches = query(archive, sql).await;
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("one row");
    batch
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::Int64Array>()
        .expect("count is Int64")
        .value(0)
}

/// The default options but for `commit_memory_bytes` 0: every `add` line goes to the writer's
/// temporary file, and commits are uploaded from it.
pub fn spill_all() -> ArchiveOptions {
    ArchiveOptions {
        commit_memory_bytes: 0,
        ..ArchiveOptions::default()
    }
}
