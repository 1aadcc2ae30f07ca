//! `s3://` ingest and read-back end to end against a real S3-compatible
//! server (moto) on loopback. No mocked object store.

use std::process::Command;

use logoscope_testkit::Moto;

use crate::util::{bin, data, s};

fn with_s3_env<'c>(cmd: &'c mut Command, moto: &Moto) -> &'c mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_ALLOW_HTTP", "true")
}

#[test]
fn s3_ingest_and_read_back() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("logs");
    let url = "s3://logs/archive";
    let input = data("samples/app.log");
    for round in 1..=2 {
        let out = with_s3_env(&mut bin(), &moto)
            .args(["ingest", s(&input), "--to", url, "--progress", "never"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "round {round}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let query = |q: &str| {
        let out = with_s3_env(&mut bin(), &moto)
            .args(["sql", "--store", url, "--format", "csv", q])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{q}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let rows: i64 = query("SELECT count(*) AS n FROM logs")
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let local = tempfile::tempdir().unwrap();
    let local_store = local.path().join("a");
    crate::util::ok(&[
        "ingest",
        s(&input),
        "--to",
        s(&local_store),
        "--progress",
        "never",
    ]);
    let expected = crate::util::count_rows(s(&local_store));
    assert_eq!(rows, 2 * expected, "two ingests of the same file on S3");
    // The text comes back exactly from the object store.
    let raw = query("SELECT raw FROM logs ORDER BY line LIMIT 1");
    let first_line = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert!(raw.contains(&first_line), "{raw}");
}

/// A loopback endpoint needs no `AWS_ALLOW_HTTP`; a missing bucket is said once.
#[test]
fn s3_loopback_http_and_a_missing_bucket() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("logs");
    let input = data("samples/app.log");
    let out = with_s3_env(&mut bin(), &moto)
        .env_remove("AWS_ALLOW_HTTP")
        .args([
            "ingest",
            s(&input),
            "--to",
            "s3://logs/plain-http",
            "--progress",
            "never",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = with_s3_env(&mut bin(), &moto)
        .args([
            "ingest",
            s(&input),
            "--to",
            "s3://no-such-bucket/x",
            "--progress",
            "never",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("no-such-bucket"), "{err}");
    assert_eq!(err.matches("NoSuchBucket").count(), 1, "{err}");
}
