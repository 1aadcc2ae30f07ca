//! Behaviour of the generator as its users see it: bytes out, truth out.

use std::collections::BTreeMap;

use chrono::DateTime;
use logoscope_synth::{SynthConfig, SynthError, generate};
use serde_json::Value;

struct Corpus {
    log: Vec<u8>,
    header: Value,
    entries: Vec<Value>,
    summary: Value,
}

impl Corpus {
    fn new(cfg: &SynthConfig) -> Self {
        let (mut log, mut truth) = (Vec::new(), Vec::new());
        let s = generate(cfg, &mut log, &mut truth).unwrap();
        let mut docs: Vec<Value> = truth
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        let summary = docs.pop().unwrap();
        let header = docs.remove(0);
        assert_eq!(header["type"], "header");
        assert_eq!(summary["type"], "summary");
        assert_eq!(summary["entries"], s.entries);
        assert_eq!(summary["bytes"], s.bytes);
        assert_eq!(s.bytes, log.len() as u64);
        Corpus {
            log,
            header,
            entries: docs,
            summary,
        }
    }

    /// Physical lines of the log (without their `\n`).
    fn lines(&self) -> Vec<&[u8]> {
        let mut v: Vec<&[u8]> = self.log.split(|&b| b == b'\n').collect();
        assert_eq!(v.pop(), Some(&b""[..]), "log ends with a newline");
        v
    }

    /// The bytes of entry `e` (its lines joined by `\n`).
    fn entry_text(&self, lines: &[&[u8]], e: &Value) -> Vec<u8> {
        let first = e["line"].as_u64().unwrap() as usize - 1;
        let n = e["lines"].as_u64().unwrap() as usize;
        lines[first..first + n].join(&b'\n')
    }

    fn template_text(&self, name: &str) -> String {
        self.header["templates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .map(|t| t["text"].as_str().unwrap().to_owned())
            .unwrap()
    }

    fn incident(&self, name: &str) -> &Value {
        self.summary["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap()
    }
}

/// This package's directory. Cargo sets it for the test process too; the
/// compile-time value is only the fallback, since a build cache shared between
/// checkouts can hold a test binary compiled in another one.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

fn ts(v: &Value) -> Option<i64> {
    v.as_str()
        .map(|s| DateTime::parse_from_rfc3339(s).unwrap().timestamp_micros())
}

fn cfg(lines: u64, seed: u64) -> SynthConfig {
    SynthConfig {
        overlong_bytes: 4096,
        ..SynthConfig::new(lines, seed)
    }
}

fn render(template: &str, params: &[Value]) -> String {
    let mut out = String::new();
    for (k, piece) in template.split("<*>").enumerate() {
        if k > 0 {
            out.push_str(params[k - 1].as_str().unwrap());
        }
        out.push_str(piece);
    }
    out
}

#[test]
fn same_seed_same_bytes_different_seed_different_bytes() {
    let run = |seed| {
        let (mut log, mut truth) = (Vec::new(), Vec::new());
        generate(&cfg(3000, seed), &mut log, &mut truth).unwrap();
        (log, truth)
    };
    let a = run(1);
    let b = run(1);
    assert!(a.0 == b.0, "log differs between runs with the same seed");
    assert!(a.1 == b.1, "truth differs between runs with the same seed");
    let c = run(2);
    assert!(a.0 != c.0);
    assert!(a.1 != c.1);
}

#[test]
fn truth_has_one_record_per_entry_and_line_numbers_match_the_log() {
    let c = Corpus::new(&cfg(4000, 11));
    assert_eq!(c.entries.len(), 4000);
    let lines = c.lines();
    assert_eq!(c.summary["physical_lines"], lines.len() as u64);
    let mut next_line = 1;
    for (n, e) in c.entries.iter().enumerate() {
        assert_eq!(e["n"], n as u64);
        assert_eq!(e["line"], next_line, "entry {n}");
        next_line += e["lines"].as_u64().unwrap();
        assert_eq!(e["multiline"].is_null(), e["lines"] == 1, "entry {n}");
    }
    assert_eq!(next_line - 1, lines.len() as u64);
    let counted: u64 = c.summary["templates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["count"].as_u64().unwrap())
        .sum();
    let binary = c.summary["formats"]["binary"].as_u64().unwrap_or(0);
    assert_eq!(counted + binary, 4000);
}

#[test]
fn zero_entries_is_an_empty_log_with_a_valid_truth() {
    let c = Corpus::new(&cfg(0, 1));
    assert!(c.log.is_empty());
    assert!(c.entries.is_empty());
    assert_eq!(c.summary["physical_lines"], 0);
}

#[test]
fn params_substituted_into_the_template_give_the_message() {
    let c = Corpus::new(&cfg(5000, 3));
    let lines = c.lines();
    for e in &c.entries {
        let Some(name) = e["template"].as_str() else {
            assert_eq!(e["malformed"], "binary");
            continue;
        };
        let msg = render(&c.template_text(name), e["params"].as_array().unwrap());
        let text = c.entry_text(&lines, e);
        let text = String::from_utf8_lossy(&text);
        // Pretty-printed JSON carries its message on a later line.
        let header_line = if e["multiline"] == "json_pretty" {
            &text
        } else {
            text.lines().next().unwrap()
        };
        assert!(header_line.contains(&msg), "{msg:?} not in {header_line:?}");
        if e["format"] == "access" {
            assert_eq!(header_line, msg);
        }
    }
}

#[test]
fn every_format_and_multiline_kind_occurs() {
    let c = Corpus::new(&cfg(5000, 5));
    for f in [
        "plain",
        "json",
        "logfmt",
        "syslog3164",
        "syslog5424",
        "access",
        "binary",
    ] {
        assert!(c.summary["formats"][f].as_u64().unwrap() > 0, "{f}");
    }
    for m in ["java", "python", "go", "json_pretty"] {
        assert!(c.summary["multiline"][m].as_u64().unwrap() > 0, "{m}");
    }
    let services: Vec<_> = c.summary["services"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    for s in [
        "api-gateway",
        "auth",
        "orders",
        "payments",
        "inventory",
        "worker",
    ] {
        assert!(services.iter().any(|x| x == s), "{s}");
    }
}

#[test]
fn json_entries_parse_except_the_broken_ones() {
    let c = Corpus::new(&cfg(5000, 8));
    let lines = c.lines();
    let mut broken = 0;
    for e in c.entries.iter().filter(|e| e["format"] == "json") {
        let text = c.entry_text(&lines, e);
        let parsed = serde_json::from_slice::<Value>(&text);
        if e["malformed"] == "broken_json" {
            broken += 1;
            assert!(parsed.is_err());
            let opens = text.iter().filter(|&&b| b == b'{').count();
            let closes = text.iter().filter(|&&b| b == b'}').count();
            assert_eq!(opens, closes, "braces stay balanced");
        } else {
            let v = parsed.unwrap();
            assert_eq!(v["service"], e["service"]);
        }
    }
    assert!(broken > 0);
}

#[test]
fn every_incident_is_present_and_where_the_truth_says() {
    let n = 6000u64;
    let c = Corpus::new(&cfg(n, 21));
    let lines = c.lines();
    let at = |f: f64| ((n as f64) * f) as u64;

    for name in [
        "error_burst",
        "latency_outliers",
        "late_template",
        "schema_change",
        "malformed_broken_json",
        "malformed_invalid_utf8",
        "malformed_binary",
        "malformed_overlong",
        "malformed_no_timestamp",
    ] {
        let inc = c.incident(name);
        assert!(inc["entries"].as_u64().unwrap() > 0, "{name}");
        let flagged = c
            .entries
            .iter()
            .filter(|e| {
                e["incident"] == name
                    || format!("malformed_{}", e["malformed"].as_str().unwrap_or("")) == name
            })
            .count() as u64;
        assert_eq!(flagged, inc["entries"], "{name}");
    }

    // error burst: payments ERRORs crowd the window
    let burst = c.incident("error_burst");
    let (b0, b1) = (ts(&burst["start"]).unwrap(), ts(&burst["end"]).unwrap());
    let errors_in = c
        .entries
        .iter()
        .filter(|e| e["level"] == "ERROR" && ts(&e["ts"]).is_some_and(|t| (b0..=b1).contains(&t)))
        .count();
    let window_share = (b1 - b0) as f64 / 86_400e6;
    let errors_total = c.summary["levels"]["ERROR"].as_u64().unwrap() as f64;
    assert!(
        errors_in as f64 > 10.0 * window_share * errors_total,
        "burst not a spike: {errors_in} of {errors_total} in {window_share}"
    );

    // gap: inventory is silent inside the window and active around it
    let gap = c.incident("gap");
    let (g0, g1) = (ts(&gap["start"]).unwrap(), ts(&gap["end"]).unwrap());
    assert!(g1 > g0);
    let inv: Vec<i64> = c
        .entries
        .iter()
        .filter(|e| e["service"] == "inventory")
        .filter_map(|e| ts(&e["ts"]))
        .collect();
    assert!(!inv.iter().any(|t| (g0..g1).contains(t)));
    assert!(inv.iter().any(|t| *t < g0) && inv.iter().any(|t| *t >= g1));

    // latency outliers: the duration jumps inside the window only
    for e in c
        .entries
        .iter()
        .filter(|e| e["template"] == "orders.created")
    {
        let ms: u64 = e["params"][2].as_str().unwrap().parse().unwrap();
        let inside = (at(0.70)..at(0.72)).contains(&e["n"].as_u64().unwrap());
        assert_eq!(e["incident"] == "latency_outliers", inside);
        if inside {
            assert!(ms >= 2500);
        } else {
            assert!(ms <= 90);
        }
    }

    // late template: never before 85%
    let late: Vec<u64> = c
        .entries
        .iter()
        .filter(|e| e["template"] == "worker.cache_rebalanced")
        .map(|e| e["n"].as_u64().unwrap())
        .collect();
    assert_eq!(late.first(), Some(&at(0.85)));

    // schema change: payments JSON has `currency` exactly from 60%
    for e in c
        .entries
        .iter()
        .filter(|e| e["service"] == "payments" && e["format"] == "json" && e["malformed"].is_null())
    {
        let v: Value = serde_json::from_slice(&c.entry_text(&lines, e)).unwrap();
        let late = e["n"].as_u64().unwrap() >= at(0.60);
        assert_eq!(v.get("currency").is_some(), late, "entry {}", e["n"]);
        assert_eq!(e["incident"] == "schema_change", late);
    }

    // malformed lines look like what they claim to be
    for e in c.entries.iter().filter(|e| !e["malformed"].is_null()) {
        let text = c.entry_text(&lines, e);
        match e["malformed"].as_str().unwrap() {
            "invalid_utf8" => assert!(std::str::from_utf8(&text).is_err()),
            "binary" => assert!(text.starts_with(b"\0")),
            "overlong" => assert!(text.len() > 4096),
            "no_timestamp" => {
                assert!(e["ts"].is_null());
                assert!(text.starts_with(b"WARN "));
                let prev = &c.entries[e["n"].as_u64().unwrap() as usize - 1];
                assert!(prev["multiline"].is_null(), "would read as a continuation");
            }
            "broken_json" => assert!(serde_json::from_slice::<Value>(&text).is_err()),
            other => panic!("unknown kind {other}"),
        }
    }
}

#[test]
fn time_moves_forward_except_for_flagged_entries() {
    let c = Corpus::new(&cfg(5000, 13));
    let mut max: Option<i64> = None;
    let mut flagged = 0;
    for e in &c.entries {
        let Some(t) = ts(&e["ts"]) else { continue };
        let Some(m) = max else {
            max = Some(t);
            continue;
        };
        if e["out_of_order"] == true {
            flagged += 1;
            assert!(t < m, "flagged entry {} is not out of order", e["n"]);
            continue;
        }
        // second-precision formats may truncate below a preceding ms timestamp
        assert!(t > m - 1_000_000, "entry {} goes back in time", e["n"]);
        max = Some(m.max(t));
    }
    assert!(flagged > 0);
    assert_eq!(c.summary["out_of_order"], flagged);
}

#[test]
fn traces_span_several_entries() {
    let c = Corpus::new(&cfg(3000, 17));
    let mut per_trace: BTreeMap<&str, usize> = BTreeMap::new();
    for e in &c.entries {
        if let Some(t) = e["trace_id"].as_str() {
            assert_eq!(t.len(), 32);
            *per_trace.entry(t).or_default() += 1;
        }
    }
    assert!(per_trace.values().any(|&n| n >= 3));
}

#[test]
fn bad_config_and_failing_writers_are_errors_not_panics() {
    let mut bad = cfg(10, 1);
    bad.span = chrono::TimeDelta::zero();
    assert!(matches!(
        generate(&bad, &mut Vec::new(), &mut Vec::new()),
        Err(SynthError::InvalidConfig(_))
    ));

    struct Full;
    impl std::io::Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk full"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let r = generate(&cfg(10_000, 1), &mut Full, &mut Vec::new());
    assert!(matches!(r, Err(SynthError::Io(_))));
}

/// The committed golden corpus must be exactly what the generator produces;
/// a change here means every golden test downstream needs re-blessing.
#[test]
fn committed_small_corpus_is_reproducible() {
    let dir = manifest_dir().join("../../data/synth");
    let (mut log, mut truth) = (Vec::new(), Vec::new());
    let s = generate(&SynthConfig::small_corpus(), &mut log, &mut truth).unwrap();
    assert_eq!(s.entries, 2000);
    let want_log = std::fs::read(dir.join("small.log")).unwrap();
    let want_truth = std::fs::read(dir.join("small.truth.jsonl")).unwrap();
    assert!(
        log == want_log && truth == want_truth,
        "data/synth differs from the generator; run \
         `cargo test -p logoscope-synth -- --ignored bless_small_corpus` and review"
    );
    assert!(log.len() + truth.len() < 1_000_000);
}

#[test]
#[ignore = "writes data/synth; run on purpose when the generator changes"]
fn bless_small_corpus() {
    let dir = manifest_dir().join("../../data/synth");
    std::fs::create_dir_all(&dir).unwrap();
    let mut log = std::fs::File::create(dir.join("small.log")).unwrap();
    let mut truth = std::fs::File::create(dir.join("small.truth.jsonl")).unwrap();
    generate(&SynthConfig::small_corpus(), &mut log, &mut truth).unwrap();
}
