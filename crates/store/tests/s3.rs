//! The archive on S3, against a real moto server (`python3 -m moto.server`).
//!
//! Runs whenever moto is importable; with `LOGOSCOPE_REQUIRE_S3=1` (CI) a missing moto is a
//! failure, not a skip.

mod common;

use std::collections::HashMap;

use common::{T0, batch, catalog, query_count, rows, template_texts};
use deltalake::kernel::transaction::TransactionError;
use deltalake::logstore::CommitOrBytes;
use logoscope_store::{Archive, ArchiveOptions};
use logoscope_testkit::Moto;

fn storage_options(moto: &Moto) -> HashMap<String, String> {
    HashMap::from([
        ("aws_access_key_id".into(), "testing".into()),
        ("aws_secret_access_key".into(), "testing".into()),
        ("aws_region".into(), "us-east-1".into()),
        ("aws_endpoint".into(), moto.endpoint()),
        ("aws_allow_http".into(), "true".into()),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip_with_concurrent_writers() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("logs");
    let location = "s3://logs/archive/main";
    let options = storage_options(&moto);

    let archive = Archive::open_with_storage_options(location, options.clone())
        .await
        .expect("create archive on S3");
    assert_eq!(archive.version(), Some(0));
    assert_eq!(archive.url(), location);

    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    writer.write(batch(&rows(T0, 300, 3, 4))).await.unwrap();
    writer
        .write(batch(&rows(T0 + 30 * 3_600_000_000, 40, 1, 0)))
        .await
        .unwrap();
    let learned = catalog(&["GET /index.html 200", "GET /about.html 200"]);
    let summary = writer.commit(&learned).await.unwrap();
    assert_eq!((summary.version, summary.rows, summary.files), (1, 344, 5));

    // The log store refuses to overwrite an existing commit: S3 conditional put works here.
    let log_store = archive.table().log_store();
    let commit = log_store
        .read_commit_entry(1)
        .await
        .unwrap()
        .expect("version 1");
    let overwrite = log_store
        .write_commit_entry(1, CommitOrBytes::LogBytes(commit), uuid::Uuid::new_v4())
        .await;
    assert!(
        matches!(overwrite, Err(TransactionError::VersionAlreadyExists(1))),
        "{overwrite:?}"
    );

    // Two writers from the same version race for version 2: the conditional put
    // (If-None-Match) must refuse one, which then retries as version 3.
    let mut a = archive.writer(ArchiveOptions::default()).await.unwrap();
    let mut b = archive.writer(ArchiveOptions::default()).await.unwrap();
    a.write(batch(&rows(T0, 25, 1, 0))).await.unwrap();
    b.write(batch(&rows(T0, 35, 1, 0))).await.unwrap();
    let (catalog_a, catalog_b) = (catalog(&["worker a ready"]), catalog(&["worker b ready"]));
    let (ra, rb) = tokio::join!(a.commit(&catalog_a), b.commit(&catalog_b));
    let mut versions = [ra.unwrap().version, rb.unwrap().version];
    versions.sort_unstable();
    assert_eq!(versions, [2, 3]);

    let reopened = Archive::open_with_storage_options(location, options)
        .await
        .expect("reopen from s3://");
    assert_eq!(reopened.version(), Some(3));
    let stats = reopened.stats().unwrap();
    assert_eq!(stats.rows, 344 + 25 + 35);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        344 + 25 + 35
    );
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs WHERE dt = 'unknown'").await,
        4
    );
    let texts = template_texts(&reopened.load_catalog().await.unwrap().unwrap());
    for expected in template_texts(&catalog(&[
        "GET /index.html 200",
        "worker a ready",
        "worker b ready",
    ])) {
        assert!(texts.contains(&expected), "{expected} in {texts:?}");
    }
}

/// First opens that race create the table once (no second CREATE at version 1, which would
/// give the table a new id), and writers that lose every commit attempt delete their files:
/// every Parquet object under the prefix is one the table names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_and_lost_commits_leave_one_table_and_no_orphans() {
    use futures::TryStreamExt;
    use logoscope_store::StoreError;

    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("race");
    let location = "s3://race/t";
    let options = storage_options(&moto);
    let open = || Archive::open_with_storage_options(location, options.clone());
    let (a, b, c) = tokio::join!(open(), open(), open());
    for archive in [a, b, c] {
        assert_eq!(archive.expect("open").version(), Some(0));
    }
    let archive = open().await.unwrap();
    assert_eq!(archive.version(), Some(0));
    let log_store = archive.table().log_store();
    assert!(log_store.read_commit_entry(1).await.unwrap().is_none());

    let one_attempt = ArchiveOptions {
        commit_attempts: 1,
        ..ArchiveOptions::default()
    };
    let mut writers = Vec::new();
    for i in 0..4 {
        let mut w = archive.writer(one_attempt.clone()).await.unwrap();
        w.write(batch(&rows(T0 + i * 3_600_000_000, 10, 1, 0)))
            .await
            .unwrap();
        writers.push(w);
    }
    let learned = catalog(&["racer ready"]);
    let commits = writers.into_iter().map(|w| w.commit(&learned));
    let results = futures::future::join_all(commits).await;
    let won = results.iter().filter(|r| r.is_ok()).count();
    for r in &results {
        assert!(
            matches!(r, Ok(_) | Err(StoreError::CommitConflict { attempts: 1 })),
            "{r:?}"
        );
    }
    eprintln!("{won} of 4 writers committed");

    let reopened = open().await.unwrap();
    let stats = reopened.stats().unwrap();
    assert_eq!(
        (stats.rows, reopened.version()),
        (10 * won as u64, Some(won as u64))
    );
    let objects: Vec<_> = reopened
        .table()
        .object_store()
        .list(None)
        .try_collect()
        .await
        .unwrap();
    let parquet = objects
        .iter()
        .filter(|o| o.location.as_ref().ends_with(".parquet"))
        .count();
    assert_eq!(parquet, stats.files, "{objects:#?}");
}
