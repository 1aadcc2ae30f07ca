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
