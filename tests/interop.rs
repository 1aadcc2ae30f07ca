//! The archive is plain Delta Lake: a reader that is not Logoscope (the
//! `deltalake` Python package, delta-rs) sees every row and the same ids.

use std::process::Command;

use crate::util::{data, ok, s, sql_int};

// `os._exit` after the answer is flushed: delta-rs's runtime threads can abort
// the interpreter's normal shutdown ("terminate called without an active
// exception") on a loaded machine, after the reading is done.
const READER: &str = r#"
import os, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1]).to_pyarrow_table()
ids = t.column("template_id").to_pylist()
print(t.num_rows, len(set(ids)), sum(int(i) for i in ids) % 1000003, flush=True)
os._exit(0)
"#;

#[test]
fn delta_readers_see_the_archive() {
    let have = Command::new("python3")
        .args(["-c", "import deltalake, pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("LOGOSCOPE_REQUIRE_TOOLS").is_none(),
            "LOGOSCOPE_REQUIRE_TOOLS is set but the deltalake or pyarrow Python package is missing (run .ci/setup)"
        );
        eprintln!(
            "skipping: the deltalake and pyarrow Python packages are not both installed (run .ci/setup)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("archive");
    ok(&[
        "ingest",
        s(&data("samples")),
        s(&data("synth/small.log")),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    read_back_matches(&store);

    // Logoscope's own checkpoint (row groups of its own size) is read by delta-rs as well: with
    // the commits it replaces removed, the checkpoint is all a reader has.
    python(&[
        "-c",
        "import sys\nfrom deltalake import DeltaTable\nDeltaTable(sys.argv[1]).alter.set_table_properties({'delta.checkpointInterval': '2'})",
        s(&store),
    ]);
    ok(&[
        "ingest",
        s(&data("samples")),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    let log = store.join("_delta_log");
    assert!(log.join(format!("{:020}.checkpoint.parquet", 3)).is_file());
    for version in 0..3 {
        std::fs::remove_file(log.join(format!("{version:020}.json"))).unwrap();
    }
    read_back_matches(&store);
}

fn python(args: &[&str]) -> String {
    let out = Command::new("python3").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// delta-rs reads the same rows, template ids and id checksum as Logoscope's SQL.
fn read_back_matches(store: &std::path::Path) {
    let seen: Vec<i64> = python(&["-c", READER, s(store)])
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    let rows = sql_int(s(store), "SELECT count(*) AS n FROM logs");
    let ids = sql_int(
        s(store),
        "SELECT count(DISTINCT template_id) AS n FROM logs",
    );
    // Ids above i64::MAX must survive the trip (Delta stores them as decimal(20,0)).
    let checksum = sql_int(
        s(store),
        "SELECT CAST(sum(CAST(template_id AS DECIMAL(38,0)) % 1000003) % 1000003 AS BIGINT) AS n FROM logs",
    );
    assert_eq!(seen, vec![rows, ids, checksum]);
}
