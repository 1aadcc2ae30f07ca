//! Archive round trips on a local directory and in memory.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int16Type, Int32Type, TimestampMillisecondType, UInt64Type};
use arrow_array::RecordBatch;
use common::{HOUR, T0, batch, catalog, query, query_count, rows, spill_all, template_texts};
use futures::TryStreamExt;
use logoscope_store::{Archive, ArchiveOptions, StoreError};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};

/// Every data file of the archive at its loaded version: relative path → partition values.
async fn files(archive: &Archive) -> BTreeMap<String, (String, String)> {
    let files: Vec<_> = archive.files().try_collect().await.unwrap();
    files
        .iter()
        .map(|f| {
            let values = f.partition_values_map();
            let get = |k: &str| values.get(k).cloned().flatten().unwrap_or_default();
            (f.path().to_string(), (get("dt"), get("hour")))
        })
        .collect()
}

fn read_local(
    root: &std::path::Path,
    relative: &str,
) -> (Vec<RecordBatch>, parquet::file::metadata::ParquetMetaData) {
    let file = File::open(root.join(relative)).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let metadata = builder.metadata().as_ref().clone();
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (batches, metadata)
}

#[tokio::test]
async fn local_directory_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("archive");
    let location = root.to_str().unwrap();

    let archive = Archive::open(location).await.unwrap();
    assert_eq!(
        archive.version(),
        Some(0),
        "a new archive is created at version 0"
    );
    assert!(archive.load_catalog().await.unwrap().is_none());

    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    // Three hours on one day, one hour on the next, and rows without a timestamp.
    let all = [
        rows(T0, 300, 3, 0),
        rows(T0 + 18 * HOUR, 50, 1, 7),
        rows(T0 + HOUR, 20, 1, 0),
    ];
    let total: usize = all.iter().map(Vec::len).sum();
    for part in &all {
        writer.write(batch(part)).await.unwrap();
    }
    let learned = catalog(&[
        "user 1 logged in",
        "user 2 logged in",
        "disk full on /dev/sda",
    ]);
    let summary = writer.commit(&learned).await.unwrap();
    assert_eq!(summary.version, 1);
    assert_eq!(summary.rows, total as u64);
    assert_eq!(
        summary.files, 5,
        "one file per partition: 3 + 1 hours and unknown"
    );

    let reopened = Archive::open(&format!("file://{}", root.display()))
        .await
        .unwrap();
    assert_eq!(reopened.version(), Some(1));
    let listed = files(&reopened).await;
    let partitions: BTreeSet<(String, String)> = listed.values().cloned().collect();
    let expected: BTreeSet<(String, String)> = [
        ("2024-03-05", "06"),
        ("2024-03-05", "07"),
        ("2024-03-05", "08"),
        ("2024-03-06", "00"),
        ("unknown", "unknown"),
    ]
    .iter()
    .map(|(d, h)| ((*d).to_owned(), (*h).to_owned()))
    .collect();
    assert_eq!(partitions, expected);

    let mut rows_read = 0;
    for (path, (dt, hour)) in &listed {
        assert!(
            path.starts_with(&format!("dt={dt}/hour={hour}/part-")),
            "{path}"
        );
        let (batches, metadata) = read_local(&root, path);
        let file_rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
        rows_read += file_rows;
        assert_eq!(metadata.file_metadata().num_rows() as usize, file_rows);
        // zstd from 64 rows on; smaller files are stored uncompressed, and named so.
        let zstd = file_rows >= 64;
        assert_eq!(path.ends_with(".zstd.parquet"), zstd, "{path}");
        assert!(path.ends_with(".parquet"), "{path}");

        // Dictionary-encoded `service`, statistics present.
        let row_group = metadata.row_group(0);
        let service_idx = row_group
            .columns()
            .iter()
            .position(|c| c.column_path().string() == "service")
            .unwrap();
        let service = row_group.column(service_idx);
        if zstd {
            assert!(matches!(service.compression(), Compression::ZSTD(_)));
        } else {
            assert_eq!(service.compression(), Compression::UNCOMPRESSED);
        }
        assert!(
            service.encodings().any(|e| e == Encoding::RLE_DICTIONARY),
            "service is dictionary encoded"
        );
        assert!(service.statistics().is_some());
        // Sorted columns get delta encodings; text with shared prefixes, prefix encoding.
        // Small files are plain (delta encoders set up a MiB per column for a few values).
        for (name, encoding) in [
            ("ts", Encoding::DELTA_BINARY_PACKED),
            ("line", Encoding::DELTA_BINARY_PACKED),
            ("header", Encoding::DELTA_BYTE_ARRAY),
            ("raw", Encoding::DELTA_BYTE_ARRAY),
        ] {
            let column = row_group
                .columns()
                .iter()
                .find(|c| c.column_path().string() == name)
                .unwrap();
            let encoding = if zstd { encoding } else { Encoding::PLAIN };
            assert!(
                column.encodings().any(|e| e == encoding),
                "{name} is {encoding:?} encoded"
            );
        }

        // Sorted by (service, template_id, ts) with nulls last, and in the right partition.
        let mut keys = Vec::new();
        for b in &batches {
            let service = b
                .column_by_name("service")
                .unwrap()
                .as_dictionary::<Int32Type>();
            let values = service.values().as_string::<i32>();
            let tid = b
                .column_by_name("template_id")
                .unwrap()
                .as_primitive::<UInt64Type>();
            // Stored in milliseconds, with the microseconds beside.
            let ts = b
                .column_by_name("ts")
                .unwrap()
                .as_primitive::<TimestampMillisecondType>();
            let us = b
                .column_by_name("ts_us")
                .unwrap()
                .as_primitive::<Int16Type>();
            for i in 0..b.num_rows() {
                let s = service
                    .is_valid(i)
                    .then(|| values.value(service.keys().value(i) as usize).to_owned());
                let sub_ms = if us.is_valid(i) { us.value(i) } else { 0 };
                let t = ts
                    .is_valid(i)
                    .then(|| ts.value(i) * 1000 + i64::from(sub_ms));
                if dt == "unknown" {
                    assert_eq!(t, None);
                } else {
                    let hour_of = t.unwrap().div_euclid(HOUR);
                    let (d, h) = (
                        chrono::DateTime::from_timestamp(hour_of * 3600, 0).unwrap(),
                        hour_of,
                    );
                    assert_eq!(&d.format("%Y-%m-%d").to_string(), dt);
                    assert_eq!(&format!("{:02}", h.rem_euclid(24)), hour);
                }
                keys.push((s.is_none(), s, tid.value(i), t));
            }
        }
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "{path} is sorted");
    }
    assert_eq!(rows_read, total);

    let stats = reopened.stats().await.unwrap();
    assert_eq!(stats.version, 1);
    assert_eq!(stats.files, 5);
    assert_eq!(stats.rows, total as u64);
    assert_eq!(stats.files_without_row_count, 0);
    assert_eq!(stats.bytes, summary.bytes);

    let loaded = reopened
        .load_catalog()
        .await
        .unwrap()
        .expect("catalog saved");
    assert_eq!(template_texts(&loaded), template_texts(&learned));
    assert_eq!(loaded.live_len(), learned.live_len());
}

#[tokio::test]
async fn datafusion_reads_through_the_delta_provider() {
    let dir = tempfile::tempdir().unwrap();
    let archive = Archive::open(dir.path().to_str().unwrap()).await.unwrap();
    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    let data = rows(T0, 200, 2, 5);
    writer.write(batch(&data)).await.unwrap();
    writer.commit(&catalog(&[])).await.unwrap();

    let mut archive = archive;
    archive.refresh().await.unwrap();
    assert_eq!(
        query_count(&archive, "SELECT count(*) FROM logs").await,
        205
    );
    assert_eq!(
        query_count(&archive, "SELECT count(*) FROM logs WHERE dt = 'unknown'").await,
        5
    );
    assert_eq!(
        query_count(
            &archive,
            "SELECT count(*) FROM logs WHERE service = 'api' AND hour = '07'"
        )
        .await,
        data.iter()
            .filter(|r| r.service == Some("api") && r.ts.is_some_and(|t| t >= T0 + HOUR))
            .count() as i64
    );
    // The registered table has exactly the archive schema (dictionaries, UInt64, partitions).
    let all = query(&archive, "SELECT * FROM logs LIMIT 1").await;
    assert_eq!(
        all[0].schema().as_ref(),
        logoscope_store::archive_schema().as_ref()
    );
    // Template ids above i64::MAX survive the trip.
    let batches = query(
        &archive,
        "SELECT template_id FROM logs WHERE dt <> 'unknown' ORDER BY line",
    )
    .await;
    assert_eq!(
        batches[0].schema().field(0).data_type(),
        &arrow::datatypes::DataType::UInt64
    );
    let mut read: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.column(0).as_primitive::<UInt64Type>().values().to_vec())
        .collect();
    let mut expected: Vec<u64> = data
        .iter()
        .filter(|r| r.ts.is_some())
        .map(|r| r.template_id)
        .collect();
    expected.sort_unstable();
    read.sort_unstable();
    assert_eq!(read, expected);
}

#[tokio::test]
async fn memory_round_trip() {
    let location = format!("memory://round-trip-{}", std::process::id());
    let archive = Archive::open(&location).await.unwrap();
    assert_eq!(
        archive.url(),
        format!("memory:///round-trip-{}", std::process::id())
    );
    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    writer.write(batch(&rows(T0, 120, 4, 3))).await.unwrap();
    let learned = catalog(&["connection from 10.0.0.1 closed"]);
    let summary = writer.commit(&learned).await.unwrap();
    assert_eq!(summary.rows, 123);

    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(summary.version));
    assert_eq!(reopened.stats().await.unwrap().rows, 123);
    assert_eq!(files(&reopened).await.len(), 5);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        123
    );
    let loaded = reopened.load_catalog().await.unwrap().unwrap();
    assert_eq!(template_texts(&loaded), template_texts(&learned));

    // Another name is another archive.
    let other = Archive::open(&format!("{location}-other")).await.unwrap();
    assert_eq!(other.stats().await.unwrap().rows, 0);
    // A name nothing wrote to: the error says why no later command finds one.
    let missing = Archive::open_existing(&format!("{location}-missing")).await;
    let err = missing.expect_err("no archive").to_string();
    assert!(err.contains("lives only as long as the process"), "{err}");
}

#[tokio::test]
async fn uncommitted_rows_stay_invisible() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = Archive::open(&location).await.unwrap();
    let mut first = archive.writer(ArchiveOptions::default()).await.unwrap();
    first.write(batch(&rows(T0, 10, 1, 0))).await.unwrap();
    let committed = first.commit(&catalog(&["kept"])).await.unwrap();

    let archive = Archive::open(&location).await.unwrap();
    let mut dropped = archive.writer(ArchiveOptions::default()).await.unwrap();
    dropped.write(batch(&rows(T0, 500, 2, 5))).await.unwrap();
    dropped.flush().await.unwrap();
    assert!(dropped.files_written() > 0, "files reached storage");
    drop(dropped);

    let mut aborted = archive.writer(ArchiveOptions::default()).await.unwrap();
    aborted
        .write(batch(&rows(T0 + 5 * HOUR, 50, 1, 0)))
        .await
        .unwrap();
    aborted.flush().await.unwrap();
    aborted.abort().await.unwrap();
    assert!(
        dir.path()
            .join("dt=2024-03-05/hour=11")
            .read_dir()
            .map_or(true, |mut entries| entries.next().is_none()),
        "abort deletes its files"
    );

    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(committed.version));
    assert_eq!(reopened.stats().await.unwrap().rows, 10);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        10
    );
    let loaded = reopened.load_catalog().await.unwrap().unwrap();
    assert_eq!(template_texts(&loaded), template_texts(&catalog(&["kept"])));
}

#[tokio::test]
async fn memory_bound_forces_several_files() {
    let location = format!("memory://bounded-{}", std::process::id());
    let archive = Archive::open(&location).await.unwrap();
    let options = ArchiveOptions {
        max_buffered_rows: 100,
        target_file_rows: 1_000,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options).await.unwrap();
    for i in 0..20 {
        // 30 rows each, all in the same hour.
        writer
            .write(batch(&rows(T0 + i * 1_000, 30, 1, 0)))
            .await
            .unwrap();
        assert!(
            writer.buffered_rows() <= 100,
            "bound respected after every write"
        );
    }
    let summary = writer.commit(&catalog(&[])).await.unwrap();
    assert_eq!(summary.rows, 600);
    assert!(summary.files >= 5, "{} files", summary.files);

    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.stats().await.unwrap().files, summary.files);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        600
    );
}

#[tokio::test]
async fn target_file_rows_caps_file_size() {
    let location = format!("memory://capped-{}", std::process::id());
    let archive = Archive::open(&location).await.unwrap();
    let options = ArchiveOptions {
        target_file_rows: 100,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options).await.unwrap();
    writer.write(batch(&rows(T0, 250, 1, 0))).await.unwrap();
    let summary = writer.commit(&catalog(&[])).await.unwrap();
    assert_eq!(summary.files, 3);
    let reopened = Archive::open(&location).await.unwrap();
    let stats = reopened.stats().await.unwrap();
    assert_eq!((stats.files, stats.rows), (3, 250));
}

#[tokio::test]
async fn concurrent_writers_both_land_and_catalogs_merge() {
    let location = format!("memory://concurrent-{}", std::process::id());
    let archive = Archive::open(&location).await.unwrap();
    let mut a = archive.writer(ArchiveOptions::default()).await.unwrap();
    let mut b = archive.writer(ArchiveOptions::default()).await.unwrap();
    a.write(batch(&rows(T0, 40, 2, 1))).await.unwrap();
    b.write(batch(&rows(T0, 60, 3, 2))).await.unwrap();
    let (catalog_a, catalog_b) = (catalog(&["alpha started"]), catalog(&["beta stopped"]));
    let (ra, rb) = tokio::join!(a.commit(&catalog_a), b.commit(&catalog_b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let mut versions = [ra.version, rb.version];
    versions.sort_unstable();
    assert_eq!(versions, [1, 2]);

    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(2));
    assert_eq!(reopened.stats().await.unwrap().rows, 103);
    let loaded = reopened.load_catalog().await.unwrap().unwrap();
    let texts = template_texts(&loaded);
    for expected in template_texts(&catalog(&["alpha started", "beta stopped"])) {
        assert!(texts.contains(&expected), "{expected} in {texts:?}");
    }
}

/// Two ingests that start from one committed catalog and race: each message
/// is counted once in the merged catalog.
#[tokio::test]
async fn racing_writers_count_each_message_once() {
    let location = format!("memory://race-counts-{}", std::process::id());
    let archive = Archive::open(&location).await.unwrap();
    let mut first = archive.writer(ArchiveOptions::default()).await.unwrap();
    first.write(batch(&rows(T0, 5, 1, 0))).await.unwrap();
    first.commit(&catalog(&["shared event"; 5])).await.unwrap();

    let archive = Archive::open(&location).await.unwrap();
    let base = archive.load_catalog().await.unwrap().unwrap();
    let grown = |messages: &[&str]| {
        let mut c = base.clone();
        let mut params = Vec::new();
        for m in messages {
            c.add(m, None, &mut params);
        }
        c
    };
    let catalog_a = grown(&["shared event"; 3]);
    let catalog_b = grown(&["shared event", "only b", "only b"]);
    let mut a = archive.writer(ArchiveOptions::default()).await.unwrap();
    let mut b = archive.writer(ArchiveOptions::default()).await.unwrap();
    a.write(batch(&rows(T0, 3, 1, 0))).await.unwrap();
    b.write(batch(&rows(T0, 3, 1, 0))).await.unwrap();
    let (ra, rb) = tokio::join!(a.commit(&catalog_a), b.commit(&catalog_b));
    ra.unwrap();
    rb.unwrap();

    let loaded = Archive::open(&location)
        .await
        .unwrap()
        .load_catalog()
        .await
        .unwrap()
        .unwrap();
    let count = |text: &str| {
        loaded
            .templates()
            .find(|t| t.template == text)
            .map(|t| t.count)
    };
    assert_eq!(count("shared event"), Some(5 + 3 + 1));
    assert_eq!(count("only b"), Some(2));
}

#[tokio::test]
async fn wrong_schema_is_refused() {
    let archive = Archive::open(&format!("memory://schema-{}", std::process::id()))
        .await
        .unwrap();
    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    let other = RecordBatch::try_from_iter([(
        "ts",
        std::sync::Arc::new(arrow::array::Int64Array::from(vec![1, 2])) as arrow::array::ArrayRef,
    )])
    .unwrap();
    assert!(matches!(
        writer.write(other).await,
        Err(StoreError::SchemaMismatch { .. })
    ));
    assert!(matches!(
        Archive::open("ftp://nowhere/x").await,
        Err(StoreError::InvalidLocation { .. })
    ));
}

/// Parquet files under `dir`, recursively.
fn parquet_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(parquet_files(&path));
        } else if path.extension().is_some_and(|e| e == "parquet") {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_files_all_land_in_one_commit() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = Archive::open(&location).await.unwrap();
    let options = ArchiveOptions {
        target_file_rows: 7,
        max_buffered_rows: 200,
        idle_flush_rows: 40,
        max_concurrent_encodes: 2,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options).await.unwrap();
    // Time-ordered hours, hours interleaved within a batch, late rows for an earlier hour, and
    // rows without a timestamp: files start because partitions are full, idle and too big.
    let mut written: Vec<String> = Vec::new();
    for (i, (start, n, hours, nulls)) in [
        (T0, 95, 1, 0),
        (T0 + HOUR, 130, 1, 3),
        (T0 + 2 * HOUR, 61, 3, 2),
        (T0, 9, 1, 0),
        (T0 + 5 * HOUR, 250, 1, 0),
        (T0 + 6 * HOUR, 33, 2, 11),
    ]
    .into_iter()
    .enumerate()
    {
        let mut part = rows(start, n, hours, nulls);
        for row in &mut part {
            row.message = format!("batch {i}: {}", row.message);
        }
        for slice in part.chunks(23) {
            writer.write(batch(slice)).await.unwrap();
        }
        written.extend(part.into_iter().map(|r| r.message));
    }
    assert!(
        writer.files_written() > 0,
        "files were written before the commit"
    );
    assert!(!parquet_files(dir.path()).is_empty());
    let before = Archive::open(&location).await.unwrap();
    assert_eq!(
        before.version(),
        Some(0),
        "nothing is visible before commit"
    );
    assert_eq!(before.stats().await.unwrap().rows, 0);

    let summary = writer.commit(&catalog(&[])).await.unwrap();
    assert_eq!(summary.version, 1, "one commit");
    assert_eq!(summary.rows, written.len() as u64);

    let reopened = Archive::open(&location).await.unwrap();
    let listed = files(&reopened).await;
    assert_eq!(listed.len(), summary.files);
    assert_eq!(
        parquet_files(dir.path()).len(),
        summary.files,
        "every file written is in the commit, and no other"
    );
    let stats = reopened.stats().await.unwrap();
    assert_eq!((stats.version, stats.rows), (1, written.len() as u64));
    for path in listed.keys() {
        let (batches, _) = read_local(dir.path(), path);
        let n: usize = batches.iter().map(RecordBatch::num_rows).sum();
        assert!((1..=7).contains(&n), "{path} holds {n} rows");
    }

    // Rows in == rows out, each exactly once.
    let read = query(&reopened, "SELECT message FROM logs").await;
    let mut got: Vec<String> = read
        .iter()
        .flat_map(|b| {
            let messages = b.column(0).as_string::<i32>();
            (0..b.num_rows())
                .map(|i| messages.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    got.sort();
    written.sort();
    assert_eq!(got, written);
}

#[tokio::test]
async fn idle_partitions_are_written_before_commit() {
    async fn files_per_hour(
        idle_flush_rows: usize,
        idle_flush_min_rows: usize,
        later: usize,
    ) -> BTreeMap<String, usize> {
        let location = format!(
            "memory://idle-{idle_flush_rows}-{idle_flush_min_rows}-{later}-{}",
            std::process::id()
        );
        let archive = Archive::open(&location).await.unwrap();
        let options = ArchiveOptions {
            idle_flush_rows,
            idle_flush_min_rows,
            ..ArchiveOptions::default()
        };
        let mut writer = archive.writer(options).await.unwrap();
        writer.write(batch(&rows(T0, 100, 1, 0))).await.unwrap();
        // Log time moves on: hour 06 gets no row while `later` go to hour 07.
        writer
            .write(batch(&rows(T0 + HOUR, later, 1, 0)))
            .await
            .unwrap();
        // A late row for hour 06.
        writer.write(batch(&rows(T0 + 10, 1, 1, 0))).await.unwrap();
        let summary = writer.commit(&catalog(&[])).await.unwrap();
        assert_eq!(summary.rows, 101 + later as u64);
        let mut per_hour = BTreeMap::new();
        for (_, hour) in files(&Archive::open(&location).await.unwrap())
            .await
            .into_values()
        {
            *per_hour.entry(hour).or_insert(0) += 1;
        }
        per_hour
    }
    let hours = |list: &[(&str, usize)]| -> BTreeMap<String, usize> {
        list.iter().map(|(h, n)| ((*h).to_owned(), *n)).collect()
    };
    assert_eq!(
        files_per_hour(50, 0, 60).await,
        hours(&[("06", 2), ("07", 1)]),
        "hour 06 was written when it went idle; its late row got a file of its own"
    );
    assert_eq!(
        files_per_hour(0, 0, 60).await,
        hours(&[("06", 1), ("07", 1)]),
        "without idle flushing, everything waits for the commit"
    );
    assert_eq!(
        files_per_hour(50, 1000, 60).await,
        hours(&[("06", 1), ("07", 1)]),
        "a small hour waits longer: its late row joins it"
    );
    assert_eq!(
        files_per_hour(50, 1000, 400).await,
        hours(&[("06", 2), ("07", 1)]),
        "idle eight times as long, a small hour is written too"
    );
}

/// Makes the partition directory of `T0` impossible to create, for root too: a regular file
/// stands where the directory `dt=2024-03-05` would go.
fn block_partition(root: &std::path::Path) {
    std::fs::write(root.join("dt=2024-03-05"), b"not a directory").unwrap();
}

#[tokio::test]
async fn a_failed_background_file_surfaces_and_nothing_is_committed() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = Archive::open(&location).await.unwrap();
    block_partition(dir.path());
    let options = ArchiveOptions {
        target_file_rows: 10,
        max_concurrent_encodes: 1,
        idle_flush_rows: 0,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options).await.unwrap();
    // A full file starts in the background and is not waited for...
    writer.write(batch(&rows(T0, 10, 1, 0))).await.unwrap();
    // ...until the next file needs its slot: the put's error comes out here.
    let err = writer
        .write(batch(&rows(T0 + 10, 10, 1, 0)))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ObjectStore(_)), "{err}");
    // The writer stays failed: no later write or commit can drop the lost rows silently.
    let again = writer
        .write(batch(&rows(T0 + 5 * 24 * HOUR, 3, 1, 0)))
        .await
        .unwrap_err();
    assert!(matches!(again, StoreError::WriterFailed { .. }), "{again}");
    let commit = writer.commit(&catalog(&["never"])).await.unwrap_err();
    assert!(
        matches!(commit, StoreError::WriterFailed { .. }),
        "{commit}"
    );

    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(0));
    assert_eq!(reopened.stats().await.unwrap().rows, 0);
    assert!(reopened.load_catalog().await.unwrap().is_none());
}

/// Held in memory (the default) and spilled to the temporary file from the first line.
fn both_spools() -> [ArchiveOptions; 2] {
    [ArchiveOptions::default(), spill_all()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_failing_at_commit_fails_the_commit_and_its_files_are_removed() {
    for options in both_spools() {
        a_file_failing_at_commit(options).await;
    }
}

async fn a_file_failing_at_commit(options: ArchiveOptions) {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = Archive::open(&location).await.unwrap();
    block_partition(dir.path());
    let mut writer = archive.writer(options).await.unwrap();
    // Other days write fine; the blocked one fails only when the commit flushes it.
    writer
        .write(batch(&rows(T0 + 48 * HOUR, 40, 4, 5)))
        .await
        .unwrap();
    writer.write(batch(&rows(T0, 30, 1, 0))).await.unwrap();
    let err = writer.commit(&catalog(&[])).await.unwrap_err();
    assert!(matches!(err, StoreError::ObjectStore(_)), "{err}");

    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(0));
    assert_eq!(reopened.stats().await.unwrap().rows, 0);
    assert!(
        parquet_files(dir.path()).is_empty(),
        "the files that were written are deleted again"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_waits_for_files_in_flight() {
    for spool in both_spools() {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().to_str().unwrap().to_owned();
        let archive = Archive::open(&location).await.unwrap();
        let options = ArchiveOptions {
            target_file_rows: 5,
            ..spool
        };
        let mut writer = archive.writer(options).await.unwrap();
        writer.write(batch(&rows(T0, 200, 3, 4))).await.unwrap();
        writer.flush().await.unwrap();
        assert!(writer.files_written() >= 40, "{}", writer.files_written());
        writer.write(batch(&rows(T0, 200, 3, 4))).await.unwrap();
        writer.abort().await.unwrap();
        assert!(parquet_files(dir.path()).is_empty());
        assert_eq!(Archive::open(&location).await.unwrap().version(), Some(0));
    }
}

/// A temporary directory that cannot hold the spool's file: the error names it, nothing is
/// committed, and every file written is deleted again (those booked, and the one whose line
/// could not be).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spool_that_cannot_be_written_fails_the_ingest_and_names_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("archive").to_str().unwrap().to_owned();
    let missing = dir.path().join("no-such-dir");
    let archive = Archive::open(&location).await.unwrap();
    let options = ArchiveOptions {
        commit_memory_bytes: 1000,
        spool_dir: Some(missing.clone()),
        target_file_rows: 5,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options).await.unwrap();
    let mut failure = None;
    for i in 0..20 {
        if let Err(err) = writer.write(batch(&rows(T0 + i * HOUR, 20, 1, 0))).await {
            failure = Some(err);
            break;
        }
    }
    let err = match failure {
        // As `logoscope ingest` does after a failed write.
        Some(err) => {
            writer.abort().await.unwrap();
            err
        }
        None => writer.commit(&catalog(&[])).await.unwrap_err(),
    };
    let message = err.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(0));
    assert!(
        parquet_files(&dir.path().join("archive")).is_empty(),
        "{:?}",
        parquet_files(&dir.path().join("archive"))
    );
}

/// The log entry of `version` in a local archive, as lines.
fn log_entry(root: &std::path::Path, version: u64) -> Vec<serde_json::Value> {
    let text =
        std::fs::read_to_string(root.join(format!("_delta_log/{version:020}.json"))).unwrap();
    text.lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// Names in `_delta_log` that are not a version's commit, checkpoint or `_last_checkpoint`.
fn stray_log_files(root: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(root.join("_delta_log"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('_') && name != "_last_checkpoint")
        .collect()
}

/// Past `commit_memory_bytes`, `add` lines go to a temporary file and the commit is uploaded
/// from it and copied into place: the same log entry (commitInfo first, one line per file),
/// no temporary object left, and racing writers still get one version each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_past_the_memory_bound_are_written_from_the_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = Archive::open(&location).await.unwrap();
    // 1 KiB holds two or three lines: most of them spill, the last ones stay in memory.
    let options = ArchiveOptions {
        commit_memory_bytes: 1024,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options.clone()).await.unwrap();
    writer.write(batch(&rows(T0, 600, 60, 3))).await.unwrap();
    let summary = writer.commit(&catalog(&["spilled"])).await.unwrap();
    assert_eq!((summary.version, summary.files, summary.rows), (1, 61, 603));
    let entry = log_entry(dir.path(), 1);
    assert!(entry[0].get("commitInfo").is_some(), "{}", entry[0]);
    let adds: BTreeSet<String> = entry[1..]
        .iter()
        .map(|line| line["add"]["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!((entry.len(), adds.len()), (62, 61));
    assert_eq!(
        adds,
        files(&Archive::open(&location).await.unwrap())
            .await
            .into_keys()
            .collect()
    );
    assert!(
        stray_log_files(dir.path()).is_empty(),
        "{:?}",
        stray_log_files(dir.path())
    );

    // Spilled writers racing for version 2: the copy refuses the loser, which retries.
    let archive = Archive::open(&location).await.unwrap();
    let mut a = archive.writer(spill_all()).await.unwrap();
    let mut b = archive.writer(spill_all()).await.unwrap();
    a.write(batch(&rows(T0, 50, 5, 0))).await.unwrap();
    b.write(batch(&rows(T0 + 24 * HOUR, 70, 7, 0)))
        .await
        .unwrap();
    let (catalog_a, catalog_b) = (catalog(&["a"]), catalog(&["b"]));
    let (ra, rb) = tokio::join!(a.commit(&catalog_a), b.commit(&catalog_b));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let mut versions = [(ra.version, ra.files), (rb.version, rb.files)];
    versions.sort_unstable();
    assert_eq!([versions[0].0, versions[1].0], [2, 3]);
    for (version, files) in versions {
        assert_eq!(log_entry(dir.path(), version).len(), files + 1);
    }
    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.stats().await.unwrap().rows, 603 + 50 + 70);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        723
    );
    assert!(stray_log_files(dir.path()).is_empty());

    // The same in memory://.
    let location = format!("memory://spilled-{}", std::process::id());
    let archive = Archive::open(&location).await.unwrap();
    let mut writer = archive.writer(options).await.unwrap();
    writer.write(batch(&rows(T0, 300, 30, 0))).await.unwrap();
    let summary = writer.commit(&catalog(&["spilled"])).await.unwrap();
    assert_eq!((summary.version, summary.files), (1, 30));
    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(files(&reopened).await.len(), 30);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        300
    );
}

#[tokio::test]
async fn archives_of_another_schema_version_are_read_but_not_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = Archive::open(&location).await.unwrap();
    assert_eq!(archive.schema_version().unwrap(), 3);
    // Mark the table as written by schema v1, as archives made before residuals are.
    archive
        .delta_table()
        .await
        .unwrap()
        .set_tbl_properties()
        .with_properties([("logoscope.schemaVersion".to_owned(), "1".to_owned())].into())
        .with_raise_if_not_exists(false)
        .await
        .unwrap();
    let archive = Archive::open(&location).await.unwrap();
    assert_eq!(archive.schema_version().unwrap(), 1);
    let err = archive.writer(ArchiveOptions::default()).await.unwrap_err();
    assert!(matches!(err, StoreError::SchemaMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("schema v1") && text.contains("new archive"),
        "{text}"
    );
}

/// A new archive whose `delta.checkpointInterval` is `interval` (set by deltalake, version 1).
async fn archive_checkpointed_every(interval: u32) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = Archive::open(&location).await.unwrap();
    archive
        .delta_table()
        .await
        .unwrap()
        .set_tbl_properties()
        .with_properties([("delta.checkpointInterval".to_owned(), interval.to_string())].into())
        .await
        .unwrap();
    (dir, location)
}

/// A checkpoint's rows as JSON text (nulls left out), in file order; and its top-level
/// columns.
fn checkpoint_rows(path: &std::path::Path) -> (Vec<String>, Vec<String>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let columns = reader
        .schema()
        .fields()
        .iter()
        .map(|f| format!("{}: {}", f.name(), f.data_type()))
        .collect();
    let mut text = Vec::new();
    {
        let mut writer = arrow_json::LineDelimitedWriter::new(&mut text);
        for batch in reader.build().unwrap() {
            writer.write(&batch.unwrap()).unwrap();
        }
        writer.finish().unwrap();
    }
    let rows: Vec<String> = String::from_utf8(text)
        .unwrap()
        .lines()
        .map(|line| {
            // Object keys in a fixed order, so equal rows are equal text.
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            value.to_string()
        })
        .collect();
    (rows, columns)
}

/// deltalake's checkpoint of `version`, made in a new directory from a copy of the JSON
/// commits in `log` alone (none of Logoscope's checkpoints).
async fn deltalakes_checkpoint(log: &std::path::Path, version: u64) -> tempfile::TempDir {
    let other = tempfile::tempdir().unwrap();
    std::fs::create_dir(other.path().join("_delta_log")).unwrap();
    for entry in std::fs::read_dir(log).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".json") && !name.starts_with('_') {
            std::fs::copy(log.join(&name), other.path().join("_delta_log").join(&name)).unwrap();
        }
    }
    let url = url::Url::from_directory_path(other.path()).unwrap();
    deltalake::checkpoints::create_checkpoint_from_table_url_and_cleanup(
        url,
        version,
        Some(false),
        None,
    )
    .await
    .unwrap();
    other
}

/// The `_last_checkpoint` hint in `log`.
fn last_checkpoint(log: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(log.join("_last_checkpoint")).unwrap()).unwrap()
}

/// The checkpoint after a Logoscope commit is the kernel's reconciliation of the version
/// before with the commit's `add` lines appended (read back from the writer's temporary file):
/// the same rows and columns as the checkpoint deltalake makes of that version from the log,
/// over an earlier checkpoint, another writer's JSON commit and a removed file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_after_a_commit_is_what_the_kernel_reconciles() {
    let (dir, location) = archive_checkpointed_every(3).await;
    let archive = Archive::open(&location).await.unwrap();
    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    writer.write(batch(&rows(T0, 200, 20, 2))).await.unwrap();
    // Version 2, checkpointed on the interval.
    assert_eq!(
        writer.commit(&catalog(&["first"])).await.unwrap().version,
        2
    );
    let log = dir.path().join("_delta_log");
    assert!(log.join(format!("{:020}.checkpoint.parquet", 2)).exists());
    // Version 3: another writer removes one of those files.
    let removed = files(&Archive::open(&location).await.unwrap())
        .await
        .into_keys()
        .next()
        .unwrap();
    let now = chrono::Utc::now().timestamp_millis();
    std::fs::write(
        log.join(format!("{:020}.json", 3)),
        format!(
            "{{\"commitInfo\":{{\"operation\":\"DELETE\"}}}}\n\
             {{\"remove\":{{\"path\":\"{removed}\",\"deletionTimestamp\":{now},\"dataChange\":true}}}}\n"
        ),
    )
    .unwrap();
    // Version 4: a commit whose lines all went to the temporary file, checkpointed at once.
    let archive = Archive::open(&location).await.unwrap();
    let options = ArchiveOptions {
        commit_memory_bytes: 0,
        checkpoint_after_log_bytes: 1,
        ..ArchiveOptions::default()
    };
    let mut writer = archive.writer(options).await.unwrap();
    writer
        .write(batch(&rows(T0 + 100 * HOUR, 300, 30, 0)))
        .await
        .unwrap();
    let summary = writer.commit(&catalog(&["second"])).await.unwrap();
    assert_eq!((summary.version, summary.files), (4, 30));
    assert_eq!(summary.checkpoint_failure, None);

    let other = deltalakes_checkpoint(&log, 4).await;
    let name = format!("{:020}.checkpoint.parquet", 4);
    let (mut ours, our_columns) = checkpoint_rows(&log.join(&name));
    let (mut theirs, their_columns) = checkpoint_rows(&other.path().join("_delta_log").join(&name));
    assert_eq!(our_columns, their_columns);
    // The commit's lines come last, after the state of version 3 (the kernel's reconciliation
    // of the whole log would put the newest commit first).
    let committed: BTreeSet<String> = log_entry(dir.path(), 4)[1..]
        .iter()
        .map(|line| line["add"]["path"].as_str().unwrap().to_owned())
        .collect();
    let last: BTreeSet<String> = ours[ours.len() - 30..]
        .iter()
        .map(|row| {
            let row: serde_json::Value = serde_json::from_str(row).unwrap();
            row["add"]["path"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(last, committed);
    ours.sort();
    theirs.sort();
    assert_eq!(ours.len(), theirs.len());
    for (a, b) in ours.iter().zip(&theirs) {
        assert_eq!(a, b);
    }
    // 20 + 1 files of version 2, one removed (a tombstone), 30 added; protocol and metadata.
    let adds = ours.iter().filter(|r| r.starts_with("{\"add\"")).count();
    let removes = ours.iter().filter(|r| r.starts_with("{\"remove\"")).count();
    assert_eq!((adds, removes), (21 - 1 + 30, 1));
    let (ours, theirs) = (
        last_checkpoint(&log),
        last_checkpoint(&other.path().join("_delta_log")),
    );
    for key in ["version", "size", "numOfAddFiles"] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    assert_eq!(
        ours["sizeInBytes"],
        std::fs::metadata(log.join(&name)).unwrap().len()
    );
    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.stats().await.unwrap().files, 50);
}

/// The writer's own log entry: `commitInfo` first (naming the catalog), then one `add` per
/// file with its partition values and `ts` statistics; and, as deltalake's commit does, a
/// checkpoint when the table's `checkpointInterval` comes round, which readers then load from.
#[tokio::test]
async fn commits_are_delta_log_entries_with_checkpoints_on_the_interval() {
    let (dir, location) = archive_checkpointed_every(3).await;
    let log = dir.path().join("_delta_log");
    let mut versions = Vec::new();
    for i in 0..4 {
        let archive = Archive::open(&location).await.unwrap();
        let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
        writer
            .write(batch(&rows(T0 + i * HOUR, 10, 2, 1)))
            .await
            .unwrap();
        let summary = writer
            .commit(&catalog(&["connection from 10.0.0.1 closed"]))
            .await
            .unwrap();
        versions.push(summary.version);

        let text =
            std::fs::read_to_string(log.join(format!("{:020}.json", summary.version))).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let info = &lines[0]["commitInfo"];
        assert_eq!(info["operation"], "WRITE");
        assert_eq!(info["isBlindAppend"], true);
        assert!(
            info["logoscope.catalog"]
                .as_str()
                .unwrap()
                .starts_with("_logoscope/catalog/")
        );
        assert_eq!(info["operationMetrics"]["numFiles"], summary.files);
        assert_eq!(lines.len(), summary.files + 1, "{text}");
        for add in &lines[1..] {
            let add = &add["add"];
            assert!(
                dir.path().join(add["path"].as_str().unwrap()).is_file(),
                "{add}"
            );
            assert_eq!(add["dataChange"], true);
            assert!(add["size"].as_u64().unwrap() > 0 && add["modificationTime"].is_i64());
            // Optional fields are left out, not written as null.
            assert!(
                add.as_object().unwrap().values().all(|v| !v.is_null()),
                "{add}"
            );
            let stats: serde_json::Value =
                serde_json::from_str(add["stats"].as_str().unwrap()).unwrap();
            assert!(stats["numRecords"].as_u64().unwrap() > 0, "{stats}");
            let dt = add["partitionValues"]["dt"].as_str().unwrap();
            assert!(
                add["path"]
                    .as_str()
                    .unwrap()
                    .starts_with(&format!("dt={dt}/"))
            );
        }
    }
    assert_eq!(versions, [2, 3, 4, 5]);
    // Versions 2 and 5 complete an interval of 3 (version + 1 a multiple of it).
    for version in [2, 5] {
        assert!(
            log.join(format!("{version:020}.checkpoint.parquet"))
                .is_file(),
            "no checkpoint at {version}"
        );
    }
    assert!(!log.join(format!("{:020}.checkpoint.parquet", 4)).exists());
    let last: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(log.join("_last_checkpoint")).unwrap())
            .unwrap();
    assert_eq!(last["version"], 5);

    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(5));
    assert_eq!(reopened.stats().await.unwrap().rows, 4 * 11);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        4 * 11
    );
}

/// The writer's checkpoints hold the table's files in row groups of a few thousand, zstd
/// compressed, so neither writing nor reading one holds every file at once; `_last_checkpoint`
/// counts what they hold, and the table loads from them.
#[tokio::test]
async fn checkpoints_are_written_in_small_row_groups() {
    let (dir, location) = archive_checkpointed_every(3).await;
    // Version 2: 20,000 files added by another writer (only the log is read here).
    let log = dir.path().join("_delta_log");
    let adds: String = (0..20_000)
        .map(|i| {
            format!(
                "{{\"add\":{{\"path\":\"dt=2026-01-01/hour=00/part-{i:05}.parquet\",\
                 \"partitionValues\":{{\"dt\":\"2026-01-01\",\"hour\":\"00\"}},\"size\":1000,\
                 \"modificationTime\":0,\"dataChange\":true,\"stats\":\"{{\\\"numRecords\\\":2}}\"}}}}\n"
            )
        })
        .collect();
    std::fs::write(
        log.join(format!("{:020}.json", 2)),
        format!("{{\"commitInfo\":{{\"operation\":\"WRITE\"}}}}\n{adds}"),
    )
    .unwrap();
    let archive = Archive::open(&location).await.unwrap();
    assert_eq!(archive.version(), Some(2));
    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    writer.write(batch(&rows(T0, 10, 2, 1))).await.unwrap();
    let summary = writer.commit(&catalog(&["hello"])).await.unwrap();
    // Not at the interval (version 3): no checkpoint yet; version 5 completes one.
    assert_eq!(summary.version, 3);
    for _ in 0..2 {
        let archive = Archive::open(&location).await.unwrap();
        let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
        writer.write(batch(&rows(T0, 10, 2, 1))).await.unwrap();
        writer.commit(&catalog(&["hello"])).await.unwrap();
    }
    let checkpoint = log.join(format!("{:020}.checkpoint.parquet", 5));
    let reader =
        ParquetRecordBatchReaderBuilder::try_new(File::open(&checkpoint).unwrap()).unwrap();
    let metadata = std::sync::Arc::clone(reader.metadata());
    let groups = metadata.row_groups();
    assert!(groups.len() >= 3, "{} row groups", groups.len());
    let mut adds = 0;
    for group in groups {
        assert!(group.num_rows() <= 8 * 1024, "{}", group.num_rows());
        assert!(
            group
                .columns()
                .iter()
                .all(|c| matches!(c.compression(), Compression::ZSTD(_))),
        );
    }
    for batch in reader.build().unwrap() {
        let batch = batch.unwrap();
        adds += batch.num_rows() - batch.column_by_name("add").unwrap().null_count();
    }
    let written = 20_000 + 3 * summary.files;
    assert_eq!(adds, written);
    let last: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(log.join("_last_checkpoint")).unwrap())
            .unwrap();
    assert_eq!(last["version"], 5);
    assert_eq!(last["numOfAddFiles"], written);
    assert_eq!(
        last["sizeInBytes"],
        std::fs::metadata(&checkpoint).unwrap().len()
    );

    let reopened = Archive::open(&location).await.unwrap();
    let stats = reopened.stats().await.unwrap();
    assert_eq!((stats.version, stats.files), (5, written));
    assert_eq!(stats.rows, 20_000 * 2 + 3 * 11);

    // Once the JSON commits past the newest checkpoint reach `checkpoint_after_log_bytes`,
    // the commit that got them there is checkpointed, off the interval: 6 with a bound of
    // one byte; 7 not, with no bound; 8 when 7 and 8 together reach the bound.
    let commit = |bound: u64| {
        let location = location.clone();
        async move {
            let archive = Archive::open(&location).await.unwrap();
            let options = ArchiveOptions {
                checkpoint_after_log_bytes: bound,
                ..ArchiveOptions::default()
            };
            let mut writer = archive.writer(options).await.unwrap();
            writer.write(batch(&rows(T0, 10, 2, 1))).await.unwrap();
            writer.commit(&catalog(&["hello"])).await.unwrap().version
        }
    };
    let checkpointed = |version: u64| {
        log.join(format!("{version:020}.checkpoint.parquet"))
            .is_file()
    };
    let size = |version: u64| {
        std::fs::metadata(log.join(format!("{version:020}.json")))
            .unwrap()
            .len()
    };
    assert_eq!(commit(1).await, 6);
    assert!(checkpointed(6));
    assert_eq!(commit(u64::MAX).await, 7);
    assert!(!checkpointed(7));
    // Version 8 (interval 3: 8 + 1 is a multiple) would checkpoint anyway; 9 is off it.
    assert_eq!(commit(u64::MAX).await, 8);
    assert!(checkpointed(8));
    assert_eq!(commit(u64::MAX).await, 9);
    assert!(!checkpointed(9));
    let bound = size(9) + 1;
    assert_eq!(commit(bound).await, 10);
    assert!(
        size(10) > 1 && checkpointed(10),
        "9 and 10 reach {bound} bytes"
    );
}

/// The writer appends to tables whose protocol only asks what an append keeps (deletion
/// vectors, `appendOnly`, …) and refuses, naming what it lacks, tables that ask for more: a
/// writer feature such as generated columns, or an invariant on a column.
#[tokio::test]
async fn appends_only_where_the_protocol_asks_no_more_than_appending() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let log = dir.path().join("_delta_log");
    Archive::open(&location).await.unwrap();
    let entry = |version: u64, action: serde_json::Value| {
        let info = serde_json::json!({"commitInfo": {"operation": "SET TBLPROPERTIES"}});
        std::fs::write(
            log.join(format!("{version:020}.json")),
            format!("{info}\n{action}\n"),
        )
        .unwrap();
    };
    let append = |location: String| async move {
        let archive = Archive::open(&location).await.unwrap();
        let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
        writer.write(batch(&rows(T0, 3, 1, 0))).await.unwrap();
        writer.commit(&catalog(&["hello"])).await
    };

    entry(
        1,
        serde_json::json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
            "readerFeatures": ["deletionVectors"],
            "writerFeatures": ["deletionVectors", "appendOnly", "invariants"]}}),
    );
    assert_eq!(append(location.clone()).await.unwrap().version, 2);

    entry(
        3,
        serde_json::json!({"protocol": {"minReaderVersion": 3, "minWriterVersion": 7,
            "readerFeatures": ["deletionVectors"],
            "writerFeatures": ["deletionVectors", "appendOnly", "generatedColumns"]}}),
    );
    let err = append(location.clone()).await.unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaMismatch { .. })
            && err.to_string().contains("generatedColumns"),
        "{err}"
    );

    // Back to the legacy protocol, then an invariant on `line`.
    entry(
        4,
        serde_json::json!({"protocol": {"minReaderVersion": 1, "minWriterVersion": 2}}),
    );
    assert_eq!(append(location.clone()).await.unwrap().version, 5);
    let first: Vec<serde_json::Value> =
        std::fs::read_to_string(log.join(format!("{:020}.json", 0)))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let mut metadata = first
        .into_iter()
        .find(|a| a.get("metaData").is_some())
        .unwrap();
    let mut schema: serde_json::Value =
        serde_json::from_str(metadata["metaData"]["schemaString"].as_str().unwrap()).unwrap();
    for field in schema["fields"].as_array_mut().unwrap() {
        if field["name"] == "line" {
            field["metadata"]["delta.invariants"] =
                serde_json::json!(r#"{"expression":{"expression":"line > 0"}}"#);
        }
    }
    metadata["metaData"]["schemaString"] = serde_json::json!(schema.to_string());
    entry(6, metadata);
    let err = append(location.clone()).await.unwrap_err();
    assert!(
        err.to_string().contains("invariant on column line"),
        "{err}"
    );
    // Refused commits leave nothing: the table reads as before.
    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(6));
    assert_eq!(reopened.stats().await.unwrap().rows, 6);
}

/// A checkpoint that cannot be written does not undo the commit: the summary says why, and
/// the table reads from its log.
#[tokio::test]
async fn a_failed_checkpoint_leaves_the_commit_and_says_why() {
    let (dir, location) = archive_checkpointed_every(3).await;
    // Version 2 completes the interval; a directory where its checkpoint goes blocks it.
    let blocked = dir
        .path()
        .join("_delta_log")
        .join(format!("{:020}.checkpoint.parquet", 2));
    std::fs::create_dir(&blocked).unwrap();
    let archive = Archive::open(&location).await.unwrap();
    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    writer.write(batch(&rows(T0, 10, 2, 1))).await.unwrap();
    let summary = writer.commit(&catalog(&["hello"])).await.unwrap();
    assert_eq!(summary.version, 2);
    let failure = summary.checkpoint_failure.expect("the checkpoint failed");
    assert!(failure.contains("checkpoint of version 2"), "{failure}");
    assert!(!failure.contains("panicked"), "{failure}");
    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.version(), Some(2));
    assert_eq!(reopened.stats().await.unwrap().rows, 11);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        11
    );
}

/// Commits 101 rows in 11 files (10 hours and no time) to the archive at `location`, spilled,
/// and checkpoints at once.
async fn commit_and_checkpoint(location: &str, template: &str) -> logoscope_store::CommitSummary {
    let archive = Archive::open(location).await.unwrap();
    let options = ArchiveOptions {
        checkpoint_after_log_bytes: 1,
        ..spill_all()
    };
    let mut writer = archive.writer(options).await.unwrap();
    writer.write(batch(&rows(T0, 100, 10, 1))).await.unwrap();
    let summary = writer.commit(&catalog(&[template])).await.unwrap();
    assert_eq!(summary.files, 11);
    assert_eq!(summary.checkpoint_failure, None);
    summary
}

/// A table that asks for statistics as a struct (`delta.checkpoint.writeStatsAsStruct`): the
/// kernel derives `stats_parsed` for every file, so the checkpoint after a Logoscope commit is
/// the kernel's reconciliation of the whole version, the same as deltalake's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_asking_for_struct_statistics_gets_the_kernels_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    let archive = Archive::open(&location).await.unwrap();
    archive
        .delta_table()
        .await
        .unwrap()
        .set_tbl_properties()
        .with_properties(
            [(
                "delta.checkpoint.writeStatsAsStruct".to_owned(),
                "true".to_owned(),
            )]
            .into(),
        )
        .await
        .unwrap();
    let summary = commit_and_checkpoint(&location, "struct").await;
    assert_eq!(summary.version, 2);

    let log = dir.path().join("_delta_log");
    let other = deltalakes_checkpoint(&log, 2).await;
    let name = format!("{:020}.checkpoint.parquet", 2);
    let (mut ours, our_columns) = checkpoint_rows(&log.join(&name));
    let (mut theirs, their_columns) = checkpoint_rows(&other.path().join("_delta_log").join(&name));
    assert_eq!(our_columns, their_columns);
    let adds: Vec<&String> = ours.iter().filter(|r| r.starts_with("{\"add\"")).collect();
    assert_eq!(adds.len(), 11);
    for add in adds {
        assert!(add.contains("\"stats_parsed\":{"), "{add}");
    }
    ours.sort();
    theirs.sort();
    assert!(ours == theirs, "the checkpoints differ");
    let (ours, theirs) = (
        last_checkpoint(&log),
        last_checkpoint(&other.path().join("_delta_log")),
    );
    for key in ["version", "size", "numOfAddFiles"] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.stats().await.unwrap().files, 11);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        101
    );
}

/// A table with the `v2Checkpoint` feature (which other writers may turn on) gets the kernel's
/// own checkpoint, which Logoscope then reads back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_with_v2_checkpoints_gets_the_kernels_own() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().to_str().unwrap().to_owned();
    Archive::open(&location).await.unwrap();
    // Version 1: another writer upgrades the protocol.
    let log = dir.path().join("_delta_log");
    std::fs::write(
        log.join(format!("{:020}.json", 1)),
        "{\"commitInfo\":{\"operation\":\"UPGRADE PROTOCOL\"}}\n\
         {\"protocol\":{\"minReaderVersion\":3,\"minWriterVersion\":7,\
         \"readerFeatures\":[\"v2Checkpoint\"],\
         \"writerFeatures\":[\"v2Checkpoint\",\"appendOnly\",\"invariants\"]}}\n",
    )
    .unwrap();
    let summary = commit_and_checkpoint(&location, "v2").await;
    assert_eq!(summary.version, 2);
    let names: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let prefix = format!("{:020}.checkpoint.", summary.version);
    let checkpoint = names
        .iter()
        .find(|n| n.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no checkpoint in {names:?}"));
    // A v2 checkpoint: it describes itself in a `checkpointMetadata` action.
    let (rows, _) = checkpoint_rows(&log.join(checkpoint));
    assert!(
        rows.iter()
            .any(|r| r.starts_with("{\"checkpointMetadata\"")),
        "{rows:?}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("{\"add\"")).count(),
        11
    );
    assert_eq!(last_checkpoint(&log)["version"], summary.version);
    let reopened = Archive::open(&location).await.unwrap();
    assert_eq!(reopened.stats().await.unwrap().files, 11);
    assert_eq!(
        query_count(&reopened, "SELECT count(*) FROM logs").await,
        101
    );
}
