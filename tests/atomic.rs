//! Atomic commits: SIGKILL an ingest at several points; the archive still
//! reads, with none or all of that ingest's rows.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{bin, count_rows, ok, s};

fn files_under(dir: &Path, suffix: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                files_under(&p, suffix)
            } else {
                usize::from(p.to_string_lossy().ends_with(suffix))
            }
        })
        .sum()
}

/// Decides, from the archive directory, when to kill.
type KillPoint = Box<dyn Fn(&Path) -> bool>;

/// Starts an ingest of `input`, waits until `ready` holds for the archive, then SIGKILLs it.
/// Returns whether the kill landed before the process had finished by itself.
fn kill_when(input: &Path, store: &Path, ready: impl Fn(&Path) -> bool) -> bool {
    let mut child = bin()
        .args([
            "ingest",
            s(input),
            "--to",
            s(store),
            "--progress",
            "never",
            "--max-buffered-rows",
            "20000",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        if ready(store) || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL on Unix
    child.wait().unwrap();
    true
}

#[test]
fn sigkill_leaves_none_or_all_of_an_ingest() {
    let dir = tempfile::tempdir().unwrap();
    let first = dir.path().join("first.log");
    let big = dir.path().join("big.log");
    ok(&["generate", "-n", "2000", "--seed", "1", "-o", s(&first)]);
    ok(&["generate", "-n", "120000", "--seed", "2", "-o", s(&big)]);
    let store = dir.path().join("archive");
    ok(&[
        "ingest",
        s(&first),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    let base = count_rows(s(&store));
    assert_eq!(base, 2000);

    let parquet_before = files_under(&store, ".parquet");
    let points: [(&str, KillPoint); 3] = [
        ("at start", Box::new(|_: &Path| true)),
        (
            "after the first new data file",
            Box::new(move |p: &Path| files_under(p, ".parquet") > parquet_before),
        ),
        (
            "after several new data files",
            Box::new(move |p: &Path| files_under(p, ".parquet") >= parquet_before + 4),
        ),
    ];
    let mut landed = 0;
    for (name, ready) in points {
        if kill_when(&big, &store, ready) {
            landed += 1;
        }
        let n = count_rows(s(&store));
        // Each ingest that committed added all 120,000 rows; a killed one added none.
        assert_eq!(
            (n - base) % 120_000,
            0,
            "{name}: {n} rows is a partial commit"
        );
    }
    assert!(
        landed >= 2,
        "the kills must land mid-ingest to test anything ({landed} did)"
    );
    // And the archive still takes a full ingest afterwards.
    let before = count_rows(s(&store));
    ok(&[
        "ingest",
        s(&first),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    assert_eq!(count_rows(s(&store)), before + 2000);
}
