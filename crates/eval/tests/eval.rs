//! End-to-end: load the hand-written fixture dataset, run Drain, score, write predictions.

use std::fs;
use std::path::PathBuf;

use logoscope_drain::DrainConfig;
use logoscope_eval::{
    Dataset, EvalError, evaluate_dir, find_dataset_dirs, render_table, write_predictions,
};

/// This package's directory. Cargo sets it for the test process too; the
/// compile-time value is only the fallback, since a build cache shared between
/// checkouts can hold a test binary compiled in another one.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

fn fixture() -> PathBuf {
    manifest_dir().join("tests/fixtures/tiny")
}

#[test]
fn loads_the_fixture_like_logparser() {
    let d = Dataset::load(&fixture()).unwrap();
    assert_eq!(d.name, "Tiny");
    assert_eq!(
        (d.lines.len(), d.skipped_lines, d.content_mismatches),
        (6, 1, 0)
    );
    assert_eq!(d.lines[2].line_id, 3);
    assert_eq!(d.lines[2].content, "Connection reset by peer");
    assert_eq!(d.lines[5].truth.as_deref(), Some("Retry <*>, giving up"));
}

#[test]
fn drain_on_the_fixture_scores_perfectly() {
    let report = evaluate_dir(&fixture(), &DrainConfig::default()).unwrap();
    assert_eq!((report.lines, report.skipped_lines), (6, 1));
    assert_eq!((report.templates_predicted, report.templates_truth), (3, 3));
    for (name, m) in [
        ("GA", report.ga),
        ("PA", report.pa),
        ("FGA", report.fga),
        ("FTA", report.fta),
    ] {
        assert_eq!(m, 1.0, "{name}: {report:?}");
    }
    assert!(report.lines_per_sec > 0.0);

    let table = render_table(std::slice::from_ref(&report));
    assert!(table.lines().nth(1).unwrap().starts_with("Tiny"), "{table}");

    let out = tempfile::tempdir().unwrap();
    let path = write_predictions(&report, out.path()).unwrap();
    let text = fs::read_to_string(path).unwrap();
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows[0], "LineId,EventTemplate");
    assert_eq!(rows[1], "1,Receiving block <*> of size <*>");
    assert_eq!(rows[6], "6,\"Retry <*>, giving up\"");

    // A name from settings.json that is not one plain file name writes nothing.
    for name in ["../outside", "a/b", "..", ""] {
        let mut odd = report.clone();
        odd.dataset = name.to_owned();
        let err = write_predictions(&odd, &out.path().join("p")).unwrap_err();
        assert!(
            matches!(err, EvalError::DatasetName { .. }),
            "{name}: {err}"
        );
    }
    assert!(!out.path().join("outside_predictions.csv").exists());
}

#[test]
fn finds_datasets_below_a_root() {
    let root = fixture().parent().unwrap().to_owned();
    assert_eq!(find_dataset_dirs(&root).unwrap(), vec![fixture()]);
    assert_eq!(find_dataset_dirs(&fixture()).unwrap(), vec![fixture()]);
}

#[test]
fn missing_pieces_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = Dataset::load(dir.path()).unwrap_err();
    assert!(matches!(err, EvalError::NoDataset { .. }), "{err}");

    fs::write(
        dir.path().join("X.log_structured.csv"),
        "LineId,EventTemplate\n",
    )
    .unwrap();
    let err = Dataset::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("X.log"), "{err}");

    fs::write(dir.path().join("X.log"), "a\n").unwrap();
    let err = Dataset::load(dir.path()).unwrap_err();
    assert!(err.to_string().contains("settings.json"), "{err}");

    fs::write(
        dir.path().join("settings.json"),
        r#"{"log_format": "<Content>"}"#,
    )
    .unwrap();
    let err = Dataset::load(dir.path()).unwrap_err();
    assert!(matches!(err, EvalError::LineMismatch { .. }), "{err}");

    fs::write(
        dir.path().join("X.log_structured.csv"),
        "LineId,EventTemplate\n1,a\n",
    )
    .unwrap();
    let d = Dataset::load(dir.path()).unwrap();
    assert_eq!(d.lines.len(), 1);

    fs::write(
        dir.path().join("Y.log_structured.csv"),
        "LineId,EventTemplate\n",
    )
    .unwrap();
    let err = Dataset::load(dir.path()).unwrap_err();
    assert!(matches!(err, EvalError::AmbiguousDataset { .. }), "{err}");
}
