//! Plain-text entries: a recognised header, then the message.

use std::borrow::Cow;

use super::{EntryError, ParsedEntry};
use crate::level::Level;
use crate::timestamp::{TimestampDetector, TsScan, scan_fraction, scan_hms};

/// What [`scan_plain_header`] found at the start of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlainHeader {
    /// Event time.
    pub ts: Option<i64>,
    /// Level.
    pub level: Option<Level>,
    /// Bytes of header; the message starts here.
    pub len: usize,
    /// Bytes up to the end of the leading timestamp (0 without one).
    pub time_end: usize,
    /// A timestamp-shaped prefix did not parse.
    pub bad_timestamp: bool,
}

/// Recognises the header of a plain-text line. The rule, kept simple on
/// purpose:
///
/// 1. klog/glog: `Lmmdd hh:mm:ss.uuuuuu threadid file:line] ` (`L` one of
///    `IWEF`) — level, time (year inferred), and the whole prefix.
/// 2. Otherwise an optional timestamp (any form of [`crate::timestamp`]),
///    possibly in `[…]`.
/// 3. Then up to three of, in any order: a level word (bare, `LEVEL:`, or in
///    `[…]`); a `[…]` group (thread) once a timestamp or level was seen. A
///    bare level word without a timestamp before it must be upper case, so
///    `Error reading file` is a message, not a level. After a timestamp,
///    PostgreSQL's `LOG:` (INFO) and `DEBUG1:`…`DEBUG5:` count as level
///    words too (`2024-… CET [12345] LOG:  checkpoint starting`; `DETAIL:`,
///    `HINT:`, `STATEMENT:` are not levels).
///    Also after a timestamp, fields between ` - ` or ` | ` separators:
///    when one of the first three fields is an upper-case level name
///    (`TRACE`, `DEBUG`, `INFO`, `NOTICE`, loguru's `SUCCESS` as INFO,
///    `WARN`, `WARNING`, `ERROR`, `CRITICAL`, `FATAL`) followed by the
///    separator, the fields up to it are
///    header (Python logging's `… - name - LEVEL - msg`, loguru's
///    `… | LEVEL    | name:fn:1 - msg`). Only that spelling counts, since
///    a logger name before it may be a level word (`- config - ERROR -` is
///    ERROR), and it must stand alone between separators, so `- user -
///    error count` is a message. When the first two fields are both level
///    names, the second is the level (`- TRACE - ERROR -`: a logger named
///    in capitals); after a logger that is not one, the first level name
///    is (`- AUDIT - INFO - ERROR - x` is INFO).
/// 4. Then, after a timestamp or level, a logger token followed by ` - `
///    (`com.foo.Bar - `).
///
/// Whitespace after each part belongs to the header. A timestamp-shaped but
/// invalid prefix (`2024-13-02 …`) sets `bad_timestamp` and no time; the
/// rest of the header is read as after a valid one.
pub fn scan_plain_header(text: &str, det: &TimestampDetector) -> PlainHeader {
    let b = text.as_bytes();
    let mut h = PlainHeader::default();
    if let Some(k) = scan_klog(text, det) {
        return k;
    }
    let mut pos = 0;
    // A timestamp-shaped prefix, valid or not, counts as the time for what
    // follows it (a lower-case level word, a thread group, a logger).
    let bracketed = b.first() == Some(&b'[');
    let at = usize::from(bracketed);
    let closes = |len: usize| !bracketed || b.get(at + len) == Some(&b']');
    match det.scan_prefix(&text[at..]) {
        TsScan::Found { micros, len } if closes(len) => {
            h.ts = Some(micros);
            pos = at + len + at;
            h.time_end = pos;
        }
        TsScan::Bad { len } => {
            h.bad_timestamp = true;
            if !closes(len) {
                return h;
            }
            pos = at + len + at;
        }
        _ => {}
    }
    let timed = pos > 0;
    pos = skip_spaces(b, pos);
    let mut seen_bracket = false;
    for _ in 0..3 {
        if b.get(pos) == Some(&b'[') {
            let Some(close) = b[pos..]
                .iter()
                .take(66)
                .position(|&c| c == b']' || c == b'\n')
            else {
                break;
            };
            if b[pos + close] != b']' {
                break;
            }
            let inner = &text[pos + 1..pos + close];
            if h.level.is_none()
                && let Some(l) = Level::from_word(inner.trim())
            {
                h.level = Some(l);
            } else if (timed || h.level.is_some()) && !seen_bracket {
                seen_bracket = true;
            } else {
                break;
            }
            pos = skip_spaces(b, pos + close + 1);
            continue;
        }
        if h.level.is_none() {
            if timed
                && matches!(b.get(pos), Some(b'-' | b'|'))
                && matches!(b.get(pos + 1), Some(b' ' | b'\t'))
            {
                let Some((l, next)) = level_between_separators(text, pos) else {
                    break;
                };
                h.level = Some(l);
                pos = next;
                continue;
            }
            let end = b[pos..]
                .iter()
                .position(|c| !c.is_ascii_alphabetic())
                .map_or(b.len(), |i| pos + i);
            let word = &text[pos..end];
            let mut next = end;
            // PostgreSQL's DEBUG1 … DEBUG5.
            if timed
                && word == "DEBUG"
                && matches!(b.get(end), Some(b'1'..=b'5'))
                && b.get(end + 1) == Some(&b':')
            {
                next += 1;
            }
            let terminated = matches!(b.get(next), None | Some(b' ' | b'\t' | b':'));
            let level = Level::from_word(word)
                .filter(|_| timed || word.bytes().all(|c| c.is_ascii_uppercase()))
                .or_else(|| {
                    // PostgreSQL's LOG: only in its own spelling.
                    (timed && word == "LOG" && b.get(next) == Some(&b':')).then_some(Level::Info)
                });
            if terminated && let Some(l) = level {
                h.level = Some(l);
                if b.get(next) == Some(&b':') {
                    next += 1;
                }
                pos = skip_spaces(b, next);
                continue;
            }
        }
        break;
    }
    if timed || h.level.is_some() {
        let end = b[pos..]
            .iter()
            .take(129)
            .position(|&c| c == b' ' || c == b'\n')
            .map(|i| pos + i);
        if let Some(end) = end
            && end > pos
            && b[end..].starts_with(b" - ")
            && !b[pos..end].iter().any(|&c| c == b'=' || c == b'"')
        {
            pos = end + 3;
        }
    }
    h.len = pos;
    h
}

/// At a `-` or `|` separator at `pos`: the level word among the next three
/// fields that are each followed by the same separator (with spaces around
/// it), and where the text after that level's separator starts. A field is
/// one whitespace-free token of at most 128 bytes; a token not followed by
/// the separator ends the search.
fn level_between_separators(text: &str, mut pos: usize) -> Option<(Level, usize)> {
    let b = text.as_bytes();
    let sep = b[pos];
    for i in 0..3 {
        let (field, next) = separated_field(text, pos, sep)?;
        if let Some(l) = level_name(field) {
            // A logger named in capitals (`- TRACE - ERROR -`): the level
            // is the field right after it. Only for the first field: after
            // a logger (`- AUDIT - INFO - ERROR -`) the level is found.
            let (l, next) = separated_field(text, next, sep)
                .filter(|_| i == 0)
                .and_then(|(f, n)| Some((level_name(f)?, n)))
                .unwrap_or((l, next));
            return Some((l, skip_spaces(b, next + 1)));
        }
        pos = next;
    }
    None
}

/// The whitespace-free field (at most 128 bytes) after the separator at
/// `pos`, when the same separator, with a space after it, follows it; and
/// where that separator is.
fn separated_field(text: &str, pos: usize, sep: u8) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    let start = skip_spaces(b, pos + 1);
    let len = b[start..]
        .iter()
        .take(129)
        .position(|c| c.is_ascii_whitespace())?;
    if len == 0 || len > 128 {
        return None;
    }
    let end = start + len;
    let next = skip_spaces(b, end);
    if b.get(next) != Some(&sep) || !matches!(b.get(next + 1), Some(b' ' | b'\t')) {
        return None;
    }
    Some((&text[start..end], next))
}

/// A level as Python logging and loguru write it between separators: an
/// upper-case level name. Logger names there are words too (`config`,
/// `trace`, `alert`), which [`Level::from_word`] would read as levels.
fn level_name(word: &str) -> Option<Level> {
    Some(match word {
        "TRACE" => Level::Trace,
        "DEBUG" => Level::Debug,
        // loguru's SUCCESS sits between INFO and WARNING.
        "INFO" | "NOTICE" | "SUCCESS" => Level::Info,
        "WARN" | "WARNING" => Level::Warn,
        "ERROR" => Level::Error,
        "CRITICAL" | "FATAL" => Level::Fatal,
        _ => return None,
    })
}

/// The level a message states at its start, for formats whose header has
/// no level (syslog without `<PRI>`): a level word in `[…]`, an upper-case
/// level word (`ERROR disk full`), or a level word in any case followed by
/// `:` (`error: kex_exchange_identification`, as sshd writes). A level word
/// in lower case without `:` is prose (`error reading file`).
pub(super) fn level_at_start(message: &str) -> Option<Level> {
    let b = message.as_bytes();
    if b.first() == Some(&b'[') {
        let close = b.iter().take(16).position(|&c| c == b']')?;
        return Level::from_word(message[1..close].trim());
    }
    let end = b
        .iter()
        .position(|c| !c.is_ascii_alphabetic())
        .unwrap_or(b.len());
    let word = &message[..end];
    match b.get(end) {
        Some(b':') => Level::from_word(word),
        None | Some(b' ' | b'\t') if word.bytes().all(|c| c.is_ascii_uppercase()) => {
            Level::from_word(word)
        }
        _ => None,
    }
}

fn skip_spaces(b: &[u8], mut pos: usize) -> usize {
    while matches!(b.get(pos), Some(b' ' | b'\t')) {
        pos += 1;
    }
    pos
}

fn scan_klog(text: &str, det: &TimestampDetector) -> Option<PlainHeader> {
    let b = text.as_bytes();
    if b.len() < 22 || !matches!(b[0], b'I' | b'W' | b'E' | b'F') || b[5] != b' ' {
        return None;
    }
    if !b[1..5].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let month = ((b[1] - b'0') * 10 + (b[2] - b'0')) as u32;
    let day = ((b[3] - b'0') * 10 + (b[4] - b'0')) as u32;
    let (hh, mm, ss) = scan_hms(&b[6..])?;
    let (nanos, flen) = scan_fraction(&b[14..]);
    let mut pos = skip_spaces(b, 14 + flen);
    let tid = b[pos..].iter().take_while(|c| c.is_ascii_digit()).count();
    if tid == 0 || b.get(pos + tid) != Some(&b' ') {
        return None;
    }
    pos += tid + 1;
    let close = pos + b[pos..].iter().take(256).position(|&c| c == b']')?;
    if b[pos..close].contains(&b' ') {
        return None;
    }
    pos = skip_spaces(b, close + 1);
    let ts = det.with_inferred_year(month, day, hh, mm, ss, nanos);
    Some(PlainHeader {
        ts,
        level: Level::from_letter(b[0]),
        len: pos,
        time_end: 14 + flen,
        bad_timestamp: ts.is_none(),
    })
}

/// The entry, and where its leading timestamp ends (0 without one).
pub(super) fn parse<'a>(text: &'a str, det: &TimestampDetector) -> (ParsedEntry<'a>, usize) {
    let h = scan_plain_header(text, det);
    let mut p = ParsedEntry::plain(text);
    p.ts = h.ts;
    p.level = h.level;
    p.header = &text[..h.len];
    p.message = Cow::Borrowed(&text[h.len..]);
    if h.bad_timestamp {
        p.error = Some(EntryError::BadTimestamp);
    }
    (p, h.time_end)
}

#[cfg(test)]
mod tests {
    use super::super::{EntryParser, Format, ParseOptions};
    use super::*;

    const T0: i64 = 1_704_207_845_000_000;

    fn parser() -> EntryParser {
        EntryParser::new(ParseOptions {
            now_micros: Some(1_718_452_800_000_000),
            ..ParseOptions::default()
        })
    }

    fn check(text: &str, ts: Option<i64>, level: Option<Level>, message: &str) {
        let pp = parser();
        let e = pp.parse(text);
        assert_eq!(e.format, Format::Plain, "{text}");
        assert_eq!(e.ts, ts, "{text}");
        assert_eq!(e.level, level, "{text}");
        assert_eq!(e.message, message, "{text}");
        assert_eq!(format!("{}{}", e.header, e.message), text);
    }

    #[test]
    fn headers() {
        check(
            "2024-01-02T15:04:05Z INFO started",
            Some(T0),
            Some(Level::Info),
            "started",
        );
        check(
            "2024-01-02 15:04:05,123 [main] WARN  com.foo.Bar - pool low",
            Some(T0 + 123_000),
            Some(Level::Warn),
            "pool low",
        );
        check(
            "[2024-01-02 15:04:05] [error] bad thing",
            Some(T0),
            Some(Level::Error),
            "bad thing",
        );
        check("ERROR: disk full", None, Some(Level::Error), "disk full");
        check("Error reading file", None, None, "Error reading file");
        check("just a message", None, None, "just a message");
        check(
            "1704207845 DEBUG tick",
            Some(T0),
            Some(Level::Debug),
            "tick",
        );
        check(
            "2024-01-02T15:04:05.123456+00:00 error lower",
            Some(T0 + 123_456),
            Some(Level::Error),
            "lower",
        );
        check(
            "I0102 15:04:05.123456    1234 main.go:42] serving",
            Some(T0 + 123_456),
            Some(Level::Info),
            "serving",
        );
        check(
            "E0102 15:04:05.000000 7 x.go:1] failed",
            Some(T0),
            Some(Level::Error),
            "failed",
        );
    }

    /// Level words in the layouts of PostgreSQL, Python logging and loguru.
    #[test]
    fn levels_in_common_layouts() {
        // 2024-03-01T10:00:00Z
        const T: i64 = 1_709_287_200_000_000;
        const H: i64 = 3_600_000_000;
        for (text, ts, level, message) in [
            (
                r#"2024-03-01 10:00:00.123 CET [12345] ERROR:  relation "x" does not exist"#,
                T - H + 123_000,
                Level::Error,
                r#"relation "x" does not exist"#,
            ),
            (
                "2024-03-01 10:00:00.123 UTC [7] LOG:  checkpoint starting: time",
                T + 123_000,
                Level::Info,
                "checkpoint starting: time",
            ),
            (
                "2024-03-01 10:00:00 UTC [7] WARNING:  out of shared memory",
                T,
                Level::Warn,
                "out of shared memory",
            ),
            (
                "2024-03-01 10:00:00 UTC [7] FATAL:  role \"x\" does not exist",
                T,
                Level::Fatal,
                "role \"x\" does not exist",
            ),
            (
                "2024-03-01 10:00:00 UTC [7] PANIC:  could not write",
                T,
                Level::Fatal,
                "could not write",
            ),
            (
                "2024-03-01 10:00:00 UTC [7] DEBUG2:  autovacuum",
                T,
                Level::Debug,
                "autovacuum",
            ),
            (
                "2024-03-01 10:00:00,123 - myapp - ERROR - python docs format",
                T + 123_000,
                Level::Error,
                "python docs format",
            ),
            // Logger names that are level words in other spellings.
            (
                "2024-03-01 10:00:00,123 - config - ERROR - failed",
                T + 123_000,
                Level::Error,
                "failed",
            ),
            (
                "2024-03-01 10:00:00,123 - trace - WARNING - slow",
                T + 123_000,
                Level::Warn,
                "slow",
            ),
            (
                "2024-03-01 10:00:00,123 - alert - INFO - sent",
                T + 123_000,
                Level::Info,
                "sent",
            ),
            (
                "2024-03-01 10:00:00,123 - notice - severe - CRITICAL - x",
                T + 123_000,
                Level::Fatal,
                "x",
            ),
            (
                "2024-03-01 10:00:00.123 | SUCCESS  | app:run:3 - done",
                T + 123_000,
                Level::Info,
                "done",
            ),
            // A logger whose name is a level in capitals.
            (
                "2024-03-01 10:00:00,123 - TRACE - ERROR - tracer failed",
                T + 123_000,
                Level::Error,
                "tracer failed",
            ),
            (
                "2024-03-01 10:00:00,123 - AUDIT - INFO - ERROR - quoted",
                T + 123_000,
                Level::Info,
                // `ERROR - ` is then a logger token, as loguru's `mod:fn:1 - `.
                "quoted",
            ),
            (
                "2024-03-01 10:00:00 - INFO - level first",
                T,
                Level::Info,
                "level first",
            ),
            (
                "2024-03-01 10:00:00.123 | ERROR    | mod:func:12 - loguru",
                T + 123_000,
                Level::Error,
                "loguru",
            ),
            (
                "2024-03-01 10:00:00.123 | CRITICAL | app.main:run:7 - down",
                T + 123_000,
                Level::Fatal,
                "down",
            ),
        ] {
            check(text, Some(ts), Some(level), message);
        }
    }

    /// Words of prose are not levels: not at the start, not between
    /// separators unless alone, and PostgreSQL's other prefixes are not
    /// levels.
    #[test]
    fn prose_words_are_not_levels() {
        const T: i64 = 1_709_287_200_000_000;
        check("user error count is 3", None, None, "user error count is 3");
        check(
            "2024-03-01 10:00:00 user error count is 3",
            Some(T),
            None,
            "user error count is 3",
        );
        check(
            "2024-03-01 10:00:00 - user - error count is 3",
            Some(T),
            None,
            "- user - error count is 3",
        );
        check(
            "2024-03-01 10:00:00 | a | b | c | ERROR | too far",
            Some(T),
            None,
            "| a | b | c | ERROR | too far",
        );
        // Python logging writes level names in upper case only.
        check(
            "2024-03-01 10:00:00,123 - a.b.c - warning - lower case",
            Some(T + 123_000),
            None,
            "- a.b.c - warning - lower case",
        );
        check(
            "2024-03-01 10:00:00 - error-prone code - kept",
            Some(T),
            None,
            "- error-prone code - kept",
        );
        check(
            "2024-03-01 10:00:00 UTC [7] STATEMENT:  select 1",
            Some(T),
            None,
            "STATEMENT:  select 1",
        );
        // `LOG` and `DEBUGn` only in PostgreSQL's spelling, after a time.
        check("LOG: x", None, None, "LOG: x");
        check("2024-03-01 10:00:00 log: x", Some(T), None, "log: x");
        check("2024-03-01 10:00:00 DEBUG7: x", Some(T), None, "DEBUG7: x");
        // An unknown word after the time is not a zone and stays text.
        check(
            "2024-03-01 10:00:00 XYZ [1] ERROR: x",
            Some(T),
            None,
            "XYZ [1] ERROR: x",
        );
    }

    /// An impossible offset after the time: flagged, the entry kept, the
    /// offset part of the (bad) time.
    #[test]
    fn impossible_offset_is_a_bad_timestamp() {
        let pp = parser();
        let e = pp.parse("2024-03-01T10:00:00+25:00 INFO bad offset");
        assert_eq!(e.error, Some(EntryError::BadTimestamp));
        assert_eq!((e.ts, e.level), (None, Some(Level::Info)));
        assert_eq!(e.header, "2024-03-01T10:00:00+25:00 INFO ");
        assert_eq!(e.message, "bad offset");
    }

    #[test]
    fn level_at_the_start_of_a_message() {
        for (m, want) in [
            ("ERROR disk full", Some(Level::Error)),
            ("WARN", Some(Level::Warn)),
            ("error: kex_exchange_identification", Some(Level::Error)),
            ("Warning: low memory", Some(Level::Warn)),
            ("[info] started", Some(Level::Info)),
            ("error reading file", None),
            ("Error reading file", None),
            ("user error count is 3", None),
            ("ERRORS: 3", None),
            ("[main] started", None),
            ("", None),
        ] {
            assert_eq!(level_at_start(m), want, "{m}");
        }
    }

    #[test]
    fn bad_timestamp_prefix() {
        let pp = parser();
        let e = pp.parse("2024-13-02 15:04:05 INFO x");
        assert_eq!(e.error, Some(EntryError::BadTimestamp));
        assert_eq!(e.ts, None);
        // The level after it is still read.
        assert_eq!(e.level, Some(Level::Info));
        assert_eq!(e.header, "2024-13-02 15:04:05 INFO ");
        assert_eq!(e.message, "x");
        let e = pp.parse("[2026-02-30T10:00:00Z] error [pay] impossible date");
        assert_eq!(e.error, Some(EntryError::BadTimestamp));
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(e.message, "impossible date");
        // Not closed by its bracket: no header at all.
        let e = pp.parse("[2026-02-30T10:00:00Z ERROR x");
        assert_eq!(e.error, Some(EntryError::BadTimestamp));
        assert_eq!((e.level, e.header), (None, ""));
    }

    #[test]
    fn multi_line_message_keeps_continuation() {
        let pp = parser();
        let e = pp.parse("2024-01-02T15:04:05Z ERROR boom\n\tat a.b(C.java:1)");
        assert_eq!(e.message, "boom\n\tat a.b(C.java:1)");
    }
}
