//! Field extraction: one [`ParsedEntry`] per entry.
//!
//! The format is decided per entry, in this order:
//!
//! 1. **JSON** — the entry starts (after whitespace) with `{`. It must parse
//!    as one JSON object; otherwise the row gets `malformed_json` and the entry
//!    is handled as plain text.
//! 2. **syslog** — `<PRI>1 TS HOST APP PROCID MSGID [SD] MSG` (RFC 5424) or
//!    `<PRI>Mmm dd hh:mm:ss host tag[pid]: msg` (RFC 3164, also without
//!    `<PRI>` when the `tag:` is present, and with an ISO timestamp). A
//!    `<PRI>` (and a time, if any) before a JSON object or logfmt
//!    (`<189>date=… time=…`, as appliances send) is the header of that
//!    payload, parsed as it would be alone; the PRI and the header's time
//!    give the level and time when the payload gives none.
//! 3. **A structured payload after an RFC 3339 time** — the line starts with
//!    an RFC 3339 time (`T`, and `Z` or `±hh:mm`) and a space, then:
//!    * `stdout|stderr F|P ` and any entry (the Kubernetes CRI container log
//!      format), read by these same rules; here the time may be any
//!      `YYYY-MM-DDThh:mm:ss…` token (the tags say what the line is): one
//!      that is not a valid time is not used, and flags the row
//!      `bad_timestamp` when the payload has no time either;
//!    * a JSON object (`docker logs -t`), or logfmt (`key=…` first);
//!    * `host tag[pid]: msg` (RFC 3164 with an RFC 3339 time, as rsyslog's
//!      high-precision and syslog-ng's ISO files write it).
//!
//!    The time before the payload and the stream tags are the entry's
//!    header (kept in `header`, so the text rebuilds exactly); the payload's
//!    time wins, the prefix's is used when the payload has none (a payload
//!    time that is impossible is flagged `bad_timestamp` and the prefix's
//!    time is used); a payload time without a year takes the prefix's year
//!    (or the year before, when that would put it more than a day after the
//!    prefix). A payload that is neither JSON nor logfmt makes the
//!    line plain text (unflagged: a container may print anything); an empty
//!    CRI payload is an empty message. An entry of several CRI lines (a
//!    trace, or a line the runtime split into partial `P` lines; see
//!    [`crate::framing`]) is read from its payloads joined — after each
//!    line's terminator, or directly after a `P` line — and its header is
//!    the first line's prefix.
//! 4. **Common/combined log format** — `client ident user [ts] "request" status
//!    bytes ["referer" "agent"]`.
//! 5. **logfmt** — every whitespace-separated token is `key=value` (value
//!    optionally double-quoted with `\` escapes), at least two of them; or,
//!    in a multi-line entry, every token of the first line is, and the lines
//!    after it (a stack trace, a goroutine dump) are the message's body: the
//!    message is the message key's value followed by them, line terminator
//!    included, as a plain-text entry keeps them.
//! 6. **plain text** — see [`scan_plain_header`].
//!
//! # Promoted keys (JSON and logfmt)
//!
//! For each column the keys are tried by priority (flattened dotted names)
//! and the first whose value fits wins:
//!
//! | column | keys, by priority |
//! |---|---|
//! | ts | `--time-key` keys, then `ts`, `time`, `timestamp`, `@timestamp`, `datetime`, `date`, `t`, `eventtime` |
//! | level | `level`, `lvl`, `severity`, `loglevel`, `log.level`, `levelname`, `severity_text`, `@l` |
//! | message | `msg`, `message`, `log`, `text`, `event`, `@m`, `body` |
//! | service | `service`, `service.name`, `service_name`, `app`, `application`, `appname`, `kubernetes.container_name`, `kubernetes.labels.app` |
//! | host | `host`, `hostname`, `host.name`, `host.hostname`, `kubernetes.pod_name`, `kubernetes.host` |
//! | trace_id | `trace_id`, `traceId`, `traceID`, `trace.id`, `dd.trace_id` |
//! | span_id | `span_id`, `spanId`, `spanID`, `span.id`, `dd.span_id` |
//! | parent_span_id | `parent_span_id`, `parentSpanId`, `parentSpanID`, `parent_id`, `parentId` |
//!
//! A time fits when it is a time ([`TimestampDetector::parse_value`], or a
//! JSON number as an epoch); a level when it is a level word, letter or
//! number; a JSON message when it is a string (any string, empty too; a
//! logfmt value always is); the others when they are a non-empty string (or
//! a JSON number or bool). So `{"msg":42,"message":"m"}` has the message `m`.
//!
//! In Kubernetes logs the container name is the service and the pod name the
//! host; the namespace stays in `fields`. A promoted key is removed from
//! `fields`; a value that was not promoted (a level key holding `"x"`, a
//! message key holding an object, a key a better one won over) stays there.
//! The row gets `bad_timestamp` only when no key gives a time and one holds
//! an impossible time ([`TimeValue::Impossible`]: `2025-02-30T10:00:00Z`,
//! an epoch out of range); a word (`"Monday"`), a small number or a date
//! alone (`"2024-03-01"`, no time of day) is no time and just stays in
//! `fields`. When no key gives a time, a `date` key holding a date and a
//! `time` key holding a time of day are read together, at the offset of a
//! `tz` key when it holds one (FortiGate's `date=… time=… tz="+0100"`;
//! [`TimestampDetector::date_and_time`]); the three stay in `fields`.
//! `--service`/`--host` given for an input win over anything in the entry:
//! the entry's own keys of that column are not promoted and stay in
//! `fields`.
//!
//! With [`ParseOptions::first_key_only`] a column is taken only from its
//! best key, as before keys fell back; [`ParsedEntry::fell_back`] tells an
//! entry whose `fields` that parse would not give back.
//! A key repeated in one entry keeps its last value (JSON and logfmt alike).
//!
//! [`TimeValue::Impossible`]: crate::timestamp::TimeValue::Impossible
//!
//! # Ids in text (plain and syslog)
//!
//! A plain-text or syslog entry (and a broken JSON one, read as plain) gets
//! its trace, span and parent span ids from the keys of the table written
//! into the text: `trace_id=VALUE` or `trace_id: VALUE`, key and value each
//! optionally in double quotes (`"traceId":"…"`). See [`ids_in_text`].
//!
//! # Shape
//!
//! For JSON (and logfmt with a message key) [`ParsedEntry::shape`] is the
//! sorted set of the remaining field keys, excluding every key of the table
//! above and anything under `kubernetes.`, `k8s.`, `host.` or `service.` —
//! e.g. `{status,user.id}`. The Drain input is `message + " " + shape`, so the
//! template follows the entry's shape but not its label values.

use std::borrow::Cow;

use crate::level::Level;
use crate::timestamp::{TimeValue, TimestampDetector, TsScan};

mod clf;
mod json;
mod jsonflat;
pub(crate) use jsonflat::string_stop;
mod logfmt;
mod plain;
mod syslog;

pub use plain::scan_plain_header;

/// Options that affect parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Keys tried first for the event time of JSON/logfmt entries.
    pub time_keys: Vec<String>,
    /// Service for every entry (wins over the entry's own).
    pub service: Option<String>,
    /// Host for every entry (wins over the entry's own).
    pub host: Option<String>,
    /// Ingest clock (UTC µs) for inferring missing years; system clock if `None`.
    pub now_micros: Option<i64>,
    /// Field keys (and everything below them, `a` covers `a.b`) left out of
    /// the key set a JSON/logfmt template is built from; they stay in `fields`.
    pub drop_keys: Vec<String>,
    /// Leave [`ParsedEntry::fields`] unset: for a caller that stores no
    /// `fields` because the query layer parses the entry again (ingest with
    /// derived text), building the JSON text would be wasted work. An entry
    /// whose `fields` that parse would not give back
    /// ([`ParsedEntry::fell_back`]) still gets them.
    pub skip_fields: bool,
    /// Promote each column of a JSON/logfmt entry only from its
    /// best-priority key, with no fallback to the next key when that one's
    /// value does not fit: how archives written before the fallback were
    /// parsed, and so how the query layer rebuilds a `fields` left out
    /// ([`crate::residual::derived_fields`]).
    pub first_key_only: bool,
    /// Columns whose keys are not promoted and stay in `fields`, one bit
    /// each: 0 `ts`, 1 `level`, 2 `message`, 3 `service`, 4 `host`,
    /// 5 `trace_id`, 6 `span_id`, 7 `parent_span_id`. The query layer's
    /// parse for a row whose column does not hold what the keys give (see
    /// [`crate::residual::derived_fields`]).
    pub unpromoted: u8,
}

impl ParseOptions {
    /// Whether the entry's own keys of column `role` are not promoted and
    /// stay in `fields`: an option names the column, or the caller asked.
    pub(crate) fn overrides(&self, role: KeyRole) -> bool {
        self.unpromoted >> role.index() & 1 != 0
            || match role {
                KeyRole::Service => self.service.is_some(),
                KeyRole::Host => self.host.is_some(),
                _ => false,
            }
    }
}

/// The format an entry was recognised as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// A JSON object.
    Json,
    /// `key=value` pairs.
    Logfmt,
    /// RFC 5424 syslog.
    Syslog5424,
    /// RFC 3164 (BSD) syslog.
    Syslog3164,
    /// Apache/nginx common or combined log format.
    Clf,
    /// Anything else.
    Plain,
}

/// Why a row is flagged. A row carries one: the first that applies in the
/// order truncated, binary, invalid_utf8, malformed_json, bad_timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryError {
    /// The entry was cut at the size bound.
    Truncated,
    /// NUL bytes or mostly control characters.
    Binary,
    /// The bytes were not UTF-8 (text kept lossily).
    InvalidUtf8,
    /// Started with `{` but did not parse as a JSON object.
    MalformedJson,
    /// A timestamp-shaped prefix or time field that is not a valid time.
    BadTimestamp,
}

impl EntryError {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryError::Truncated => "truncated",
            EntryError::Binary => "binary",
            EntryError::InvalidUtf8 => "invalid_utf8",
            EntryError::MalformedJson => "malformed_json",
            EntryError::BadTimestamp => "bad_timestamp",
        }
    }

    /// What the flag means for the entry, in words (for warnings). True
    /// whatever else the row holds: a `bad_timestamp` row's `ts` is null, or
    /// the time of a prefix before the entry (a CRI or `docker logs -t`
    /// line), so the text says only that the bad time was not used.
    pub fn description(self) -> &'static str {
        match self {
            EntryError::Truncated => {
                "cut short: longer than --max-entry-bytes, or the input broke off in it; the start is kept"
            }
            EntryError::Binary => "binary bytes (NUL or control characters); kept as read",
            EntryError::InvalidUtf8 => "not valid UTF-8; kept with U+FFFD for the bad bytes",
            EntryError::MalformedJson => "starts like JSON but does not parse; kept as text",
            EntryError::BadTimestamp => {
                "a timestamp that is not a valid time; kept as text, not used for ts"
            }
        }
    }

    /// The flag stored as `s` ([`as_str`](Self::as_str)).
    pub fn from_name(s: &str) -> Option<EntryError> {
        [
            EntryError::Truncated,
            EntryError::Binary,
            EntryError::InvalidUtf8,
            EntryError::MalformedJson,
            EntryError::BadTimestamp,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }

    /// The error a row gets from framing flags and the parse result.
    pub fn pick(
        truncated: bool,
        binary: bool,
        invalid_utf8: bool,
        parse: Option<EntryError>,
    ) -> Option<EntryError> {
        if truncated {
            Some(EntryError::Truncated)
        } else if binary {
            Some(EntryError::Binary)
        } else if invalid_utf8 {
            Some(EntryError::InvalidUtf8)
        } else {
            parse
        }
    }
}

/// What was extracted from one entry. Text borrows from the entry where it can.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEntry<'a> {
    /// Recognised format.
    pub format: Format,
    /// Event time, UTC µs.
    pub ts: Option<i64>,
    /// Normalised level.
    pub level: Option<Level>,
    /// Service name.
    pub service: Option<Cow<'a, str>>,
    /// Host name.
    pub host: Option<Cow<'a, str>>,
    /// Trace id.
    pub trace_id: Option<Cow<'a, str>>,
    /// Span id.
    pub span_id: Option<Cow<'a, str>>,
    /// Parent span id.
    pub parent_span_id: Option<Cow<'a, str>>,
    /// Entry text before the message (a prefix of `raw`; empty for JSON/logfmt).
    pub header: &'a str,
    /// Message body.
    pub message: Cow<'a, str>,
    /// Remaining structured fields, as JSON object text.
    pub fields: Option<String>,
    /// `{k1,k2}`: sorted non-label field keys (see the module doc).
    pub shape: Option<String>,
    /// Parse problem, if any (framing problems are added by the caller).
    pub error: Option<EntryError>,
    /// A column of this JSON/logfmt entry was promoted from a key other than
    /// its best-priority one (see [`ParseOptions::first_key_only`]), so a
    /// parse that does not fall back gives other `fields`; they are built
    /// even with [`ParseOptions::skip_fields`], and must be stored.
    pub fell_back: bool,
    /// The whole entry text.
    pub raw: &'a str,
}

impl<'a> ParsedEntry<'a> {
    /// Takes a key's time value for `ts`: whether it was a time. An
    /// impossible one is noted in `impossible` (the row is flagged only if
    /// no key gives a time).
    pub(crate) fn take_time(&mut self, value: TimeValue, impossible: &mut bool) -> bool {
        match value {
            TimeValue::Time(t) => {
                self.ts = Some(t);
                true
            }
            TimeValue::Impossible => {
                *impossible = true;
                false
            }
            TimeValue::NotTime => false,
        }
    }

    /// Takes a key's text for the service, host or id column of `role`
    /// (any other role means the parent span id): whether there was one.
    pub(crate) fn take_text(&mut self, role: KeyRole, value: Option<Cow<'a, str>>) -> bool {
        let column = match role {
            KeyRole::Service => &mut self.service,
            KeyRole::Host => &mut self.host,
            KeyRole::TraceId => &mut self.trace_id,
            KeyRole::SpanId => &mut self.span_id,
            _ => &mut self.parent_span_id,
        };
        *column = value;
        column.is_some()
    }

    fn plain(raw: &'a str) -> Self {
        ParsedEntry {
            format: Format::Plain,
            ts: None,
            level: None,
            service: None,
            host: None,
            trace_id: None,
            span_id: None,
            parent_span_id: None,
            header: "",
            message: Cow::Borrowed(raw),
            fields: None,
            shape: None,
            error: None,
            fell_back: false,
            raw,
        }
    }

    /// The text handed to Drain: the message, plus `" " + shape` when the
    /// entry has a shape. A multi-line message gets the shape at the end of
    /// its first line, because Drain reads everything after the first line as
    /// one value (a trace) and the shape must stay part of the template.
    /// `buf` is scratch space reused across entries.
    pub fn drain_input<'s>(&'s self, buf: &'s mut String) -> &'s str {
        match &self.shape {
            None => &self.message,
            Some(shape) => {
                buf.clear();
                push_drain_input(&self.message, shape, buf);
                buf
            }
        }
    }
}

/// Appends the Drain input of `message` with its `shape` to `out` (see
/// [`ParsedEntry::drain_input`]).
pub(crate) fn push_drain_input(message: &str, shape: &str, out: &mut String) {
    let (first, rest) = match memchr::memchr(b'\n', message.as_bytes()) {
        Some(p) => message.split_at(p),
        None => (message, ""),
    };
    out.push_str(first);
    if !first.is_empty() {
        out.push(' ');
    }
    out.push_str(shape);
    out.push_str(rest);
}

/// Parses entries; holds the options and the clock.
#[derive(Debug, Clone)]
pub struct EntryParser {
    opts: ParseOptions,
    detector: TimestampDetector,
}

impl EntryParser {
    /// A parser with the given options.
    pub fn new(opts: ParseOptions) -> Self {
        let detector = match opts.now_micros {
            Some(now) => TimestampDetector::new(now),
            None => TimestampDetector::system(),
        };
        EntryParser { opts, detector }
    }

    /// The options this parser was built with.
    pub fn options(&self) -> &ParseOptions {
        &self.opts
    }

    /// The timestamp detector (and its clock).
    pub fn detector(&self) -> &TimestampDetector {
        &self.detector
    }

    /// Extracts fields from one entry's text.
    pub fn parse<'a>(&'a self, text: &'a str) -> ParsedEntry<'a> {
        self.parse_with(text, &self.detector)
    }

    /// [`parse`](Self::parse), with times that have no year read against
    /// the clock `now_micros` instead of the parser's.
    pub(crate) fn parse_at<'a>(&'a self, text: &'a str, now_micros: i64) -> ParsedEntry<'a> {
        self.parse_with(text, &TimestampDetector::new(now_micros))
    }

    fn parse_with<'a>(&'a self, text: &'a str, det: &TimestampDetector) -> ParsedEntry<'a> {
        let mut p = self.detect(text, det);
        if let Some(s) = &self.opts.service {
            p.service = Some(Cow::Borrowed(s));
        }
        if let Some(h) = &self.opts.host {
            p.host = Some(Cow::Borrowed(h));
        }
        p
    }

    /// The entry `text`, its times without a year read by `det` (the ingest
    /// clock, or the time of a prefix the text followed).
    fn detect<'a>(&self, text: &'a str, det: &TimestampDetector) -> ParsedEntry<'a> {
        let b = text.as_bytes();
        let first = b.iter().find(|c| !c.is_ascii_whitespace()).copied();
        if first == Some(b'{') {
            return match json::parse(text, self, det) {
                Some(p) => p,
                None => {
                    let (mut p, _) = plain::parse(text, det);
                    p.error = Some(EntryError::MalformedJson);
                    ids_in_text(text, 0, &mut p);
                    p
                }
            };
        }
        let want_fields = !self.options().skip_fields;
        match b.first() {
            Some(b'<') => {
                if let Some(mut p) = syslog::parse(text, det, want_fields) {
                    if let Some(q) = self.pri_payload(&mut p, det) {
                        return q;
                    }
                    ids_in_text(text, 0, &mut p);
                    return p;
                }
            }
            Some(c) if c.is_ascii_uppercase() => {
                if let Some(mut p) = syslog::parse(text, det, want_fields) {
                    ids_in_text(text, 0, &mut p);
                    return p;
                }
            }
            Some(c) if c.is_ascii_digit() => {
                if let Some(p) = self.time_prefixed(text, det, want_fields) {
                    return p;
                }
            }
            _ => {}
        }
        if b.first()
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b':')
            && let Some(p) = clf::parse(text, det, want_fields)
        {
            return p;
        }
        if memchr::memchr(b'=', b).is_some()
            && let Some(p) = logfmt::parse(text, self, det)
        {
            return p;
        }
        let (mut p, time_end) = plain::parse(text, det);
        // Ids never sit inside the leading time (whose `:`s are many).
        ids_in_text(text, time_end, &mut p);
        p
    }
}

impl EntryParser {
    /// An RFC 3164 entry `p` with no host — its header is its `<PRI>` and
    /// maybe a time — when what follows is a JSON object or logfmt
    /// (`<189>date=… time=… …`, as FortiGate and other appliances send it):
    /// that payload parsed, the header joining its header, and the PRI and
    /// the header's time filling the level and time it does not give. A
    /// payload that starts with `{` and does not parse flags `p`
    /// `malformed_json`, as it would alone.
    fn pri_payload<'a>(
        &self,
        p: &mut ParsedEntry<'a>,
        det: &TimestampDetector,
    ) -> Option<ParsedEntry<'a>> {
        let text = p.raw;
        let at = p.header.len();
        // A host or a tag (`<13>Mar  1 10:00:00 app[1]: {…}`) makes the
        // header syslog's, whose message the payload is.
        if p.format != Format::Syslog3164
            || p.host.is_some()
            || p.service.is_some()
            || !text.starts_with('<')
        {
            return None;
        }
        let payload = &text[at..];
        let mut q = match payload.as_bytes().first() {
            Some(b'{') => match json::parse(payload, self, det) {
                Some(q) => q,
                None => {
                    p.error = p.error.or(Some(EntryError::MalformedJson));
                    return None;
                }
            },
            _ if starts_with_pair(payload.as_bytes()) => logfmt::parse(payload, self, det)?,
            _ => return None,
        };
        q.level = q.level.or(p.level);
        let mut q = with_prefix(q, text, at, p.ts);
        // An impossible header time stays flagged unless the payload has a
        // time of its own.
        if p.error == Some(EntryError::BadTimestamp) && q.ts.is_none() {
            q.error = q.error.or(p.error);
        }
        Some(q)
    }

    /// An entry that is an RFC 3339 time, a space and a structured payload
    /// (see the module doc, step 3); `None` for any other text. A time
    /// without a year in the payload takes the prefix's year (or the year
    /// before, when that would put it more than a day after the prefix), as
    /// it would the ingest clock's.
    fn time_prefixed<'a>(
        &self,
        text: &'a str,
        det: &TimestampDetector,
        want_fields: bool,
    ) -> Option<ParsedEntry<'a>> {
        let b = text.as_bytes();
        // `YYYY-MM-DDT` before reading the time: plain lines with a space
        // there pay one byte test.
        if b.len() < 22 || !matches!(b[10], b'T' | b't') {
            return None;
        }
        let first_end = match memchr::memchr(b'\n', b) {
            Some(i) if i > 0 && b[i - 1] == b'\r' => i - 1,
            Some(i) => i,
            None => b.len(),
        };
        if let Some(cri) = crate::framing::cri_prefix(&b[..first_end]) {
            return Some(self.container_entry(text, cri, det));
        }
        let TsScan::Found { micros, len } = det.scan_prefix(text) else {
            return None;
        };
        let zoned = matches!(b[len - 1], b'Z' | b'z')
            || (len >= 25 && matches!(b[len - 6], b'+' | b'-') && b[len - 3] == b':');
        if !zoned || b.get(len) != Some(&b' ') {
            return None;
        }
        let at = len + 1;
        let rest = &b[at..];
        let payload = &text[at..];
        // Made only for a payload: most lines here are plain text.
        let payload_det = || TimestampDetector::new(micros);
        let p = match rest.first() {
            Some(b'{') => json::parse(payload, self, &payload_det())?,
            _ if starts_with_pair(rest) => logfmt::parse(payload, self, &payload_det())?,
            _ => {
                let mut p = syslog::rfc3164_iso(text, micros, len, want_fields)?;
                ids_in_text(text, 0, &mut p);
                return Some(p);
            }
        };
        Some(with_prefix(p, text, at, Some(micros)))
    }

    /// An entry of CRI container lines (see the module doc, step 3, and
    /// [`crate::framing`]); `cri` is its first line's prefix. A prefix time
    /// that does not read as a time leaves the payload's, if any (and the
    /// row flagged `bad_timestamp` when there is none).
    fn container_entry<'a>(
        &self,
        text: &'a str,
        cri: crate::framing::Cri,
        det: &TimestampDetector,
    ) -> ParsedEntry<'a> {
        let b = text.as_bytes();
        // The prefix has a space after its time, and the time none.
        let sp = memchr::memchr(b' ', b).unwrap_or(b.len());
        let micros = match det.scan_prefix(&text[..sp]) {
            TsScan::Found { micros, len } if len == sp => Some(micros),
            _ => None,
        };
        let payload_det = micros.map_or(*det, TimestampDetector::new);
        let at = cri.len;
        let mut p = match memchr::memchr(b'\n', &b[at..]) {
            Some(nl) => {
                // Several container lines: their payloads make the entry,
                // and the text is kept as read.
                let first = text[at..at + nl].trim_end_matches('\r').len();
                let joined = cri_payloads(text, at, cri.partial);
                let p = self.detect(&joined, &payload_det);
                detached(p, text, at, first, micros)
            }
            None => with_prefix(self.detect(&text[at..], &payload_det), text, at, micros),
        };
        if p.ts.is_none() {
            p.error = p.error.or(Some(EntryError::BadTimestamp));
        }
        p
    }
}

/// `p`, parsed from `text[at..]`, as the entry `text`: the first `at` bytes
/// join the header, and the prefix's time `ts` is the time when the payload
/// gave none.
fn with_prefix<'a>(
    mut p: ParsedEntry<'a>,
    text: &'a str,
    at: usize,
    ts: Option<i64>,
) -> ParsedEntry<'a> {
    // Every parser's header is a prefix of the text it was given.
    debug_assert!(text[at..].starts_with(p.header));
    p.header = &text[..at + p.header.len()];
    p.raw = text;
    p.ts = p.ts.or(ts);
    p
}

/// The payload of a multi-line CRI entry whose first payload starts at
/// `at`: each later line's payload joins the one before it after that
/// line's terminator, or directly when the line before was partial (`P`); a
/// line without the prefix joins as it is.
fn cri_payloads(text: &str, at: usize, partial: bool) -> String {
    let mut out = String::with_capacity(text.len() - at);
    let mut partial = partial;
    let mut first = true;
    let mut term = "";
    for piece in text[at..].split_inclusive('\n') {
        let (line, end) = match piece.strip_suffix('\n') {
            Some(l) => match l.strip_suffix('\r') {
                Some(l) => (l, "\r\n"),
                None => (l, "\n"),
            },
            None => (piece, ""),
        };
        if first {
            out.push_str(line);
            first = false;
        } else {
            let cri = crate::framing::cri_prefix(line.as_bytes());
            if !(partial && cri.is_some()) {
                out.push_str(term);
            }
            out.push_str(&line[cri.map_or(0, |c| c.len)..]);
            partial = cri.is_some_and(|c| c.partial);
        }
        term = end;
    }
    out
}

/// `p`, parsed from a text built from `text` (see [`cri_payloads`]), as the
/// entry `text`: its text is owned, the first `at` bytes and `p`'s header
/// (when it lies within the `first` bytes of the first payload) are the
/// header, and the prefix's time `ts` is the time when the payload gave none.
fn detached<'a>(
    p: ParsedEntry<'_>,
    text: &'a str,
    at: usize,
    first: usize,
    ts: Option<i64>,
) -> ParsedEntry<'a> {
    let own = |c: Option<Cow<'_, str>>| c.map(|c| Cow::Owned(c.into_owned()));
    let header = if p.header.len() <= first {
        p.header.len()
    } else {
        0
    };
    ParsedEntry {
        format: p.format,
        ts: p.ts.or(ts),
        level: p.level,
        service: own(p.service),
        host: own(p.host),
        trace_id: own(p.trace_id),
        span_id: own(p.span_id),
        parent_span_id: own(p.parent_span_id),
        header: &text[..at + header],
        message: Cow::Owned(p.message.into_owned()),
        fields: p.fields,
        shape: p.shape,
        error: p.error,
        fell_back: p.fell_back,
        raw: text,
    }
}

/// Whether `b` starts with a logfmt key and `=` (checked before the pairs
/// are split, which allocates).
fn starts_with_pair(b: &[u8]) -> bool {
    let n = b
        .iter()
        .take_while(|&&c| {
            c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/' | b'@')
        })
        .count();
    n > 0 && b.get(n) == Some(&b'=')
}

/// Fills `p`'s trace, span and parent span ids from `key=value` or
/// `key: value` pairs in `text`, for the id keys of [`key_role`] (`trace_id`,
/// `spanId`, `parent_id`, …). The key starts the text or follows a byte that
/// cannot be part of a key; key and value may each be in double quotes. The
/// value is a run of ASCII letters, digits, `-` and `_`; after `:` (and
/// optional spaces) it must hold a digit, so prose such as `trace_id: none`
/// is not read as an id. The highest-priority key wins, the last one among
/// equals. Ids already set are kept. Separators before `from` are not
/// looked at.
pub(crate) fn ids_in_text<'a>(text: &'a str, from: usize, p: &mut ParsedEntry<'a>) {
    let b = text.as_bytes();
    let key_byte = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'.';
    let mut best: [Option<(u8, &'a str)>; 3] = [None; 3];
    for sep in memchr::memchr2_iter(b'=', b':', &b[from..]).map(|i| from + i) {
        // Every id key ends in `id`, `Id` or `ID`: one byte rules out most
        // separators (times, `file:line`, URLs) before anything else.
        let mut key_end = sep;
        let quoted_key = key_end > 0 && b[key_end - 1] == b'"';
        key_end -= usize::from(quoted_key);
        if key_end < 2 || !matches!(b[key_end - 1], b'd' | b'D') {
            continue;
        }
        let mut key_start = key_end;
        while key_start > 0 && key_end - key_start < 15 && key_byte(b[key_start - 1]) {
            key_start -= 1;
        }
        let mut before = key_start;
        if quoted_key {
            if before == 0 || b[before - 1] != b'"' {
                continue;
            }
            before -= 1;
        }
        if before > 0 && key_byte(b[before - 1]) {
            continue;
        }
        let slot = match key_role(&text[key_start..key_end], &[]) {
            Some((KeyRole::TraceId, prio)) => (0, prio),
            Some((KeyRole::SpanId, prio)) => (1, prio),
            Some((KeyRole::ParentSpanId, prio)) => (2, prio),
            _ => continue,
        };
        let mut at = sep + 1;
        if b[sep] == b':' {
            while b.get(at) == Some(&b' ') {
                at += 1;
            }
        }
        let quoted_value = b.get(at) == Some(&b'"');
        at += usize::from(quoted_value);
        let len = b[at..]
            .iter()
            .position(|&c| !(c.is_ascii_alphanumeric() || c == b'-' || c == b'_'))
            .unwrap_or(b.len() - at);
        let value = &text[at..at + len];
        if value.is_empty()
            || (quoted_value && b.get(at + len) != Some(&b'"'))
            || (b[sep] == b':' && !value.bytes().any(|c| c.is_ascii_digit()))
        {
            continue;
        }
        let (role, prio) = slot;
        if best[role].is_none_or(|(p, _)| prio <= p) {
            best[role] = Some((prio, value));
        }
    }
    for (dest, found) in [&mut p.trace_id, &mut p.span_id, &mut p.parent_span_id]
        .into_iter()
        .zip(best)
    {
        if dest.is_none()
            && let Some((_, v)) = found
        {
            *dest = Some(Cow::Borrowed(v));
        }
    }
}

/// Extracts fields from one entry's text with `parser` (the free-function
/// form of [`EntryParser::parse`]).
pub fn parse_entry<'a>(text: &'a str, parser: &'a EntryParser) -> ParsedEntry<'a> {
    parser.parse(text)
}

/// Structured keys promoted to columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyRole {
    Time,
    Level,
    Message,
    Service,
    Host,
    TraceId,
    SpanId,
    ParentSpanId,
}

pub(crate) const ROLES: usize = 8;

/// Every role, in the order of [`KeyRole::index`].
pub(crate) const ROLES_IN_ORDER: [KeyRole; ROLES] = [
    KeyRole::Time,
    KeyRole::Level,
    KeyRole::Message,
    KeyRole::Service,
    KeyRole::Host,
    KeyRole::TraceId,
    KeyRole::SpanId,
    KeyRole::ParentSpanId,
];

impl KeyRole {
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

/// The role of a key and its priority (lower wins).
pub(crate) fn key_role(key: &str, time_keys: &[String]) -> Option<(KeyRole, u8)> {
    if let Some(i) = time_keys.iter().position(|k| k == key) {
        return Some((KeyRole::Time, i.min(9) as u8));
    }
    use KeyRole::*;
    Some(match key {
        "ts" => (Time, 10),
        "time" => (Time, 11),
        "timestamp" => (Time, 12),
        "@timestamp" => (Time, 13),
        "datetime" => (Time, 14),
        "date" => (Time, 15),
        "t" => (Time, 16),
        "eventtime" => (Time, 17),
        "level" => (Level, 0),
        "lvl" => (Level, 1),
        "severity" => (Level, 2),
        "loglevel" => (Level, 3),
        "log.level" => (Level, 4),
        "levelname" => (Level, 5),
        "severity_text" => (Level, 6),
        "@l" => (Level, 7),
        "msg" => (Message, 0),
        "message" => (Message, 1),
        "log" => (Message, 2),
        "text" => (Message, 3),
        "event" => (Message, 4),
        "@m" => (Message, 5),
        "body" => (Message, 6),
        "service" => (Service, 0),
        "service.name" => (Service, 1),
        "service_name" => (Service, 2),
        "app" => (Service, 3),
        "application" => (Service, 4),
        "appname" => (Service, 5),
        "kubernetes.container_name" => (Service, 6),
        "kubernetes.labels.app" => (Service, 7),
        "host" => (Host, 0),
        "hostname" => (Host, 1),
        "host.name" => (Host, 2),
        "host.hostname" => (Host, 3),
        "kubernetes.pod_name" => (Host, 4),
        "kubernetes.host" => (Host, 5),
        "trace_id" => (TraceId, 0),
        "traceId" => (TraceId, 1),
        "traceID" => (TraceId, 2),
        "trace.id" => (TraceId, 3),
        "dd.trace_id" => (TraceId, 4),
        "span_id" => (SpanId, 0),
        "spanId" => (SpanId, 1),
        "spanID" => (SpanId, 2),
        "span.id" => (SpanId, 3),
        "dd.span_id" => (SpanId, 4),
        "parent_span_id" => (ParentSpanId, 0),
        "parentSpanId" => (ParentSpanId, 1),
        "parentSpanID" => (ParentSpanId, 2),
        "parent_id" => (ParentSpanId, 3),
        "parentId" => (ParentSpanId, 4),
        _ => return None,
    })
}

/// The keys of one entry that could fill each promoted column, found in the
/// pass that asks every key its [`key_role`]: per role the best one (lowest
/// priority, then first position) and how many there are.
///
/// [`pick`](Self::pick) tries them in priority order until a value fits, so
/// a key whose value cannot be promoted (a level key holding `"banana"`)
/// gives way to the next one (`severity`). Only the best candidate is kept:
/// the others are found by asking the keys again, which happens only when a
/// value did not fit and another key holds the role, so an entry costs no
/// allocation and the common case no second pass.
#[derive(Default)]
pub(crate) struct Candidates {
    best: [Option<(u8, usize)>; ROLES],
    count: [u32; ROLES],
}

impl Candidates {
    /// Records that key `i` has `role` (if any).
    pub(crate) fn note(&mut self, i: usize, role: Option<(KeyRole, u8)>) {
        if let Some((role, prio)) = role {
            let r = role.index();
            self.count[r] += 1;
            if self.best[r].is_none_or(|(p, _)| prio < p) {
                self.best[r] = Some((prio, i));
            }
        }
    }

    /// The first of `role`'s candidates, in priority order, for which
    /// `fits` (which promotes the value when it can) returns `true`; with
    /// `first_only` only the best one is tried. `role_of(j)` gives key `j`'s
    /// role again, for the `keys` keys noted.
    pub(crate) fn pick(
        &self,
        role: KeyRole,
        keys: usize,
        first_only: bool,
        role_of: impl Fn(usize) -> Option<(KeyRole, u8)>,
        mut fits: impl FnMut(usize) -> bool,
    ) -> Option<usize> {
        let mut candidate = self.best[role.index()];
        let mut left = self.count[role.index()];
        while let Some((prio, i)) = candidate {
            if fits(i) {
                return Some(i);
            }
            left -= 1;
            if left == 0 || first_only {
                return None;
            }
            candidate = (0..keys)
                .filter_map(|j| match role_of(j) {
                    Some((r, p)) if r == role && (p, j) > (prio, i) => Some((p, j)),
                    _ => None,
                })
                .min();
        }
        None
    }

    /// Whether key `i` is `role`'s best-priority candidate.
    pub(crate) fn is_best(&self, role: KeyRole, i: usize) -> bool {
        self.best[role.index()].is_some_and(|(_, b)| b == i)
    }
}

/// Keys that label where an entry came from rather than what it says; kept
/// out of the shape so templates do not split per pod or host. A key is a
/// label when it has a role ([`key_role`]), has a source prefix, or is one of
/// `--drop-key`'s.
///
/// The parsers ask [`key_role`] of every key first, to find the promoted
/// values; this remembers the answers for an entry's first 64 keys so the
/// shape pass does not ask again.
#[derive(Default)]
pub(crate) struct LabelKeys {
    asked: u64,
    has_role: u64,
}

impl LabelKeys {
    /// Records key `i`'s [`key_role`] answer.
    pub(crate) fn note(&mut self, i: usize, has_role: bool) {
        if i < 64 {
            self.asked |= 1 << i;
            self.has_role |= u64::from(has_role) << i;
        }
    }

    /// Whether key `i`, named `key`, is a label.
    pub(crate) fn is_label(&self, i: usize, key: &str, opts: &ParseOptions) -> bool {
        let has_role = if i < 64 && self.asked >> i & 1 != 0 {
            self.has_role >> i & 1 != 0
        } else {
            key_role(key, &opts.time_keys).is_some()
        };
        has_role
            || ["kubernetes.", "k8s.", "host.", "service."]
                .iter()
                .any(|p| key.starts_with(p))
            || opts.drop_keys.iter().any(|d| {
                key.strip_prefix(d.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
    }
}

/// Builds `{k1,k2}` from keys (sorted, deduplicated); `None` when empty.
pub(crate) fn shape_of(keys: &mut Vec<&str>) -> Option<String> {
    if keys.is_empty() {
        return None;
    }
    keys.sort_unstable();
    keys.dedup();
    let len: usize = keys.iter().map(|k| k.len() + 1).sum::<usize>() + 1;
    let mut s = String::with_capacity(len);
    s.push('{');
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(k);
    }
    s.push('}');
    Some(s)
}

/// Appends `s` as a JSON string literal.
pub(crate) fn push_json_str(out: &mut Vec<u8>, s: &str) {
    // Most keys and values need no escape: one branch-free pass (it
    // vectorises) finds out, and the text is copied whole.
    let plain = s
        .as_bytes()
        .iter()
        .fold(true, |ok, &c| ok & (c >= 0x20) & (c != b'"') & (c != b'\\'));
    if plain {
        out.reserve(s.len() + 2);
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        // serde_json's escaping never fails when writing into a Vec.
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// Parsers the parser tests share.
#[cfg(test)]
pub(crate) mod test_parsers {
    use super::{EntryParser, ParseOptions};

    /// Default options with the clock at 2024-06-15T12:00:00Z.
    pub(crate) fn fixed_clock() -> ParseOptions {
        ParseOptions {
            now_micros: Some(1_718_452_800_000_000),
            ..ParseOptions::default()
        }
    }

    /// `opts` with `skip_fields`.
    pub(crate) fn skipping(opts: &ParseOptions) -> EntryParser {
        EntryParser::new(ParseOptions {
            skip_fields: true,
            ..opts.clone()
        })
    }

    /// A parser as `--service svc --host box` sets it up.
    pub(crate) fn overriding() -> EntryParser {
        EntryParser::new(ParseOptions {
            service: Some("svc".into()),
            host: Some("box".into()),
            ..ParseOptions::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{EntryParser, ParseOptions, push_json_str};

    /// `skip_fields` leaves `fields` unset and changes nothing else.
    #[test]
    fn skipping_fields_changes_only_fields() {
        let opts = super::test_parsers::fixed_clock();
        let full = EntryParser::new(opts.clone());
        let skip = super::test_parsers::skipping(&opts);
        let mut with_fields = 0;
        for text in [
            r#"{"ts":"2024-06-15T12:00:00Z","level":"info","msg":"login","user":"bob","n":3}"#,
            r#"{"msg":"x","kubernetes.pod":"p1","a":{"b":[1,2]}}"#,
            r#"{"service":"api","host":"h1","trace_id":"abc"}"#,
            "ts=2024-06-15T12:00:00Z level=warn msg=\"slow call\" took=12ms user=eve",
            "a=1 b=two",
            "plain text 42",
            "<34>1 2024-06-15T12:00:00Z host app 1234 ID47 - message",
            r#"<165>1 2024-06-15T12:00:00.003Z h app - ID1 [ex@1 a="1" b="x\"y"][m@2 c="3"] text"#,
            "<13>Jun 15 12:00:00 web01 sshd[4242]: Accepted publickey for bob",
            r#"10.0.0.2 - frank [15/Jun/2024:12:00:00 +0000] "GET /api?q=1 HTTP/1.1" 200 512 "http://ref/" "curl/8.0""#,
            r#"10.0.0.3 - - [15/Jun/2024:12:00:01 +0000] "POST /x HTTP/1.1" 503 -"#,
            r#"2024-06-15T12:00:00.5Z {"level":"error","msg":"docker -t","n":1}"#,
            r#"2024-06-15T12:00:00Z stdout F {"msg":"cri","k":"v"}"#,
            "2024-06-15T12:00:00Z level=info msg=\"prefixed\" user=eve",
            "2024-06-15T12:00:00.123456+01:00 myhost sshd[123]: rsyslog",
        ] {
            let a = full.parse(text);
            let mut b = skip.parse(text);
            assert_eq!(b.fields, None, "{text}");
            with_fields += usize::from(a.fields.is_some());
            b.fields.clone_from(&a.fields);
            assert_eq!(a, b, "{text}");
        }
        assert_eq!(with_fields, 13);
    }

    fn ids(text: &str) -> [Option<String>; 3] {
        let parser = EntryParser::new(ParseOptions {
            now_micros: Some(1_718_452_800_000_000),
            ..ParseOptions::default()
        });
        let p = parser.parse(text);
        [p.trace_id, p.span_id, p.parent_span_id].map(|v| v.map(|v| v.into_owned()))
    }

    fn some(v: [&str; 3]) -> [Option<String>; 3] {
        v.map(|v| (!v.is_empty()).then(|| v.to_owned()))
    }

    /// Ids written into plain and syslog text are read from the keys of the
    /// promoted-key table, with `=` or `:`, quoted or not.
    #[test]
    fn ids_in_plain_and_syslog_text() {
        let t = "4bf92f3577b34da6a3ce929d0e0e4736";
        for (text, want) in [
            (
                format!(
                    "2024-06-15T12:00:00Z ERROR payment failed trace_id={t} span_id=00f067aa0ba902b7"
                ),
                [t, "00f067aa0ba902b7", ""],
            ),
            (
                format!("INFO [traceId: {t}, spanId: a1b2] request done"),
                [t, "a1b2", ""],
            ),
            (
                format!(r#"WARN slow call {{"trace_id":"{t}","parent_id":"p-1"}} in 3s"#),
                [t, "", "p-1"],
            ),
            (
                format!("<13>Jun 15 12:00:00 web01 api[42]: done traceID={t} parentSpanId=ab_12"),
                [t, "", "ab_12"],
            ),
            (
                format!(r#"<165>1 2024-06-15T12:00:00Z h app - ID1 [otel@1 trace_id="{t}"] text"#),
                [t, "", ""],
            ),
            // Broken JSON is read as plain text, ids included.
            (format!(r#"{{"msg":"oops","trace_id":"{t}""#), [t, "", ""]),
            // The highest-priority key wins; the last among equals.
            (
                "retry dd.trace_id=111 trace_id=222 trace_id=333".to_owned(),
                ["333", "", ""],
            ),
        ] {
            assert_eq!(ids(&text), some(want), "{text}");
        }
        for text in [
            // Prose: `:` needs a value with a digit.
            "missing trace_id: none given",
            "trace_id is unset",
            // Part of a longer key or word.
            "mytrace_id=42 old.span.id2=7 xspan_id=9",
            // Empty, or a quote that does not close.
            r#"trace_id= span_id="abc"#,
            // Times and file:line never look like keys.
            "2024-06-15 12:00:00 at Main.java:42 id=5",
        ] {
            assert_eq!(ids(text), some(["", "", ""]), "{text}");
        }
    }

    /// JSON and logfmt after an RFC 3339 time (`docker logs -t`), and the
    /// CRI container log format: the payload is parsed, the prefix is
    /// header, the payload's time wins over the prefix's.
    #[test]
    fn structured_payload_after_a_time() {
        use super::{EntryError, Format};
        use crate::level::Level;
        // 2024-03-01T10:00:00Z
        const T: i64 = 1_709_287_200_000_000;
        let parser = EntryParser::new(ParseOptions {
            now_micros: Some(1_718_452_800_000_000),
            ..ParseOptions::default()
        });
        for (text, format, ts, level, header, message, fields) in [
            (
                r#"2024-03-01T10:00:00.123456789Z {"level":"error","msg":"docker -t"}"#,
                Format::Json,
                Some(T + 123_456),
                Some(Level::Error),
                "2024-03-01T10:00:00.123456789Z ",
                "docker -t",
                None,
            ),
            (
                r#"2024-03-01T11:00:00+01:00 {"time":"2024-03-01T10:00:05Z","msg":"m","n":1}"#,
                Format::Json,
                Some(T + 5_000_000),
                None,
                "2024-03-01T11:00:00+01:00 ",
                "m",
                Some(r#"{"n":1}"#),
            ),
            (
                r#"2024-03-01T10:00:00Z level=info msg="prefixed logfmt""#,
                Format::Logfmt,
                Some(T),
                Some(Level::Info),
                "2024-03-01T10:00:00Z ",
                "prefixed logfmt",
                None,
            ),
            (
                r#"2024-03-01T10:00:00.123456789Z stdout F {"level":"error","msg":"x"}"#,
                Format::Json,
                Some(T + 123_456),
                Some(Level::Error),
                "2024-03-01T10:00:00.123456789Z stdout F ",
                "x",
                None,
            ),
            (
                "2024-03-01T10:00:00Z stderr P ts=2024-03-01T10:00:09Z level=warn msg=partial",
                Format::Logfmt,
                Some(T + 9_000_000),
                Some(Level::Warn),
                "2024-03-01T10:00:00Z stderr P ",
                "partial",
                None,
            ),
            (
                "2024-03-01T10:00:00Z stdout F WARN [main] low disk",
                Format::Plain,
                Some(T),
                Some(Level::Warn),
                "2024-03-01T10:00:00Z stdout F WARN [main] ",
                "low disk",
                None,
            ),
            (
                "2024-03-01T10:00:00Z stdout F <13>Mar  1 10:00:04 h app: x",
                Format::Syslog3164,
                Some(T + 4_000_000),
                Some(Level::Info),
                "2024-03-01T10:00:00Z stdout F <13>Mar  1 10:00:04 h app: ",
                "x",
                None,
            ),
            // An empty container line: an empty message.
            (
                "2024-03-01T10:00:00Z stdout F ",
                Format::Plain,
                Some(T),
                None,
                "2024-03-01T10:00:00Z stdout F ",
                "",
                None,
            ),
            (
                "2024-03-01T10:00:00Z stderr P",
                Format::Plain,
                Some(T),
                None,
                "2024-03-01T10:00:00Z stderr P",
                "",
                None,
            ),
            // Not a payload: plain text, as before.
            (
                "2024-03-01T10:00:00Z {not json",
                Format::Plain,
                Some(T),
                None,
                "2024-03-01T10:00:00Z ",
                "{not json",
                None,
            ),
            (
                "2024-03-01T10:00:00Z INFO took=3ms user=bob",
                Format::Plain,
                Some(T),
                Some(Level::Info),
                "2024-03-01T10:00:00Z INFO ",
                "took=3ms user=bob",
                None,
            ),
            // No zone (not RFC 3339): plain text.
            (
                r#"2024-03-01T10:00:00 {"msg":"x"}"#,
                Format::Plain,
                Some(T),
                None,
                "2024-03-01T10:00:00 ",
                r#"{"msg":"x"}"#,
                None,
            ),
        ] {
            let e = parser.parse(text);
            assert_eq!(
                (
                    e.format,
                    e.ts,
                    e.level,
                    e.header,
                    &*e.message,
                    e.fields.as_deref()
                ),
                (format, ts, level, header, message, fields),
                "{text}"
            );
            assert_eq!(e.raw, text);
            assert_eq!(e.error, None, "{text}");
        }
        // An impossible payload time is flagged; the prefix's time is used,
        // and the flag's words do not say otherwise.
        let e = parser.parse(r#"2024-03-01T10:00:00Z {"ts":"2024-02-30T00:00:00Z","msg":"x"}"#);
        assert_eq!((e.format, e.ts), (Format::Json, Some(T)));
        assert_eq!(e.error, Some(EntryError::BadTimestamp));
        let words = EntryError::BadTimestamp.description();
        assert!(!words.contains("empty"), "{words}");
        assert!(words.contains("not used for ts"), "{words}");
    }

    /// Every line framing reads as a container line parses as one: any
    /// time shape, an empty first payload with no space after its tag, a
    /// prefix time that is no time (flagged when the payload has none).
    #[test]
    fn container_prefixes_as_framing_reads_them() {
        use super::{EntryError, Format};
        // 2024-03-01T10:00:00Z
        const T: i64 = 1_709_287_200_000_000;
        let parser = EntryParser::new(ParseOptions {
            now_micros: Some(T),
            ..ParseOptions::default()
        });
        let bad = Some(EntryError::BadTimestamp);
        for (text, ts, header, message, error) in [
            (
                "2024-03-01T10:00:00Z stdout F\r\n2024-03-01T10:00:00Z stdout F \tat a.B.c(B.java:1)",
                Some(T),
                "2024-03-01T10:00:00Z stdout F",
                "\r\n\tat a.B.c(B.java:1)",
                None,
            ),
            (
                "2024-03-01T10:00:00Z stdout P\n2024-03-01T10:00:00Z stdout F rest",
                Some(T),
                "2024-03-01T10:00:00Z stdout P",
                "rest",
                None,
            ),
            (
                "2024-02-30T10:00:00Z stdout F impossible\n2024-02-30T10:00:00Z stdout F \tat x",
                None,
                "2024-02-30T10:00:00Z stdout F ",
                "impossible\n\tat x",
                bad,
            ),
            (
                "2024-02-30T10:00:00Z stdout F 2024-03-01 10:00:05 payload time",
                Some(T + 5_000_000),
                "2024-02-30T10:00:00Z stdout F 2024-03-01 10:00:05 ",
                "payload time",
                None,
            ),
            (
                "2024-03-01T10:00:00+25:00 stderr F x",
                None,
                "2024-03-01T10:00:00+25:00 stderr F ",
                "x",
                bad,
            ),
            (
                "2024-03-01T10:00:00 stdout P no zone \n2024-03-01T10:00:00 stdout F is UTC",
                Some(T),
                "2024-03-01T10:00:00 stdout P ",
                "no zone is UTC",
                None,
            ),
            (
                "2024-03-01t10:00:00z stdout P lower \n2024-03-01t10:00:00z stdout F t",
                Some(T),
                "2024-03-01t10:00:00z stdout P ",
                "lower t",
                None,
            ),
        ] {
            let e = parser.parse(text);
            assert_eq!(
                (e.format, e.ts, e.header, &*e.message, e.error),
                (Format::Plain, ts, header, message, error),
                "{text}"
            );
            assert_eq!(e.raw, text);
        }
    }

    /// Appliance logs: a `<PRI>` before JSON or logfmt is a header, the
    /// payload is parsed, and a date and a time of day given apart (with a
    /// `tz` offset, or an `eventtime` epoch) make the time.
    #[test]
    fn pri_payloads_and_dates_with_separate_times() {
        use super::{EntryError, Format};
        use crate::level::Level;
        // 2024-03-01T10:00:00Z
        const T: i64 = 1_709_287_200_000_000;
        const H: i64 = 3_600_000_000;
        let parser = EntryParser::new(ParseOptions {
            now_micros: Some(T),
            ..ParseOptions::default()
        });
        for (text, format, ts, level, header, fields) in [
            (
                r#"<189>date=2024-03-01 time=10:00:00 devname="FG100E" level="warning" tz="+0100""#,
                Format::Logfmt,
                Some(T - H),
                Some(Level::Warn),
                "<189>",
                Some(r#"{"date":"2024-03-01","time":"10:00:00","devname":"FG100E","tz":"+0100"}"#),
            ),
            // No level key: the PRI's severity (5, notice).
            (
                r#"<189>date=2024-03-01 time=10:00:00.5 type="traffic" tz=UTC"#,
                Format::Logfmt,
                Some(T + 500_000),
                Some(Level::Info),
                "<189>",
                Some(r#"{"date":"2024-03-01","time":"10:00:00.5","type":"traffic","tz":"UTC"}"#),
            ),
            // An epoch `eventtime` is a time key of its own (FortiOS 6.2+).
            (
                r#"<190>date=2024-03-01 time=11:00:00 eventtime=1709287200123456789 tz="+0100""#,
                Format::Logfmt,
                Some(T + 123_456),
                Some(Level::Info),
                "<190>",
                Some(r#"{"date":"2024-03-01","time":"11:00:00","tz":"+0100"}"#),
            ),
            (
                r#"<11>{"date":"2024/03/01","time":"10:00:00","tz":"-05:00","msg":"x"}"#,
                Format::Json,
                Some(T + 5 * H),
                Some(Level::Error),
                "<11>",
                Some(r#"{"date":"2024/03/01","time":"10:00:00","tz":"-05:00"}"#),
            ),
            // Not a time of day, or not a date: no time.
            (
                r#"{"date":"2024-03-01","time":"soon","msg":"x"}"#,
                Format::Json,
                None,
                None,
                "",
                Some(r#"{"date":"2024-03-01","time":"soon"}"#),
            ),
            (
                "date=Monday time=10:00:00 msg=x",
                Format::Logfmt,
                None,
                None,
                "",
                Some(r#"{"date":"Monday","time":"10:00:00"}"#),
            ),
            // After the PRI's time; a multi-line object.
            (
                "<11>2024-03-01T10:00:00Z level=warn msg=x",
                Format::Logfmt,
                Some(T),
                Some(Level::Warn),
                "<11>2024-03-01T10:00:00Z ",
                None,
            ),
            (
                "<13>Mar  1 10:00:05 {\"msg\":\"x\",\"n\":1}",
                Format::Json,
                Some(T + 5_000_000),
                Some(Level::Info),
                "<13>Mar  1 10:00:05 ",
                Some(r#"{"n":1}"#),
            ),
            (
                "<11>{\n  \"msg\": \"disk full\",\n  \"level\": \"warn\"\n}",
                Format::Json,
                None,
                Some(Level::Warn),
                "<11>",
                None,
            ),
            // Not a time of day: no time, no flag.
            (
                "date=2024-03-01 time=10:00:00123 msg=x",
                Format::Logfmt,
                None,
                None,
                "",
                Some(r#"{"date":"2024-03-01","time":"10:00:00123"}"#),
            ),
            // A PRI before text that is neither: as before.
            (
                "<13>hello there",
                Format::Syslog3164,
                None,
                Some(Level::Info),
                "<13>",
                None,
            ),
        ] {
            let e = parser.parse(text);
            assert_eq!(
                (e.format, e.ts, e.level, e.header, e.fields.as_deref()),
                (format, ts, level, header, fields),
                "{text}"
            );
            assert_eq!((e.raw, e.error), (text, None), "{text}");
        }
        // An impossible date is flagged, and so is JSON that does not parse.
        let e = parser.parse("<13>date=2024-02-30 time=10:00:00 msg=x");
        assert_eq!((e.ts, e.error), (None, Some(EntryError::BadTimestamp)));
        let e = parser.parse(r#"<11>{"msg":"x","#);
        assert_eq!(
            (e.format, e.level),
            (Format::Syslog3164, Some(Level::Error))
        );
        assert_eq!(e.error, Some(EntryError::MalformedJson));
    }

    /// Every flag has words and reads back from its stored name.
    #[test]
    fn flags_have_names_and_words() {
        use super::EntryError::*;
        for e in [Truncated, Binary, InvalidUtf8, MalformedJson, BadTimestamp] {
            assert_eq!(super::EntryError::from_name(e.as_str()), Some(e));
            assert!(!e.description().is_empty());
        }
        assert_eq!(super::EntryError::from_name("other"), None);
    }

    /// A payload time without a year takes the prefix's year (the year
    /// before when it would be more than a day after the prefix), not the
    /// ingest clock's.
    #[test]
    fn payload_times_without_a_year_take_the_prefix_year() {
        // 2024-03-01T10:00:00Z; the clock reads 2026-11-22.
        const T: i64 = 1_709_287_200_000_000;
        const S: i64 = 1_000_000;
        let parser = EntryParser::new(ParseOptions {
            now_micros: Some(1_795_305_600_000_000),
            ..ParseOptions::default()
        });
        for (text, ts) in [
            (
                "2024-03-01T10:00:00Z stdout F <13>Mar  1 10:00:04 h app: x",
                T + 4 * S,
            ),
            (
                "2024-03-01T10:00:00Z stderr F I0301 10:00:04.000000 1 m.go:1] x",
                T + 4 * S,
            ),
            (
                r#"2024-03-01T10:00:00Z {"time":"Mar  1 10:00:04","msg":"x"}"#,
                T + 4 * S,
            ),
            (
                "2024-03-01T10:00:00Z time=\"Mar  1 10:00:04\" msg=x",
                T + 4 * S,
            ),
            (
                r#"2024-03-01T10:00:00Z stdout F {"time":"Mar  1 10:00:04","msg":"x"}"#,
                T + 4 * S,
            ),
            // A day after the prefix is still its year; more is the year before.
            (
                "2024-03-01T10:00:00Z stdout F <13>Mar  2 10:00:00 h app: x",
                T + 86_400 * S,
            ),
            (
                "2025-01-01T00:00:05Z stdout F <13>Dec 31 23:59:59 h app: x",
                1_735_689_599_000_000,
            ),
        ] {
            let e = parser.parse(text);
            assert_eq!((e.ts, e.error), (Some(ts), None), "{text}");
        }
        // Outside a prefix the clock's year is used, as before.
        let e = parser.parse("<13>Mar  1 10:00:04 h app: x");
        assert_eq!(e.ts, Some(1_772_359_204_000_000));
    }

    #[test]
    fn json_strings_match_serde_json() {
        for s in [
            "",
            "plain",
            "q\"uote",
            "back\\slash",
            "tab\there",
            "nl\n",
            "é ünï 😀",
            "\u{1}\u{7f}",
        ] {
            let mut out = Vec::new();
            push_json_str(&mut out, s);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s:?}"
            );
        }
    }
}
