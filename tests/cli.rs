//! The CLI end to end: generate, ingest (files, dirs, globs, stdin, compressed), sql.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use crate::util::{bin, count_rows, data, ingest, lines, ok, run, s, sql_int, stderr};

#[test]
fn help_explains_every_command() {
    let top = ok(&["--help"]);
    for cmd in ["ingest", "sql", "generate"] {
        assert!(top.contains(cmd), "--help lacks {cmd}: {top}");
    }
    let ingest = ok(&["ingest", "--help"]);
    for flag in [
        "--to",
        "--time-key",
        "--service",
        "--host",
        "--max-entry-bytes",
        "logfmt",
        "syslog",
    ] {
        assert!(ingest.contains(flag), "ingest --help lacks {flag}");
    }
    // --service and --host win over what an entry says (the README's rule).
    let flat = ingest.split_whitespace().collect::<Vec<_>>().join(" ");
    for what in ["service", "host"] {
        assert!(
            flat.contains(&format!("overrides the {what} an entry names itself")),
            "ingest --help misstates --{what}: {ingest}"
        );
    }
    assert!(!flat.contains("does not name its own"), "{ingest}");
}

#[test]
fn generate_is_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.log");
    let b = dir.path().join("b.log");
    let c = dir.path().join("c.log");
    ok(&["generate", "-n", "3000", "--seed", "7", "-o", s(&a)]);
    ok(&["generate", "-n", "3000", "--seed", "7", "-o", s(&b)]);
    ok(&["generate", "-n", "3000", "--seed", "8", "-o", s(&c)]);
    let (a, b, c) = (
        std::fs::read(a).unwrap(),
        std::fs::read(b).unwrap(),
        std::fs::read(c).unwrap(),
    );
    assert!(!a.is_empty());
    assert_eq!(a, b, "same seed, same bytes");
    assert_ne!(a, c, "another seed, other bytes");
}

/// A quoted value of several words, then one of one word, in one ingest:
/// the archive reads back (the template was once recorded as its own
/// parent, which made every later query and ingest fail).
#[test]
fn quoted_values_of_one_and_several_words_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("jobs.log");
    let text =
        "job started name=\"nightly backup\" retries=3\njob started name=\"cleanup\" retries=0\n";
    std::fs::write(&input, text).unwrap();
    let store = dir.path().join("a");
    for _ in 0..2 {
        ok(&["ingest", s(&input), "--to", s(&store), "-q"]);
    }
    let raw = ok(&[
        "sql",
        "--store",
        s(&store),
        "--format",
        "csv",
        "SELECT raw FROM logs ORDER BY line",
    ]);
    let first = "\"job started name=\"\"nightly backup\"\" retries=3\"";
    let second = "\"job started name=\"\"cleanup\"\" retries=0\"";
    assert_eq!(raw, format!("raw\n{first}\n{first}\n{second}\n{second}\n"));
    let templates = ok(&[
        "sql",
        "--store",
        s(&store),
        "--format",
        "csv",
        "SELECT template, count FROM templates",
    ]);
    assert_eq!(
        templates,
        "template,count\n\"job started name=\"\"<*>\"\" retries=<NUM>\",4\n"
    );
}

/// A failing output leaves the other as it was; the two outputs must differ;
/// the truth may go to stdout.
#[test]
fn generate_outputs_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("keep.log");
    ok(&["generate", "-n", "50", "-o", s(&log)]);
    let before = std::fs::read(&log).unwrap();
    let missing = dir.path().join("missing/t.jsonl");
    let out = run(&[
        "generate",
        "-n",
        "60",
        "-o",
        s(&log),
        "--truth",
        s(&missing),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing/t.jsonl"));
    assert_eq!(std::fs::read(&log).unwrap(), before, "the old corpus stays");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");

    let out = run(&["generate", "-n", "5", "-o", s(&log), "--truth", s(&log)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("same file"));
    let out = run(&["generate", "-n", "5", "--truth", "-"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&log).unwrap(), before);

    // A symbolic link is written through, and `/dev/null` may take both.
    let target = dir.path().join("target.log");
    std::fs::write(&target, "old\n").unwrap();
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    // A failing truth leaves the link's target as it was.
    let out = run(&[
        "generate",
        "-n",
        "5",
        "-o",
        s(&link),
        "--truth",
        s(&missing),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(std::fs::read(&target).unwrap(), b"old\n");
    // A (dangling) link and its target are one file.
    let dangling = dir.path().join("dangling.log");
    std::os::unix::fs::symlink(dir.path().join("later.log"), &dangling).unwrap();
    let out = run(&[
        "generate",
        "-n",
        "5",
        "-o",
        s(&dangling),
        "--truth",
        s(&dir.path().join("later.log")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("same file"));
    let out = run(&["generate", "-n", "5", "-o", "-", "--truth", "/dev/stdout"]);
    assert_eq!(out.status.code(), Some(2));
    ok(&["generate", "-n", "5", "-o", s(&link)]);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(std::fs::read(&target).unwrap().len() > 100);
    ok(&[
        "generate",
        "-n",
        "5",
        "-o",
        "/dev/null",
        "--truth",
        "/dev/null",
    ]);

    // `--truth -` writes the ground truth to stdout.
    let truth = ok(&["generate", "-n", "5", "-o", s(&log), "--truth", "-"]);
    let last: serde_json::Value = serde_json::from_str(truth.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "summary");
    assert_eq!(last["bytes"], std::fs::metadata(&log).unwrap().len());
}

/// Entries in == rows out on the generated corpus, whose ground truth counts entries.
#[test]
fn every_generated_entry_is_a_row() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.log");
    let truth = dir.path().join("truth.jsonl");
    ok(&[
        "generate",
        "-n",
        "5000",
        "--seed",
        "3",
        "-o",
        s(&corpus),
        "--truth",
        s(&truth),
    ]);
    let truth_text = std::fs::read_to_string(&truth).unwrap();
    let entries = truth_text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("line").is_some())
        .count() as i64;
    assert_eq!(
        entries, 5000,
        "the generator writes one truth row per entry"
    );
    let store = dir.path().join("archive");
    ok(&[
        "ingest",
        s(&corpus),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    assert_eq!(count_rows(s(&store)), entries);
    // Partitioned by day and hour, entries without a timestamp kept apart.
    let partitions = sql_int(
        s(&store),
        "SELECT count(DISTINCT dt || hour) AS n FROM logs_stored",
    );
    assert!(partitions > 1, "{partitions} partitions");
}

/// `raw` rebuilt by the query layer reproduces the input exactly.
#[test]
fn raw_text_is_reproduced_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("archive");
    for sample in ["samples/app.log", "samples/app.jsonl", "samples/mixed.log"] {
        let path = data(sample);
        ok(&["ingest", s(&path), "--to", s(&store), "--progress", "never"]);
        let json = ok(&[
            "sql",
            "--store",
            s(&store),
            "--format",
            "json",
            &format!(
                "SELECT raw FROM logs WHERE source = '{}' ORDER BY line",
                s(&path)
            ),
        ]);
        let rows: Vec<serde_json::Value> = serde_json::from_str(&json).unwrap();
        let rebuilt: Vec<&str> = rows.iter().map(|r| r["raw"].as_str().unwrap()).collect();
        let original = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            rebuilt.join("\n"),
            original.trim_end_matches('\n'),
            "{sample}"
        );
    }
}

#[test]
fn a_second_ingest_appends_and_continues_the_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("archive");
    let input = data("samples/app.log");
    let first = ok(&[
        "ingest",
        s(&input),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    let n = count_rows(s(&store));
    assert!(n > 0);
    let second = ok(&[
        "ingest",
        s(&input),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    assert_eq!(count_rows(s(&store)), 2 * n);
    assert!(
        !first.contains("templates 0 new"),
        "first ingest learns templates: {first}"
    );
    assert!(
        second.contains("templates 0 new"),
        "same input, no new template: {second}"
    );
    // Same template text, same id: no template id appears twice in the catalog.
    let distinct = sql_int(
        s(&store),
        "SELECT count(DISTINCT template_id) AS n FROM templates",
    );
    let all = sql_int(s(&store), "SELECT count(*) AS n FROM templates");
    assert_eq!(distinct, all);
}

#[test]
fn directories_globs_stdin_and_compressed_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("nested")).unwrap();
    std::fs::create_dir_all(logs.join(".hidden")).unwrap();
    let line = |i: usize| {
        format!(
            "2026-03-02T10:00:{:02}Z INFO worker {i} finished job in {i}ms\n",
            i % 60
        )
    };
    let text: String = (0..50).map(line).collect();
    std::fs::write(logs.join("a.log"), &text).unwrap();
    std::fs::write(logs.join("nested/b.log"), &text).unwrap();
    std::fs::write(logs.join(".hidden/skipped.log"), &text).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(text.as_bytes()).unwrap();
    // The name says nothing: compression is detected by content.
    std::fs::write(logs.join("nested/c.data"), gz.finish().unwrap()).unwrap();
    std::fs::write(
        logs.join("d.zst"),
        zstd::encode_all(text.as_bytes(), 3).unwrap(),
    )
    .unwrap();

    let store = dir.path().join("archive");
    ok(&["ingest", s(&logs), "--to", s(&store), "--progress", "never"]);
    assert_eq!(
        count_rows(s(&store)),
        4 * 50,
        "a.log, nested/b.log, nested/c.data, d.zst; not .hidden"
    );

    let glob = format!("{}/*.log", s(&logs));
    let store2 = dir.path().join("archive2");
    ok(&["ingest", &glob, "--to", s(&store2), "--progress", "never"]);
    assert_eq!(count_rows(s(&store2)), 50);

    let store3 = dir.path().join("archive3");
    let mut child = bin()
        .args([
            "ingest",
            "-",
            "--to",
            s(&store3),
            "--progress",
            "never",
            "--service",
            "batch",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(
        sql_int(
            s(&store3),
            "SELECT count(*) AS n FROM logs WHERE source = '-' AND service = 'batch'"
        ),
        50
    );
}

#[test]
fn time_key_and_levels_are_extracted() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("app.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"when":"2026-03-02T10:00:00+02:00","level":"warning","msg":"disk 91% full","svc":"x"}"#,
            "\n",
            r#"{"when":1772445600123,"level":50,"msg":"boom"}"#,
            "\n"
        ),
    )
    .unwrap();
    let store = dir.path().join("archive");
    ok(&[
        "ingest",
        s(&input),
        "--to",
        s(&store),
        "--time-key",
        "when",
        "--progress",
        "never",
    ]);
    assert_eq!(
        sql_int(
            s(&store),
            "SELECT count(*) AS n FROM logs WHERE ts = TIMESTAMP '2026-03-02T08:00:00Z' AND level = 'WARN'"
        ),
        1
    );
    assert_eq!(
        sql_int(
            s(&store),
            "SELECT count(*) AS n FROM logs WHERE ts = to_timestamp_millis(1772445600123) AND level = 'ERROR'"
        ),
        1
    );
    // The time key is not a field: `boom` has none left, `disk` keeps `svc`.
    assert_eq!(
        sql_int(
            s(&store),
            "SELECT count(*) AS n FROM logs WHERE message = 'boom' AND fields IS NULL"
        ),
        1
    );
    assert_eq!(
        sql_int(
            s(&store),
            r#"SELECT count(*) AS n FROM logs WHERE fields = '{"svc":"x"}'"#
        ),
        1
    );
}

/// Ids written into plain and syslog text become columns; the rows still
/// give back their text exactly. A repeated logfmt key keeps its last value.
#[test]
fn ids_in_text_and_repeated_keys() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mixed.log");
    let text = concat!(
        "2026-03-02T10:00:00Z ERROR charge failed trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7\n",
        "<165>1 2026-03-02T10:00:01Z web01 api - ID1 [otel@1 traceId=\"0af7651916cd43dd8448eb211c80319c\"] retry\n",
        "2026-03-02T10:00:02Z INFO job done [traceID: Ab-12, parent_id: 7]\n",
        "ts=2026-03-02T10:00:03Z level=info msg=first a=1 level=error msg=second a=2\n",
    );
    std::fs::write(&input, text).unwrap();
    let store = dir.path().join("archive");
    let out = ingest(&input, &store);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = ok(&[
        "sql",
        "--store",
        s(&store),
        "--format",
        "ndjson",
        "SELECT trace_id, span_id, parent_span_id, level, message, fields, raw FROM logs ORDER BY line",
    ]);
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<[Option<&str>; 3]> = rows
        .iter()
        .map(|r| ["trace_id", "span_id", "parent_span_id"].map(|k| r[k].as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            [
                Some("4bf92f3577b34da6a3ce929d0e0e4736"),
                Some("00f067aa0ba902b7"),
                None
            ],
            [Some("0af7651916cd43dd8448eb211c80319c"), None, None],
            [Some("Ab-12"), None, Some("7")],
            [None, None, None],
        ]
    );
    let raw: Vec<&str> = rows.iter().map(|r| r["raw"].as_str().unwrap()).collect();
    assert_eq!(raw, text.lines().collect::<Vec<_>>());
    assert_eq!(rows[3]["level"], "ERROR");
    assert_eq!(rows[3]["message"], "second");
    assert_eq!(rows[3]["fields"], r#"{"a":"2"}"#);
}

/// Writes `text` to `input`, ingests it into `store` with `flags` (a bound
/// the input fills), checks every row reads back exactly, and returns stderr.
fn ingest_full_catalog(input: &Path, text: &str, store: &Path, flags: &[&str]) -> String {
    std::fs::write(input, text).unwrap();
    let mut args = vec!["ingest", s(input), "--to", s(store), "--progress", "never"];
    args.extend_from_slice(flags);
    let out = run(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let raw = ok(&[
        "sql",
        "--store",
        s(store),
        "--format",
        "csv",
        "SELECT raw FROM logs ORDER BY line",
    ]);
    let raw: Vec<&str> = raw.lines().skip(1).collect();
    assert_eq!(raw, text.lines().collect::<Vec<_>>());
    stderr(&out)
}

/// A full catalog (`--max-templates`) sends messages that fit no template
/// to an overflow template per word count; every row still reads back
/// exactly, and stderr says what happened.
#[test]
fn a_full_catalog_overflows_without_losing_text() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("unique.log");
    let words = [
        "amber", "basalt", "cedar", "dune", "ember", "fjord", "garnet",
    ];
    let mut text = String::new();
    for i in 0..40 {
        let w = |k: usize| words[(i * (k + 3) + k) % 7].repeat(1 + (i + k) % 3);
        text.push_str(&format!(
            "2026-03-02T10:00:{:02}Z INFO {} {}  {} {}\n",
            i,
            w(0),
            w(1),
            w(2),
            "x".repeat(i + 1)
        ));
    }
    let store = dir.path().join("archive");
    let err = ingest_full_catalog(&input, &text, &store, &["--max-templates", "5"]);
    assert!(
        err.contains("the template catalog is full (--max-templates 5,"),
        "{err}"
    );
    // The count on stderr is the overflow template's rows; every row has a
    // template.
    let said: i64 = err
        .split("): ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {err}"));
    assert!(said > 0);
    let rows_on = |cond: &str| {
        sql_int(
            s(&store),
            &format!(
                "SELECT count(*) AS n FROM logs l JOIN templates t \
                 ON l.template_id = t.template_id WHERE {cond}"
            ),
        )
    };
    assert_eq!(rows_on("t.template = '<*> <*> <*> <*>'"), said);
    assert_eq!(rows_on("true"), 40);
}

/// Long messages that never repeat: the tokens past the bound are one `<*>`,
/// `--max-catalog-bytes` fills the catalog however few templates it holds,
/// and every row still reads back exactly.
#[test]
fn long_unique_messages_fill_the_catalog_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("long.log");
    let mut text = String::new();
    for i in 0..30u32 {
        let words: Vec<String> = (0..400u32)
            .map(|k| {
                let n = (i * 7919 + k * 104_729) % 1_000_003;
                // Letters only: digits would be values, not words.
                n.to_string()
                    .bytes()
                    .map(|d| char::from(d - b'0' + b'a'))
                    .collect()
            })
            .collect();
        text.push_str(&format!(
            "2026-03-02T10:00:{i:02}Z INFO {}\n",
            words.join(" ")
        ));
    }
    let store = dir.path().join("archive");
    let err = ingest_full_catalog(&input, &text, &store, &["--max-catalog-bytes", "40000"]);
    assert!(err.contains("--max-catalog-bytes 40000): "), "{err}");
    // Each template holds 257 tokens (about 12.2 KB counted): four pass
    // 40,000 bytes, and the rest share the overflow template of 257 tokens.
    let longest = sql_int(
        s(&store),
        "SELECT max(length(template) - length(replace(template, ' ', '')) + 1) AS n FROM templates",
    );
    assert_eq!(longest, 257);
    assert_eq!(sql_int(s(&store), "SELECT count(*) AS n FROM templates"), 5);
}

#[test]
fn sql_is_read_only() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("archive");
    ok(&[
        "ingest",
        s(&data("samples/app.log")),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    for query in [
        "CREATE TABLE t AS SELECT 1",
        "INSERT INTO logs_stored SELECT * FROM logs_stored",
        "COPY (SELECT 1) TO '/tmp/x.csv'",
    ] {
        let out = run(&["sql", "--store", s(&store), query]);
        assert!(!out.status.success(), "{query} was allowed");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
}

/// A query may open with a `-- comment`; an empty result still names its
/// columns; a new archive is never made inside an existing one.
#[test]
fn sql_comments_empty_results_and_nested_archives() {
    let (dir, store) = app_archive();
    let out = ok(&[
        "sql",
        "--format",
        "csv",
        "-- levels\nSELECT level, count(*) AS n FROM logs WHERE false GROUP BY level",
        "--store",
        s(&store),
    ]);
    assert_eq!(out, "level,n\n");
    for inner in ["_delta_log", "dt=2026-03-02", "new"] {
        let nested = store.join(inner);
        let out = run(&[
            "ingest",
            s(&data("samples/app.log")),
            "--to",
            s(&nested),
            "-q",
        ]);
        assert_eq!(out.status.code(), Some(2), "{inner}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("inside the archive at"), "{inner}: {err}");
    }
    assert!(!store.join("new").exists());
    assert!(!store.join("_delta_log/_delta_log").exists());
    let out = run(&["ingest", s(&data("samples/app.log")), "--to", ""]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("empty archive location"));
    drop(dir);
}

/// A temporary archive holding `data/samples/app.log`, and its path (the
/// directory lives as long as the guard).
fn app_archive() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("archive");
    ok(&[
        "ingest",
        s(&data("samples/app.log")),
        "--to",
        s(&store),
        "-q",
    ]);
    (dir, store)
}

/// A reader that stops early (`… | head`) is not an error in any format;
/// SQL that does not parse is named once.
#[test]
fn sql_output_closed_early_and_syntax_errors() {
    use std::io::Read;
    let (_dir, store) = app_archive();
    let query = "SELECT v, repeat('x', 200) AS s FROM generate_series(1, 200000) AS t(v)";
    for format in ["csv", "json", "ndjson", "table"] {
        let mut child = crate::util::bin()
            .args(["sql", "--store", s(&store), "--format", format, query])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{format}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stderr.is_empty(), "{format}");
    }
    let out = run(&["sql", "--store", s(&store), "SELEC 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "logoscope: sql parser error: Expected: an SQL statement, found: SELEC at Line: 1, Column: 1\n"
    );
}

/// Filters on the `logs` view reach the archive scan, which skips files by
/// their `ts` bounds and hands the filters to each Parquet scan for row groups.
#[test]
fn filters_through_the_logs_view_prune_files() {
    let (_dir, store) = app_archive();
    let plan = ok(&[
        "sql",
        "--store",
        s(&store),
        "--format",
        "csv",
        "EXPLAIN SELECT count(*) FROM logs WHERE ts > '2024-01-01T00:00:00Z' AND service = 'api'",
    ]);
    let scan = plan
        .lines()
        .find(|l| l.contains("ArchiveScanExec"))
        .unwrap_or_else(|| panic!("no archive scan in {plan}"));
    // The view's `stored_ts(ts, ts_us) > x` implies `ts > x - 1 ms` on the stored column.
    assert!(
        scan.contains("predicate=")
            && scan.contains("ts@0 > 1704067199999000")
            && scan.contains("service@"),
        "{scan}"
    );
}

#[test]
fn masks_and_drop_keys_shape_templates() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("orders.jsonl");
    std::fs::write(
        &input,
        concat!(
            r#"{"ts":"2026-03-02T10:00:00Z","msg":"order ORD-123456 shipped","request_id":"r1"}"#,
            "\n",
            r#"{"ts":"2026-03-02T10:00:01Z","msg":"order ORD-654321 shipped"}"#,
            "\n"
        ),
    )
    .unwrap();
    let config = dir.path().join("logoscope.toml");
    std::fs::write(&config, "drop_keys = [\"request_id\"]\n").unwrap();

    let plain = dir.path().join("plain");
    ok(&[
        "ingest",
        s(&input),
        "--to",
        s(&plain),
        "--progress",
        "never",
    ]);
    assert_eq!(
        sql_int(
            s(&plain),
            "SELECT count(DISTINCT template_id) AS n FROM logs"
        ),
        2,
        "key sets differ"
    );

    let tuned = dir.path().join("tuned");
    let args = [
        "--mask",
        "ORDER=ORD-[0-9]{6}",
        "--config",
        s(&config),
        "--progress",
        "never",
    ];
    ok(&[&["ingest", s(&input), "--to", s(&tuned)][..], &args[..]].concat());
    assert_eq!(
        sql_int(
            s(&tuned),
            "SELECT count(DISTINCT template_id) AS n FROM logs"
        ),
        1,
        "request_id dropped"
    );
    assert_eq!(
        sql_int(
            s(&tuned),
            "SELECT count(*) AS n FROM templates WHERE template LIKE '%<ORDER>%'"
        ),
        1
    );
    // The message is still rebuilt exactly, and the dropped key is kept in fields.
    assert_eq!(
        sql_int(
            s(&tuned),
            "SELECT count(*) AS n FROM logs WHERE message = 'order ORD-123456 shipped'"
        ),
        1
    );
    assert_eq!(
        sql_int(
            s(&tuned),
            "SELECT count(*) AS n FROM logs WHERE fields LIKE '%request_id%'"
        ),
        1
    );

    // Masks belong to the archive: other masks on the same archive are refused.
    let out = run(&[
        "ingest",
        s(&input),
        "--to",
        s(&tuned),
        "--mask",
        "X=x+",
        "--progress",
        "never",
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ORDER="),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // So are drop_keys: an ingest without the config file builds the same shapes...
    ok(&[
        "ingest",
        s(&input),
        "--to",
        s(&tuned),
        "--progress",
        "never",
    ]);
    assert_eq!(
        sql_int(s(&tuned), "SELECT count(*) AS n FROM templates"),
        1,
        "the archive's drop_keys were not kept"
    );
    // ...and other keys are refused, naming the archive's.
    let other = dir.path().join("other.toml");
    std::fs::write(&other, "drop_keys = [\"user\"]\n").unwrap();
    let out = run(&[
        "ingest",
        s(&input),
        "--to",
        s(&tuned),
        "--config",
        s(&other),
        "--progress",
        "never",
    ]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("drop_keys [request_id]"), "{err}");
    // A bad regex or config file is a clear error, and creates nothing.
    let fresh = dir.path().join("fresh");
    let out = run(&[
        "ingest",
        s(&input),
        "--to",
        s(&fresh),
        "--mask",
        "X=(",
        "--progress",
        "never",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("'X=(' for '--mask <NAME=REGEX>': mask X: regex parse error"),
        "{}",
        stderr(&out)
    );
    assert!(!fresh.exists());
    std::fs::write(&config, "drop_key = []\n").unwrap();
    let out = run(&[
        "ingest",
        s(&input),
        "--to",
        "memory://",
        "--config",
        s(&config),
        "--progress",
        "never",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("logoscope.toml"));
}

/// On a terminal, ingest draws a progress bar (bytes and entries per second);
/// piped, it stays silent but for the summary line.
#[test]
fn progress_bar_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.log");
    ok(&["generate", "-n", "60000", "--seed", "5", "-o", s(&corpus)]);
    let store = dir.path().join("a");
    // `script` gives the command a pseudo-terminal and records what it drew.
    let typescript = dir.path().join("typescript");
    let command = format!(
        "{} ingest {} --to {}",
        env!("CARGO_BIN_EXE_logoscope"),
        s(&corpus),
        s(&store)
    );
    let status = std::process::Command::new("script")
        .args(["-qec", &command, s(&typescript)])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("script (util-linux) runs");
    assert!(status.success());
    let drawn = String::from_utf8_lossy(&std::fs::read(&typescript).unwrap()).into_owned();
    assert!(
        drawn.contains(" entries (") && drawn.contains("/s), input "),
        "no progress drawn: {drawn:?}"
    );
    assert!(drawn.contains("ingested 60000 entries"), "{drawn:?}");

    let piped = run(&["ingest", s(&corpus), "--to", s(&dir.path().join("b"))]);
    assert!(piped.status.success());
    // No bar; only the warnings naming the corpus's malformed entries.
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert!(
        stderr
            .lines()
            .all(|l| l.starts_with("logoscope: warning: ")),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&piped.stdout);
    assert_eq!(stdout.lines().count(), 1, "one summary line: {stdout}");
}

/// The README's exit statuses and environment variables.
#[test]
fn exit_statuses_and_environment() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, "2026-03-02T10:00:00Z INFO started\n").unwrap();
    let store = dir.path().join("archive");
    let code = |out: &std::process::Output| out.status.code();

    // 1: an input could not be read at all; the others are still committed.
    let missing = dir.path().join("missing.log");
    let out = run(&[
        "ingest",
        s(&good),
        s(&missing),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    assert_eq!(code(&out), Some(1));
    // 2: nothing could be done (the archive location is a file).
    let out = run(&["ingest", s(&good), "--to", s(&good), "--progress", "never"]);
    assert_eq!(code(&out), Some(2));

    // LOGOSCOPE_STORE stands in for --to and --store; LOGOSCOPE_CONFIG for --config.
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        "[[mask]]\nname = \"STARTED\"\nregex = \"started\"\n",
    )
    .unwrap();
    let env_store = dir.path().join("from-env");
    // `ingest good` with only these variables saying where and how; it succeeds.
    let ingest_with = |cwd: &Path, vars: [(&str, &str); 2]| {
        let out = bin()
            .args(["ingest", s(&good), "--progress", "never"])
            .current_dir(cwd)
            .envs(vars)
            .output()
            .unwrap();
        assert_eq!(
            code(&out),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ingest_with(
        dir.path(),
        [
            ("LOGOSCOPE_STORE", s(&env_store)),
            ("LOGOSCOPE_CONFIG", s(&config)),
        ],
    );
    let out = bin()
        .args([
            "sql",
            "--format",
            "csv",
            "SELECT count(*) AS n FROM templates WHERE template LIKE '%<STARTED>%'",
        ])
        .env("LOGOSCOPE_STORE", s(&env_store))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().nth(1),
        Some("1")
    );

    // --quiet prints nothing; --progress always still draws on a terminal only.
    let out = run(&[
        "ingest",
        s(&good),
        "--to",
        s(&store),
        "-q",
        "--progress",
        "always",
    ]);
    assert_eq!(code(&out), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());

    // Set to nothing, the variables count as unset: the default archive, no
    // configuration.
    let cwd = dir.path().join("cwd");
    std::fs::create_dir(&cwd).unwrap();
    ingest_with(&cwd, [("LOGOSCOPE_STORE", ""), ("LOGOSCOPE_CONFIG", "")]);
    assert!(cwd.join("logoscope-data/_delta_log").is_dir());

    // A mask that matches across a space does nothing, and says so.
    let sessions = dir.path().join("sessions.log");
    std::fs::write(&sessions, "opened session 12 for root\n").unwrap();
    let out = run(&[
        "ingest",
        s(&sessions),
        "--to",
        s(&dir.path().join("spaced")),
        "--mask",
        "SESS=session [0-9]+",
        "--progress",
        "never",
    ]);
    assert_eq!(code(&out), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(
            "warning: mask SESS matched text holding whitespace 1 time; a mask applies within one word"
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A stdout that cannot be written is an error, never a panic; a closed pipe is the
/// reader's choice and exits quietly.
#[test]
fn stdout_full_or_closed() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, "2026-03-02T10:00:00Z INFO started\n").unwrap();
    let full = || {
        std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap()
    };
    let store = dir.path().join("a");
    let out = bin()
        .args(["ingest", s(&good), "--to", s(&store), "--progress", "never"])
        .stdout(full())
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("stdout") && err.contains("No space left on device"),
        "{err}"
    );
    assert_eq!(count_rows(s(&store)), 1, "the commit stands");

    for args in [
        vec!["sql", "--store", s(&store), "SELECT 1"],
        vec!["generate", "-n", "10"],
    ] {
        let out = bin().args(&args).stdout(full()).output().unwrap();
        let err = stderr(&out);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("No space left on device"), "{args:?}: {err}");
    }

    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = bin()
        .args(["ingest", s(&good), "--to", s(&store), "--progress", "never"])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert_eq!(count_rows(s(&store)), 2);
}

/// A bound of 0 is a usage error naming the flag, before anything is read or created.
#[test]
fn zero_bounds_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("archive");
    for flag in [
        "--max-entry-bytes",
        "--max-buffered-rows",
        "--max-templates",
        "--max-catalog-bytes",
    ] {
        let input = data("samples/app.log");
        let out = run(&["ingest", s(&input), "--to", s(&store), flag, "0"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
        assert!(
            err.contains(flag) && err.contains("must be at least 1"),
            "{err}"
        );
    }
    assert!(!store.exists());
}

/// `--service` and `--host` name something: an empty or blank value is a usage error.
#[test]
fn empty_service_or_host_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("archive");
    let input = data("samples/app.log");
    for flag in ["--service", "--host"] {
        for value in ["", " \t"] {
            let out = run(&["ingest", s(&input), "--to", s(&store), flag, value]);
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(2), "{flag}: {err}");
            assert!(err.contains(flag) && err.contains("blank"), "{err}");
        }
    }
    assert!(!store.exists());
}

/// `logoscope ingest .` run twice in a directory holding the default archive
/// does not read the archive's own files back in as logs.
#[test]
fn ingesting_the_directory_holding_the_archive_skips_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = data("samples/app.log");
    std::fs::copy(&app, dir.path().join("app.log")).unwrap();
    let store = dir.path().join("logoscope-data");
    let mut rows = Vec::new();
    for _ in 0..2 {
        let out = bin()
            .args(["ingest", ".", "--progress", "never"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        rows.push(count_rows(s(&store)));
    }
    assert!(rows[0] > 0);
    assert_eq!(rows[1], 2 * rows[0], "the archive was read as input");
    let sources = sql_int(s(&store), "SELECT count(DISTINCT source) AS n FROM logs");
    assert_eq!(sources, 1);
    // Named through a folder that does not exist, the archive is the same
    // one, still passed over, and `sql` finds it by that name too.
    let out = bin()
        .args(["ingest", ".", "--to", "nosuch/../logoscope-data", "-q"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!dir.path().join("nosuch").exists());
    let out = bin()
        .args(["sql", "--store", "nosuch/../logoscope-data", "-f", "csv"])
        .arg("SELECT count(DISTINCT source) AS n FROM logs")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "n\n1\n",
        "{}",
        stderr(&out)
    );
}

/// Reading commands create nothing: a mistyped archive location is an error naming it.
#[test]
fn sql_on_a_missing_archive_is_an_error_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("typo-store");
    let out = run(&["sql", "-s", s(&typo), "SELECT count(*) FROM logs"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(out.stdout.is_empty());
    assert!(
        err.contains(s(&typo)) && err.contains("does not exist"),
        "{err}"
    );
    assert_eq!(err.matches(s(&typo)).count(), 1, "named once: {err}");
    assert!(!typo.exists(), "sql created {}", typo.display());

    // An existing directory that holds no archive is refused too, and left as it was.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let out = run(&["sql", "-s", s(&empty), "SELECT count(*) FROM logs"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(s(&empty)), "{err}");
    assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);

    // Ingest still creates the archive.
    let good = dir.path().join("good.log");
    std::fs::write(&good, "2026-03-02T10:00:00Z INFO started\n").unwrap();
    ok(&["ingest", s(&good), "--to", s(&typo), "--progress", "never"]);
    assert_eq!(count_rows(s(&typo)), 1);
}

/// Each cause is printed once, and a refused plain-HTTP endpoint names the setting.
#[test]
fn error_messages_say_each_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, "2026-03-02T10:00:00Z INFO started\n").unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "x").unwrap();
    let under_file = file.join("archive");
    let out = run(&[
        "ingest",
        s(&good),
        "--to",
        s(&under_file),
        "--progress",
        "never",
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains(s(&under_file)), "{err}");
    assert_eq!(err.matches("Not a directory").count(), 1, "{err}");

    for args in [
        vec!["sql", "-s", "s3://logs/archive", "SELECT 1"],
        vec!["ingest", s(&good), "--to", "s3://logs/archive"],
    ] {
        let out = bin()
            .args(&args)
            .env("AWS_ENDPOINT_URL", "http://minio.invalid:9000")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env_remove("AWS_ALLOW_HTTP")
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("AWS_ALLOW_HTTP=true"), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert_eq!(err.matches("http://minio.invalid:9000").count(), 1, "{err}");
    }
}

/// A checkpoint that cannot be written is a warning: the ingest is committed and exits 0.
#[test]
fn a_failed_checkpoint_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("archive");
    let input = dir.path().join("in.log");
    std::fs::write(&input, lines(10)).unwrap();
    assert!(ingest(&input, &store).status.success());
    // Versions 2..=98 by hand (commits of nothing), so the next ingest makes version 99,
    // the default `checkpointInterval` (100) comes round, and a directory blocks its file.
    let log = store.join("_delta_log");
    for version in 2..=98 {
        std::fs::write(
            log.join(format!("{version:020}.json")),
            "{\"commitInfo\":{\"operation\":\"WRITE\"}}\n",
        )
        .unwrap();
    }
    std::fs::create_dir(log.join(format!("{:020}.checkpoint.parquet", 99))).unwrap();
    let out = ingest(&input, &store);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("warning: the checkpoint of version 99 failed")
            && err.contains("the commit stands"),
        "{err}"
    );
    assert_eq!(count_rows(s(&store)), 20);
}
