//! End-to-end tests of inputs, decoding, framing, parsing and batching.

use std::io::Write;
use std::path::{Path, PathBuf};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int32Type, TimestampMicrosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use logoscope_drain::{DrainConfig, TemplateCatalog, render};
use logoscope_ingest::residual::{self, HoleValues};
use logoscope_ingest::schema::logs_schema;
use logoscope_ingest::{
    EntryFramer, FramerConfig, IngestError, IngestOptions, IngestStats, InputSpec, Pipeline,
    expand_inputs, open_input,
};
use proptest::prelude::*;

const NOW: i64 = 1_718_452_800_000_000;

/// One row read back, with message and raw rebuilt the way the engine does.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    ts: Option<i64>,
    source: String,
    line: u64,
    level: Option<String>,
    service: Option<String>,
    host: Option<String>,
    trace_id: Option<String>,
    message: String,
    message_stored: bool,
    raw: String,
    raw_stored: bool,
    fields: Option<String>,
    fields_stored: bool,
    error: Option<String>,
    template_id: u64,
}

fn dict32(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let a = b.column_by_name(name).unwrap().as_dictionary::<Int32Type>();
    a.is_valid(i).then(|| {
        let k = a.keys().value(i) as usize;
        a.values().as_string::<i32>().value(k).to_owned()
    })
}

fn dict8(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let a = b.column_by_name(name).unwrap().as_dictionary::<Int8Type>();
    a.is_valid(i).then(|| {
        let k = a.keys().value(i) as usize;
        a.values().as_string::<i32>().value(k).to_owned()
    })
}

fn utf8(b: &RecordBatch, name: &str, i: usize) -> Option<String> {
    let a = b.column_by_name(name).unwrap().as_string::<i32>();
    a.is_valid(i).then(|| a.value(i).to_owned())
}

fn rows(batches: &[RecordBatch], catalog: &TemplateCatalog) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        assert_eq!(b.schema(), logs_schema());
        let ts = b
            .column_by_name("ts")
            .unwrap()
            .as_primitive::<TimestampMicrosecondType>();
        let line = b
            .column_by_name("line")
            .unwrap()
            .as_primitive::<UInt64Type>();
        let tid = b
            .column_by_name("template_id")
            .unwrap()
            .as_primitive::<UInt64Type>();
        let params = b.column_by_name("params").unwrap().as_list::<i32>();
        for i in 0..b.num_rows() {
            let template_id = tid.value(i);
            let p = params.value(i);
            let p = p.as_string::<i32>();
            let ps: Vec<&str> = (0..p.len()).map(|j| p.value(j)).collect();
            let stored = utf8(b, "message", i);
            let message_stored = stored.is_some();
            let fill = |residual: &str, message: Option<&str>| {
                let mut out = String::new();
                let (t, s, p) = (
                    utf8(b, "trace_id", i),
                    utf8(b, "span_id", i),
                    utf8(b, "parent_span_id", i),
                );
                let v = HoleValues {
                    ts: ts.is_valid(i).then(|| ts.value(i)),
                    message,
                    trace_id: t.as_deref(),
                    span_id: s.as_deref(),
                    parent_span_id: p.as_deref(),
                };
                residual::decode(residual, &v, &mut out).expect("residual fills");
                out
            };
            let raw_col = utf8(b, "raw", i);
            let message = stored.unwrap_or_else(|| {
                let rendered = render(
                    &catalog.get(template_id).expect("template issued").template,
                    &ps,
                );
                if raw_col.as_deref().is_some_and(residual::has_message_hole) {
                    residual::strip_shape(&rendered).expect("shape")
                } else {
                    rendered
                }
            });
            let header = utf8(b, "header", i).map_or_else(String::new, |h| fill(&h, None));
            let raw_stored = raw_col.is_some();
            let raw = raw_col.map_or_else(
                || format!("{header}{message}"),
                |r| fill(&r, Some(&message)),
            );
            let fields_col = utf8(b, "fields", i);
            let fields_stored = fields_col.is_some();
            // As the `logs` view reads it: `{}` stands for no fields.
            let fields = match fields_col.as_deref() {
                Some("{}") => None,
                Some(_) => fields_col,
                None => residual::derived_fields(
                    &raw,
                    &residual::RowColumns {
                        ts: ts.is_valid(i).then(|| ts.value(i)),
                        level: dict8(b, "level", i).as_deref(),
                        message: Some(&message),
                        service: dict32(b, "service", i).as_deref(),
                        host: dict32(b, "host", i).as_deref(),
                        trace_id: utf8(b, "trace_id", i).as_deref(),
                        span_id: utf8(b, "span_id", i).as_deref(),
                        parent_span_id: utf8(b, "parent_span_id", i).as_deref(),
                    },
                ),
            };
            out.push(Row {
                ts: ts.is_valid(i).then(|| ts.value(i)),
                source: dict32(b, "source", i).unwrap(),
                line: line.value(i),
                level: dict8(b, "level", i),
                service: dict32(b, "service", i),
                host: dict32(b, "host", i),
                trace_id: utf8(b, "trace_id", i),
                message,
                message_stored,
                raw,
                raw_stored,
                fields,
                fields_stored,
                error: dict8(b, "error", i),
                template_id,
            });
        }
    }
    out
}

fn opts() -> IngestOptions {
    IngestOptions {
        now_micros: Some(NOW),
        ..IngestOptions::default()
    }
}

fn ingest(inputs: Vec<InputSpec>, opts: IngestOptions) -> (Vec<Row>, IngestStats) {
    let mut catalog = TemplateCatalog::new(DrainConfig::default());
    let mut batches = Vec::new();
    let stats = Pipeline::new(inputs, opts)
        .run(
            &mut catalog,
            |b| {
                batches.push(b);
                Ok::<(), IngestError>(())
            },
            |_| {},
        )
        .unwrap();
    (rows(&batches, &catalog), stats)
}

/// `path` ingested with `opts`, once with the query layer deriving the text
/// it can rebuild and once storing it all: `(derive_text, rows, stats)`.
fn both_ways(path: &Path, opts: IngestOptions) -> Vec<(bool, Vec<Row>, IngestStats)> {
    [true, false]
        .into_iter()
        .map(|derive_text| {
            let (rows, stats) = ingest(
                vec![InputSpec::File(path.to_path_buf())],
                IngestOptions {
                    derive_text,
                    ..opts.clone()
                },
            );
            (derive_text, rows, stats)
        })
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, bytes).unwrap();
    p
}

const MIXED: &str = r#"2024-01-02T15:04:05Z INFO user 42 logged in
2024-01-02 15:04:06,250 [main] ERROR com.shop.Pay - charge failed
java.lang.IllegalStateException: declined
	at com.shop.Pay.charge(Pay.java:10)
{"ts":"2024-01-02T15:04:07Z","level":"warn","msg":"slow query","service":"db","host":"h1","trace_id":"t-1","duration_ms":830}
ts=2024-01-02T15:04:08Z level=debug msg="cache miss" key=k1 service=cache
<34>Jan  2 15:04:09 web01 sshd[77]: Failed password for root
10.0.0.1 - - [02/Jan/2024:15:04:10 +0000] "GET /index.html HTTP/1.1" 404 12
plain text without header
"#;

#[test]
fn mixed_formats_end_to_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "mixed.log", MIXED.as_bytes());
    let (rows, stats) = ingest(vec![InputSpec::File(path.clone())], opts());
    assert_eq!(stats.entries, 7);
    assert_eq!(rows.len(), 7);
    assert_eq!(stats.lines, 9);
    assert_eq!(stats.errors, 0);
    assert!(stats.failures.is_empty());
    assert_eq!(stats.bytes, MIXED.len() as u64);
    let t0 = 1_704_207_845_000_000i64;
    let sec = 1_000_000;
    let src = path.to_string_lossy().into_owned();
    assert!(rows.iter().all(|r| r.source == src));
    let ts: Vec<Option<i64>> = rows.iter().map(|r| r.ts).collect();
    assert_eq!(
        ts,
        vec![
            Some(t0),
            Some(t0 + sec + 250_000),
            Some(t0 + 2 * sec),
            Some(t0 + 3 * sec),
            Some(t0 + 4 * sec),
            Some(t0 + 5 * sec),
            None
        ]
    );
    let lines: Vec<u64> = rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, vec![1, 2, 5, 6, 7, 8, 9]);
    let levels: Vec<Option<&str>> = rows.iter().map(|r| r.level.as_deref()).collect();
    assert_eq!(
        levels,
        vec![
            Some("INFO"),
            Some("ERROR"),
            Some("WARN"),
            Some("DEBUG"),
            Some("FATAL"),
            Some("WARN"),
            None
        ]
    );
    // Row 1 is the stack trace, consolidated.
    assert!(rows[1].raw.ends_with("(Pay.java:10)"));
    assert_eq!(rows[1].message.lines().next(), Some("charge failed"));
    // JSON: promoted columns, fields, raw kept (not reconstructible).
    assert_eq!(rows[2].service.as_deref(), Some("db"));
    assert_eq!(rows[2].host.as_deref(), Some("h1"));
    assert_eq!(rows[2].trace_id.as_deref(), Some("t-1"));
    assert_eq!(rows[2].message, "slow query");
    assert_eq!(rows[2].fields.as_deref(), Some(r#"{"duration_ms":830}"#));
    assert!(rows[2].raw_stored);
    // syslog: app tag is the service.
    assert_eq!(rows[4].service.as_deref(), Some("sshd"));
    assert_eq!(rows[4].host.as_deref(), Some("web01"));
    // Every row's raw text is the original entry.
    let expected_raw: Vec<&str> = vec![
        "2024-01-02T15:04:05Z INFO user 42 logged in",
        "2024-01-02 15:04:06,250 [main] ERROR com.shop.Pay - charge failed\njava.lang.IllegalStateException: declined\n\tat com.shop.Pay.charge(Pay.java:10)",
        MIXED.lines().nth(4).unwrap(),
        MIXED.lines().nth(5).unwrap(),
        MIXED.lines().nth(6).unwrap(),
        MIXED.lines().nth(7).unwrap(),
        "plain text without header",
    ];
    for (r, e) in rows.iter().zip(&expected_raw) {
        assert_eq!(&r.raw, e);
    }
    // Plain rows are reconstructed from header + message, not stored twice.
    assert!(!rows[0].raw_stored);
    assert!(!rows[1].raw_stored);
}

/// Entries whose text overlaps the row's other columns in awkward ways.
const OVERLAPS: &str = "{\"ts\":1704207845123,\"level\":\"info\",\"msg\":\"paid {card}\",\"trace_id\":\"abc\",\"span_id\":\"abc\",\"n\":1}
{\"time\":\"2024-01-02T16:04:05.5+01:00\",\"msg\":\"say \\\"hi\\\"\\nnext\",\"trace_id\":\"t1\",\"x\":\"\\u0001\"}
{\"@timestamp\":\"2024-01-02T15:04:05.123456Z\",\"message\":\"\",\"k\":[1,2]}
{\"ts\":\"2024-01-02 15:04:05,250\",\"msg\":\"multi\\nline\\n  at x\",\"a\":{\"b\":\"2024-01-02 15:04:05,250\"}}
ts=2024-01-02T15:04:08.000001Z level=debug msg=\"cache miss\" key=\"a b\" trace_id=ff
ts=1704207845 msg=ok
2024-01-02T15:04:05.999Z WARN ctl\u{1}char \u{1}M here
<13>1 2024-01-02T15:04:05.000+00:00 h app 1 ID - m
Jan  2 15:04:05 host app[1]: Jan  2 15:04:05 echoed
2024-01-02T15:04:05Z ERROR failed trace_id=4bf92f3577b34da6a3ce929d0e0e4736 again 4bf92f3577b34da6a3ce929d0e0e4736
<165>1 2024-01-02T15:04:05Z h app - ID1 [otel@1 traceId=\"0af7651916cd43dd8448eb211c80319c\"] span_id=ab12 done
level=info msg=first a=1 level=error msg=second a=2
";

#[test]
fn derived_text_rebuilds_exactly_what_whole_text_stores() {
    let dir = tempfile::tempdir().unwrap();
    let mixed = write(dir.path(), "mixed.log", MIXED.as_bytes());
    let overlaps = write(dir.path(), "overlaps.log", OVERLAPS.as_bytes());
    for time_keys in [vec![], vec!["a.b".to_owned()]] {
        let inputs = vec![
            InputSpec::File(mixed.clone()),
            InputSpec::File(overlaps.clone()),
        ];
        let base = IngestOptions {
            time_keys: time_keys.clone(),
            ..opts()
        };
        let (whole, _) = ingest(
            inputs.clone(),
            IngestOptions {
                derive_text: false,
                ..base.clone()
            },
        );
        let (derived, _) = ingest(inputs, base);
        assert_eq!(whole.len(), 19);
        assert!(whole.iter().all(|r| r.fields.is_none() || r.fields_stored));
        for (w, d) in whole.iter().zip(&derived) {
            assert_eq!(
                (&w.message, &w.raw, &w.fields),
                (&d.message, &d.raw, &d.fields),
                "{time_keys:?}"
            );
            assert_eq!(
                (w.ts, &w.trace_id, &w.level, w.template_id),
                (d.ts, &d.trace_id, &d.level, d.template_id)
            );
        }
        // Fields are left out only when a parse at query time gives them back.
        let left_out = derived
            .iter()
            .filter(|r| r.fields.is_some() && !r.fields_stored)
            .count();
        assert_eq!(left_out > 0, time_keys.is_empty(), "{time_keys:?}");
        // Every line of the input comes back, SOH bytes included.
        let text: Vec<&str> = derived.iter().map(|r| r.raw.as_str()).collect();
        assert!(text.contains(&"2024-01-02T15:04:05.999Z WARN ctl\u{1}char \u{1}M here"));
        assert!(text.contains(&"ts=1704207845 msg=ok"));
        let ids: Vec<_> = derived[16..]
            .iter()
            .map(|r| {
                (
                    r.trace_id.as_deref(),
                    r.level.as_deref(),
                    r.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            ids,
            [
                (
                    Some("4bf92f3577b34da6a3ce929d0e0e4736"),
                    Some("ERROR"),
                    "failed trace_id=4bf92f3577b34da6a3ce929d0e0e4736 again 4bf92f3577b34da6a3ce929d0e0e4736"
                ),
                (
                    Some("0af7651916cd43dd8448eb211c80319c"),
                    Some("INFO"),
                    "span_id=ab12 done"
                ),
                (None, Some("ERROR"), "second"),
            ]
        );
    }
    // With holes the JSON message is not stored twice.
    let (derived, _) = ingest(vec![InputSpec::File(overlaps)], opts());
    assert_eq!(derived[0].message, "paid {card}");
    assert!(!derived[0].message_stored);
    assert!(
        derived[1].message_stored,
        "an escaped message is not in the text as is"
    );
}

#[test]
fn background_and_inline_parse_agree() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for i in 0..3000 {
        text.push_str(&format!(
            "2024-01-02T15:04:05Z INFO request {i} took {}ms\n",
            i % 97
        ));
        if i % 10 == 0 {
            text.push_str(&format!("{{\"msg\":\"tick\",\"n\":{i}}}\n"));
        }
    }
    let path = write(dir.path(), "a.log", text.as_bytes());
    let small = |bg| IngestOptions {
        background_parse: bg,
        batch_rows: 500,
        chunk_rows: 64,
        ..opts()
    };
    let (a, sa) = ingest(vec![InputSpec::File(path.clone())], small(true));
    let (b, sb) = ingest(vec![InputSpec::File(path)], small(false));
    assert_eq!(a, b);
    assert_eq!(sa, sb);
    assert_eq!(a.len(), 3300);
    // Rebuilt messages: the template route must reproduce plain messages.
    assert!(a.iter().filter(|r| !r.message_stored).count() > 2000);
}

#[test]
fn gzip_and_zstd_detected_by_magic_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let text = "2024-01-02T15:04:05Z INFO a\n2024-01-02T15:04:06Z INFO b\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let zst = zstd::encode_all(text.as_bytes(), 3).unwrap();
    // Misleading names: detection must not rely on the extension.
    let p1 = write(dir.path(), "one.txt", &gz);
    let p2 = write(dir.path(), "two.gz", &zst);
    let (rows, stats) = ingest(vec![InputSpec::File(p1), InputSpec::File(p2)], opts());
    assert_eq!(rows.len(), 4);
    assert!(stats.failures.is_empty());
    assert_eq!(rows[3].raw, "2024-01-02T15:04:06Z INFO b");
}

fn many_lines(n: usize) -> String {
    (0..n)
        .map(|i| format!("2024-01-02T15:04:05Z INFO line {i} of a compressible stream\n"))
        .collect()
}

#[test]
fn truncated_gzip_keeps_entries_and_names_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = many_lines(20_000);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    let cut = write(dir.path(), "cut.log.gz", &gz[..gz.len() / 2]);
    let next = write(dir.path(), "next.log", b"2024-01-02T15:04:05Z INFO after\n");
    let (rows, stats) = ingest(
        vec![InputSpec::File(cut.clone()), InputSpec::File(next)],
        opts(),
    );
    assert_eq!(stats.failures.len(), 1);
    let f = &stats.failures[0];
    assert_eq!(f.path, cut.to_string_lossy());
    assert!(f.message.contains("cut.log.gz"), "{}", f.message);
    let before = rows
        .iter()
        .filter(|r| r.source.ends_with("cut.log.gz"))
        .count();
    assert!(before > 1000 && before < 20_000, "{before}");
    assert_eq!(rows.last().unwrap().raw, "2024-01-02T15:04:05Z INFO after");
    assert_eq!(stats.inputs, 2);
}

#[test]
fn truncated_zstd_keeps_entries_and_names_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = many_lines(20_000);
    let zst = zstd::encode_all(text.as_bytes(), 3).unwrap();
    let cut = write(dir.path(), "cut.zst", &zst[..zst.len() / 2]);
    let (rows, stats) = ingest(vec![InputSpec::File(cut)], opts());
    assert_eq!(stats.failures.len(), 1, "{stats:?}");
    assert!(stats.failures[0].message.contains("cut.zst"));
    assert!(!rows.is_empty() && rows.len() < 20_000);
}

#[test]
fn empty_missing_directory_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let empty = write(dir.path(), "empty.log", b"");
    let missing = dir.path().join("missing.log");
    let sub = dir.path().join("subdir");
    std::fs::create_dir(&sub).unwrap();
    let ok = write(dir.path(), "ok.log", b"hello\n");
    let (rows, stats) = ingest(
        vec![
            InputSpec::File(empty),
            InputSpec::File(missing.clone()),
            InputSpec::File(sub.clone()),
            InputSpec::File(ok),
        ],
        opts(),
    );
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].message, "hello");
    assert_eq!(stats.inputs, 4);
    assert_eq!(stats.failures.len(), 2);
    assert!(stats.failures[0].message.contains("missing.log"));
    assert!(stats.failures[0].message.contains("no such file"));
    assert!(stats.failures[1].message.contains("subdir"));
    assert!(stats.failures[1].message.contains("directory"));
    // The same errors at expansion time.
    let err = expand_inputs(&[missing.to_string_lossy().into_owned()]).unwrap_err();
    assert!(err.to_string().contains("missing.log"), "{err}");
    assert!(matches!(
        open_input(&InputSpec::File(sub)),
        Err(IngestError::IsDirectory { .. })
    ));
}

#[test]
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "secret.log", b"x\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&p).is_ok() {
        // Running as root: permissions do not stop reads, so there is nothing
        // to observe here.
        eprintln!("note: chmod 000 file still readable (root); unreadable-file assertions skipped");
        return;
    }
    let err = expand_inputs(&[p.to_string_lossy().into_owned()]).unwrap_err();
    assert!(err.to_string().contains("secret.log"));
    let (rows, stats) = ingest(vec![InputSpec::File(p)], opts());
    assert!(rows.is_empty());
    assert_eq!(stats.failures.len(), 1);
    assert!(stats.failures[0].message.contains("secret.log"));
}

#[test]
fn fifty_megabyte_line_is_cut_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.log");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&p).unwrap());
        f.write_all(b"2024-01-02T15:04:05Z INFO ").unwrap();
        let block = vec![b'a'; 1 << 20];
        for _ in 0..50 {
            f.write_all(&block).unwrap();
        }
        f.write_all(b"\nnext line\n").unwrap();
    }
    let (rows, stats) = ingest(vec![InputSpec::File(p)], opts());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].error.as_deref(), Some("truncated"));
    assert!(rows[0].raw.len() <= 1 << 20);
    assert!(rows[0].raw.len() > 1000);
    assert_eq!(rows[1].line, 2);
    assert_eq!(rows[1].raw, "next line");
    assert_eq!(stats.errors, 1);
    assert!(stats.bytes > 50 << 20);
}

#[test]
fn bad_bytes_are_kept_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "bad.log",
        b"ok \xff\xfe latin1 caf\xe9\nbin\x00\x01\x02ary\n{\"msg\": broken\n2024-99-99 10:00:00 bad date\n",
    );
    let (rows, stats) = ingest(vec![InputSpec::File(p)], opts());
    let errors: Vec<Option<&str>> = rows.iter().map(|r| r.error.as_deref()).collect();
    assert_eq!(
        errors,
        vec![
            Some("invalid_utf8"),
            Some("binary"),
            Some("malformed_json"),
            Some("bad_timestamp")
        ]
    );
    assert!(rows[0].raw.contains('\u{fffd}'));
    assert_eq!(rows[1].raw, "bin\0\u{1}\u{2}ary");
    assert_eq!(rows[2].raw, "{\"msg\": broken");
    assert_eq!(stats.errors, 4);
}

/// JSON nested deeper than the parser follows (128) is kept whole and
/// flagged; one level less is parsed.
#[test]
fn json_nested_too_deep_is_kept_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let nested = |n: usize| {
        format!(
            "{{\"msg\":\"deep\",\"a\":{}1{}}}",
            "[".repeat(n),
            "]".repeat(n)
        )
    };
    let text = format!("{}\n{}\n", nested(127), nested(128));
    let p = write(dir.path(), "deep.log", text.as_bytes());
    let (rows, stats) = ingest(vec![InputSpec::File(p)], opts());
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].error, None);
    assert_eq!(rows[0].message, "deep");
    assert_eq!(rows[1].error.as_deref(), Some("malformed_json"));
    assert_eq!(rows[1].raw, nested(128));
    assert_eq!(stats.errors, 1);
}

/// A UTF-8 byte-order mark opening a file is not text: the first entry
/// gets its time, level and format as the same line without one does, in a
/// plain file and in a JSON one. One later in the input stays text.
#[test]
fn a_byte_order_mark_opening_an_input_is_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let plain = write(
        dir.path(),
        "plain.log",
        b"\xef\xbb\xbf2024-01-01T00:00:00Z WARN first\n2024-01-01T00:00:00Z WARN first\n\xef\xbb\xbfx\n",
    );
    let json = write(
        dir.path(),
        "json.log",
        b"\xef\xbb\xbf{\"time\":\"2024-01-01T00:00:01Z\",\"level\":\"error\",\"msg\":\"boom\"}\n",
    );
    let (rows, stats) = ingest(vec![InputSpec::File(plain), InputSpec::File(json)], opts());
    assert_eq!(stats.errors, 0);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].raw, "2024-01-01T00:00:00Z WARN first");
    assert_eq!(
        (rows[0].ts, rows[0].level.as_deref(), rows[0].template_id),
        (rows[1].ts, Some("WARN"), rows[1].template_id)
    );
    assert!(rows[0].ts.is_some());
    assert_eq!(rows[2].raw, "\u{feff}x");
    assert_eq!(
        (rows[3].level.as_deref(), rows[3].message.as_str()),
        (Some("ERROR"), "boom")
    );
    assert!(rows[3].ts.is_some());
}

/// Framing end to end: rows, flags and `raw` (rebuilt from residuals, and
/// stored whole) for the entries framing has to get right.
#[test]
fn framed_entries_come_back_whole() {
    let big = format!("{{\"msg\":\"big\",\"blob\":\"{}\"}}", "x".repeat(2000));
    let one = "Traceback (most recent call last):\r\n  File \"a.py\", line 1, in <module>\r\nValueError: one";
    let two =
        "Traceback (most recent call last):\n  File \"b.py\", line 1, in <module>\nKeyError: two";
    let expected: Vec<(u64, &str, Option<&str>)> = vec![
        (1, &big[..256], Some("truncated")),
        (2, "ts=2026-03-02T10:00:02Z level=info msg=\"B\"", None),
        (4, "plain words here", None),
        (6, "{\"msg\":\"C\",\"n\":1}", None),
        (8, "{\"msg\":\"oops", Some("malformed_json")),
        (10, "2026-03-02 10:00:03 INFO after the broken line", None),
        (
            12,
            "{\n\"msg\": \"batch\",\r\n  \t\r\n\"items\": [\n{\"x\": 1}\n]\n}",
            None,
        ),
        (
            20,
            "2026-03-02 10:00:04 ERROR boom\r\n\tat a.B.c(B.java:1)",
            None,
        ),
        (23, one, None),
        (27, two, None),
    ];
    // Each entry after the first is followed by a whitespace-only line,
    // which is not an entry.
    let mut input = String::new();
    for (_, text, _) in &expected[1..] {
        input.push_str(text);
        input.push_str("\r\n \t\n");
    }
    let input = format!("{big}\n{input}");
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "framed.log", input.as_bytes());
    for (derive_text, rows, stats) in both_ways(
        &p,
        IngestOptions {
            max_entry_bytes: 256,
            ..opts()
        },
    ) {
        let got: Vec<(u64, &str, Option<&str>)> = rows
            .iter()
            .map(|r| (r.line, r.raw.as_str(), r.error.as_deref()))
            .collect();
        assert_eq!(got, expected, "derive_text {derive_text}");
        assert_eq!(stats.lines, 30);
    }
}

/// The layouts of the header audit, end to end: what each entry gives, and
/// its text back byte for byte (from residuals, and stored whole).
#[test]
fn common_layouts_give_time_level_host_and_service() {
    // 2024-03-01T10:00:00Z
    const T: i64 = 1_709_287_200_000_000;
    const H: i64 = 3_600_000_000;
    type Want<'a> = (
        Option<i64>,
        Option<&'a str>,
        Option<&'a str>,
        Option<&'a str>,
        &'a str,
        Option<&'a str>,
    );
    let cases: Vec<(&str, Want<'_>)> = vec![
        (
            r#"2024-03-01 10:00:00.123 CET [12345] ERROR:  relation "x" does not exist"#,
            (
                Some(T - H + 123_000),
                Some("ERROR"),
                None,
                None,
                r#"relation "x" does not exist"#,
                None,
            ),
        ),
        (
            "2024-03-01 10:00:00,123 - myapp - ERROR - python docs format",
            (
                Some(T + 123_000),
                Some("ERROR"),
                None,
                None,
                "python docs format",
                None,
            ),
        ),
        (
            "2024-03-01 10:00:00.123 | ERROR    | mod:func:12 - loguru",
            (Some(T + 123_000), Some("ERROR"), None, None, "loguru", None),
        ),
        (
            "Mar  1 10:00:00 h app: ERROR syslog file without PRI",
            (
                Some(T),
                Some("ERROR"),
                Some("h"),
                Some("app"),
                "ERROR syslog file without PRI",
                None,
            ),
        ),
        (
            r#"2024-03-01T10:00:00.123456789Z {"level":"error","msg":"docker -t"}"#,
            (
                Some(T + 123_456),
                Some("ERROR"),
                None,
                None,
                "docker -t",
                None,
            ),
        ),
        (
            r#"2024-03-01T10:00:00Z level=info msg="prefixed logfmt""#,
            (Some(T), Some("INFO"), None, None, "prefixed logfmt", None),
        ),
        (
            "2024-03-01T10:00:00+25:00 INFO bad offset",
            (
                None,
                Some("INFO"),
                None,
                None,
                "bad offset",
                Some("bad_timestamp"),
            ),
        ),
        (
            "Mar 1 10:00:00 host app: single space single digit day",
            (
                Some(T),
                None,
                Some("host"),
                Some("app"),
                "single space single digit day",
                None,
            ),
        ),
        (
            "2024-03-01T10:00:00.123456+01:00 myhost sshd[123]: rsyslog high precision",
            (
                Some(T - H + 123_456),
                None,
                Some("myhost"),
                Some("sshd"),
                "rsyslog high precision",
                None,
            ),
        ),
        (
            r#"2024-03-01T10:00:00.123456789Z stdout F {"level":"error","msg":"x","ts":"2024-03-01T10:00:01Z"}"#,
            (Some(T + 1_000_000), Some("ERROR"), None, None, "x", None),
        ),
        (
            "2024-03-01T10:00:00.5Z stderr F level=warn msg=cri",
            (Some(T + 500_000), Some("WARN"), None, None, "cri", None),
        ),
        (
            "2024-03-01T10:00:00Z stdout P 2024-03-01 10:00:02 DEBUG plain payload",
            (
                Some(T + 2_000_000),
                Some("DEBUG"),
                None,
                None,
                "plain payload",
                None,
            ),
        ),
        // Prose keeps its words.
        (
            "user error count is 3",
            (None, None, None, None, "user error count is 3", None),
        ),
        (
            "2024-03-01 10:00:00 - user - error count is 3",
            (Some(T), None, None, None, "- user - error count is 3", None),
        ),
    ];
    let mut input = String::new();
    for (text, _) in &cases {
        input.push_str(text);
        input.push('\n');
    }
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "layouts.log", input.as_bytes());
    for (derive_text, rows, _) in both_ways(&p, opts()) {
        assert_eq!(rows.len(), cases.len());
        for (row, (text, want)) in rows.iter().zip(&cases) {
            assert_eq!(row.raw, *text, "derive_text {derive_text}");
            let got = (
                row.ts,
                row.level.as_deref(),
                row.host.as_deref(),
                row.service.as_deref(),
                row.message.as_str(),
                row.error.as_deref(),
            );
            assert_eq!(got, *want, "{text}");
        }
    }
}

/// A logfmt line with a stack trace or goroutine dump under it, and JSON
/// entries whose first promoted key holds no usable value: one row each,
/// with the columns read as on a single line or from the next key that
/// fits, and `raw` (rebuilt from residuals, or stored whole) byte for byte.
#[test]
fn logfmt_traces_and_json_fallbacks_come_back_whole() {
    let entries = [
        "ts=2024-03-01T10:00:00Z level=error msg=\"request failed\"\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)",
        "ts=2024-03-01T10:00:01Z level=warn msg=stuck user=bob\r\ngoroutine 1 [running]:\r\nmain.main()\r\n\t/app/main.go:12 +0x1d",
        "ts=2024-03-01T10:00:02Z level=error msg=boom\n\tat a.B.c(B.java:2)\n\tat a.B.d(B.java:3)",
        r#"{"ts":"not a time","time":"2025-01-01T00:00:00Z","msg":"a"}"#,
        r#"{"t":"abc","msg":"b"}"#,
        r#"{"date":"Monday","msg":"c"}"#,
        r#"{"msg":42,"message":"real message","level":"banana","severity":"error"}"#,
        r#"{"when":"garbage","ts":"2024-03-01T10:00:03Z","msg":"d"}"#,
    ];
    let t0 = 1_709_287_200_000_000i64;
    let sec = 1_000_000;
    let expected = [
        (
            Some(t0),
            Some("ERROR"),
            "request failed\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)",
            None,
        ),
        (
            Some(t0 + sec),
            Some("WARN"),
            "stuck\r\ngoroutine 1 [running]:\r\nmain.main()\r\n\t/app/main.go:12 +0x1d",
            Some(r#"{"user":"bob"}"#),
        ),
        (
            Some(t0 + 2 * sec),
            Some("ERROR"),
            "boom\n\tat a.B.c(B.java:2)\n\tat a.B.d(B.java:3)",
            None,
        ),
        (
            Some(1_735_689_600_000_000),
            None,
            "a",
            Some(r#"{"ts":"not a time"}"#),
        ),
        (None, None, "b", Some(r#"{"t":"abc"}"#)),
        (None, None, "c", Some(r#"{"date":"Monday"}"#)),
        (
            None,
            Some("ERROR"),
            "real message",
            Some(r#"{"level":"banana","msg":42}"#),
        ),
        (Some(t0 + 3 * sec), None, "d", Some(r#"{"when":"garbage"}"#)),
    ];
    let input = entries.join("\n") + "\n";
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "fallbacks.log", input.as_bytes());
    for (derive_text, time_keys) in [
        (true, vec![]),
        (false, vec![]),
        (true, vec!["when".to_owned()]),
    ] {
        let (rows, stats) = ingest(
            vec![InputSpec::File(p.clone())],
            IngestOptions {
                derive_text,
                time_keys: time_keys.clone(),
                ..opts()
            },
        );
        let context = format!("derive_text {derive_text}, time keys {time_keys:?}");
        assert_eq!(stats.entries, entries.len() as u64, "{context}");
        assert_eq!(stats.errors, 0, "{context}");
        let raw: Vec<&str> = rows.iter().map(|r| r.raw.as_str()).collect();
        assert_eq!(raw, entries, "{context}");
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.ts,
                    r.level.as_deref(),
                    r.message.as_str(),
                    r.fields.as_deref(),
                )
            })
            .collect();
        assert_eq!(got, expected, "{context}");
        assert!(rows.iter().all(|r| r.error.is_none()), "{context}");
    }
}

/// Rows whose column was promoted from a key other than its best one store
/// their `fields`: the query layer's parse ([`residual::derived_fields`])
/// does not fall back, so that rows written before the fallback existed
/// keep reading as they were written, every key outside the columns kept.
#[test]
fn rows_whose_column_came_from_a_later_key_store_their_fields() {
    let fell_back = [
        r#"{"ts":"not a time","time":"2024-01-02T15:04:05Z","msg":"a"}"#,
        r#"{"level":"banana","severity":"error","msg":"b"}"#,
        r#"{"msg":42,"message":"real"}"#,
        r#"{"service":"","app":"api","msg":"d"}"#,
        "ts=soon time=2024-01-02T15:04:05Z level=banana severity=warn msg=c",
    ];
    // What rows written before the fallback show for these texts.
    let before = [
        r#"{"time":"2024-01-02T15:04:05Z","ts":"not a time"}"#,
        r#"{"level":"banana","severity":"error"}"#,
        r#"{"message":"real","msg":42}"#,
        r#"{"app":"api","service":""}"#,
        r#"{"ts":"soon","time":"2024-01-02T15:04:05Z","level":"banana","severity":"warn"}"#,
    ];
    // No fallback: `fields` is left to the parse at query time.
    let derived = [
        r#"{"ts":"2024-01-02T15:04:05Z","msg":"e","n":1}"#,
        r#"{"date":"2024-03-01","time":"10:00:00","msg":"x"}"#,
        "date=2024-03-01 time=10:00:00 level=info msg=x",
        "ts=2024-01-02T15:04:05Z level=warn msg=ok n=1",
    ];
    // Those rows' columns: no ts, level, service; the message their best key gave.
    let messages = ["a", "b", "", "d", "c"];
    for ((text, want), message) in fell_back.iter().zip(before).zip(messages) {
        let row = residual::RowColumns {
            message: Some(message),
            ..Default::default()
        };
        assert_eq!(
            residual::derived_fields(text, &row).as_deref(),
            Some(want),
            "{text}"
        );
    }
    let full = logoscope_ingest::EntryParser::new(logoscope_ingest::ParseOptions {
        now_micros: Some(NOW),
        ..Default::default()
    });
    let entries: Vec<&str> = fell_back.iter().chain(&derived).copied().collect();
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "f.log", (entries.join("\n") + "\n").as_bytes());
    let (rows, stats) = ingest(vec![InputSpec::File(p)], opts());
    assert_eq!((stats.entries, stats.errors), (entries.len() as u64, 0));
    for (i, (row, text)) in rows.iter().zip(&entries).enumerate() {
        assert_eq!(&row.raw, text);
        let e = full.parse(text);
        assert_eq!(row.fields, e.fields, "{text}");
        assert_eq!(row.fields_stored, i < fell_back.len(), "{text}");
        assert_eq!(row.ts, e.ts, "{text}");
    }
}

/// A row written by older rules that did not read a value its key holds
/// (a time with a zone name) has a null column: the query layer's parse
/// keeps that key in `fields` rather than promote it to nowhere, and
/// promotes it where the row's column holds the value.
#[test]
fn derived_fields_keep_what_the_row_did_not_promote() {
    let ts = Some(1_709_287_200_000_000); // 2024-03-01T10:00:00Z
    let cases = [
        (
            r#"{"time":"2024-03-01 10:00:00 UTC","msg":"x"}"#,
            "x",
            None,
            Some(r#"{"time":"2024-03-01 10:00:00 UTC"}"#),
        ),
        (
            r#"{"time":"2024-03-01 10:00:00 UTC","msg":"x"}"#,
            "x",
            ts,
            None,
        ),
        (
            r#"time="2024-03-01 10:00:00 CET" msg=y n=1"#,
            "y",
            None,
            Some(r#"{"time":"2024-03-01 10:00:00 CET","n":"1"}"#),
        ),
        (
            r#"{"level":"error","msg":"z","service":"s"}"#,
            "z",
            None,
            Some(r#"{"level":"error","service":"s"}"#),
        ),
        (
            r#"{"msg":"m","user":"u"}"#,
            "other",
            None,
            Some(r#"{"msg":"m","user":"u"}"#),
        ),
    ];
    for (text, message, ts, want) in cases {
        let row = residual::RowColumns {
            ts,
            message: Some(message),
            ..Default::default()
        };
        assert_eq!(
            residual::derived_fields(text, &row).as_deref(),
            want,
            "{text}"
        );
    }
    // A time without a year reads as the year the row holds, whenever the
    // query runs (years away from the ingest clock, at a year's edges).
    for (text, ts) in [
        (
            r#"{"time":"Nov 23 06:00:07","msg":"m","k":1}"#,
            1_574_488_807_000_000,
        ), // 2019-11-23T06:00:07Z
        (
            r#"{"time":"Dec 31 23:30:00","msg":"m","k":1}"#,
            1_577_835_000_000_000,
        ), // 2019-12-31T23:30:00Z
        (
            r#"{"time":"Jan  1 00:10:00","msg":"m","k":1}"#,
            1_577_837_400_000_000,
        ), // 2020-01-01T00:10:00Z
        (
            r#"{"time":"Feb 29 12:00:00","msg":"m","k":1}"#,
            1_330_516_800_000_000,
        ), // 2012-02-29T12:00:00Z
    ] {
        let row = residual::RowColumns {
            ts: Some(ts),
            message: Some("m"),
            ..Default::default()
        };
        assert_eq!(
            residual::derived_fields(text, &row).as_deref(),
            Some(r#"{"k":1}"#),
            "{text}"
        );
    }
    // With every column as the parse gives it, the parse's own fields.
    let row = residual::RowColumns {
        message: Some("z"),
        level: Some("ERROR"),
        service: Some("s"),
        ..Default::default()
    };
    assert_eq!(
        residual::derived_fields(r#"{"level":"error","msg":"z","service":"s","k":1}"#, &row)
            .as_deref(),
        Some(r#"{"k":1}"#)
    );
}

/// `--service` and `--host` win over the entry's own keys, which stay in
/// `fields`; a parse at query time would promote them, so `fields` is stored.
#[test]
fn options_override_service_and_host() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "s.log",
        concat!(
            "{\"msg\":\"m\",\"service\":\"inner\"}\n",
            "{\"service\":\"\",\"app\":\"api\",\"host\":\"h1\",\"msg\":\"m\"}\n",
            "service=orig hostname=h2 msg=m\n",
            "plain\n",
        )
        .as_bytes(),
    );
    for (derive_text, rows, _) in both_ways(
        &p,
        IngestOptions {
            service: Some("outer".into()),
            host: Some("box".into()),
            ..opts()
        },
    ) {
        assert!(rows.iter().all(|r| r.service.as_deref() == Some("outer")));
        assert!(rows.iter().all(|r| r.host.as_deref() == Some("box")));
        let fields: Vec<_> = rows.iter().map(|r| r.fields.as_deref()).collect();
        assert_eq!(
            fields,
            [
                Some(r#"{"service":"inner"}"#),
                Some(r#"{"app":"api","host":"h1","service":""}"#),
                Some(r#"{"service":"orig","hostname":"h2"}"#),
                None,
            ],
            "derive_text {derive_text}"
        );
    }
}

/// Container log lines: an empty line is a row with an empty message, and
/// a payload time without a year takes the year of the line's time.
#[test]
fn container_lines_empty_or_with_yearless_times() {
    let entries = [
        "2024-03-01T10:00:00Z stdout F ",
        "2024-03-01T10:00:00Z stdout F <13>Mar  1 10:00:04 h app: x",
        "2024-03-01T10:00:01Z stdout F after",
    ];
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "c.log", (entries.join("\n") + "\n").as_bytes());
    let t = 1_709_287_200_000_000i64;
    for (derive_text, rows, stats) in both_ways(
        &p,
        IngestOptions {
            // 2026-11-22: not the year of the lines.
            now_micros: Some(1_795_305_600_000_000),
            ..opts()
        },
    ) {
        assert_eq!(stats.entries, 3);
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.raw.as_str(), r.ts, r.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (entries[0], Some(t), ""),
                (entries[1], Some(t + 4_000_000), "x"),
                (entries[2], Some(t + 1_000_000), "after"),
            ],
            "derive_text {derive_text}"
        );
    }
}

/// Container lines as the kubelet writes them: a trace printed line by
/// line is one entry whose message is the payloads, a JSON line the runtime
/// split into partial lines is one JSON entry, and `raw` is the lines as
/// read, whether the query layer derives the text or not.
#[test]
fn container_traces_and_split_lines_are_one_entry() {
    let lines = [
        "2024-03-01T10:00:00.1Z stderr F 2024-03-01 10:00:00,100 ERROR [main] Pay - charge failed",
        "2024-03-01T10:00:00.1Z stderr F java.lang.IllegalStateException: declined",
        "2024-03-01T10:00:00.2Z stderr F \tat com.shop.Pay.charge(Pay.java:10)",
        "2024-03-01T10:00:01Z stdout P {\"level\":\"warn\",\"msg\":\"slow ",
        "2024-03-01T10:00:01Z stdout P query\",\"trace_id\":\"4bf92f3577b34da6a3ce929d0e0e4736\",",
        "2024-03-01T10:00:01Z stdout F \"ms\":830}",
        "2024-03-01T10:00:02Z stdout F INFO done",
    ];
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "pod.log",
        (lines.join("\r\n") + "\n").as_bytes(),
    );
    let t = 1_709_287_200_000_000i64;
    for (derive_text, rows, stats) in both_ways(&p, opts()) {
        assert_eq!((stats.entries, stats.lines), (3, 7));
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.raw.as_str(),
                    r.ts,
                    r.level.as_deref(),
                    r.message.as_str(),
                    r.trace_id.as_deref(),
                    r.line,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                (
                    lines[..3].join("\r\n").as_str(),
                    Some(t + 100_000),
                    Some("ERROR"),
                    "charge failed\r\njava.lang.IllegalStateException: declined\r\n\tat com.shop.Pay.charge(Pay.java:10)",
                    None,
                    1,
                ),
                (
                    lines[3..6].join("\r\n").as_str(),
                    Some(t + 1_000_000),
                    Some("WARN"),
                    "slow query",
                    Some("4bf92f3577b34da6a3ce929d0e0e4736"),
                    4,
                ),
                (lines[6], Some(t + 2_000_000), Some("INFO"), "done", None, 7),
            ],
            "derive_text {derive_text}"
        );
        assert_eq!(rows[1].fields.as_deref(), Some(r#"{"ms":830}"#));
    }
}

#[test]
fn json_shape_groups_templates_by_keys_not_values() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "j.log",
        br#"{"msg":"login","user":"bob","host":"a"}
{"msg":"login","user":"eve","host":"b"}
{"msg":"login","user":"eve","ip":"1.2.3.4"}
"#,
    );
    let (rows, _) = ingest(vec![InputSpec::File(p)], opts());
    assert_eq!(rows[0].template_id, rows[1].template_id);
    assert_ne!(rows[0].template_id, rows[2].template_id);
    assert_eq!(rows[0].message, "login");
}

/// A multi-line JSON message (a stack trace in `msg`): the key set ends the
/// first line of Drain's input, so it stays in the template instead of
/// joining the trace's value, and the single-line messages with the same
/// text keep templates of their own.
#[test]
fn json_shape_stays_in_the_template_of_a_multi_line_message() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "j.log",
        br#"{"msg":"boom\n\tat a.b(C.java:1)","user":"x"}
{"msg":"boom\n\tat a.b(C.java:2)","order":7}
{"msg":"boom\n\tat a.b(C.java:3)","user":"y"}
{"msg":"boom","user":"x"}
{"msg":"boom","order":7}
"#,
    );
    let (rows, _) = ingest(vec![InputSpec::File(p)], opts());
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0].template_id, rows[2].template_id);
    let ids: std::collections::HashSet<u64> = rows.iter().map(|r| r.template_id).collect();
    assert_eq!(ids.len(), 4, "{rows:#?}");
    assert_eq!(rows[0].message, "boom\n\tat a.b(C.java:1)");
    assert_eq!(rows[1].message, "boom\n\tat a.b(C.java:2)");
    // Escaped in the JSON text, a multi-line message is stored; the others
    // are rebuilt.
    assert!(!rows[3].message_stored && !rows[4].message_stored);
}

#[test]
fn expansion_rules() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "b.log", b"b\n");
    write(d, "a.log", b"a\n");
    write(d, ".hidden.log", b"h\n");
    write(d, ".git/config", b"x\n");
    write(d, "sub/c.log", b"c\n");
    write(d, "sub/deeper/d.txt", b"d\n");
    std::os::unix::fs::symlink(d.join("sub"), d.join("zlink")).unwrap();
    std::os::unix::fs::symlink(d.join("a.log"), d.join("zfile.log")).unwrap();
    let got = expand_inputs(&[d.to_string_lossy().into_owned()]).unwrap();
    let names: Vec<String> = got
        .iter()
        .map(|s| match s {
            InputSpec::File(p) => p.strip_prefix(d).unwrap().to_string_lossy().into_owned(),
            InputSpec::Stdin => "-".into(),
        })
        .collect();
    assert_eq!(
        names,
        vec![
            "a.log",
            "b.log",
            "sub/c.log",
            "sub/deeper/d.txt",
            "zfile.log"
        ]
    );

    let pattern = format!("{}/*.log", d.display());
    let got = expand_inputs(&[pattern, "-".into()]).unwrap();
    assert_eq!(got.len(), 4); // a.log b.log zfile.log, then stdin
    assert_eq!(got[3], InputSpec::Stdin);

    let nomatch = format!("{}/*.nothing", d.display());
    let err = expand_inputs(std::slice::from_ref(&nomatch)).unwrap_err();
    assert!(matches!(err, IngestError::NoMatch { .. }));
    assert!(err.to_string().contains("*.nothing"));

    // A link whose target is gone is an error naming it; the rest is taken.
    std::os::unix::fs::symlink(d.join("gone.log"), d.join("sub/broken.log")).unwrap();
    let found = logoscope_ingest::inputs::expand(&[d.to_string_lossy().into_owned()]);
    assert_eq!(found.inputs.len(), 5);
    assert_eq!(found.errors.len(), 1);
    let err = found.errors[0].to_string();
    assert!(err.contains("broken.log"), "{err}");
    // So is a glob's match, not "matches nothing".
    let pattern = format!("{}/sub/b*.log", d.display());
    let err = expand_inputs(&[pattern]).unwrap_err();
    assert!(matches!(err, IngestError::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("broken.log"), "{err}");
}

/// Globs behave as a shell's: a name that is not UTF-8 beside the matches does
/// not stop them, and only a literal leading `.` matches a hidden name.
#[test]
fn globs_follow_the_shell() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "sub/ok.log", b"q\n");
    write(d, ".z.log", b"z\n");
    write(d, ".hid/x.log", b"x\n");
    write(d, "deep/.hid/y.log", b"y\n");
    write(d, "deep/a/y.log", b"y\n");
    let odd = d.join(OsStr::from_bytes(b"\xfe.log"));
    std::fs::write(&odd, b"r\n").unwrap();
    let names = |pattern: &str| -> Vec<String> {
        expand_inputs(&[format!("{}/{pattern}", d.display())])
            .unwrap()
            .iter()
            .map(|s| match s {
                InputSpec::File(p) => p.strip_prefix(d).unwrap().to_string_lossy().into_owned(),
                InputSpec::Stdin => "-".into(),
            })
            .collect()
    };
    assert_eq!(names("*/ok.log"), ["sub/ok.log"]);
    assert_eq!(names(".*.log"), [".z.log"]);
    assert_eq!(names(".*/*.log"), [".hid/x.log"]);
    assert_eq!(names("*/*.log"), ["sub/ok.log"]);
    assert_eq!(names("deep/**/y.log"), ["deep/a/y.log"]);
    assert_eq!(names("deep/**/.hid/y.log"), ["deep/.hid/y.log"]);
    // A name that is not UTF-8 is read when named, or found by a directory walk.
    let found = logoscope_ingest::inputs::expand(&[odd.as_os_str()]);
    assert_eq!(found.inputs, [InputSpec::File(odd.clone())]);
    let found = logoscope_ingest::inputs::expand(&[d.as_os_str()]);
    assert!(found.inputs.contains(&InputSpec::File(odd)), "{found:?}");
    // A FIFO is read only when named: a glob matching only one says so.
    let fifo = d.join("pipe.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let err = expand_inputs(&[format!("{}/*.fifo", d.display())]).unwrap_err();
    assert!(
        matches!(err, IngestError::NoMatch { specials: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains("read only when named directly"),
        "{err}"
    );
}

/// Walking a directory that holds the archive being written leaves the archive out.
#[test]
fn the_archive_being_written_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "app.log", b"a\n");
    write(d, "logoscope-data/_delta_log/0.json", b"{}\n");
    write(d, "logoscope-data/dt=x/part-0.parquet", b"PAR1\n");
    let archive = d.join("logoscope-data");
    let found = logoscope_ingest::inputs::expand_except(&[d.as_os_str()], Some(&archive));
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    assert_eq!(found.inputs, [InputSpec::File(d.join("app.log"))]);
    // Without the exclusion the walk takes everything.
    assert_eq!(
        logoscope_ingest::inputs::expand(&[d.as_os_str()])
            .inputs
            .len(),
        3
    );
    // Naming the archive, or a file in it, is an error that says why.
    let inside = archive.join("_delta_log/0.json");
    for named in [&archive, &inside] {
        let found = logoscope_ingest::inputs::expand_except(&[named.as_os_str()], Some(&archive));
        assert!(found.inputs.is_empty());
        let err = found.errors[0].to_string();
        assert!(err.contains("is in the archive being written"), "{err}");
    }
    // A glob passes over it, and says so when that leaves nothing.
    let glob = |pattern: &str| {
        let pattern = format!("{}/{pattern}", d.display());
        logoscope_ingest::inputs::expand_except(&[pattern], Some(&archive))
    };
    let found = glob("*/*");
    assert!(found.inputs.is_empty());
    let err = found.errors[0].to_string();
    assert!(err.contains("but 2 in the archive being written"), "{err}");
    let found = glob("**/*");
    assert_eq!(
        found.inputs,
        [InputSpec::File(d.join("app.log"))],
        "{found:?}"
    );
}

#[test]
fn pull_api_and_progress() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "p.log", many_lines(2500).as_bytes());
    let mut catalog = TemplateCatalog::new(DrainConfig::default());
    let mut pipeline = Pipeline::new(
        vec![InputSpec::File(p)],
        IngestOptions {
            batch_rows: 1000,
            ..opts()
        },
    );
    let mut sizes = Vec::new();
    while let Some(b) = pipeline.next_batch(&mut catalog).unwrap() {
        sizes.push(b.num_rows());
    }
    assert_eq!(sizes, vec![1000, 1000, 500]);
    assert_eq!(pipeline.stats().entries, 2500);
    assert_eq!(pipeline.progress().inputs_done, 1);
}

/// Lines of the kinds framing treats specially, to mix at random.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("2024-01-02T15:04:05Z INFO start".to_owned()),
        Just("\tat com.x.A.run(A.java:1)".to_owned()),
        Just("    indented".to_owned()),
        Just(String::new()),
        Just("   ".to_owned()),
        Just("{\"open\": [".to_owned()),
        Just("]}".to_owned()),
        Just("{\"ok\":1}".to_owned()),
        Just("Traceback (most recent call last):".to_owned()),
        Just("ValueError: x".to_owned()),
        Just("panic: boom".to_owned()),
        Just("goroutine 1 [running]:".to_owned()),
        Just("main.main()".to_owned()),
        Just("thread 'main' panicked at src/x.rs:1:1:".to_owned()),
        Just("stack backtrace:".to_owned()),
        Just("Caused by: x.y.Z: q".to_owned()),
        Just("... 3 more".to_owned()),
        Just("a lone\rcarriage return".to_owned()),
        Just("ts=2024-01-02T15:04:05Z level=error msg=\"x y\" k=v".to_owned()),
        Just("{\"t\":\"abc\",\"level\":\"x\",\"severity\":\"warn\",\"msg\":1}".to_owned()),
        "[a-z =\\{\\}\"]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn every_line_is_accounted_for(lines in prop::collection::vec(fragment(), 0..60), crlf in any::<bool>(), trailing in any::<bool>(), max in 8usize..200) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let mut text = lines.join(sep);
        if trailing && !lines.is_empty() {
            text.push_str(sep);
        }
        let expected_lines = if text.is_empty() { 0 } else { text.split('\n').count() - usize::from(text.ends_with('\n')) };
        let physical: Vec<&str> = text.split('\n').collect();
        let mut f = EntryFramer::new(text.as_bytes(), FramerConfig { max_entry_bytes: max, ..FramerConfig::default() });
        let mut counted = 0u64;
        let mut last_line = 0;
        while let Some(e) = f.next_entry().unwrap() {
            prop_assert!(e.line > last_line);
            prop_assert!(e.text.len() <= max);
            // The text is the entry's lines byte for byte, without the last
            // line's terminator.
            let first = e.line as usize - 1;
            let whole = physical[first..first + e.lines as usize].join("\n");
            let whole = whole.strip_suffix('\r').unwrap_or(&whole);
            if e.truncated {
                prop_assert!(whole.starts_with(&*e.text));
            } else {
                prop_assert_eq!(&*e.text, whole);
            }
            last_line = e.line;
            counted += u64::from(e.lines);
        }
        prop_assert_eq!(counted + f.blank_lines(), expected_lines as u64);
        prop_assert_eq!(f.lines_read(), expected_lines as u64);
    }

    #[test]
    fn entries_in_equal_rows_out(lines in prop::collection::vec(fragment(), 1..40)) {
        let text = lines.join("\n");
        let mut f = EntryFramer::new(text.as_bytes(), FramerConfig::default());
        let mut entries = 0u64;
        let mut texts = Vec::new();
        while let Some(e) = f.next_entry().unwrap() {
            entries += 1;
            texts.push(e.text.into_owned());
        }
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "x.log", text.as_bytes());
        let (rows, stats) = ingest(vec![InputSpec::File(p)], IngestOptions { background_parse: false, ..opts() });
        prop_assert_eq!(rows.len() as u64, entries);
        // Each row's `raw`, rebuilt from its residual, is its entry's text.
        let raw: Vec<&str> = rows.iter().map(|r| r.raw.as_str()).collect();
        prop_assert_eq!(raw, texts.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(stats.entries, entries);
        prop_assert_eq!(stats.lines, f.lines_read());
    }
}
