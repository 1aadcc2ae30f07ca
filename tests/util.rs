//! Running the `logoscope` binary from tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// This package's directory. Cargo sets it for the test process too; the
/// compile-time value is only the fallback, since a build cache shared between
/// checkouts can hold a test binary compiled in another one.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// The binary under test.
pub(crate) fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_logoscope"));
    cmd.env_remove("LOGOSCOPE_STORE").stdin(Stdio::null());
    cmd
}

/// The repository's `data/` folder.
pub(crate) fn data(rel: &str) -> PathBuf {
    manifest_dir().join("data").join(rel)
}

/// Runs `logoscope` with `args`, returning its output whatever the status.
pub(crate) fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("logoscope runs")
}

/// Runs and asserts success, returning stdout.
pub(crate) fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "logoscope {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 stdout")
}

/// `SELECT …` returning one integer, via `logoscope sql --format csv`.
pub(crate) fn sql_int(store: &str, query: &str) -> i64 {
    let out = ok(&["sql", "--store", store, "--format", "csv", query]);
    let value = out
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no row for {query}: {out:?}"));
    value
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{value:?} is not an integer: {e}"))
}

/// Rows of `logs` in the archive.
pub(crate) fn count_rows(store: &str) -> i64 {
    sql_int(store, "SELECT count(*) AS n FROM logs")
}

/// A path as `&str` (tests only use UTF-8 temp paths).
pub(crate) fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The binary run as an unprivileged user: nobody (65534) via `setpriv` when the tests run
/// as root, whom permissions do not stop; as is otherwise.
pub(crate) fn unprivileged() -> Command {
    let mut cmd = if running_as_root() {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_logoscope"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_logoscope"))
    };
    cmd.env_remove("LOGOSCOPE_STORE").stdin(Stdio::null());
    cmd
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// The run's stderr as text.
pub(crate) fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Fails the test if the run panicked.
pub(crate) fn no_panic(out: &Output) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "panic: {err}");
}

/// `n` plain-text log lines, one entry each.
pub(crate) fn lines(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "2026-03-02T10:{:02}:{:02}Z INFO request {i} served in {}ms\n",
                i / 60 % 60,
                i % 60,
                i % 97
            )
        })
        .collect()
}

/// `logoscope ingest INPUT --to STORE`, checked not to panic.
pub(crate) fn ingest(input: &Path, store: &Path) -> Output {
    let out = run(&["ingest", s(input), "--to", s(store), "--progress", "never"]);
    no_panic(&out);
    out
}
