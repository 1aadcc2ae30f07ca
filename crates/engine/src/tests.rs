//! Session tests over hand-built batches (and a real archive when the store
//! crate can write one).

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ListBuilder, PrimitiveArray, StringBuilder, StringDictionaryBuilder,
    TimestampMicrosecondBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{Int8Type, Int32Type, TimestampMicrosecondType};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use logoscope_drain::{DrainConfig, TemplateCatalog, TemplateId, render};
use logoscope_ingest::schema::logs_schema;

use crate::{
    EngineError, EngineOptions, OutputFormat, run_sql, session_for_batches, write_batches,
};

fn opts() -> EngineOptions {
    EngineOptions {
        target_partitions: 4,
        ..EngineOptions::default()
    }
}

/// One input entry as ingest would see it, and what it stores.
struct Row {
    ts: Option<i64>,
    source: &'static str,
    line: u64,
    level: Option<&'static str>,
    template_id: TemplateId,
    params: Vec<String>,
    header: Option<&'static str>,
    /// The full message and raw text readers must get back.
    message: Option<String>,
    raw: Option<String>,
    /// What is stored (null when reconstructible).
    stored_message: Option<String>,
    stored_raw: Option<String>,
    error: Option<&'static str>,
}

/// Templates `message` like ingest does and stores text only when the
/// template and params do not reproduce it.
fn ingest_row(
    catalog: &mut TemplateCatalog,
    ts: Option<i64>,
    line: u64,
    header: Option<&'static str>,
    message: &str,
    error: Option<&'static str>,
) -> Row {
    let mut ranges = Vec::new();
    let matched = catalog.add(message, ts, &mut ranges);
    let params: Vec<String> = ranges
        .iter()
        .map(|r| message[r.clone()].to_owned())
        .collect();
    let template = catalog.get(matched.id).expect("issued id").template.clone();
    let strs: Vec<&str> = params.iter().map(String::as_str).collect();
    let rendered = render(&template, &strs);
    let raw = format!("{}{message}", header.unwrap_or(""));
    Row {
        ts,
        source: "app.log",
        line,
        level: Some("INFO"),
        template_id: matched.id,
        params,
        header,
        message: Some(message.to_owned()),
        raw: Some(raw),
        stored_message: (rendered != message).then(|| message.to_owned()),
        stored_raw: None,
        error,
    }
}

fn batch(rows: &[Row]) -> RecordBatch {
    let mut ts = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut source = StringDictionaryBuilder::<Int32Type>::new();
    let mut line = UInt64Builder::new();
    let mut level = StringDictionaryBuilder::<Int8Type>::new();
    let mut service = StringDictionaryBuilder::<Int32Type>::new();
    let mut host = StringDictionaryBuilder::<Int32Type>::new();
    let mut trace = StringBuilder::new();
    let mut span = StringBuilder::new();
    let mut parent = StringBuilder::new();
    let mut template_id = UInt64Builder::new();
    let mut params = ListBuilder::new(StringBuilder::new());
    let mut message = StringBuilder::new();
    let mut fields = StringBuilder::new();
    let mut header = StringBuilder::new();
    let mut raw = StringBuilder::new();
    let mut error = StringDictionaryBuilder::<Int8Type>::new();
    for r in rows {
        ts.append_option(r.ts);
        source.append_value(r.source);
        line.append_value(r.line);
        level.append_option(r.level);
        service.append_value("api");
        host.append_null();
        trace.append_null();
        span.append_null();
        parent.append_null();
        template_id.append_value(r.template_id);
        for p in &r.params {
            params.values().append_value(p);
        }
        params.append(true);
        message.append_option(r.stored_message.as_deref());
        fields.append_null();
        header.append_option(r.header);
        raw.append_option(r.stored_raw.as_deref());
        error.append_option(r.error);
    }
    RecordBatch::try_new(
        logs_schema(),
        vec![
            Arc::new(ts.finish()),
            Arc::new(source.finish()),
            Arc::new(line.finish()),
            Arc::new(level.finish()),
            Arc::new(service.finish()),
            Arc::new(host.finish()),
            Arc::new(trace.finish()),
            Arc::new(span.finish()),
            Arc::new(parent.finish()),
            Arc::new(template_id.finish()),
            Arc::new(params.finish()),
            Arc::new(message.finish()),
            Arc::new(fields.finish()),
            Arc::new(header.finish()),
            Arc::new(raw.finish()),
            Arc::new(error.finish()),
        ],
    )
    .expect("batch matches logs_schema")
}

/// How every output path prints a UTC timestamp (checked literally in `output_formats`).
fn rfc3339(micros: i64) -> String {
    let array = PrimitiveArray::<TimestampMicrosecondType>::from(vec![micros]).with_timezone("UTC");
    let options = FormatOptions::default();
    let formatter = ArrayFormatter::try_new(&array, &options).unwrap();
    formatter.value(0).to_string()
}

const T0: i64 = 1_714_573_200_000_000; // 2024-05-01T14:20:00Z

/// Rows covering each way text is stored, plus the catalog that templated them.
fn fixture() -> (Vec<Row>, TemplateCatalog) {
    let mut catalog = TemplateCatalog::new(DrainConfig::default());
    let mut rows = vec![
        ingest_row(
            &mut catalog,
            Some(T0),
            1,
            Some("2024-05-01T14:20:00Z INFO "),
            "user alice logged in from 10.0.0.1",
            None,
        ),
        ingest_row(
            &mut catalog,
            Some(T0 + 1),
            2,
            Some("2024-05-01T14:20:00Z INFO "),
            "user bob logged in from 10.0.0.2",
            None,
        ),
        ingest_row(
            &mut catalog,
            Some(T0 + 2),
            3,
            None,
            "request took 42 ms",
            None,
        ),
        ingest_row(
            &mut catalog,
            None,
            4,
            None,
            "request took 7 ms",
            Some("bad_timestamp"),
        ),
    ];
    // Stored message that differs from what its template renders: the stored
    // text must win.
    let mut odd = ingest_row(
        &mut catalog,
        Some(T0 + 3),
        5,
        None,
        "request took 9 ms",
        None,
    );
    odd.stored_message = Some("request  took 9 ms".to_owned());
    odd.message = odd.stored_message.clone();
    odd.raw = odd.stored_message.clone();
    rows.push(odd);
    // Raw kept verbatim because header || message does not reproduce it.
    let mut verbatim = ingest_row(
        &mut catalog,
        Some(T0 + 4),
        6,
        Some("<13>"),
        "user carol logged in from 10.0.0.3",
        Some("malformed_json"),
    );
    verbatim.stored_raw = Some("<13> user carol logged in from 10.0.0.3 {\"broken".to_owned());
    verbatim.raw = verbatim.stored_raw.clone();
    rows.push(verbatim);
    // Template id the catalog never issued: nothing to rebuild from, so the
    // text stays null rather than being made up.
    let mut orphan = ingest_row(&mut catalog, Some(T0 + 5), 7, Some("H "), "orphan 1", None);
    // Above i64::MAX, where Delta's `long` and our UInt64 part ways.
    orphan.template_id = u64::MAX - 1;
    orphan.stored_message = None;
    orphan.message = None;
    orphan.raw = None;
    rows.push(orphan);
    (rows, catalog)
}

/// Runs `sql` and returns every cell as display text (None for null), so
/// results of both session kinds compare whatever their physical types.
async fn strings(ctx: &SessionContext, sql: &str) -> Vec<Vec<Option<String>>> {
    let batches = run_sql(ctx, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let options = FormatOptions::default();
    let mut out = Vec::new();
    for b in &batches {
        let cols: Vec<_> = b
            .columns()
            .iter()
            .map(|c| (c, ArrayFormatter::try_new(c.as_ref(), &options).unwrap()))
            .collect();
        for row in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|(c, f)| c.is_valid(row).then(|| f.value(row).to_string()))
                    .collect(),
            );
        }
    }
    out
}

#[tokio::test]
async fn logs_view_rebuilds_message_and_raw_exactly_when_null() {
    let (rows, catalog) = fixture();
    assert!(
        rows.iter()
            .filter(|r| r.stored_message.is_none() && r.message.is_some())
            .count()
            >= 2,
        "fixture must exercise rendering from the template"
    );
    let ctx = session_for_batches(vec![batch(&rows[..3]), batch(&rows[3..])], &catalog, opts())
        .await
        .unwrap();

    let got = strings(&ctx, "SELECT line, message, raw FROM logs ORDER BY line").await;
    let want: Vec<_> = rows
        .iter()
        .map(|r| vec![Some(r.line.to_string()), r.message.clone(), r.raw.clone()])
        .collect();
    assert_eq!(got, want);

    // Nothing is lost: every stored row is a row of the view.
    let n = strings(&ctx, "SELECT count(*) FROM logs").await;
    assert_eq!(n, vec![vec![Some(rows.len().to_string())]]);

    // The stored columns are still there, under their stored names and types.
    let batches = run_sql(&ctx, "SELECT * FROM logs LIMIT 1").await.unwrap();
    let schema = batches[0].schema();
    let names: Vec<_> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let logs = logs_schema();
    let stored: Vec<_> = logs.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, stored);
    for field in logs.fields() {
        assert_eq!(
            schema.field_with_name(field.name()).unwrap().data_type(),
            field.data_type(),
            "{}",
            field.name()
        );
    }
}

#[tokio::test]
async fn templates_table_lists_the_catalog() {
    let (_, catalog) = fixture();
    let ctx = session_for_batches(Vec::new(), &catalog, opts())
        .await
        .unwrap();
    let got = strings(
        &ctx,
        "SELECT template_id, template, count, first_seen, last_seen, parent_id, live_id \
         FROM templates ORDER BY template_id",
    )
    .await;
    let mut infos: Vec<_> = catalog.templates().collect();
    infos.sort_by_key(|t| t.id);
    assert!(!infos.is_empty());
    let ts = |v: Option<i64>| v.map(rfc3339);
    let want: Vec<_> = infos
        .iter()
        .map(|t| {
            vec![
                Some(t.id.to_string()),
                Some(t.template.clone()),
                Some(t.count.to_string()),
                ts(t.first_seen),
                ts(t.last_seen),
                t.parent_id.map(|p| p.to_string()),
                Some(catalog.resolve(t.id).to_string()),
            ]
        })
        .collect();
    assert_eq!(got, want);

    let schema = run_sql(&ctx, "SELECT * FROM templates").await.unwrap()[0].schema();
    assert_eq!(schema, crate::templates_schema());
    assert_eq!(
        schema.field_with_name("template_id").unwrap().data_type(),
        &datafusion::arrow::datatypes::DataType::UInt64
    );
}

#[tokio::test]
async fn ingest_errors_lists_unparsed_entries_with_their_text() {
    let (rows, catalog) = fixture();
    let ctx = session_for_batches(vec![batch(&rows)], &catalog, opts())
        .await
        .unwrap();
    let got = strings(
        &ctx,
        "SELECT source, line, ts, error, raw FROM ingest_errors ORDER BY line",
    )
    .await;
    let want: Vec<_> = rows
        .iter()
        .filter(|r| r.error.is_some())
        .map(|r| {
            vec![
                Some(r.source.to_owned()),
                Some(r.line.to_string()),
                r.ts.map(rfc3339),
                r.error.map(str::to_owned),
                r.raw.clone(),
            ]
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 2);
    assert_eq!(rfc3339(T0 + 4), "2024-05-01T14:20:00.000004Z");
}

#[tokio::test]
async fn the_render_udf_is_registered_and_filters_reach_rebuilt_text() {
    let (rows, catalog) = fixture();
    let ctx = session_for_batches(vec![batch(&rows)], &catalog, opts())
        .await
        .unwrap();
    let got = strings(&ctx, "SELECT line FROM logs WHERE message LIKE 'user bob%'").await;
    assert_eq!(got, vec![vec![Some("2".to_owned())]]);
    let got = strings(&ctx, "SELECT render_template('a <*> c', ['b'])").await;
    assert_eq!(got, vec![vec![Some("a b c".to_owned())]]);
}

#[tokio::test]
async fn user_sql_is_read_only() {
    let (rows, catalog) = fixture();
    let ctx = session_for_batches(vec![batch(&rows)], &catalog, opts())
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let copy_target = dir.path().join("out.csv");
    let external = dir.path().join("ext.csv");
    std::fs::write(&external, "a\n1\n").unwrap();
    let writes = [
        "CREATE TABLE t AS SELECT 1 AS a".to_owned(),
        "CREATE VIEW v AS SELECT 1 AS a".to_owned(),
        format!(
            "CREATE EXTERNAL TABLE e STORED AS CSV LOCATION '{}'",
            external.display()
        ),
        "INSERT INTO logs_stored SELECT * FROM logs_stored".to_owned(),
        "EXPLAIN ANALYZE INSERT INTO logs_stored SELECT * FROM logs_stored".to_owned(),
        format!(
            "COPY (SELECT 1 AS a) TO '{}' STORED AS CSV",
            copy_target.display()
        ),
        "DROP VIEW logs".to_owned(),
        "SET datafusion.execution.batch_size = 1".to_owned(),
    ];
    for sql in &writes {
        match run_sql(&ctx, sql).await {
            Err(EngineError::ReadOnly { reason }) => {
                let msg = EngineError::ReadOnly { reason }.to_string();
                assert!(msg.starts_with("read-only: "), "{msg}");
            }
            other => panic!("{sql}: expected a read-only error, got {other:?}"),
        }
    }
    assert!(!copy_target.exists(), "COPY must not have run");
    let n = strings(&ctx, "SELECT count(*) FROM logs").await;
    assert_eq!(
        n,
        vec![vec![Some(rows.len().to_string())]],
        "INSERT must not have run"
    );

    // Reading (including the catalog) is still allowed.
    assert!(run_sql(&ctx, "SHOW TABLES").await.is_ok());
    assert!(run_sql(&ctx, "EXPLAIN SELECT * FROM logs").await.is_ok());
    // A bad query is a planning error, not a read-only one.
    assert!(matches!(
        run_sql(&ctx, "SELECT nope FROM logs").await,
        Err(EngineError::DataFusion(_))
    ));
    // Text that does not parse says so once.
    let err = run_sql(&ctx, "SELEC 1").await.unwrap_err().to_string();
    assert_eq!(
        err,
        "sql parser error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1"
    );
}

#[tokio::test]
async fn batches_of_another_schema_are_an_error() {
    let catalog = TemplateCatalog::new(DrainConfig::default());
    let other = RecordBatch::try_from_iter([(
        "x",
        Arc::new(UInt64Builder::new().finish()) as Arc<dyn Array>,
    )])
    .unwrap();
    assert!(matches!(
        session_for_batches(vec![other], &catalog, opts()).await,
        Err(EngineError::Arrow(_))
    ));
}

/// A session with no rows, for queries that read no table.
async fn empty_session() -> datafusion::prelude::SessionContext {
    session_for_batches(
        Vec::new(),
        &TemplateCatalog::new(DrainConfig::default()),
        opts(),
    )
    .await
    .unwrap()
}

async fn formatted_sql(sql: &str, format: OutputFormat) -> String {
    let ctx = empty_session().await;
    let mut stream = crate::run_sql_stream(&ctx, sql).await.unwrap();
    let schema = stream.schema();
    let mut out = Vec::new();
    let mut writer = crate::ResultWriter::new(format, &schema, &mut out);
    while let Some(batch) = futures::StreamExt::next(&mut stream).await {
        writer.write(&batch.unwrap()).unwrap();
    }
    writer.finish().unwrap();
    String::from_utf8(out).unwrap()
}

async fn formatted(format: OutputFormat) -> String {
    formatted_sql(
        "SELECT CAST(1714573200123000 AS BIGINT)::TIMESTAMP(6) AT TIME ZONE 'UTC' AS ts, \
                'a,b' AS s, CAST(NULL AS VARCHAR) AS n, make_array('x', 'y') AS l, \
                arrow_cast(7, 'UInt64') AS u, '' AS e, NULL AS z",
        format,
    )
    .await
}

#[tokio::test]
async fn output_formats() {
    // A null is an empty CSV field, an empty string `""`.
    assert_eq!(
        formatted(OutputFormat::Csv).await,
        "ts,s,n,l,u,e,z\n2024-05-01T14:20:00.123Z,\"a,b\",,\"[x, y]\",7,\"\",\n"
    );
    assert_eq!(
        formatted(OutputFormat::Json).await,
        "[{\"ts\":\"2024-05-01T14:20:00.123Z\",\"s\":\"a,b\",\"n\":null,\"l\":[\"x\",\"y\"],\"u\":7,\"e\":\"\",\"z\":null}]\n"
    );
    assert_eq!(
        formatted(OutputFormat::Ndjson).await,
        "{\"ts\":\"2024-05-01T14:20:00.123Z\",\"s\":\"a,b\",\"n\":null,\"l\":[\"x\",\"y\"],\"u\":7,\"e\":\"\",\"z\":null}\n"
    );
    let table = formatted(OutputFormat::Table).await;
    assert!(
        table.contains("| 2024-05-01T14:20:00.123Z | a,b | NULL | [x, y] | 7 |   | NULL |"),
        "{table}"
    );

    // No rows: an empty JSON array, the header alone for CSV and the table,
    // nothing for NDJSON.
    let none = "SELECT 1 AS line, 'x' AS level WHERE false";
    for (format, want) in [
        (OutputFormat::Json, "[]\n"),
        (OutputFormat::Ndjson, ""),
        (OutputFormat::Csv, "line,level\n"),
        (
            OutputFormat::Table,
            "+------+-------+\n| line | level |\n+------+-------+\n+------+-------+\n",
        ),
    ] {
        assert_eq!(formatted_sql(none, format).await, want, "{format:?}");
    }
}

/// A long result prints as tables of at most `TABLE_ROWS` rows each, every
/// row once, so the table format holds a bounded number of rows.
#[tokio::test]
async fn the_table_prints_long_results_in_parts() {
    let table = formatted_sql(
        "SELECT v FROM generate_series(1, 25000) AS t(v) ORDER BY v",
        OutputFormat::Table,
    )
    .await;
    let headers = table
        .lines()
        .filter(|l| l.trim_end() == "| v     |")
        .count();
    assert_eq!(headers, 3, "{}", &table[..200]);
    let values: Vec<u64> = table
        .lines()
        .filter_map(|l| l.trim_matches(|c| c == '|' || c == ' ').parse().ok())
        .collect();
    assert_eq!(values, (1..=25000).collect::<Vec<u64>>());
    assert_eq!(crate::output::TABLE_ROWS, 10_000);
}

#[tokio::test]
async fn repeated_column_names_are_made_unique() {
    let sql = "SELECT * FROM (SELECT 1 AS x, 3 AS x_1) a CROSS JOIN (SELECT 2 AS x) b";
    assert_eq!(
        formatted_sql(sql, OutputFormat::Ndjson).await,
        "{\"x\":1,\"x_1\":3,\"x_2\":2}\n"
    );
    assert_eq!(
        formatted_sql(sql, OutputFormat::Csv).await,
        "x,x_1,x_2\n1,3,2\n"
    );
}

#[tokio::test]
async fn the_table_escapes_control_characters() {
    // An escape sequence and a carriage return in log text would rewrite the
    // terminal line; a tab would break the columns. A line feed stays.
    let sql = "SELECT concat('failed', chr(27), '[2K', chr(13), 'ok', chr(9), '.', chr(10), 'next', chr(127)) AS m";
    let table = formatted_sql(sql, OutputFormat::Table).await;
    assert!(table.contains("| failed\\x1b[2K\\rok\\t. |"), "{table}");
    assert!(table.contains("| next\\x7f"), "{table}");
    assert!(!table.contains('\u{1b}') && !table.contains('\r') && !table.contains('\t'));
    // CSV and JSON keep the text exactly.
    let csv = formatted_sql(sql, OutputFormat::Csv).await;
    assert!(
        csv.contains("\"failed\u{1b}[2K\rok\t.\nnext\u{7f}\""),
        "{csv:?}"
    );
}

/// A reader that closed the pipe is an I/O error of kind `BrokenPipe` in
/// every format (the CLI exits 0 on it), CSV included, whose writer turns
/// write errors into text.
#[tokio::test]
async fn a_closed_pipe_is_an_io_error_in_every_format() {
    struct Closed(usize);
    impl std::io::Write for Closed {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.0);
            self.0 -= n;
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let ctx = empty_session().await;
    let batches = run_sql(
        &ctx,
        "SELECT v, repeat('x', 100) AS s FROM generate_series(1, 5000) AS t(v)",
    )
    .await
    .unwrap();
    for format in [
        OutputFormat::Csv,
        OutputFormat::Json,
        OutputFormat::Ndjson,
        OutputFormat::Table,
    ] {
        let err =
            write_batches(&batches[0].schema(), &batches, format, &mut Closed(1000)).unwrap_err();
        match err {
            EngineError::Io(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{format:?}")
            }
            other => panic!("{format:?}: {other:?}"),
        }
    }
}

/// A new archive in a temporary directory holding `batches` in one commit, opened afresh.
async fn archive_of(
    batches: Vec<RecordBatch>,
    catalog: &TemplateCatalog,
) -> (
    tempfile::TempDir,
    logoscope_store::Archive,
    logoscope_store::CommitSummary,
) {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = logoscope_store::Archive::open(&location).await.unwrap();
    let mut writer = archive
        .writer(logoscope_store::ArchiveOptions::default())
        .await
        .unwrap();
    for batch in batches {
        writer.write(batch).await.unwrap();
    }
    let summary = writer.commit(catalog).await.unwrap();
    let archive = logoscope_store::Archive::open(&location).await.unwrap();
    (dir, archive, summary)
}

#[tokio::test]
async fn archive_session_matches_the_in_memory_one() {
    let (rows, catalog) = fixture();
    let (_dir, archive, _) = archive_of(vec![batch(&rows[..3]), batch(&rows[3..])], &catalog).await;
    let stored = crate::session_for_archive(&archive, opts()).await.unwrap();
    let memory = session_for_batches(vec![batch(&rows)], &catalog, opts())
        .await
        .unwrap();

    for sql in [
        "SELECT line, ts, source, level, template_id, params, message, raw, error FROM logs ORDER BY line",
        "SELECT * FROM ingest_errors ORDER BY line",
        "SELECT * FROM templates ORDER BY template_id",
        "SELECT count(*) FROM logs",
    ] {
        assert_eq!(
            strings(&stored, sql).await,
            strings(&memory, sql).await,
            "{sql}"
        );
    }

    // The archive adds its partition columns to both the stored table and the view.
    let got = strings(
        &stored,
        "SELECT line, dt, hour FROM logs WHERE dt = '2024-05-01' ORDER BY line",
    )
    .await;
    let want: Vec<_> = rows
        .iter()
        .filter(|r| r.ts.is_some())
        .map(|r| {
            vec![
                Some(r.line.to_string()),
                Some("2024-05-01".to_owned()),
                Some("14".to_owned()),
            ]
        })
        .collect();
    assert_eq!(got, want);
    let unknown = strings(
        &stored,
        "SELECT line, dt, hour FROM logs_stored WHERE ts IS NULL",
    )
    .await;
    assert_eq!(
        unknown,
        vec![vec![
            Some("4".to_owned()),
            Some(logoscope_store::UNKNOWN.to_owned()),
            Some(logoscope_store::UNKNOWN.to_owned())
        ]]
    );
}

#[tokio::test]
async fn an_empty_archive_has_empty_tables() {
    let dir = tempfile::tempdir().unwrap();
    let archive = logoscope_store::Archive::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let ctx = crate::session_for_archive(&archive, opts()).await.unwrap();
    for table in ["logs", "logs_stored", "templates", "ingest_errors"] {
        let n = strings(&ctx, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(n, vec![vec![Some("0".to_owned())]], "{table}");
    }
}

/// The archive's stored forms (`ts` in ms + `ts_us`, hex ids as bytes, params
/// one column per position) give back exactly what ingest built, edge cases
/// included.
#[tokio::test]
async fn stored_forms_give_back_ts_ids_and_params_exactly() {
    use datafusion::arrow::array::ArrayRef;

    let (rows, catalog) = fixture();
    let base = batch(&rows);
    let n = base.num_rows();
    assert!(n >= 6, "every case below needs a row");
    let times = [
        Some(-1),
        Some(1_704_207_845_123_456),
        Some(1_704_207_845_123_000),
        None,
        Some(-1_000_001),
        Some(999),
    ];
    let ids = [
        Some("4bf92f3577b34da6a3ce929d0e0e4736"),
        Some("ABCDEF0123"),
        Some("abc"),
        None,
        Some("00"),
        Some("req-42"),
    ];
    let param_sets: [&[&str]; 6] = [
        &[],
        &[
            "0",
            "-0",
            "007",
            "+7",
            "123456789012345678",
            "1234567890123456789",
            "-5",
            "x",
        ],
        &["1", "2", "3", "4", "5", "6", "7", "8", "9", "10"],
        &["", "12ms", "-9223372036854775808"],
        &["a b", "\u{1}", "1.5"],
        &["42"],
    ];
    let mut ts = TimestampMicrosecondBuilder::new().with_timezone("UTC");
    let mut id_builders = [
        StringBuilder::new(),
        StringBuilder::new(),
        StringBuilder::new(),
    ];
    let mut params = ListBuilder::new(StringBuilder::new());
    for i in 0..n {
        ts.append_option(times[i % times.len()]);
        for (k, b) in id_builders.iter_mut().enumerate() {
            b.append_option(ids[(i + k) % ids.len()]);
        }
        for p in param_sets[i % param_sets.len()] {
            params.values().append_value(p);
        }
        params.append(true);
    }
    let [trace, span, parent] = id_builders.map(|mut b| Arc::new(b.finish()) as ArrayRef);
    let mut columns = base.columns().to_vec();
    let schema = logs_schema();
    for (name, array) in [
        ("ts", Arc::new(ts.finish()) as ArrayRef),
        ("trace_id", trace),
        ("span_id", span),
        ("parent_span_id", parent),
        ("params", Arc::new(params.finish()) as ArrayRef),
    ] {
        columns[schema.index_of(name).unwrap()] = array;
    }
    let original = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();

    let ctx = session_for_batches(vec![original.clone()], &catalog, opts())
        .await
        .unwrap();
    let got = run_sql(
        &ctx,
        "SELECT ts, trace_id, span_id, parent_span_id, params FROM logs ORDER BY line",
    )
    .await
    .unwrap();
    let got = datafusion::arrow::compute::concat_batches(&got[0].schema(), &got).unwrap();
    let lines = original
        .column_by_name("line")
        .unwrap()
        .as_any()
        .downcast_ref::<PrimitiveArray<datafusion::arrow::datatypes::UInt64Type>>()
        .unwrap();
    let order = datafusion::arrow::compute::sort_to_indices(lines, None, None).unwrap();
    for name in ["ts", "trace_id", "span_id", "parent_span_id", "params"] {
        let want =
            datafusion::arrow::compute::take(original.column_by_name(name).unwrap(), &order, None)
                .unwrap();
        let have = got.column_by_name(name).unwrap();
        assert_eq!(have.data_type(), want.data_type(), "{name}");
        assert_eq!(have.as_ref(), want.as_ref(), "{name}");
    }
}

/// Every node's metrics in `plan`, and the files the archive scans opened.
fn plan_metrics(plan: &Arc<dyn datafusion::physical_plan::ExecutionPlan>) -> (usize, usize) {
    let (mut metrics, mut opened) = (0, 0);
    if let Some(set) = plan.metrics() {
        metrics += set.iter().count();
        if plan.name() == "ArchiveScanExec" {
            opened += set.sum_by_name("files_opened").map_or(0, |v| v.as_usize());
        }
    }
    for child in plan.children() {
        let (m, o) = plan_metrics(child);
        metrics += m;
        opened += o;
    }
    (metrics, opened)
}

/// Runs `sql` to the end and returns its rows as text, the number of metrics
/// its plan holds afterwards, and the files the archive scan opened.
async fn run_counting(ctx: &SessionContext, sql: &str) -> (Vec<Vec<Option<String>>>, usize, usize) {
    let plan = ctx
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    let batches = datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx())
        .await
        .unwrap();
    let table =
        datafusion::datasource::MemTable::try_new(batches[0].schema(), vec![batches]).unwrap();
    let scratch = SessionContext::new();
    scratch.register_table("r", Arc::new(table)).unwrap();
    let rows = strings(&scratch, "SELECT * FROM r").await;
    let (metrics, opened) = plan_metrics(&plan);
    (rows, metrics, opened)
}

/// An archive of many small files (one per hour) is read in runs of files:
/// the plan's metrics do not grow with the file count, files are skipped by
/// `dt`/`hour` and by their `ts` bounds (all-null `ts` included), and a limit
/// stops the scan.
#[tokio::test]
async fn many_files_are_scanned_in_runs_and_skipped_by_time() {
    const HOURS: usize = 3 * crate::scan::FILES_PER_SCAN + 10;
    const HOUR: i64 = 3_600_000_000;
    let mut catalog = TemplateCatalog::new(DrainConfig::default());
    let mut rows: Vec<Row> = (0..HOURS)
        .map(|i| {
            let ts = T0 + i as i64 * HOUR;
            ingest_row(
                &mut catalog,
                Some(ts),
                i as u64 + 1,
                None,
                &format!("job {i} done"),
                None,
            )
        })
        .collect();
    rows.push(ingest_row(
        &mut catalog,
        None,
        HOURS as u64 + 1,
        None,
        "no time here",
        None,
    ));
    let (_dir, archive, summary) = archive_of(vec![batch(&rows)], &catalog).await;
    assert_eq!(summary.files, HOURS + 1);
    // Files listed in the plan, and files streamed from the log as the scan goes.
    for held_files in [usize::MAX, 10] {
        let ctx = crate::session_for_archive(
            &archive,
            EngineOptions {
                held_files,
                ..opts()
            },
        )
        .await
        .unwrap();
        let plan = strings(&ctx, "EXPLAIN SELECT line FROM logs_stored").await;
        let streamed = format!("{plan:?}").contains("files=streamed");
        assert_eq!(streamed, held_files == 10, "{plan:?}");
        files_are_scanned_in_runs_and_skipped(&ctx, &rows).await;
    }
}

async fn files_are_scanned_in_runs_and_skipped(ctx: &SessionContext, rows: &[Row]) {
    const HOURS: usize = 3 * crate::scan::FILES_PER_SCAN + 10;
    const HOUR: i64 = 3_600_000_000;
    let one = |v: usize| vec![vec![Some(v.to_string())]];

    // Every file, and far fewer metrics than files (DataFusion's Parquet scan
    // keeps about 20 per file it opens).
    let (got, metrics, opened) = run_counting(ctx, "SELECT count(*) FROM logs").await;
    assert_eq!(got, one(HOURS + 1));
    assert_eq!(opened, HOURS + 1);
    assert!(metrics < HOURS, "{metrics} metrics for {HOURS} files");

    // The same rows and text as a scan without skipping gives.
    let (all, _, _) = run_counting(ctx, "SELECT line, message FROM logs ORDER BY line").await;
    let want: Vec<_> = rows
        .iter()
        .map(|r| vec![Some(r.line.to_string()), r.message.clone()])
        .collect();
    assert_eq!(all, want);

    // Ten hours of `ts`: ten files; the file without times is skipped too.
    let from = rfc3339(T0 + 100 * HOUR);
    let to = rfc3339(T0 + 110 * HOUR);
    let sql = format!(
        "SELECT count(*) FROM logs WHERE ts >= TIMESTAMP '{from}' AND ts < TIMESTAMP '{to}'"
    );
    let (got, _, opened) = run_counting(ctx, &sql).await;
    assert_eq!((got, opened), (one(10), 10), "{sql}");

    // One day by partition value: 24 files; the hour column narrows it to one.
    let (got, _, opened) =
        run_counting(ctx, "SELECT count(*) FROM logs WHERE dt = '2024-05-03'").await;
    assert_eq!((got, opened), (one(24), 24));
    let (got, _, opened) = run_counting(
        ctx,
        "SELECT count(*) FROM logs WHERE dt = '2024-05-03' AND hour = '07'",
    )
    .await;
    assert_eq!((got, opened), (one(1), 1));

    // Rows without a time are found by their partition.
    let (got, _, opened) = run_counting(ctx, "SELECT line FROM logs WHERE ts IS NULL").await;
    assert_eq!((got, opened), (one(HOURS + 1), 1));

    // The newest rows, through a TopK whose bound reaches the runs' scans.
    let (got, _, _) = run_counting(
        ctx,
        "SELECT line FROM logs WHERE ts IS NOT NULL ORDER BY ts DESC LIMIT 3",
    )
    .await;
    let newest: Vec<_> = (0..3)
        .map(|i| vec![Some((HOURS - i).to_string())])
        .collect();
    assert_eq!(got, newest);

    // A limit stops reading after the first run of files.
    let (got, _, opened) = run_counting(ctx, "SELECT line FROM logs_stored LIMIT 3").await;
    assert_eq!(got.len(), 3);
    assert!(
        opened <= crate::scan::FILES_PER_SCAN * opts().target_partitions,
        "{opened}"
    );
}

/// Delta's Z85 text of `bytes` (a multiple of 4 long), as inline deletion vectors use it.
fn z85(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 85] =
        b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";
    let mut out = String::new();
    for word in bytes.chunks(4) {
        let mut v = u32::from_be_bytes(word.try_into().unwrap());
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = DIGITS[(v % 85) as usize];
            v /= 85;
        }
        out.push_str(std::str::from_utf8(&digits).unwrap());
    }
    out
}

/// The lines of a Delta log entry of the archive in `dir`.
fn log_entry(dir: &std::path::Path, version: u64) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(format!("_delta_log/{version:020}.json")))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn write_log_entry(dir: &std::path::Path, version: u64, actions: &[serde_json::Value]) {
    let text: Vec<String> = actions.iter().map(|a| a.to_string()).collect();
    std::fs::write(
        dir.join(format!("_delta_log/{version:020}.json")),
        text.join("\n"),
    )
    .unwrap();
}

/// Tables other Delta writers changed in ways Logoscope's scan does not read (deleted rows
/// in deletion vectors, column mapping) are read through deltalake's provider, which does;
/// Logoscope does not append to a table with column mapping.
#[tokio::test]
async fn tables_with_deletion_vectors_or_column_mapping_are_read_by_deltalake() {
    let (rows, catalog) = fixture();
    let timed = rows.iter().filter(|r| r.ts.is_some()).count();
    let (dir, _, summary) = archive_of(vec![batch(&rows)], &catalog).await;
    let adds: Vec<serde_json::Value> = log_entry(dir.path(), summary.version)
        .into_iter()
        .filter_map(|a| a.get("add").cloned())
        .collect();
    let add = adds
        .iter()
        .find(|a| a["partitionValues"]["dt"] != logoscope_store::UNKNOWN)
        .unwrap();

    // Rows 0 and 2 of the timed file deleted, as a Spark DELETE leaves them: an inline
    // roaring bitmap (one 32-bit key, an array container) behind a magic number.
    let deleted = [0u16, 2];
    let mut bitmap = Vec::new();
    bitmap.extend(12346u32.to_le_bytes());
    bitmap.extend(1u32.to_le_bytes());
    bitmap.extend(0u16.to_le_bytes());
    bitmap.extend((deleted.len() as u16 - 1).to_le_bytes());
    bitmap.extend(16u32.to_le_bytes());
    for r in deleted {
        bitmap.extend(r.to_le_bytes());
    }
    let mut dv = 1681511377u32.to_le_bytes().to_vec();
    dv.extend(1u64.to_le_bytes());
    dv.extend(0u32.to_le_bytes());
    dv.extend(&bitmap);
    let size = dv.len();
    dv.resize(size.div_ceil(4) * 4, 0);
    let mut with_dv = add.clone();
    with_dv["deletionVector"] = serde_json::json!({
        "storageType": "i", "pathOrInlineDv": z85(&dv),
        "sizeInBytes": size, "cardinality": deleted.len(),
    });
    write_log_entry(
        dir.path(),
        summary.version + 1,
        &[
            serde_json::json!({"commitInfo": {"timestamp": 1, "operation": "DELETE"}}),
            serde_json::json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
                "readerFeatures": ["deletionVectors"],
                "writerFeatures": ["deletionVectors", "appendOnly", "invariants"]}}),
            serde_json::json!({"remove": {"path": add["path"], "deletionTimestamp": 1,
                "dataChange": true, "extendedFileMetadata": true,
                "partitionValues": add["partitionValues"], "size": add["size"]}}),
            serde_json::json!({"add": with_dv}),
        ],
    );
    let archive = logoscope_store::Archive::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    let ctx = crate::session_for_archive(&archive, opts()).await.unwrap();
    let (got, _, opened) =
        run_counting(&ctx, "SELECT count(*) FROM logs WHERE ts IS NOT NULL").await;
    assert_eq!(got, vec![vec![Some((timed - deleted.len()).to_string())]]);
    assert_eq!(opened, 0, "read by deltalake's scan");

    // Column mapping: the same table, its columns given (identical) physical names.
    let (dir, _, summary) = archive_of(vec![batch(&rows)], &catalog).await;
    let mut created = log_entry(dir.path(), 0);
    for action in &mut created {
        if let Some(metadata) = action.get_mut("metaData") {
            let mut schema: serde_json::Value =
                serde_json::from_str(metadata["schemaString"].as_str().unwrap()).unwrap();
            let fields = schema["fields"].as_array_mut().unwrap();
            let count = fields.len();
            for (i, field) in fields.iter_mut().enumerate() {
                field["metadata"] = serde_json::json!({
                    "delta.columnMapping.id": i + 1,
                    "delta.columnMapping.physicalName": field["name"],
                });
            }
            metadata["schemaString"] = schema.to_string().into();
            metadata["configuration"]["delta.columnMapping.mode"] = "name".into();
            metadata["configuration"]["delta.columnMapping.maxColumnId"] = count.to_string().into();
        }
        if action.get("protocol").is_some() {
            action["protocol"] = serde_json::json!({"minReaderVersion": 2, "minWriterVersion": 5});
        }
    }
    write_log_entry(dir.path(), 0, &created);
    let archive = logoscope_store::Archive::open(dir.path().to_str().unwrap())
        .await
        .unwrap();
    assert_eq!(archive.version(), Some(summary.version));
    let ctx = crate::session_for_archive(&archive, opts()).await.unwrap();
    let (got, _, opened) =
        run_counting(&ctx, "SELECT count(*) FROM logs WHERE ts IS NOT NULL").await;
    assert_eq!((got, opened), (vec![vec![Some(timed.to_string())]], 0));
    let err = archive
        .writer(logoscope_store::ArchiveOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("column mapping"), "{err}");
}

/// `count(*)` of the whole stored table comes from the Delta statistics; a limit stops the
/// scan itself, not only the operators above it.
#[tokio::test]
async fn whole_table_counts_read_no_file_and_limits_stop_the_scan() {
    const HOUR: i64 = 3_600_000_000;
    let mut catalog = TemplateCatalog::new(DrainConfig::default());
    let rows: Vec<Row> = (0..150)
        .map(|i| {
            let ts = T0 + i as i64 * HOUR;
            ingest_row(
                &mut catalog,
                Some(ts),
                i + 1,
                None,
                &format!("job {i} done"),
                None,
            )
        })
        .collect();
    let (_dir, archive, _) = archive_of(vec![batch(&rows)], &catalog).await;
    // Files listed in the plan, and streamed from the log as the scan goes.
    for held_files in [usize::MAX, 10] {
        let one_partition = EngineOptions {
            target_partitions: 1,
            held_files,
            ..opts()
        };
        let ctx = crate::session_for_archive(&archive, one_partition)
            .await
            .unwrap();
        let (got, _, opened) = run_counting(&ctx, "SELECT count(*) FROM logs_stored").await;
        assert_eq!((got, opened), (vec![vec![Some("150".to_owned())]], 0));

        // The scan alone, drained: three rows, and no run after the first opened.
        let plan = ctx
            .sql("SELECT line FROM logs_stored LIMIT 3")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        let mut scan = plan;
        while scan.name() != "ArchiveScanExec" {
            scan = Arc::clone(scan.children()[0]);
        }
        let batches = datafusion::physical_plan::collect(Arc::clone(&scan), ctx.task_ctx())
            .await
            .unwrap();
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
        let (_, opened) = plan_metrics(&scan);
        assert_eq!(opened, crate::scan::FILES_PER_SCAN);

        // Run again, the same plan reads the table again from its start.
        let lines =
            |batches: &[RecordBatch]| -> usize { batches.iter().map(RecordBatch::num_rows).sum() };
        let plan = ctx
            .sql("SELECT line FROM logs_stored")
            .await
            .unwrap()
            .create_physical_plan()
            .await
            .unwrap();
        for _ in 0..2 {
            let batches = datafusion::physical_plan::collect(Arc::clone(&plan), ctx.task_ctx())
                .await
                .unwrap();
            assert_eq!(lines(&batches), 150, "held_files {held_files}");
        }
        // And so does a copy made to run again (a recursive query's next round), with one
        // task context for both runs.
        let mut scan = Arc::clone(&plan);
        while scan.name() != "ArchiveScanExec" {
            scan = Arc::clone(scan.children()[0]);
        }
        let task = ctx.task_ctx();
        let first = datafusion::physical_plan::collect(Arc::clone(&scan), Arc::clone(&task))
            .await
            .unwrap();
        let again = Arc::clone(&scan).reset_state().unwrap();
        let second = datafusion::physical_plan::collect(again, task)
            .await
            .unwrap();
        assert_eq!((lines(&first), lines(&second)), (150, 150));
    }
}
