//! End-to-end ingest: read, frame, parse, mask, template, write sorted zstd
//! Parquet, commit — on a deterministic generated corpus.
//!
//! `cargo bench -p logoscope-store --bench ingest` (set `LOGOSCOPE_BENCH_ENTRIES`
//! for a larger corpus; default 200,000 entries).

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::io::BufWriter;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logoscope_drain::{DrainConfig, TemplateCatalog};
use logoscope_ingest::{IngestError, IngestOptions, InputSpec, Pipeline};
use logoscope_store::{Archive, ArchiveOptions};
use logoscope_synth::{SynthConfig, generate};

fn ingest(c: &mut Criterion) {
    let entries: u64 = std::env::var("LOGOSCOPE_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus.log");
    let mut out = BufWriter::new(std::fs::File::create(&corpus).unwrap());
    generate(
        &SynthConfig::new(entries, 42),
        &mut out,
        &mut std::io::sink(),
    )
    .unwrap();
    drop(out);
    let bytes = std::fs::metadata(&corpus).unwrap().len();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut group = c.benchmark_group("ingest");
    group.sample_size(10).throughput(Throughput::Bytes(bytes));
    for (name, background_parse) in [("two_threads", true), ("one_thread", false)] {
        let mut round = 0u32;
        group.bench_function(format!("{name}/{entries}"), |b| {
            b.iter(|| {
                round += 1;
                let store = dir.path().join(format!("archive-{name}-{round}"));
                let opts = IngestOptions {
                    background_parse,
                    ..IngestOptions::default()
                };
                let rows = rt.block_on(run(&corpus, store.to_str().unwrap(), opts));
                assert_eq!(rows, entries);
                std::fs::remove_dir_all(&store).unwrap();
                black_box(rows)
            })
        });
    }
    group.finish();
}

/// The same flow as `logoscope ingest`: the pipeline pulls batches, the writer
/// buffers and flushes them, one commit at the end.
async fn run(corpus: &std::path::Path, store: &str, opts: IngestOptions) -> u64 {
    let archive = Archive::open(store).await.unwrap();
    let mut writer = archive.writer(ArchiveOptions::default()).await.unwrap();
    let mut catalog = TemplateCatalog::new(DrainConfig::default());
    let mut pipeline = Pipeline::new(vec![InputSpec::File(corpus.to_path_buf())], opts);
    while let Some(batch) = pipeline
        .next_batch(&mut catalog)
        .map_err(|e: IngestError| e)
        .unwrap()
    {
        writer.write(batch).await.unwrap();
    }
    writer.commit(&catalog).await.unwrap().rows
}

criterion_group!(benches, ingest);
criterion_main!(benches);
