//! Masking and templating throughput (lines per second).
//!
//! Inputs:
//! - the Loghub 2k samples, whole lines, read at run time from
//!   `$LOGOSCOPE_LOGHUB` or `<repo>/../shared/loghub` (`<D>/<D>_2k.log`); the
//!   Loghub benches are skipped when neither exists. Never copy those files
//!   into the repository.
//! - a synthetic set generated here from a fixed seed.
//!
//! `template/*/warm` measures the steady state (every template already
//! learnt); `template/*/cold` includes learning from an empty catalog.

// `criterion_group!` generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use logoscope_drain::{DrainConfig, Masker, TemplateCatalog};

fn loghub_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("LOGOSCOPE_LOGHUB")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/loghub")
        });
    dir.is_dir().then_some(dir)
}

fn loghub_lines() -> Option<Vec<String>> {
    let dir = loghub_dir()?;
    let mut sets: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    sets.sort();
    let mut lines = Vec::new();
    for set in sets {
        let Some(name) = set.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let file = set.join(format!("{name}_2k.log"));
        if let Ok(text) = std::fs::read_to_string(&file) {
            lines.extend(text.lines().map(str::to_owned));
        }
    }
    (!lines.is_empty()).then_some(lines)
}

/// xorshift64*: deterministic and dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

/// 20,000 messages from 40 shapes with typed and untyped variables.
fn synthetic_lines() -> Vec<String> {
    let mut r = Rng(0x5eed_1234_abcd_0042);
    let users = ["alice", "bob", "carol", "dave", "eve", "mallory", "trent"];
    let verbs = ["GET", "POST", "PUT", "DELETE"];
    let services = ["auth", "billing", "search", "cart", "gateway"];
    let mut out = Vec::with_capacity(20_000);
    for _ in 0..20_000 {
        let shape = r.below(40);
        let a = r.below(100_000);
        let b = r.below(1000);
        let ip = format!("10.{}.{}.{}", r.below(256), r.below(256), r.below(256));
        let msg = match shape % 10 {
            0 => format!(
                "user {} logged in from {}:{} after {}ms",
                r.pick(&users),
                ip,
                1024 + b,
                a % 900
            ),
            1 => format!(
                "{} /api/v{}/{}/items/{} status={} took {}.{}ms",
                r.pick(&verbs),
                shape / 10,
                r.pick(&services),
                a,
                [200, 404, 500][b as usize % 3],
                b,
                a % 10
            ),
            2 => format!(
                "connection to {} closed: read {} bytes, wrote {} bytes (shard {})",
                ip,
                a,
                b * 7,
                shape
            ),
            3 => format!(
                "request id={:08x}-{:04x}-4{:03x}-a{:03x}-{:012x} service={} retries={}",
                r.next() as u32,
                r.below(65536),
                b,
                b,
                r.next() & 0xffff_ffff_ffff,
                r.pick(&services),
                b % 4
            ),
            4 => format!(
                "2024-03-{:02}T{:02}:{:02}:{:02}.{:03}Z worker-{} processed batch {} in {}s",
                1 + b % 28,
                b % 24,
                a % 60,
                b % 60,
                a % 1000,
                shape,
                a,
                b % 30
            ),
            5 => format!(
                "cache miss key=session:{:x} size={}KiB evicted={}",
                r.next(),
                b,
                a.is_multiple_of(2)
            ),
            6 => format!(
                "job {} for {} failed: exit code {} at /var/lib/jobs/{}/run.sh:{}",
                a,
                r.pick(&users),
                b % 256,
                shape,
                b
            ),
            7 => format!(
                "sent email to {}@example.com via smtp://mail{}.example.com:25 ({} recipients)",
                r.pick(&users),
                shape,
                b % 9
            ),
            8 => format!(
                "heartbeat from node-{} lag={}ms queue={} state=OK",
                shape, b, a
            ),
            _ => format!(
                "disk /dev/sd{} usage {}.{}% on {} (threshold {}%)",
                ["a", "b", "c"][b as usize % 3],
                b % 100,
                a % 10,
                r.pick(&services),
                80 + shape % 15
            ),
        };
        out.push(msg);
    }
    out
}

fn bench_set(c: &mut Criterion, name: &str, lines: &[String]) {
    let bytes: usize = lines.iter().map(String::len).sum();
    let mut g = c.benchmark_group(format!("mask/{name}"));
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("lines", |bch| {
        let mut masker = Masker::default();
        let mut out = String::with_capacity(4096);
        bch.iter(|| {
            let mut values = 0;
            for l in lines {
                out.clear();
                values += masker.mask_into(l, &mut out);
            }
            black_box(values)
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("template/{name}"));
    g.throughput(Throughput::Elements(lines.len() as u64));
    g.bench_function("warm", |bch| {
        let mut cat = TemplateCatalog::new(DrainConfig::default());
        let mut params = Vec::with_capacity(64);
        for l in lines {
            cat.add(l, None, &mut params);
        }
        bch.iter(|| {
            let mut acc = 0u64;
            for (i, l) in lines.iter().enumerate() {
                acc ^= cat.add(l, Some(i as i64), &mut params).id;
            }
            black_box(acc)
        })
    });
    g.bench_function("cold", |bch| {
        bch.iter_batched(
            || TemplateCatalog::new(DrainConfig::default()),
            |mut cat| {
                let mut params = Vec::with_capacity(64);
                for l in lines {
                    cat.add(l, None, &mut params);
                }
                cat
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
    eprintln!("{name}: {} lines, {bytes} bytes", lines.len());
}

fn benches(c: &mut Criterion) {
    match loghub_lines() {
        Some(lines) => bench_set(c, "loghub", &lines),
        None => {
            eprintln!("loghub samples not found (set LOGOSCOPE_LOGHUB); skipping loghub benches")
        }
    }
    bench_set(c, "synthetic", &synthetic_lines());
}

criterion_group!(drain, benches);
criterion_main!(drain);
