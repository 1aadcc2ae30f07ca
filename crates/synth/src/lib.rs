//! Deterministic synthetic log corpora with ground truth.
//!
//! `logoscope-synth` owns the generator behind `logoscope generate`: it writes
//! a realistic, mixed-format log stream plus a *truth* file saying, for every
//! entry, what a perfect parser should find (first line, timestamp, service,
//! level, format, template and params) and which incidents were injected. It
//! must not depend on any other Logoscope crate — the truth has to be
//! independent of the code it grades.
//!
//! ```
//! use logoscope_synth::{generate, SynthConfig};
//!
//! let cfg = SynthConfig::new(1_000, 7);
//! let (mut log, mut truth) = (Vec::new(), Vec::new());
//! let summary = generate(&cfg, &mut log, &mut truth)?;
//! assert_eq!(summary.entries, 1_000);
//! assert!(summary.physical_lines > 1_000); // stack traces span several lines
//! assert_eq!(summary.bytes, log.len() as u64);
//! // Same seed, same bytes.
//! let mut again = Vec::new();
//! generate(&cfg, &mut again, &mut std::io::sink())?;
//! assert_eq!(log, again);
//! # Ok::<(), logoscope_synth::SynthError>(())
//! ```
//!
//! # What is generated
//!
//! `SynthConfig::lines` counts **entries**, not physical lines: a Java stack
//! trace is one entry over many lines. Entry `i` (0-based) gets the time
//! `start + i·span/lines` plus a jitter of less than one spacing, so time
//! increases overall; 0.4% of entries are moved 2–6 spacings back
//! (`out_of_order`). Six services on 14 hosts write, per entry:
//!
//! | service | formats |
//! |---|---|
//! | api-gateway | nginx combined access lines; JSON (`ts` = epoch ms, `level`, `msg`) |
//! | auth | logfmt (`ts= level= service= host= msg="…"`), plain |
//! | orders | plain `2026-03-02T00:00:01.234Z INFO [orders] …`, logfmt; Java stack traces |
//! | payments | JSON (`timestamp` with µs, nested `customer`, numbers, trace/span ids) |
//! | inventory | syslog RFC 3164 (no year, UTC) and RFC 5424 (with SD trace ids); Go panics |
//! | worker | plain in Python `logging` layout (`2026-03-02 00:00:01,234`, UTC), JSON (`time` with `+01:00`, `severity`, `message`), logfmt; Python tracebacks; pretty-printed JSON |
//!
//! Multi-line entries start with a normal timestamped header line; every
//! continuation line is a stack frame, `Caused by:`, `... N more`,
//! `Traceback …`, an exception line, `panic:`/`goroutine`/Go frames, or a
//! line of a pretty-printed JSON object (braces balance at its last line).
//! No entry contains a blank line.
//!
//! # Injected incidents
//!
//! Positions are fractions of the entry index range, so they scale with
//! `lines` (with fewer than ~500 entries some windows hold no entries):
//!
//! | name | where | what |
//! |---|---|---|
//! | `error_burst` | entries 30%–31% | 60% of them become payments `ERROR payment provider <*> timed out after <*>ms` |
//! | `gap` | entries 50%–54% | no inventory entries; window = the base times of those indices |
//! | `schema_change` | from 60% | payments JSON gains top-level `currency` |
//! | `latency_outliers` | entries 70%–72% | `order <*> created for user <*> in <*>ms`: 2500–9000 ms instead of 4–90 |
//! | `late_template` | from 85% | worker `cache shard <*> rebalanced: moved <*> keys to node <*>` first appears |
//! | `malformed_*` | one forced each at 12/25/38/45/63%, plus 0.15% random | `broken_json` (braces still balance), `invalid_utf8` (Latin-1 name), `binary` (NUL-led bytes, no `\n`/`\r`), `overlong` (one line of [`SynthConfig::overlong_bytes`]), `no_timestamp` (`WARN  worker[…] …` never right after a multi-line entry) |
//!
//! # Ground-truth format (JSON Lines, [`TRUTH_VERSION`] 1)
//!
//! 1. Header: `{"type":"header","generator":"logoscope-synth","version":1,"seed":S,"lines":N,"start":"…","span_secs":…,"overlong_bytes":…,"templates":[{"name":"orders.created","service":"orders","level":"INFO","text":"order <*> created for user <*> in <*>ms"},…]}`
//!    — every template the generator can emit, with its text (`<*>` per variable).
//! 2. One line per entry, in output order:
//!    `{"type":"entry","n":0,"line":1,"lines":1,"ts":"2026-03-02T00:00:00.012000Z","service":"orders","host":"orders-1","level":"INFO","format":"plain","template":"orders.created","params":["123","45","12"]}`
//!    - `n` entry index; `line` first physical line (1-based); `lines` physical lines.
//!    - `ts` the instant the line states, at the precision it states it
//!      (RFC 3164 and access lines: seconds), normalised to UTC with µs; `null` when absent.
//!    - `service`, `host`, `template`: `null` only for binary garbage.
//!    - `level`: DEBUG..FATAL, `null` for access lines (they carry none) and garbage.
//!    - `format`: `plain` `json` `logfmt` `syslog3164` `syslog5424` `access` `binary`.
//!    - `template`: the template's **name**; its text is in the header (and in
//!      the summary). Names keep the truth of the 2,000-entry golden corpus
//!      under 1 MB together with its log. `params` are the values in order:
//!      substituting them into the text gives the message (for `access` the
//!      whole line; for `invalid_utf8` after lossy decoding; for `json_pretty`
//!      the `message` value). For other multi-line entries the template covers
//!      the header line's message only.
//!    - optional: `trace_id`; `multiline` (`java` `python` `go` `json_pretty`);
//!      `malformed` (`broken_json` `invalid_utf8` `binary` `overlong` `no_timestamp`);
//!      `incident` (a name above); `out_of_order: true`.
//! 3. Summary: `{"type":"summary", …}` — the [`SynthSummary`] fields: `entries`,
//!    `physical_lines`, `bytes`, `xxh3` (of the log's bytes), `first_ts`, `last_ts`, `out_of_order`, counts
//!    per format/level/service/multiline kind, `templates` (name, service,
//!    level, text, count, first_line, first_seen, last_seen) and `incidents`
//!    (name, service, template text, start, end, entries, first_line, detail).
//!
//! Memory is independent of `lines`: one entry is built at a time in reused
//! buffers, and the summary's tallies are fixed-size.

mod catalog;
mod generator;
mod rng;
mod timefmt;

use std::collections::BTreeMap;
use std::io::Write;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde::{Serialize, Serializer};

pub use catalog::{Format, Level, Malformed, Multiline};

/// Version of the truth file layout, written in its header line.
pub const TRUTH_VERSION: u32 = 1;

/// Seed of the committed golden corpus `data/synth/small.log`.
pub const SMALL_CORPUS_SEED: u64 = 20_260_302;

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthConfig {
    /// Number of **entries** (a multi-line stack trace counts once).
    pub lines: u64,
    /// PRNG seed: same config, same bytes.
    pub seed: u64,
    /// Time of entry 0 (before jitter). Default 2026-03-02T00:00:00Z.
    pub start: DateTime<Utc>,
    /// Time covered by the corpus. Default 24 hours.
    pub span: TimeDelta,
    /// Length of the one over-long line's payload. Default 1 MiB + 4 KiB, just
    /// over the ingest default `max_entry_bytes`, so truncation is exercised.
    pub overlong_bytes: usize,
}

impl SynthConfig {
    /// Defaults with the given entry count and seed.
    pub fn new(lines: u64, seed: u64) -> Self {
        Self {
            lines,
            seed,
            ..Self::default()
        }
    }

    /// The configuration of the committed golden corpus `data/synth/small.log`:
    /// 2,000 entries, [`SMALL_CORPUS_SEED`], an 8 KiB over-long line (so the
    /// files stay small).
    pub fn small_corpus() -> Self {
        Self {
            overlong_bytes: 8 * 1024,
            ..Self::new(2_000, SMALL_CORPUS_SEED)
        }
    }

    /// The default `start`: 2026-03-02T00:00:00Z.
    pub fn default_start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 0, 0, 0)
            .single()
            .unwrap_or(DateTime::UNIX_EPOCH)
    }

    fn validate(&self) -> Result<(), SynthError> {
        if self.span <= TimeDelta::zero() {
            return Err(SynthError::InvalidConfig("span must be positive".into()));
        }
        if self.span > TimeDelta::days(3650) {
            return Err(SynthError::InvalidConfig(
                "span must be at most 10 years".into(),
            ));
        }
        if self.start.timestamp() < 0 {
            return Err(SynthError::InvalidConfig(
                "start must not be before 1970".into(),
            ));
        }
        if self.overlong_bytes > 256 * 1024 * 1024 {
            return Err(SynthError::InvalidConfig(
                "overlong_bytes must be at most 256 MiB".into(),
            ));
        }
        Ok(())
    }
}

impl Default for SynthConfig {
    fn default() -> Self {
        Self {
            lines: 10_000,
            seed: 42,
            start: Self::default_start(),
            span: TimeDelta::hours(24),
            overlong_bytes: 1024 * 1024 + 4096,
        }
    }
}

/// What [`generate`] wrote; also the body of the truth file's summary line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SynthSummary {
    /// Entries written (= `SynthConfig::lines`).
    pub entries: u64,
    /// Physical lines written (`\n` count).
    pub physical_lines: u64,
    /// Bytes written to the log output.
    pub bytes: u64,
    /// XXH3-64 of the log's bytes, as 16 hex digits: ties the truth to its log.
    pub xxh3: String,
    /// Earliest stated timestamp.
    #[serde(serialize_with = "ser_opt_ts")]
    pub first_ts: Option<DateTime<Utc>>,
    /// Latest stated timestamp.
    #[serde(serialize_with = "ser_opt_ts")]
    pub last_ts: Option<DateTime<Utc>>,
    /// Entries deliberately placed before their predecessor in time.
    pub out_of_order: u64,
    /// Entries per format name.
    pub formats: BTreeMap<String, u64>,
    /// Entries per level (`none` when the entry has no level).
    pub levels: BTreeMap<String, u64>,
    /// Entries per service (`none` for garbage).
    pub services: BTreeMap<String, u64>,
    /// Multi-line entries per kind.
    pub multiline: BTreeMap<String, u64>,
    /// Every template the generator knows, with how often it was used.
    pub templates: Vec<TemplateStat>,
    /// Every injected incident, present or not (`entries` 0 when the corpus
    /// was too small for its window, except `gap`, which always has 0).
    pub incidents: Vec<IncidentStat>,
}

/// One generator template and its use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TemplateStat {
    /// Stable short name, e.g. `orders.created`.
    pub name: String,
    /// Emitting service.
    pub service: String,
    /// Fixed level (`None` for access lines).
    pub level: Option<Level>,
    /// Template text with `<*>` for each variable.
    pub text: String,
    /// Entries generated from it.
    pub count: u64,
    /// First physical line of its first entry.
    pub first_line: Option<u64>,
    /// Earliest stated timestamp.
    #[serde(serialize_with = "ser_opt_ts")]
    pub first_seen: Option<DateTime<Utc>>,
    /// Latest stated timestamp.
    #[serde(serialize_with = "ser_opt_ts")]
    pub last_seen: Option<DateTime<Utc>>,
}

/// One injected incident.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IncidentStat {
    /// `error_burst`, `gap`, `latency_outliers`, `late_template`,
    /// `schema_change` or `malformed_<kind>`.
    pub name: String,
    /// Affected service, when there is one.
    pub service: Option<String>,
    /// Affected template text, when there is one.
    pub template: Option<String>,
    /// First affected timestamp (for `gap`: window start).
    #[serde(serialize_with = "ser_opt_ts")]
    pub start: Option<DateTime<Utc>>,
    /// Last affected timestamp (for `gap`: window end, exclusive).
    #[serde(serialize_with = "ser_opt_ts")]
    pub end: Option<DateTime<Utc>>,
    /// Entries flagged with this incident.
    pub entries: u64,
    /// First physical line of the first flagged entry.
    pub first_line: Option<u64>,
    /// What exactly was injected.
    pub detail: String,
}

fn ser_opt_ts<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => {
            let mut out = String::new();
            timefmt::rfc3339_us(t.timestamp_micros(), &mut out);
            s.serialize_str(&out)
        }
        None => s.serialize_none(),
    }
}

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    /// Writing the log or the truth failed.
    #[error("write failed: {0}")]
    Io(#[from] std::io::Error),
    /// Serialising a truth record failed.
    #[error("truth serialisation failed: {0}")]
    Json(#[from] serde_json::Error),
    /// The configuration cannot be generated.
    #[error("invalid synth config: {0}")]
    InvalidConfig(String),
}

/// Writes `cfg.lines` entries to `out` and their ground truth to `truth`
/// (pass [`std::io::sink()`] to skip it). Both are buffered internally and
/// flushed before returning.
pub fn generate(
    cfg: &SynthConfig,
    out: &mut dyn Write,
    truth: &mut dyn Write,
) -> Result<SynthSummary, SynthError> {
    generator::run(cfg, out, truth)
}
