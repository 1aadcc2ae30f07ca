//! Framing + parsing throughput on a deterministic synthetic input.

// criterion_group! generates an undocumented pub fn.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use logoscope_drain::{DrainConfig, TemplateCatalog};
use logoscope_ingest::{
    EntryFramer, EntryParser, FramerConfig, IngestError, IngestOptions, InputSpec, ParseOptions,
    Pipeline,
};

/// A fixed mix of plain, JSON, logfmt, syslog and CLF lines plus a Java stack
/// trace, generated with a tiny LCG so every run sees the same bytes.
fn synthetic(lines: usize) -> Vec<u8> {
    let mut seed: u64 = 0x5eed;
    let mut next = || {
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        (seed >> 33) as u32
    };
    let mut out = String::with_capacity(lines * 120);
    for i in 0..lines {
        let r = next();
        let (s, ms) = (i / 1000 % 60, i % 1000);
        match r % 6 {
            0 => out.push_str(&format!(
                "2024-01-02T15:04:{s:02}.{ms:03}Z INFO user {} logged in from 10.0.{}.{}\n",
                r % 5000,
                r % 256,
                (r >> 8) % 256
            )),
            1 => out.push_str(&format!(
                "{{\"ts\":\"2024-01-02T15:04:{s:02}.{ms:03}Z\",\"level\":\"warn\",\"msg\":\"slow query\",\"service\":\"db\",\"duration_ms\":{},\"table\":\"t{}\"}}\n",
                r % 900,
                r % 7
            )),
            2 => out.push_str(&format!(
                "ts=2024-01-02T15:04:{s:02}Z level=debug msg=\"cache miss\" key=k{} shard={}\n",
                r % 10_000,
                r % 16
            )),
            3 => out.push_str(&format!(
                "<34>Jan  2 15:04:{s:02} host{} sshd[{}]: Failed password for root\n",
                r % 9,
                r % 30_000
            )),
            4 => out.push_str(&format!(
                "10.1.{}.{} - - [02/Jan/2024:15:04:{s:02} +0000] \"GET /api/items/{} HTTP/1.1\" 200 {}\n",
                r % 256,
                (r >> 8) % 256,
                r % 1000,
                r % 50_000
            )),
            _ => out.push_str(&format!(
                "2024-01-02 15:04:{s:02},{ms:03} ERROR [main] com.shop.Pay - charge failed id={}\n\
                 java.lang.IllegalStateException: declined\n\
                 \tat com.shop.Pay.charge(Pay.java:{})\n\
                 \tat com.shop.Api.post(Api.java:88)\n",
                r,
                r % 400
            )),
        }
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let input = synthetic(50_000);
    let parser = EntryParser::new(ParseOptions {
        now_micros: Some(1_718_452_800_000_000),
        ..ParseOptions::default()
    });
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(10);
    group.bench_function("frame", |b| {
        b.iter(|| {
            let mut f = EntryFramer::new(&input[..], FramerConfig::default());
            let mut n = 0u64;
            while let Ok(Some(e)) = f.next_entry() {
                n += e.lines as u64;
            }
            black_box(n)
        })
    });
    group.bench_function("frame+parse", |b| {
        b.iter(|| {
            let mut f = EntryFramer::new(&input[..], FramerConfig::default());
            let mut n = 0u64;
            while let Ok(Some(e)) = f.next_entry() {
                let p = parser.parse(&e.text);
                n += p.message.len() as u64 + p.ts.unwrap_or(0) as u64 % 2;
            }
            black_box(n)
        })
    });
    // End to end: read a file, frame, parse (background thread), template
    // with Drain and build Arrow batches.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.log");
    std::fs::write(&path, &input).expect("write bench input");
    group.bench_function("pipeline", |b| {
        b.iter(|| {
            let mut catalog = TemplateCatalog::new(DrainConfig::default());
            let mut rows = 0usize;
            let opts = IngestOptions {
                now_micros: Some(1_718_452_800_000_000),
                ..IngestOptions::default()
            };
            let stats = Pipeline::new(vec![InputSpec::File(path.clone())], opts)
                .run(
                    &mut catalog,
                    |batch| {
                        rows += batch.num_rows();
                        Ok::<(), IngestError>(())
                    },
                    |_| {},
                )
                .expect("pipeline");
            black_box((rows, stats.entries))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
