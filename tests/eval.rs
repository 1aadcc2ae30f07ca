//! `logoscope eval synth`: templating quality on generated logs, through the whole ingest path.

use serde_json::Value;

use crate::util::{data, ok, run, s};

fn rows(report: &Value) -> Vec<(String, Option<f64>, u64, u64)> {
    report["corpora"][0]["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["group"].as_str().unwrap().to_owned(),
                r["ga"].as_f64(),
                r["templates_truth"].as_u64().unwrap(),
                r["templates_found"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The suite CI runs: a corpus no test has seen (its own seed), every format
/// grouped as its ground truth groups it. Access-log lines (variable-length
/// quoted user agents) and multi-line traces (variable-length frames) are
/// the hard cases.
#[test]
fn unseen_generated_logs_group_as_their_ground_truth() {
    let out = ok(&[
        "eval", "synth", "--lines", "6000", "--seed", "2026", "--format", "json",
    ]);
    let report: Value = serde_json::from_str(&out).unwrap();
    let rows = rows(&report);
    let groups: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    for g in [
        "access",
        "json",
        "logfmt",
        "multi-line",
        "plain",
        "syslog3164",
        "syslog5424",
        "all",
    ] {
        assert!(groups.contains(&g), "no {g} row in {groups:?}");
    }
    for (group, ga, truth, found) in &rows {
        match group.as_str() {
            "malformed" => {}
            "all" => assert!(ga.unwrap() >= 0.9, "{group}: GA {ga:?}"),
            _ => {
                assert!(ga.unwrap() >= 0.99, "{group}: GA {ga:?}");
                assert_eq!(truth, found, "{group}: templates true/found");
            }
        }
    }
    assert_eq!(report["corpora"][0]["entries"], 6000);
}

#[test]
fn a_committed_corpus_and_its_truth_and_mismatches() {
    let table = ok(&["eval", "synth", s(&data("synth/small.log"))]);
    assert!(table.contains("small.log: 2000 entries"), "{table}");
    assert!(table.lines().any(|l| l.starts_with("access ")), "{table}");

    // A truth file of another corpus is refused, naming both files.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("other.log");
    std::fs::write(&log, "one line\n").unwrap();
    let out = run(&[
        "eval",
        "synth",
        s(&log),
        "--truth",
        s(&data("synth/small.truth.jsonl")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("other.log") && err.contains("not the same corpus"),
        "{err}"
    );

    // The same size and line layout, one byte changed: the hash tells.
    let mut bytes = std::fs::read(data("synth/small.log")).unwrap();
    let at = bytes.iter().position(|&b| b == b'a').unwrap();
    bytes[at] = b'b';
    let edited = dir.path().join("edited.log");
    std::fs::write(&edited, &bytes).unwrap();
    let out = run(&[
        "eval",
        "synth",
        s(&edited),
        "--truth",
        s(&data("synth/small.truth.jsonl")),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not the same corpus") && err.contains("content hash"),
        "{err}"
    );

    // A LOG without a truth beside it.
    let out = run(&["eval", "synth", s(&log)]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("other.truth.jsonl"), "{err}");
}

/// `eval loghub` through the command line: two datasets of one name would
/// overwrite each other's predictions, so the second is refused.
#[test]
fn loghub_predictions_of_one_name_are_refused() {
    let fixture = crate::util::data("../crates/eval/tests/fixtures/tiny");
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    std::fs::create_dir(&copy).unwrap();
    for entry in std::fs::read_dir(&fixture).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.join(entry.file_name())).unwrap();
    }
    let preds = dir.path().join("p");
    let table = ok(&["eval", "loghub", s(&fixture), "--predictions", s(&preds)]);
    assert!(table.contains("Tiny"), "{table}");
    assert!(preds.join("Tiny_predictions.csv").is_file());
    let out = run(&[
        "eval",
        "loghub",
        s(&fixture),
        s(&copy),
        "--predictions",
        s(&preds),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("both the dataset \"Tiny\""), "{err}");
}
