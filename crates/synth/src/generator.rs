//! The streaming generator: one entry at a time, into reused buffers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;

use serde::Serialize;

use crate::catalog::{
    Format, Level, Malformed, Multiline, Param, Service, T_AUTHORIZED, T_BODY_DUMP, T_BROKER_LOST,
    T_CACHE_REBALANCED, T_LOGIN_OK, T_ORDER_CREATED, T_PROVIDER_TIMEOUT, TEMPLATES, Template,
};
use crate::rng::Rng;
use crate::timefmt;
use crate::{IncidentStat, SynthConfig, SynthError, SynthSummary, TemplateStat};

// Incident placement, as fractions of the entry index range (documented in lib.rs).
pub(crate) const BURST: (f64, f64) = (0.30, 0.31);
pub(crate) const BURST_SHARE: f64 = 0.6;
pub(crate) const GAP: (f64, f64) = (0.50, 0.54);
pub(crate) const LATENCY: (f64, f64) = (0.70, 0.72);
pub(crate) const LATENCY_MS: (u64, u64) = (2500, 9000);
pub(crate) const SCHEMA_FROM: f64 = 0.60;
pub(crate) const LATE_FROM: f64 = 0.85;
/// Where each malformed kind is forced once, in `Malformed::ALL` order.
pub(crate) const MALFORMED_AT: [f64; 5] = [0.12, 0.25, 0.38, 0.45, 0.63];
/// Extra random malformed entries (all kinds but over-long).
const MALFORMED_RATE: f64 = 0.0015;
const OUT_OF_ORDER_RATE: f64 = 0.004;
/// Concurrent traces; entries join one of them, so trace ids repeat across services.
const TRACE_SLOTS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Incident {
    ErrorBurst,
    Gap,
    LatencyOutliers,
    LateTemplate,
    SchemaChange,
}

impl Incident {
    const ALL: [Incident; 5] = [
        Incident::ErrorBurst,
        Incident::Gap,
        Incident::LatencyOutliers,
        Incident::LateTemplate,
        Incident::SchemaChange,
    ];

    fn name(self) -> &'static str {
        match self {
            Incident::ErrorBurst => "error_burst",
            Incident::Gap => "gap",
            Incident::LatencyOutliers => "latency_outliers",
            Incident::LateTemplate => "late_template",
            Incident::SchemaChange => "schema_change",
        }
    }
}

/// Running first/last/count for one template or incident.
#[derive(Debug, Clone, Copy, Default)]
struct Tally {
    count: u64,
    first_line: Option<u64>,
    first_us: Option<i64>,
    last_us: Option<i64>,
}

impl Tally {
    fn add(&mut self, line: u64, ts: Option<i64>) {
        self.count += 1;
        self.first_line.get_or_insert(line);
        if let Some(t) = ts {
            self.first_us = Some(self.first_us.map_or(t, |f| f.min(t)));
            self.last_us = Some(self.last_us.map_or(t, |l| l.max(t)));
        }
    }
}

/// What the truth file says about one entry.
#[derive(Serialize)]
struct EntryTruth<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    n: u64,
    line: u64,
    lines: u64,
    ts: Option<&'a str>,
    service: Option<&'static str>,
    host: Option<&'static str>,
    level: Option<Level>,
    format: Format,
    template: Option<&'static str>,
    params: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    multiline: Option<Multiline>,
    #[serde(skip_serializing_if = "Option::is_none")]
    malformed: Option<Malformed>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incident: Option<&'static str>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    out_of_order: bool,
}

#[derive(Serialize)]
struct HeaderTruth<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    generator: &'static str,
    version: u32,
    seed: u64,
    lines: u64,
    start: &'a str,
    span_secs: i64,
    overlong_bytes: usize,
    templates: Vec<HeaderTemplate>,
}

#[derive(Serialize)]
struct HeaderTemplate {
    name: &'static str,
    service: &'static str,
    level: Option<Level>,
    text: &'static str,
}

#[derive(Serialize)]
struct SummaryTruth<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    summary: &'a SynthSummary,
}

/// Fractional position `f` of `n` entries as an index.
fn at(n: u64, f: f64) -> u64 {
    ((n as f64) * f) as u64
}

fn weighted<T: Copy>(rng: &mut Rng, items: impl Iterator<Item = (T, u64)> + Clone) -> Option<T> {
    let total: u64 = items.clone().map(|(_, w)| w).sum();
    let mut r = rng.below(total);
    for (item, w) in items {
        if r < w {
            return Some(item);
        }
        r -= w;
    }
    None
}

fn push_hex(rng: &mut Rng, n: usize, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bits = 0u64;
    for i in 0..n {
        if i % 16 == 0 {
            bits = rng.next_u64();
        }
        out.push(HEX[(bits & 0xf) as usize] as char);
        bits >>= 4;
    }
}

fn json_escape_into(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// One active trace: id and the span the next entry should name as parent.
#[derive(Clone, Copy, Default)]
struct TraceSlot {
    id: [u64; 2],
    last_span: u64,
}

struct Generator<'c> {
    cfg: &'c SynthConfig,
    rng: Rng,
    start_us: i64,
    span_us: i64,
    /// Mean spacing between entries, at least 1µs.
    step_us: i64,
    by_service: Vec<Vec<(usize, u64)>>,
    // reused per-entry buffers: the generator never holds more than one entry
    msg: String,
    params: Vec<String>,
    text: Vec<u8>,
    ts_text: String,
    scratch: String,
    trace_text: String,
    span_text: String,
    parent_text: String,
    truth_buf: Vec<u8>,
    traces: [TraceSlot; TRACE_SLOTS],
    // running totals
    line_no: u64,
    bytes: u64,
    /// XXH3-64 of the log's bytes so far.
    hash: xxhash_rust::xxh3::Xxh3,
    templates: Vec<Tally>,
    incidents: [Tally; 5],
    malformed: [Tally; 5],
    formats: BTreeMap<&'static str, u64>,
    levels: BTreeMap<&'static str, u64>,
    services: BTreeMap<&'static str, u64>,
    multiline: BTreeMap<&'static str, u64>,
    out_of_order: u64,
    first_us: Option<i64>,
    last_us: Option<i64>,
}

/// Everything decided about an entry before it is written.
struct Plan {
    template: Option<usize>,
    service: Option<Service>,
    host: Option<&'static str>,
    format: Format,
    malformed: Option<Malformed>,
    incident: Option<Incident>,
    ts_us: Option<i64>,
    out_of_order: bool,
    latency_outlier: bool,
    has_trace: bool,
}

pub(crate) fn run(
    cfg: &SynthConfig,
    out: &mut dyn Write,
    truth: &mut dyn Write,
) -> Result<SynthSummary, SynthError> {
    cfg.validate()?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, out);
    let mut truth = std::io::BufWriter::with_capacity(256 * 1024, truth);
    let span_us = cfg
        .span
        .num_microseconds()
        .ok_or_else(|| SynthError::InvalidConfig("span too large".into()))?;
    let mut g = Generator {
        cfg,
        rng: Rng::new(cfg.seed),
        start_us: cfg.start.timestamp_micros(),
        span_us,
        step_us: (span_us / cfg.lines.max(1) as i64).max(1),
        by_service: Service::ALL
            .iter()
            .map(|s| {
                TEMPLATES
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| t.service == *s && t.weight > 0)
                    .map(|(i, t)| (i, t.weight))
                    .collect()
            })
            .collect(),
        msg: String::new(),
        params: Vec::new(),
        text: Vec::new(),
        ts_text: String::new(),
        scratch: String::new(),
        trace_text: String::new(),
        span_text: String::new(),
        parent_text: String::new(),
        truth_buf: Vec::new(),
        traces: [TraceSlot::default(); TRACE_SLOTS],
        line_no: 1,
        bytes: 0,
        hash: xxhash_rust::xxh3::Xxh3::new(),
        templates: vec![Tally::default(); TEMPLATES.len()],
        incidents: [Tally::default(); 5],
        malformed: [Tally::default(); 5],
        formats: BTreeMap::new(),
        levels: BTreeMap::new(),
        services: BTreeMap::new(),
        multiline: BTreeMap::new(),
        out_of_order: 0,
        first_us: None,
        last_us: None,
    };
    for slot in &mut g.traces {
        *slot = TraceSlot {
            id: [g.rng.next_u64(), g.rng.next_u64()],
            last_span: g.rng.next_u64(),
        };
    }

    let mut start_text = String::new();
    timefmt::rfc3339_us(g.start_us, &mut start_text);
    serde_json::to_writer(
        &mut truth,
        &HeaderTruth {
            kind: "header",
            generator: "logoscope-synth",
            version: crate::TRUTH_VERSION,
            seed: cfg.seed,
            lines: cfg.lines,
            start: &start_text,
            span_secs: cfg.span.num_seconds(),
            overlong_bytes: cfg.overlong_bytes,
            templates: TEMPLATES
                .iter()
                .map(|t| HeaderTemplate {
                    name: t.name,
                    service: t.service.name(),
                    level: t.level,
                    text: t.text,
                })
                .collect(),
        },
    )?;
    truth.write_all(b"\n")?;

    let n = cfg.lines;
    let forced: Vec<(u64, Malformed)> = Malformed::ALL
        .iter()
        .zip(MALFORMED_AT)
        .map(|(m, f)| (at(n, f), *m))
        .collect();
    let mut pending: Option<Malformed> = None;
    let mut prev_multiline = false;
    for i in 0..n {
        let mut mal = forced.iter().find(|(at, _)| *at == i).map(|(_, m)| *m);
        if mal.is_none() {
            mal = pending.take();
        }
        if mal.is_none() && g.rng.chance(MALFORMED_RATE) {
            mal = Some(*g.rng.pick(&[
                Malformed::BrokenJson,
                Malformed::InvalidUtf8,
                Malformed::Binary,
                Malformed::NoTimestamp,
            ]));
        }
        // A timestamp-less line right after a stack trace is indistinguishable
        // from one more trace line; keep the truth unambiguous by deferring it.
        if prev_multiline && matches!(mal, Some(Malformed::NoTimestamp | Malformed::Binary)) {
            if pending.is_none() {
                pending = mal;
            }
            mal = None;
        }
        let plan = g.plan(i, mal);
        let multiline = g.write_entry(i, &plan, &mut out, &mut truth)?;
        prev_multiline = multiline;
    }

    let summary = g.summary();
    serde_json::to_writer(
        &mut truth,
        &SummaryTruth {
            kind: "summary",
            summary: &summary,
        },
    )?;
    truth.write_all(b"\n")?;
    out.flush()?;
    truth.flush()?;
    Ok(summary)
}

impl Generator<'_> {
    fn base_us(&self, i: u64) -> i64 {
        let n = self.cfg.lines.max(1) as i128;
        self.start_us + (i as i128 * self.span_us as i128 / n) as i64
    }

    fn plan(&mut self, i: u64, mal: Option<Malformed>) -> Plan {
        let n = self.cfg.lines;
        let ts = self.base_us(i) + self.rng.below(self.step_us as u64) as i64;
        let mut plan = Plan {
            template: None,
            service: None,
            host: None,
            format: Format::Plain,
            malformed: mal,
            incident: None,
            ts_us: Some(ts),
            out_of_order: false,
            latency_outlier: false,
            has_trace: false,
        };
        let template = match mal {
            Some(Malformed::Binary) => {
                plan.format = Format::Binary;
                plan.ts_us = None;
                return plan;
            }
            Some(Malformed::Overlong) => T_BODY_DUMP,
            Some(Malformed::NoTimestamp) => {
                plan.ts_us = None;
                T_BROKER_LOST
            }
            Some(Malformed::InvalidUtf8) => T_LOGIN_OK,
            Some(Malformed::BrokenJson) => T_AUTHORIZED,
            None => {
                let in_burst = (at(n, BURST.0)..at(n, BURST.1)).contains(&i);
                // The first index of each window is forced, so every incident
                // shows up even in small corpora.
                if i == at(n, LATENCY.0) {
                    T_ORDER_CREATED
                } else if i == at(n, LATE_FROM) {
                    T_CACHE_REBALANCED
                } else if in_burst && (i == at(n, BURST.0) || self.rng.chance(BURST_SHARE)) {
                    plan.incident = Some(Incident::ErrorBurst);
                    T_PROVIDER_TIMEOUT
                } else {
                    let in_gap = (at(n, GAP.0)..at(n, GAP.1)).contains(&i);
                    let service = weighted(
                        &mut self.rng,
                        Service::ALL
                            .iter()
                            .enumerate()
                            .filter(|(_, s)| !(in_gap && **s == Service::Inventory))
                            .map(|(k, s)| (k, s.weight())),
                    )
                    .unwrap_or(0);
                    let late_ok = i >= at(n, LATE_FROM);
                    weighted(
                        &mut self.rng,
                        self.by_service[service]
                            .iter()
                            .copied()
                            .filter(|(t, _)| late_ok || *t != T_CACHE_REBALANCED),
                    )
                    .unwrap_or(T_ORDER_CREATED)
                }
            }
        };
        let t: &Template = &TEMPLATES[template];
        plan.template = Some(template);
        plan.service = Some(t.service);
        plan.host = Some(*self.rng.pick(t.service.hosts()));
        plan.format = match (mal, t.format) {
            (Some(Malformed::InvalidUtf8), _) => Format::Plain,
            (Some(Malformed::BrokenJson), _) => Format::Json,
            (_, Some(f)) => f,
            (_, None) => weighted(&mut self.rng, t.service.formats().iter().copied())
                .unwrap_or(Format::Plain),
        };
        if template == T_ORDER_CREATED && (at(n, LATENCY.0)..at(n, LATENCY.1)).contains(&i) {
            plan.latency_outlier = true;
            plan.incident = Some(Incident::LatencyOutliers);
        }
        if template == T_CACHE_REBALANCED {
            plan.incident = Some(Incident::LateTemplate);
        }
        if t.service == Service::Payments && plan.format == Format::Json && i >= at(n, SCHEMA_FROM)
        {
            plan.incident = plan.incident.or(Some(Incident::SchemaChange));
        }
        plan.has_trace = match plan.format {
            Format::Json => t.service != Service::Worker || self.rng.chance(0.5),
            Format::Logfmt => self.rng.chance(0.5),
            Format::Syslog5424 => self.rng.chance(0.3),
            _ => false,
        };
        // Inventory stays in order so its gap window stays empty.
        if mal.is_none()
            && t.service != Service::Inventory
            && plan.incident.is_none()
            && self.rng.chance(OUT_OF_ORDER_RATE)
        {
            let back = self.step_us * self.rng.range(2, 6) as i64 + self.rng.below(1000) as i64;
            plan.ts_us = Some((ts - back).max(self.start_us));
            plan.out_of_order = true;
        }
        plan
    }

    /// The timestamp as the chosen format writes it (its precision), in µs.
    fn written_ts(plan: &Plan) -> Option<i64> {
        let ts = plan.ts_us?;
        let unit = match (plan.format, plan.service) {
            (Format::Json, Some(Service::Payments)) => 1,
            (Format::Syslog3164 | Format::Access, _) => 1_000_000,
            _ => 1000,
        };
        Some(ts - ts.rem_euclid(unit))
    }

    fn render_param(&mut self, p: Param, plan: &Plan, ts: i64) {
        let mut s = String::new();
        let rng = &mut self.rng;
        match p {
            Param::Int(lo, hi) => {
                let _ = write!(s, "{}", rng.range(lo, hi));
            }
            Param::Millis(lo, hi) => {
                let (lo, hi) = if plan.latency_outlier {
                    LATENCY_MS
                } else {
                    (lo, hi)
                };
                let _ = write!(s, "{}", rng.range(lo, hi));
            }
            Param::InternalIp => {
                let _ = write!(
                    s,
                    "10.{}.{}.{}",
                    rng.below(4),
                    rng.below(32),
                    rng.range(2, 254)
                );
            }
            Param::ClientIp => {
                let prefix = rng.pick(&["203.0.113", "198.51.100", "192.0.2", "100.64.12"]);
                let _ = write!(s, "{prefix}.{}", rng.range(1, 254));
            }
            Param::ClfTime => timefmt::clf(ts, &mut s),
            Param::Sku => {
                let _ = write!(s, "SKU-{:05}", rng.below(100_000));
            }
            Param::Hex(k) => push_hex(rng, k, &mut s),
            Param::Choice(items) => s.push_str(rng.pick::<&str>(items)),
            Param::User => {
                if rng.chance(0.5) {
                    let first =
                        rng.pick(&["alice", "bob", "carol", "dave", "erin", "frank", "grace"]);
                    let last = rng.pick(&["smith", "jones", "nguyen", "garcia", "kowalski", "obi"]);
                    let _ = write!(s, "{first}.{last}{}@example.com", rng.below(100));
                } else {
                    let _ = write!(s, "u{}", rng.range(1, 50_000));
                }
            }
            Param::UserAgent => s.push_str(rng.pick::<&str>(crate::catalog::UAS)),
        }
        self.params.push(s);
    }

    /// Fills `msg` and `params` from the template.
    fn render_message(&mut self, t: &Template, plan: &Plan, ts: i64) {
        self.msg.clear();
        self.params.clear();
        for &p in t.params {
            self.render_param(p, plan, ts);
        }
        let mut params = self.params.iter();
        for (k, piece) in t.text.split("<*>").enumerate() {
            if k > 0
                && let Some(p) = params.next()
            {
                self.msg.push_str(p);
            }
            self.msg.push_str(piece);
        }
    }

    fn join_trace(&mut self) {
        let slot = if self.rng.chance(0.3) {
            let k = self.rng.below(TRACE_SLOTS as u64) as usize;
            self.traces[k] = TraceSlot {
                id: [self.rng.next_u64(), self.rng.next_u64()],
                last_span: self.rng.next_u64(),
            };
            k
        } else {
            self.rng.below(TRACE_SLOTS as u64) as usize
        };
        let span = self.rng.next_u64();
        let t = &mut self.traces[slot];
        self.trace_text.clear();
        self.span_text.clear();
        self.parent_text.clear();
        let _ = write!(self.trace_text, "{:016x}{:016x}", t.id[0], t.id[1]);
        let _ = write!(self.span_text, "{span:016x}");
        let _ = write!(self.parent_text, "{:016x}", t.last_span);
        t.last_span = span;
    }

    fn write_entry(
        &mut self,
        i: u64,
        plan: &Plan,
        out: &mut dyn Write,
        truth: &mut dyn Write,
    ) -> Result<bool, SynthError> {
        self.text.clear();
        self.params.clear();
        let written = Self::written_ts(plan);
        let mut multiline = None;
        if let Some(ti) = plan.template {
            let t = &TEMPLATES[ti];
            let ts = plan.ts_us.unwrap_or(self.start_us);
            if plan.has_trace {
                self.join_trace();
            }
            if plan.malformed == Some(Malformed::Overlong) {
                self.msg.clear();
                self.msg.push_str("request body dump: ");
                let mut payload = String::with_capacity(self.cfg.overlong_bytes);
                const B64: &[u8; 64] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                while payload.len() < self.cfg.overlong_bytes {
                    let mut bits = self.rng.next_u64();
                    for _ in 0..10 {
                        payload.push(B64[(bits & 63) as usize] as char);
                        bits >>= 6;
                    }
                }
                payload.truncate(self.cfg.overlong_bytes);
                self.msg.push_str(&payload);
                self.params.push(payload);
            } else {
                self.render_message(t, plan, ts);
            }
            multiline = t.multiline;
            self.render_line(t, plan);
        } else {
            // Binary garbage: NUL-led so no reader mistakes it for a continuation.
            self.text.extend_from_slice(b"\0\0\0\x01");
            let len = self.rng.range(20, 150);
            for _ in 0..len {
                let b = self.rng.below(256) as u8;
                self.text.push(if b == b'\n' || b == b'\r' { 0 } else { b });
            }
        }
        if plan.malformed == Some(Malformed::BrokenJson) {
            self.break_json();
        }

        let lines = 1 + self.text.iter().filter(|&&b| b == b'\n').count() as u64;
        out.write_all(&self.text)?;
        out.write_all(b"\n")?;
        let line = self.line_no;
        self.line_no += lines;
        self.bytes += self.text.len() as u64 + 1;
        self.hash.update(&self.text);
        self.hash.update(b"\n");

        // statistics
        let t = plan.template.map(|k| &TEMPLATES[k]);
        if let Some(k) = plan.template {
            self.templates[k].add(line, written);
        }
        if let Some(inc) = plan.incident {
            self.incidents[inc as usize].add(line, written);
        }
        if let Some(m) = plan.malformed {
            self.malformed[Malformed::ALL.iter().position(|x| *x == m).unwrap_or(0)]
                .add(line, written);
        }
        if let Some(w) = written {
            self.first_us = Some(self.first_us.map_or(w, |f| f.min(w)));
            self.last_us = Some(self.last_us.map_or(w, |l| l.max(w)));
        }
        *self.formats.entry(plan.format.as_str()).or_default() += 1;
        let level = t.and_then(|t| t.level);
        *self
            .levels
            .entry(level.map_or("none", Level::as_str))
            .or_default() += 1;
        *self
            .services
            .entry(plan.service.map_or("none", Service::name))
            .or_default() += 1;
        if let Some(m) = multiline {
            *self.multiline.entry(m.as_str()).or_default() += 1;
        }
        self.out_of_order += u64::from(plan.out_of_order);

        self.ts_text.clear();
        if let Some(w) = written {
            timefmt::rfc3339_us(w, &mut self.ts_text);
        }
        self.truth_buf.clear();
        serde_json::to_writer(
            &mut self.truth_buf,
            &EntryTruth {
                kind: "entry",
                n: i,
                line,
                lines,
                ts: written.map(|_| self.ts_text.as_str()),
                service: plan.service.map(Service::name),
                host: plan.host,
                level,
                format: plan.format,
                template: t.map(|t| t.name),
                params: &self.params,
                trace_id: plan.has_trace.then_some(self.trace_text.as_str()),
                multiline,
                malformed: plan.malformed,
                incident: plan.incident.map(Incident::name),
                out_of_order: plan.out_of_order,
            },
        )?;
        self.truth_buf.push(b'\n');
        truth.write_all(&self.truth_buf)?;
        Ok(multiline.is_some())
    }

    /// Breaks a JSON line while keeping its braces balanced, so readers that
    /// join lines until braces balance still see exactly one bad entry.
    fn break_json(&mut self) {
        match self.rng.below(3) {
            0 => {
                if let Some(p) = find(&self.text, b",\"service\"") {
                    self.text[p] = b' ';
                }
            }
            1 => {
                if let Some(p) = self.text.iter().rposition(|&b| b == b'}') {
                    self.text.insert(p, b',');
                }
            }
            _ => {
                if let Some(p) = find(&self.text, b"\"host\":") {
                    self.text.splice(p..p + 7, b"host:".iter().copied());
                }
            }
        }
    }

    fn summary(&self) -> SynthSummary {
        let n = self.cfg.lines;
        let utc = |us: Option<i64>| us.map(timefmt::to_utc);
        let templates = TEMPLATES
            .iter()
            .zip(&self.templates)
            .map(|(t, tally)| TemplateStat {
                name: t.name.to_owned(),
                service: t.service.name().to_owned(),
                level: t.level,
                text: t.text.to_owned(),
                count: tally.count,
                first_line: tally.first_line,
                first_seen: utc(tally.first_us),
                last_seen: utc(tally.last_us),
            })
            .collect();
        let mut incidents = Vec::new();
        for inc in Incident::ALL {
            let tally = self.incidents[inc as usize];
            let (service, template, detail) = match inc {
                Incident::ErrorBurst => (
                    Service::Payments,
                    Some(T_PROVIDER_TIMEOUT),
                    format!(
                        "{:.0}% of entries in the window are replaced by this ERROR template",
                        BURST_SHARE * 100.0
                    ),
                ),
                Incident::Gap => (
                    Service::Inventory,
                    None,
                    "no entries from the service inside [start, end)".to_owned(),
                ),
                Incident::LatencyOutliers => (
                    Service::Orders,
                    Some(T_ORDER_CREATED),
                    format!(
                        "the duration param (3rd) is drawn from {}..={} ms instead of 4..=90 ms",
                        LATENCY_MS.0, LATENCY_MS.1
                    ),
                ),
                Incident::LateTemplate => (
                    Service::Worker,
                    Some(T_CACHE_REBALANCED),
                    "the template never occurs before start".to_owned(),
                ),
                Incident::SchemaChange => (
                    Service::Payments,
                    None,
                    "payments JSON entries gain the top-level field `currency` from start on"
                        .to_owned(),
                ),
            };
            let (start, end) = match inc {
                // Window bounds rather than observed entries: the gap has none.
                Incident::Gap => (
                    Some(self.base_us(at(n, GAP.0))),
                    Some(self.base_us(at(n, GAP.1))),
                ),
                _ => (tally.first_us, tally.last_us),
            };
            incidents.push(IncidentStat {
                name: inc.name().to_owned(),
                service: Some(service.name().to_owned()),
                template: template.map(|k| TEMPLATES[k].text.to_owned()),
                start: utc(start),
                end: utc(end),
                entries: tally.count,
                first_line: tally.first_line,
                detail,
            });
        }
        for (m, tally) in Malformed::ALL.iter().zip(&self.malformed) {
            incidents.push(IncidentStat {
                name: format!("malformed_{}", m.as_str()),
                service: None,
                template: None,
                start: utc(tally.first_us),
                end: utc(tally.last_us),
                entries: tally.count,
                first_line: tally.first_line,
                detail: "see the `malformed` flag on entries".to_owned(),
            });
        }
        SynthSummary {
            entries: n,
            physical_lines: self.line_no - 1,
            bytes: self.bytes,
            xxh3: format!("{:016x}", self.hash.digest()),
            first_ts: utc(self.first_us),
            last_ts: utc(self.last_us),
            out_of_order: self.out_of_order,
            formats: owned_keys(&self.formats),
            levels: owned_keys(&self.levels),
            services: owned_keys(&self.services),
            multiline: owned_keys(&self.multiline),
            templates,
            incidents,
        }
    }

    fn render_line(&mut self, t: &Template, plan: &Plan) {
        let ts = Self::written_ts(plan);
        let level = t.level.unwrap_or(Level::Info);
        let service = t.service;
        let host = plan.host.unwrap_or("-");
        let mut s = std::mem::take(&mut self.scratch);
        s.clear();
        match plan.format {
            Format::Plain => {
                // Worker uses Python logging's default layout; the others a
                // Logback-style one.
                if service == Service::Worker {
                    if let Some(ts) = ts {
                        timefmt::python_asctime(ts, &mut s);
                        s.push(' ');
                    }
                    let _ = write!(s, "{:<5} {}[{host}] ", level.as_str(), service.name());
                } else {
                    if let Some(ts) = ts {
                        timefmt::rfc3339_ms(ts, &mut s);
                        s.push(' ');
                    }
                    let _ = write!(s, "{} [{}] ", level.as_str(), service.name());
                }
                if plan.malformed == Some(Malformed::InvalidUtf8) {
                    self.text.extend_from_slice(s.as_bytes());
                    self.push_latin1_login();
                    self.scratch = s;
                    return;
                }
                s.push_str(&self.msg);
            }
            Format::Logfmt => {
                s.push_str("ts=");
                timefmt::rfc3339_ms(ts.unwrap_or(self.start_us), &mut s);
                let _ = write!(
                    s,
                    " level={} service={} host={host} msg=\"",
                    level.lower(),
                    service.name()
                );
                json_escape_into(&self.msg, &mut s);
                s.push('"');
                if plan.has_trace {
                    let _ = write!(
                        s,
                        " trace_id={} span_id={}",
                        self.trace_text, self.span_text
                    );
                }
                let _ = write!(
                    s,
                    " caller={}:{}",
                    caller_file(service),
                    self.rng.range(40, 400)
                );
            }
            Format::Json => self.render_json(&mut s, t, plan, ts.unwrap_or(self.start_us)),
            Format::Syslog3164 => {
                let _ = write!(s, "<{}>", 128 + level.syslog_severity());
                timefmt::bsd_syslog(ts.unwrap_or(self.start_us), &mut s);
                let _ = write!(s, " {host} {}[{}]: {}", service.name(), pid(host), self.msg);
            }
            Format::Syslog5424 => {
                let _ = write!(s, "<{}>1 ", 128 + level.syslog_severity());
                timefmt::rfc3339_ms(ts.unwrap_or(self.start_us), &mut s);
                let msgid = match t.name.split('.').nth(1) {
                    Some("sync_done") => "SYNC",
                    Some("reserved") => "RESERVE",
                    _ => "STOCK",
                };
                let _ = write!(s, " {host} {} {} {msgid} ", service.name(), pid(host));
                if plan.has_trace {
                    let _ = write!(
                        s,
                        "[trace@32473 trace_id=\"{}\" span_id=\"{}\"] ",
                        self.trace_text, self.span_text
                    );
                } else {
                    s.push_str("- ");
                }
                s.push_str(&self.msg);
            }
            Format::Access => s.push_str(&self.msg),
            Format::Binary => {}
        }
        match t.multiline {
            Some(Multiline::Java) => self.java_trace(&mut s),
            Some(Multiline::Python) => self.python_trace(&mut s),
            Some(Multiline::Go) => self.go_panic(&mut s),
            Some(Multiline::JsonPretty) | None => {}
        }
        self.text.extend_from_slice(s.as_bytes());
        self.scratch = s;
    }

    /// `auth.login_ok` with a Latin-1 user name: the usual real-world source of
    /// invalid UTF-8. The truth keeps the lossy (U+FFFD) rendering.
    fn push_latin1_login(&mut self) {
        let bytes: &[u8] = self.rng.pick::<&[u8]>(&[
            &b"j\xf6rg.m\xfcller"[..],
            &b"fran\xe7ois.dupr\xe9"[..],
            &b"ren\xe9e.s\xf8rensen"[..],
        ]);
        self.text.extend_from_slice(b"user ");
        self.text.extend_from_slice(bytes);
        self.text.extend_from_slice(b" logged in from ");
        let ip = self.params.get(1).map(String::as_str).unwrap_or("");
        self.text.extend_from_slice(ip.as_bytes());
        if let Some(p) = self.params.first_mut() {
            *p = String::from_utf8_lossy(bytes).into_owned();
        }
    }

    fn render_json(&mut self, s: &mut String, t: &Template, plan: &Plan, ts: i64) {
        let level = t.level.unwrap_or(Level::Info);
        let host = plan.host.unwrap_or("-");
        let pretty = t.multiline == Some(Multiline::JsonPretty);
        // Each service logs with a different library, hence different key names
        // and timestamp encodings.
        let (ts_key, level_key, msg_key) = match t.service {
            Service::ApiGateway => ("ts", "level", "msg"),
            Service::Worker => ("time", "severity", "message"),
            _ => ("timestamp", "level", "msg"),
        };
        let mut fields: Vec<(&str, String)> = Vec::with_capacity(12);
        let mut v = String::new();
        match t.service {
            Service::ApiGateway => {
                let _ = write!(v, "{}", ts / 1000);
            }
            Service::Worker => {
                v.push('"');
                timefmt::rfc3339_ms_offset(ts, 1, &mut v);
                v.push('"');
            }
            _ => {
                v.push('"');
                timefmt::rfc3339_us(ts, &mut v);
                v.push('"');
            }
        }
        fields.push((ts_key, v));
        let lvl = if t.service == Service::Worker {
            level.as_str()
        } else {
            level.lower()
        };
        fields.push((level_key, format!("\"{lvl}\"")));
        fields.push(("service", format!("\"{}\"", t.service.name())));
        fields.push(("host", format!("\"{host}\"")));
        let mut m = String::from("\"");
        json_escape_into(&self.msg, &mut m);
        m.push('"');
        fields.push((msg_key, m));
        if plan.has_trace {
            fields.push(("trace_id", format!("\"{}\"", self.trace_text)));
            fields.push(("span_id", format!("\"{}\"", self.span_text)));
            fields.push(("parent_span_id", format!("\"{}\"", self.parent_text)));
        }
        let rng = &mut self.rng;
        match t.service {
            Service::ApiGateway => {
                fields.push((
                    "http",
                    format!(
                        "{{\"route\":\"{}\",\"upstream\":\"{}\",\"status\":{}}}",
                        rng.pick(&["/api/v1/orders", "/api/v1/products", "/api/v1/cart"]),
                        rng.pick(&["orders-1:8080", "orders-2:8080", "inv-1:7070"]),
                        rng.pick(&["429", "502", "503", "200"])
                    ),
                ));
                fields.push((
                    "zone",
                    format!("\"eu-west-1{}\"", rng.pick(&["a", "b", "c"])),
                ));
            }
            Service::Payments => {
                fields.push((
                    "customer",
                    format!(
                        "{{\"id\":{},\"country\":\"{}\",\"tier\":\"{}\"}}",
                        rng.range(1, 50_000),
                        rng.pick(&["DE", "FR", "NL", "PL", "IE", "US"]),
                        rng.pick(&["standard", "gold", "business"])
                    ),
                ));
                fields.push(("amount_cents", rng.range(99, 250_000).to_string()));
                fields.push((
                    "latency_ms",
                    format!("{}.{:02}", rng.range(3, 400), rng.below(100)),
                ));
                if plan.incident == Some(Incident::SchemaChange) {
                    fields.push((
                        "currency",
                        format!("\"{}\"", rng.pick(&["EUR", "USD", "GBP", "PLN"])),
                    ));
                }
            }
            Service::Worker if pretty => {
                fields.push((
                    "config",
                    format!(
                        "{{\"concurrency\":{},\"queues\":[\"default\",\"emails\",\"media\"],\"retry\":{{\"max_attempts\":5,\"backoff_ms\":{}}}}}",
                        rng.pick(&["4", "8", "16"]),
                        rng.pick(&["250", "500", "1000"])
                    ),
                ));
            }
            Service::Worker => {
                fields.push((
                    "job",
                    format!(
                        "{{\"queue\":\"{}\",\"attempt\":{},\"tags\":[\"{}\"]}}",
                        rng.pick(&["default", "emails", "invoices", "media"]),
                        rng.range(1, 5),
                        rng.pick(&["nightly", "user", "retry"])
                    ),
                ));
                fields.push(("pid", pid(host).to_string()));
            }
            _ => {}
        }
        if pretty {
            s.push_str("{\n");
            for (k, (key, val)) in fields.iter().enumerate() {
                let _ = write!(s, "  \"{key}\": ");
                pretty_value(val, s);
                s.push_str(if k + 1 < fields.len() { ",\n" } else { "\n" });
            }
            s.push('}');
        } else {
            s.push('{');
            for (k, (key, val)) in fields.iter().enumerate() {
                if k > 0 {
                    s.push(',');
                }
                let _ = write!(s, "\"{key}\":{val}");
            }
            s.push('}');
        }
    }

    fn java_trace(&mut self, s: &mut String) {
        let rng = &mut self.rng;
        let (exc, msg) = *rng.pick(&[
            ("java.lang.IllegalStateException", "Order is in state PAID, cannot transition to CREATED"),
            ("java.lang.NullPointerException", "Cannot invoke \"com.acme.orders.model.Address.getCountry()\" because \"address\" is null"),
            ("org.springframework.dao.DataAccessResourceFailureException", "Unable to acquire JDBC Connection"),
        ]);
        let _ = write!(s, "\n{exc}: {msg}");
        let frames = [
            (
                "com.acme.orders.service.OrderService",
                "create",
                "OrderService.java",
            ),
            (
                "com.acme.orders.service.OrderService",
                "transition",
                "OrderService.java",
            ),
            (
                "com.acme.orders.api.OrderController",
                "post",
                "OrderController.java",
            ),
            (
                "org.springframework.web.servlet.FrameworkServlet",
                "service",
                "FrameworkServlet.java",
            ),
            (
                "jakarta.servlet.http.HttpServlet",
                "service",
                "HttpServlet.java",
            ),
            (
                "org.apache.catalina.core.ApplicationFilterChain",
                "doFilter",
                "ApplicationFilterChain.java",
            ),
            ("java.base/java.lang.Thread", "run", "Thread.java"),
        ];
        let n = rng.range(3, frames.len() as u64) as usize;
        for (class, method, file) in &frames[..n] {
            let _ = write!(s, "\n\tat {class}.{method}({file}:{})", rng.range(30, 900));
        }
        if rng.chance(0.7) {
            s.push_str("\nCaused by: java.sql.SQLTransientConnectionException: HikariPool-1 - Connection is not available, request timed out after 30000ms.");
            let _ = write!(
                s,
                "\n\tat com.zaxxer.hikari.pool.HikariPool.createTimeoutException(HikariPool.java:696)\n\tat com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:{})\n\t... {} more",
                rng.range(150, 200),
                rng.range(8, 40)
            );
        }
    }

    fn python_trace(&mut self, s: &mut String) {
        let rng = &mut self.rng;
        s.push_str("\nTraceback (most recent call last):");
        let _ = write!(
            s,
            "\n  File \"/app/worker/runner.py\", line {}, in run\n    result = handler(payload)",
            rng.range(60, 120)
        );
        let (file, code, err) = *rng.pick(&[
            (
                "/app/worker/jobs/email.py",
                "recipient = payload[\"customer_id\"]",
                "KeyError: 'customer_id'",
            ),
            (
                "/app/worker/jobs/invoice.py",
                "total = sum(line.amount for line in order.lines)",
                "AttributeError: 'NoneType' object has no attribute 'lines'",
            ),
            (
                "/app/worker/jobs/export.py",
                "conn.execute(query, params)",
                "psycopg2.OperationalError: server closed the connection unexpectedly",
            ),
        ]);
        let _ = write!(
            s,
            "\n  File \"{file}\", line {}, in handle\n    {code}\n{err}",
            rng.range(10, 200)
        );
    }

    fn go_panic(&mut self, s: &mut String) {
        let rng = &mut self.rng;
        let (len, idx) = (rng.range(1, 4), rng.range(5, 9));
        let _ = write!(
            s,
            "\npanic: runtime error: index out of range [{idx}] with length {len}\ngoroutine {} [running]:",
            rng.range(5, 300)
        );
        let _ = write!(
            s,
            "\nmain.(*SyncWorker).apply(0xc000{:06x}, {{0xc0001a4000, 0x{len:x}, 0x4}})\n\t/src/inventory/sync.go:{} +0x2f4",
            rng.below(0xffffff),
            rng.range(100, 140)
        );
        let _ = write!(
            s,
            "\nmain.(*SyncWorker).Run(0xc000{:06x})\n\t/src/inventory/sync.go:64 +0x1a5\ncreated by main.startWorkers in goroutine 1\n\t/src/inventory/main.go:52 +0x8c",
            rng.below(0xffffff)
        );
    }
}

/// Writes a compact JSON value indented by two levels of nesting at most;
/// our nested values are small objects/arrays without strings containing
/// braces, so a byte walk suffices.
fn pretty_value(val: &str, s: &mut String) {
    if !val.starts_with('{') {
        s.push_str(val);
        return;
    }
    let inner = &val[1..val.len() - 1];
    s.push_str("{\n");
    let mut depth = 0;
    let mut start = 0;
    let mut parts = Vec::new();
    for (k, c) in inner.char_indices() {
        match c {
            '{' | '[' => depth += 1,
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    for (k, p) in parts.iter().enumerate() {
        let p = p.replacen("\":", "\": ", 1);
        let _ = write!(s, "    {p}");
        s.push_str(if k + 1 < parts.len() { ",\n" } else { "\n" });
    }
    s.push_str("  }");
}

fn owned_keys(m: &BTreeMap<&'static str, u64>) -> BTreeMap<String, u64> {
    m.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
}

fn caller_file(service: Service) -> &'static str {
    match service {
        Service::Auth => "auth/handler.go",
        Service::Orders => "orders/service.go",
        _ => "worker/loop.go",
    }
}

/// A stable pid per host, as a real daemon would have.
fn pid(host: &str) -> u32 {
    host.bytes().fold(1000u32, |a, b| {
        a.wrapping_mul(31).wrapping_add(u32::from(b))
    }) % 30_000
        + 1000
}
