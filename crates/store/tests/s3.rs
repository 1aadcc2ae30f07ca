//! The archive on S3, against a real moto server (`python3 -m moto.server`).
//!
//! Runs whenever moto is importable; with `LOGOSCOPE_REQUIRE_S3=1` (CI) a missing moto is a
//! failure, not a skip.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{T0, batch, catalog, query_count, rows, spill_all, template_texts};
use deltalake::kernel::transaction::TransactionError;
use deltalake::logstore::CommitOrBytes;
use futures::TryStreamExt;
use logoscope_store::{Archive, ArchiveOptions};
use logoscope_testkit::Moto;
use object_store::ObjectStoreExt;

fn storage_options(moto: &Moto) -> HashMap<String, String> {
    HashMap::from([
        ("aws_access_key_id".into(), "testing".into()),
        ("aws_secret_access_key".into(), "testing".into()),
        ("aws_region".into(), "us-east-1".into()),
        ("aws_endpoint".into(), moto.endpoint()),
        ("aws_allow_http".into(), "true".into()),
        // moto honours `If-None-Match: *` on a multipart completion: large commits are copied.
        ("aws_copy_if_not_exists".into(), "multipart".into()),
    ])
}

/// moto with `bucket` created, and the options that reach it; `None` when moto is missing.
fn moto_bucket(bucket: &str) -> Option<(Moto, HashMap<String, String>)> {
    let moto = Moto::start()?;
    moto.create_bucket(bucket);
    let options = storage_options(&moto);
    Some((moto, options))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_round_trip_with_concurrent_writers() {
    let Some((_moto, options)) = moto_bucket("logs") else {
        return;
    };
    let location = "s3://logs/archive/main";

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
    let log_store = archive.log_store();
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

    let reopened = Archive::open_with_storage_options(location, options.clone())
        .await
        .expect("reopen from s3://");
    assert_eq!(reopened.version(), Some(3));
    let stats = reopened.stats().await.unwrap();
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

    // Logoscope's checkpoint on S3 (any JSON past the last checkpoint calls for one here):
    // written, named by `_last_checkpoint`, and what the next open loads from.
    let checkpoint_now = ArchiveOptions {
        checkpoint_after_log_bytes: 1,
        ..ArchiveOptions::default()
    };
    let mut writer = reopened.writer(checkpoint_now).await.unwrap();
    writer.write(batch(&rows(T0, 10, 1, 0))).await.unwrap();
    let summary = writer.commit(&catalog(&["worker c ready"])).await.unwrap();
    assert_eq!(
        (summary.version, summary.checkpoint_failure.as_deref()),
        (4, None)
    );
    let store = reopened.object_store();
    let checkpoint =
        object_store::path::Path::from("_delta_log/00000000000000000004.checkpoint.parquet");
    assert!(store.head(&checkpoint).await.unwrap().size > 0);
    let last = store
        .get(&object_store::path::Path::from(
            "_delta_log/_last_checkpoint",
        ))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let last: serde_json::Value = serde_json::from_slice(&last).unwrap();
    assert_eq!(last["version"], 4);
    let after = Archive::open_with_storage_options(location, options.clone())
        .await
        .unwrap();
    assert_eq!(after.stats().await.unwrap().rows, 344 + 25 + 35 + 10);

    // Commits whose `add` lines went to the temporary file: uploaded, then copied into place
    // by a multipart copy completed with `If-None-Match: *`. One after the other: moto checks
    // that condition and completes the upload in two steps, so two completions that overlap
    // can both pass it there (AWS's completion is atomic; racing copies are tested on a local
    // disk, whose hard link is).
    let mut a = after.writer(spill_all()).await.unwrap();
    let mut b = after.writer(spill_all()).await.unwrap();
    a.write(batch(&rows(T0, 30, 3, 0))).await.unwrap();
    b.write(batch(&rows(T0, 40, 4, 1))).await.unwrap();
    let ra = a.commit(&catalog(&["spilled a"])).await.unwrap();
    let rb = b.commit(&catalog(&["spilled b"])).await.unwrap();
    assert_eq!([ra.version, rb.version], [5, 6]);
    assert_eq!((ra.files, rb.files), (3, 5));
    let log_store = after.log_store();
    for (summary, text) in [(&ra, "spilled a"), (&rb, "spilled b")] {
        let entry = log_store
            .read_commit_entry(summary.version)
            .await
            .unwrap()
            .unwrap();
        let lines: Vec<serde_json::Value> = entry
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert!(lines[0].get("commitInfo").is_some(), "{text}: {}", lines[0]);
        assert_eq!(lines.len(), summary.files + 1, "{text}");
    }
    let strays = temporary_commits(&after).await;
    assert!(strays.is_empty(), "{strays:?}");
    let last = Archive::open_with_storage_options(location, options)
        .await
        .unwrap();
    assert_eq!(last.version(), Some(6));
    assert_eq!(
        query_count(&last, "SELECT count(*) FROM logs").await,
        344 + 25 + 35 + 10 + 30 + 41
    );
}

/// First opens that race create the table once (no second CREATE at version 1, which would
/// give the table a new id), and writers that lose every commit attempt delete their files:
/// every Parquet object under the prefix is one the table names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_creates_and_lost_commits_leave_one_table_and_no_orphans() {
    use futures::TryStreamExt;
    use logoscope_store::StoreError;

    let Some((_moto, options)) = moto_bucket("race") else {
        return;
    };
    let location = "s3://race/t";
    let open = || Archive::open_with_storage_options(location, options.clone());
    let (a, b, c) = tokio::join!(open(), open(), open());
    for archive in [a, b, c] {
        assert_eq!(archive.expect("open").version(), Some(0));
    }
    let archive = open().await.unwrap();
    assert_eq!(archive.version(), Some(0));
    let log_store = archive.log_store();
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
    let stats = reopened.stats().await.unwrap();
    assert_eq!(
        (stats.rows, reopened.version()),
        (10 * won as u64, Some(won as u64))
    );
    let objects: Vec<_> = reopened
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

/// What a [`faulty_proxy`] does to the requests whose line starts with `method` and holds
/// `pattern`.
#[derive(Clone, Copy)]
enum Fault {
    /// The first such request reaches the server, but its answer never arrives: the
    /// connection is cut once the server has handled it (a response lost on the network).
    LoseFirstAnswer,
    /// Every such request is answered `400 Bad Request` without reaching the server (a store
    /// that does not support it).
    Refuse,
}

/// A loopback TCP proxy to `upstream` that passes everything through but for `fault` on the
/// requests whose line starts with `method` and holds `pattern`; returns its port and the
/// number of such requests it has seen.
async fn faulty_proxy(
    upstream: u16,
    fault: Fault,
    method: &'static str,
    pattern: &'static str,
) -> (u16, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::sync::Mutex;

    let body = "<Error><Code>NotImplemented</Code><Message>not here</Message></Error>";
    let refusal: Arc<str> = Arc::from(format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let spent = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let spent = Arc::clone(&spent);
            let seen = Arc::clone(&seen);
            let refusal = Arc::clone(&refusal);
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)).await else {
                    return;
                };
                let (mut cr, cw) = client.into_split();
                let cw = Arc::new(Mutex::new(cw));
                let (mut sr, mut sw) = server.into_split();
                let armed = Arc::new(AtomicBool::new(false));
                let arm = Arc::clone(&armed);
                let refuse_to = Arc::clone(&cw);
                let up = tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        let head = String::from_utf8_lossy(&buf[..n.min(512)]);
                        let line = head.lines().next().unwrap_or_default();
                        if line.starts_with(method) && line.contains(pattern) {
                            seen.fetch_add(1, Ordering::SeqCst);
                            match fault {
                                Fault::LoseFirstAnswer => {
                                    if !spent.swap(true, Ordering::SeqCst) {
                                        arm.store(true, Ordering::SeqCst);
                                    }
                                }
                                Fault::Refuse => {
                                    arm.store(true, Ordering::SeqCst);
                                    let mut client = refuse_to.lock().await;
                                    let _ = client.write_all(refusal.as_bytes()).await;
                                    let _ = client.shutdown().await;
                                    break;
                                }
                            }
                        }
                        if sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = sr.read(&mut buf).await {
                    if n == 0 || armed.load(Ordering::SeqCst) {
                        break;
                    }
                    if cw.lock().await.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
                up.abort();
            });
        }
    });
    (port, hits)
}

/// The answer to a commit's PUT is lost and the client's retry finds the version there: the
/// commit is this writer's own, so the ingest succeeds and the table keeps its files and
/// catalog (a lost race would have deleted them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_whose_answer_is_lost_is_recognised_as_landed() {
    let entry = "/_delta_log/00000000000000000002.json";
    let fault = (Fault::LoseFirstAnswer, "PUT ", entry);
    let hits = second_commit_through(fault, "lossy", ArchiveOptions::default()).await;
    assert!(hits.is_none_or(|n| n >= 1), "{hits:?}");
}

/// The request that completes version 2's multipart copy (the one that starts it ends in
/// `?uploads`).
const COMPLETE_VERSION_2: &str = "/_delta_log/00000000000000000002.json?uploadId=";

/// The same for a commit uploaded from the temporary file: the answer to the multipart copy
/// that completes version 2 is lost. Whatever the client then does (retry the completion,
/// fall back to the `PUT`), it finds version 2 taken, reads it, and sees its own commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copied_commit_whose_answer_is_lost_is_recognised_as_landed() {
    let fault = (Fault::LoseFirstAnswer, "POST ", COMPLETE_VERSION_2);
    let hits = second_commit_through(fault, "lossy-copy", spill_all()).await;
    assert!(
        hits.is_none_or(|n| n >= 1),
        "the copy was completed: {hits:?}"
    );
}

/// A store that refuses the multipart copy completed with `If-None-Match: *` (an
/// S3-compatible store without it): a commit uploaded from the temporary file falls back to
/// the conditional `PUT`, with its lines read back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_that_refuses_the_conditional_copy_gets_the_put() {
    let fault = (Fault::Refuse, "POST ", COMPLETE_VERSION_2);
    let hits = second_commit_through(fault, "no-copy", spill_all()).await;
    assert!(hits.is_none_or(|n| n >= 1), "the copy was tried: {hits:?}");
}

/// On an S3-compatible endpoint without `aws_copy_if_not_exists` given, a large commit is not
/// copied (the store might not honour `If-None-Match: *` on a multipart completion) but sent
/// by the conditional `PUT`: no completion is ever requested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_endpoints_copy_only_when_told_to() {
    let fault = (Fault::Refuse, "POST ", COMPLETE_VERSION_2);
    let without = HashMap::from([("aws_copy_if_not_exists".to_owned(), String::new())]);
    let hits = second_commit_through_with(fault, "told", spill_all(), without).await;
    assert!(hits.is_none_or(|n| n == 0), "a copy was tried: {hits:?}");
}

/// Commits version 1, then version 2 with `options` through a [`faulty_proxy`] with `fault`;
/// the second commit must succeed and the table hold both. Returns how many requests the
/// fault applied to (`None` without moto).
async fn second_commit_through(
    (fault, method, pattern): (Fault, &'static str, &'static str),
    bucket: &str,
    options: ArchiveOptions,
) -> Option<usize> {
    second_commit_through_with((fault, method, pattern), bucket, options, HashMap::new()).await
}

/// [`second_commit_through`] with `extra` storage options (`""` removes one).
async fn second_commit_through_with(
    (fault, method, pattern): (Fault, &'static str, &'static str),
    bucket: &str,
    options: ArchiveOptions,
    extra: HashMap<String, String>,
) -> Option<usize> {
    let (moto, mut direct) = moto_bucket(bucket)?;
    for (key, value) in extra {
        if value.is_empty() {
            direct.remove(&key);
        } else {
            direct.insert(key, value);
        }
    }
    let location = format!("s3://{bucket}/t");
    let archive = Archive::open_with_storage_options(&location, direct.clone())
        .await
        .unwrap();
    let mut first = archive.writer(ArchiveOptions::default()).await.unwrap();
    first.write(batch(&rows(T0, 20, 1, 0))).await.unwrap();
    assert_eq!(first.commit(&catalog(&["first"])).await.unwrap().version, 1);

    let (archive, hits) = open_through(&moto, &direct, &location, (fault, method, pattern)).await;
    let mut second = archive.writer(options).await.unwrap();
    second.write(batch(&rows(T0, 30, 3, 0))).await.unwrap();
    let summary = second.commit(&catalog(&["second"])).await.unwrap();
    assert_eq!((summary.version, summary.rows, summary.files), (2, 30, 3));

    let reopened = Archive::open_with_storage_options(&location, direct)
        .await
        .unwrap();
    assert_eq!(reopened.version(), Some(2));
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        50
    );
    let texts = template_texts(&reopened.load_catalog().await.unwrap().unwrap());
    assert!(texts.iter().any(|t| t == "second"), "{texts:?}");
    let strays = temporary_commits(&reopened).await;
    assert!(strays.is_empty(), "{strays:?}");
    Some(hits.load(Ordering::SeqCst))
}

/// The archive at `location` opened through a [`faulty_proxy`] to `moto` with `fault`, and the
/// proxy's count of the requests it matched.
async fn open_through(
    moto: &Moto,
    direct: &HashMap<String, String>,
    location: &str,
    (fault, method, pattern): (Fault, &'static str, &'static str),
) -> (Archive, Arc<AtomicUsize>) {
    let (port, hits) = faulty_proxy(moto.port(), fault, method, pattern).await;
    let mut through = direct.clone();
    through.insert("aws_endpoint".into(), format!("http://127.0.0.1:{port}"));
    let archive = Archive::open_with_storage_options(location, through)
        .await
        .unwrap();
    (archive, hits)
}

/// Temporary log entries (`_delta_log/_commit_*`) left in the archive.
async fn temporary_commits(archive: &Archive) -> Vec<String> {
    archive
        .object_store()
        .list(Some(&object_store::path::Path::from("_delta_log")))
        .map_ok(|meta| meta.location.to_string())
        .try_filter(|name| std::future::ready(name.contains("_commit_")))
        .try_collect()
        .await
        .unwrap()
}

/// A checkpoint the store refuses (S3 answering its upload `400`) leaves the commit standing,
/// says why, and leaves no checkpoint object; the table reads from its JSON commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_checkpoint_leaves_the_commit_and_says_why() {
    let Some((moto, direct)) = moto_bucket("no-checkpoint") else {
        return;
    };
    let location = "s3://no-checkpoint/t";
    Archive::open_with_storage_options(location, direct.clone())
        .await
        .unwrap();
    let fault = (Fault::Refuse, "PUT ", ".checkpoint.parquet");
    let (archive, hits) = open_through(&moto, &direct, location, fault).await;
    let options = ArchiveOptions {
        checkpoint_after_log_bytes: 1,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options).await.unwrap();
    writer.write(batch(&rows(T0, 40, 4, 0))).await.unwrap();
    let summary = writer.commit(&catalog(&["kept"])).await.unwrap();
    assert_eq!(summary.version, 1);
    let failure = summary.checkpoint_failure.expect("the checkpoint failed");
    assert!(failure.contains("checkpoint of version 1"), "{failure}");
    assert!(!failure.contains("panicked"), "{failure}");
    assert!(hits.load(Ordering::SeqCst) >= 1);

    let reopened = Archive::open_with_storage_options(location, direct)
        .await
        .unwrap();
    assert_eq!(reopened.version(), Some(1));
    let checkpoint =
        object_store::path::Path::from("_delta_log/00000000000000000001.checkpoint.parquet");
    assert!(reopened.object_store().head(&checkpoint).await.is_err());
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        40
    );
}

/// The upload of a spilled commit's temporary object is refused: the version was never
/// touched, so the commit fails with the store's error (no panic), and the writer deletes its
/// files and its catalog.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_temporary_commit_fails_and_leaves_nothing() {
    let Some((moto, direct)) = moto_bucket("no-staging") else {
        return;
    };
    let location = "s3://no-staging/t";
    Archive::open_with_storage_options(location, direct.clone())
        .await
        .unwrap();
    let fault = (Fault::Refuse, "PUT ", "/_delta_log/_commit_");
    let (archive, hits) = open_through(&moto, &direct, location, fault).await;
    let mut writer = archive.writer(spill_all()).await.unwrap();
    writer.write(batch(&rows(T0, 40, 4, 0))).await.unwrap();
    let err = writer.commit(&catalog(&["refused"])).await.unwrap_err();
    assert!(err.to_string().contains("400"), "{err}");
    assert!(hits.load(Ordering::SeqCst) >= 1);

    let reopened = Archive::open_with_storage_options(location, direct)
        .await
        .unwrap();
    assert_eq!(reopened.version(), Some(0));
    let objects: Vec<String> = reopened
        .object_store()
        .list(None)
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .unwrap();
    assert!(
        objects
            .iter()
            .all(|o| o.starts_with("_delta_log/0") || o == "_delta_log/_last_checkpoint"),
        "{objects:?}"
    );
}
