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
///    `Error reading file` is a message, not a level.
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
            let end = b[pos..]
                .iter()
                .position(|c| !c.is_ascii_alphabetic())
                .map_or(b.len(), |i| pos + i);
            let word = &text[pos..end];
            let terminated = matches!(b.get(end), None | Some(b' ' | b'\t' | b':'));
            if terminated
                && let Some(l) = Level::from_word(word)
                && (timed || word.bytes().all(|c| c.is_ascii_uppercase()))
            {
                h.level = Some(l);
                let mut next = end;
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
