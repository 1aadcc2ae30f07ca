//! The archive on S3, against a real moto server (`python3 -m moto.server`).
//!
//! Runs whenever moto is importable; with `LOGOSCOPE_REQUIRE_S3=1` (CI) a missing moto is a
//! failure, not a skip.

mod common;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{T0, batch, catalog, query_count, rows, template_texts};
use deltalake::kernel::transaction::TransactionError;
use deltalake::logstore::CommitOrBytes;
use logoscope_store::{Archive, ArchiveOptions};

/// A moto server on a free local port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_importable() -> bool {
    Command::new("python3")
        .args(["-c", "import moto.server"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn start_moto() -> Moto {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn moto");
    let moto = Moto { child, port };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "moto did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

/// `PUT /bucket` over plain HTTP: moto accepts unsigned bucket creation.
fn create_bucket(port: u16, bucket: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    let status = response.lines().next().unwrap_or_default();
    assert!(status.contains(" 200"), "bucket creation failed: {status}");
}

fn storage_options(port: u16) -> HashMap<String, String> {
    HashMap::from([
        ("aws_access_key_id".into(), "testing".into()),
        ("aws_secret_access_key".into(), "testing".into()),
        ("aws_region".into(), "us-east-1".into()),
        ("aws_endpoint".into(), format!("http://127.0.0.1:{port}")),
        ("aws_allow_http".into(), "true".into()),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip_with_concurrent_writers() {
    if !moto_importable() {
        assert!(
            std::env::var_os("LOGOSCOPE_REQUIRE_S3").is_none(),
            "LOGOSCOPE_REQUIRE_S3 is set but `python3 -m moto.server` is not importable \
             (pip install 'moto[server]')"
        );
        eprintln!("SKIPPED s3 test: `import moto.server` failed; pip install 'moto[server]'");
        return;
    }
    let moto = start_moto();
    create_bucket(moto.port, "logs");
    let location = "s3://logs/archive/main";
    let options = storage_options(moto.port);

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
