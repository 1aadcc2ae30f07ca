//! RFC 5424 and RFC 3164 syslog.
//!
//! The level of an RFC 3164 entry comes from its `<PRI>`; without one, from
//! a level word opening the message ([`super::plain::level_at_start`]:
//! `app: ERROR …`, `sshd[1]: error: …`), which stays part of the message. A
//! PRI wins over a level word in the message.

use std::borrow::Cow;

use super::plain::level_at_start;
use super::{EntryError, Format, ParsedEntry, push_json_str};
use crate::level::Level;
use crate::timestamp::{TimestampDetector, TsScan};

/// `fields` (procid, msgid, structured data, a 3164 pid) is built only when
/// `want_fields` (see [`super::ParseOptions::skip_fields`]).
pub(super) fn parse<'a>(
    text: &'a str,
    det: &TimestampDetector,
    want_fields: bool,
) -> Option<ParsedEntry<'a>> {
    let b = text.as_bytes();
    let mut pos = 0;
    let mut pri = None;
    if b.first() == Some(&b'<') {
        let close = b.iter().take(5).position(|&c| c == b'>')?;
        let digits = &text[1..close];
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let v: u16 = digits.parse().ok()?;
        if v > 191 {
            return None;
        }
        pri = Some(v as u8);
        pos = close + 1;
        if b[pos..].starts_with(b"1 ") {
            return rfc5424(text, pos + 2, v as u8, det, want_fields);
        }
    }
    rfc3164(text, pos, pri, det, want_fields)
}

fn next_token<'a>(text: &'a str, pos: &mut usize) -> Option<&'a str> {
    let b = text.as_bytes();
    let start = *pos;
    let end = memchr::memchr(b' ', &b[start..]).map(|i| start + i)?;
    if end == start {
        return None;
    }
    *pos = end + 1;
    Some(&text[start..end])
}

fn nil(s: &str) -> Option<&str> {
    (s != "-").then_some(s)
}

fn rfc5424<'a>(
    text: &'a str,
    mut pos: usize,
    pri: u8,
    det: &TimestampDetector,
    want_fields: bool,
) -> Option<ParsedEntry<'a>> {
    let b = text.as_bytes();
    let ts_tok = next_token(text, &mut pos)?;
    let host = next_token(text, &mut pos)?;
    let app = next_token(text, &mut pos)?;
    let procid = next_token(text, &mut pos)?;
    // MSGID may end the line when there is neither SD nor message.
    let msgid = match next_token(text, &mut pos) {
        Some(t) => t,
        None => {
            let t = &text[pos..];
            pos = text.len();
            t
        }
    };
    let mut p = ParsedEntry::plain(text);
    p.format = Format::Syslog5424;
    p.level = Some(Level::from_syslog_severity(pri % 8));
    if ts_tok != "-" {
        match det.parse_value(ts_tok) {
            Some(t) => p.ts = Some(t),
            None => p.error = Some(EntryError::BadTimestamp),
        }
    }
    p.host = nil(host).map(Cow::Borrowed);
    p.service = nil(app).map(Cow::Borrowed);
    // Room for the quoting JSON adds, so the buffer rarely grows; nothing
    // allocated when `fields` is not wanted.
    let mut fields = Vec::new();
    let add = |fields: &mut Vec<u8>, k: &str, v: &str| {
        if fields.len() > 1 {
            fields.push(b',');
        }
        push_json_str(fields, k);
        fields.push(b':');
        push_json_str(fields, v);
    };
    if want_fields {
        fields.reserve(text.len().saturating_sub(pos) + 64);
        fields.push(b'{');
        for (k, v) in [("procid", procid), ("msgid", msgid)] {
            if let Some(v) = nil(v) {
                add(&mut fields, k, v);
            }
        }
    }
    match b.get(pos) {
        Some(b'-') => pos += 1,
        Some(b'[') => {
            while b.get(pos) == Some(&b'[') {
                let end = sd_element_end(b, pos)?;
                if want_fields {
                    sd_params(&text[pos + 1..end], &mut |k, v| add(&mut fields, k, v));
                }
                pos = end + 1;
            }
        }
        _ => {}
    }
    if b.get(pos) == Some(&b' ') {
        pos += 1;
    }
    if text[pos..].starts_with('\u{feff}') {
        pos += '\u{feff}'.len_utf8();
    }
    if want_fields {
        fields.push(b'}');
        if fields.len() > 2 {
            p.fields = String::from_utf8(fields).ok();
        }
    }
    p.header = &text[..pos];
    p.message = Cow::Borrowed(&text[pos..]);
    Some(p)
}

/// Index of the `]` closing the SD element starting at `start`.
fn sd_element_end(b: &[u8], start: usize) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, &c) in b.iter().enumerate().skip(start + 1) {
        if escaped {
            escaped = false;
        } else if c == b'\\' && in_quotes {
            escaped = true;
        } else if c == b'"' {
            in_quotes = !in_quotes;
        } else if c == b']' && !in_quotes {
            return Some(i);
        }
    }
    None
}

/// `id k="v" k2="v2"` → `id.k = v`, …
fn sd_params(element: &str, emit: &mut dyn FnMut(&str, &str)) {
    let (id, mut rest) = element.split_once(' ').unwrap_or((element, ""));
    // Reused for every parameter of the element.
    let mut key = String::new();
    let mut value = String::with_capacity(element.len());
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].trim();
        let after = &rest[eq + 2..];
        let b = after.as_bytes();
        let mut i = 0;
        value.clear();
        while i < b.len() && b[i] != b'"' {
            if b[i] == b'\\' && i + 1 < b.len() {
                i += 1;
            }
            let ch_len = utf8_len(b[i]);
            value.push_str(&after[i..(i + ch_len).min(after.len())]);
            i += ch_len;
        }
        key.clear();
        key.push_str(id);
        key.push('.');
        key.push_str(name);
        emit(&key, &value);
        rest = after.get(i + 1..).unwrap_or("");
    }
}

fn utf8_len(c: u8) -> usize {
    match c {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    }
}

fn rfc3164<'a>(
    text: &'a str,
    pos: usize,
    pri: Option<u8>,
    det: &TimestampDetector,
    want_fields: bool,
) -> Option<ParsedEntry<'a>> {
    let mut p = ParsedEntry::plain(text);
    p.format = Format::Syslog3164;
    p.level = pri.map(|v| Level::from_syslog_severity(v % 8));
    match det.scan_prefix(&text[pos..]) {
        TsScan::Found { micros, len } => {
            p.ts = Some(micros);
            host_and_tag(p, text, pos + len, pri, want_fields, false)
        }
        // An impossible date (`Feb 30`) shaped as the header's: flagged, and
        // the host, tag and level are still read.
        TsScan::Bad { len } => {
            p.error = Some(EntryError::BadTimestamp);
            match host_and_tag(p.clone(), text, pos + len, pri, want_fields, false) {
                Some(read) => Some(read),
                None => {
                    pri?;
                    p.header = &text[..pos];
                    p.message = Cow::Borrowed(&text[pos..]);
                    Some(p)
                }
            }
        }
        TsScan::None => {
            pri?;
            p.header = &text[..pos];
            p.message = Cow::Borrowed(&text[pos..]);
            Some(p)
        }
    }
}

/// The rsyslog high-precision (`RSYSLOG_FileFormat`) and syslog-ng ISO
/// layout: an RFC 3339 time, already read (`ts`, `len` bytes), then
/// `host tag[pid]: msg`, with no PRI. Plain lines start with RFC 3339 times
/// too, so this is stricter than the `Mmm dd` layout: the host must be a
/// host name (letters, digits, `.`, `-`, `_`) and not a level word (`… INFO
/// main[1]: started` is plain text), and the tag must carry its `[pid]`
/// (`… Server started: on 8080` is plain text, not host `Server`).
pub(super) fn rfc3164_iso(
    text: &str,
    ts: i64,
    len: usize,
    want_fields: bool,
) -> Option<ParsedEntry<'_>> {
    let mut p = ParsedEntry::plain(text);
    p.format = Format::Syslog3164;
    p.ts = Some(ts);
    host_and_tag(p, text, len, None, want_fields, true)
}

/// What follows the time of an RFC 3164 header, from `pos`: ` host
/// tag[pid]: msg`. `strict` asks for a host name that is not a level word
/// and a `[pid]` (see [`rfc3164_iso`]).
fn host_and_tag<'a>(
    mut p: ParsedEntry<'a>,
    text: &'a str,
    mut pos: usize,
    pri: Option<u8>,
    want_fields: bool,
    strict: bool,
) -> Option<ParsedEntry<'a>> {
    let b = text.as_bytes();
    if b.get(pos) != Some(&b' ') {
        return None;
    }
    pos += 1;
    let host_start = pos;
    // A payload's first `key=value` or JSON object is not a host: the
    // entry is `<PRI>TS payload` (see `EntryParser::pri_payload`).
    let after_host = next_token(text, &mut pos).filter(|h| !h.starts_with('{') && !h.contains('='));
    let Some(host) = after_host else {
        // `<PRI>TS message-without-spaces` or a bare header.
        pri?;
        p.header = &text[..host_start];
        p.message = Cow::Borrowed(&text[host_start..]);
        return Some(p);
    };
    // No host: the tag follows the time, as glibc's `syslog()` writes to
    // `/dev/log` (`<13>Mar  1 10:00:00 app[1]: x`). With a PRI any `tag:`
    // counts; without one only `tag[pid]:`, which no host name looks like.
    if !strict && is_tag(host, pri.is_none()) {
        return tag_and_message(p, text, host_start, pri, want_fields, strict);
    }
    if strict
        && (!host
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'))
            || Level::from_word(host).is_some())
    {
        return None;
    }
    // Without a PRI, an upper-case level word where the host would be is a
    // plain line's level (`Mar  1 10:00:00 ERROR main: x`); host names are
    // not written in capitals.
    if pri.is_none()
        && !host.bytes().any(|c| c.is_ascii_lowercase())
        && Level::from_word(host).is_some()
    {
        return None;
    }
    p.host = Some(Cow::Borrowed(host));
    tag_and_message(p, text, pos, pri, want_fields, strict)
}

/// Whether `token` is a syslog tag with its colon: `name:` or `name[pid]:`
/// (`[pid]` required when `need_pid`).
fn is_tag(token: &str, need_pid: bool) -> bool {
    let Some(t) = token.strip_suffix(':') else {
        return false;
    };
    let (name, pid) = match t.strip_suffix(']').and_then(|t| t.split_once('[')) {
        Some((name, pid)) => (name, Some(pid)),
        None => (t, None),
    };
    !name.is_empty()
        && name.len() <= 48
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'/' | b'-'))
        && pid.is_none_or(|p| !p.is_empty() && p.len() <= 32)
        && (pid.is_some() || !need_pid)
}

/// `tag[pid]: msg` from `pos` on.
fn tag_and_message<'a>(
    mut p: ParsedEntry<'a>,
    text: &'a str,
    pos: usize,
    pri: Option<u8>,
    want_fields: bool,
    strict: bool,
) -> Option<ParsedEntry<'a>> {
    let b = text.as_bytes();
    let tag_start = pos;
    let mut i = pos;
    while i < b.len()
        && i - tag_start < 48
        && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'_' | b'.' | b'/' | b'-'))
    {
        i += 1;
    }
    let tag_end = i;
    let mut pid = None;
    if tag_end > tag_start && b.get(i) == Some(&b'[') {
        let close = memchr::memchr(b']', &b[i..]).map(|c| i + c);
        if let Some(c) = close.filter(|&c| c - i <= 32) {
            pid = Some(&text[i + 1..c]);
            i = c + 1;
        }
    }
    if tag_end > tag_start && b.get(i) == Some(&b':') && (pid.is_some() || !strict) {
        p.service = Some(Cow::Borrowed(&text[tag_start..tag_end]));
        i += 1;
        if b.get(i) == Some(&b' ') {
            i += 1;
        }
        if let Some(pid) = pid.filter(|_| want_fields) {
            let mut f = Vec::with_capacity(pid.len() + 10);
            f.extend_from_slice(b"{\"pid\":");
            push_json_str(&mut f, pid);
            f.push(b'}');
            p.fields = String::from_utf8(f).ok();
        }
        p.header = &text[..i];
        p.message = Cow::Borrowed(&text[i..]);
        if pri.is_none() {
            p.level = level_at_start(&text[i..]);
        }
        return Some(p);
    }
    // No `tag:`; only trust the host field when a PRI says this is syslog.
    pri?;
    p.header = &text[..tag_start];
    p.message = Cow::Borrowed(&text[tag_start..]);
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::super::{EntryParser, ParseOptions};
    use super::*;

    const T0: i64 = 1_704_207_845_000_000;

    fn parser() -> EntryParser {
        EntryParser::new(ParseOptions {
            now_micros: Some(1_718_452_800_000_000),
            ..ParseOptions::default()
        })
    }

    #[test]
    fn rfc5424_full() {
        let p = parser();
        let text = r#"<165>1 2024-01-02T15:04:05.000Z mymachine.example.com evntslog 1234 ID47 [exampleSDID@32473 iut="3" eventSource="Application"] An application event"#;
        let e = p.parse(text);
        assert_eq!(e.format, Format::Syslog5424);
        assert_eq!(e.ts, Some(T0));
        assert_eq!(e.level, Some(Level::Info)); // 165 % 8 = 5 notice
        assert_eq!(e.host.as_deref(), Some("mymachine.example.com"));
        assert_eq!(e.service.as_deref(), Some("evntslog"));
        assert_eq!(e.message, "An application event");
        assert_eq!(format!("{}{}", e.header, e.message), text);
        let f: serde_json::Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
        assert_eq!(f["exampleSDID@32473.eventSource"], "Application");
        assert_eq!(f["procid"], "1234");
    }

    #[test]
    fn rfc5424_nil_values() {
        let pp = parser();
        let e = pp.parse("<11>1 - - - - - - hello");
        assert_eq!(e.format, Format::Syslog5424);
        assert_eq!(e.ts, None);
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(e.host, None);
        assert_eq!(e.message, "hello");
    }

    #[test]
    fn rfc3164_with_and_without_pri() {
        let p = parser();
        let e = p.parse("<34>Jan  2 15:04:05 mymachine su[231]: 'su root' failed for lonvick");
        assert_eq!(e.format, Format::Syslog3164);
        assert_eq!(e.ts, Some(T0));
        assert_eq!(e.level, Some(Level::Fatal)); // 34 % 8 = 2 crit
        assert_eq!(e.host.as_deref(), Some("mymachine"));
        assert_eq!(e.service.as_deref(), Some("su"));
        assert_eq!(e.message, "'su root' failed for lonvick");
        assert_eq!(e.header, "<34>Jan  2 15:04:05 mymachine su[231]: ");
        assert_eq!(e.fields.as_deref(), Some(r#"{"pid":"231"}"#));

        let e = p.parse("Jan  2 15:04:05 web01 sshd[42]: Accepted publickey");
        assert_eq!(e.format, Format::Syslog3164);
        assert_eq!(e.level, None);
        assert_eq!(e.service.as_deref(), Some("sshd"));
        assert_eq!(e.message, "Accepted publickey");

        let e = p.parse("Jan  2 15:04:05 something happened here");
        assert_eq!(e.format, Format::Plain);
        assert_eq!(e.ts, Some(T0));
        assert_eq!(e.message, "something happened here");
    }

    /// No host: the tag right after the time, as glibc's `syslog()` writes.
    #[test]
    fn rfc3164_without_a_host() {
        let p = parser();
        for (text, pri) in [
            ("<13>Mar  1 10:00:00 app[1]: x", true),
            ("<13>Mar  1 10:00:00 app: x", true),
            ("Mar  1 10:00:00 app[1]: x", false),
        ] {
            let e = p.parse(text);
            assert_eq!(e.format, Format::Syslog3164, "{text}");
            assert_eq!(e.host, None, "{text}");
            assert_eq!(e.service.as_deref(), Some("app"), "{text}");
            assert_eq!(e.message, "x", "{text}");
            assert_eq!(e.level.is_some(), pri, "{text}");
        }
        assert_eq!(
            p.parse("<13>Mar  1 10:00:00 app[1]: x").fields.as_deref(),
            Some(r#"{"pid":"1"}"#)
        );
        // A tag before a JSON or logfmt message is kept, as with a host.
        for text in [
            r#"<13>Mar  1 10:00:00 app[1]: {"a":1}"#,
            "<13>Mar  1 10:00:00 app[1]: k=v a=b",
        ] {
            let e = p.parse(text);
            assert_eq!(
                (e.service.as_deref(), e.host.as_deref()),
                (Some("app"), None),
                "{text}"
            );
            assert_eq!(e.fields.as_deref(), Some(r#"{"pid":"1"}"#), "{text}");
        }
        // An impossible header time before a payload without one is flagged.
        for text in [
            r#"<13>Feb 30 10:00:00 {"a":1}"#,
            "<13>Feb 30 10:00:00 k=v a=b",
        ] {
            let e = p.parse(text);
            assert_eq!(
                (e.ts, e.error),
                (None, Some(EntryError::BadTimestamp)),
                "{text}"
            );
        }
        // Without a PRI, `name:` alone is not taken for a tag.
        assert_eq!(p.parse("Mar  1 10:00:00 main: x").format, Format::Plain);
    }

    /// An impossible date shaped as the header's is flagged, and the rest
    /// of the header is still read.
    #[test]
    fn rfc3164_with_an_impossible_date() {
        let p = parser();
        for text in [
            "Feb 30 10:00:00 web1 sshd[42]: error: x",
            "<11>Feb 30 10:00:00 web1 sshd[42]: error: x",
        ] {
            let e = p.parse(text);
            assert_eq!(e.format, Format::Syslog3164, "{text}");
            assert_eq!(e.error, Some(EntryError::BadTimestamp), "{text}");
            assert_eq!(e.ts, None);
            assert_eq!(e.host.as_deref(), Some("web1"), "{text}");
            assert_eq!(e.service.as_deref(), Some("sshd"), "{text}");
            assert_eq!(e.level, Some(Level::Error), "{text}");
            assert_eq!(e.message, "error: x", "{text}");
        }
    }

    /// Without a PRI the level comes from a level word opening the message;
    /// with one, the PRI wins.
    #[test]
    fn level_word_without_pri() {
        let p = parser();
        let e = p.parse("Mar  1 10:00:00 h app: ERROR syslog file without PRI");
        assert_eq!(e.format, Format::Syslog3164);
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(e.message, "ERROR syslog file without PRI");
        let e = p.parse("Mar  1 10:00:00 h sshd[9]: error: kex_exchange_identification");
        assert_eq!(e.level, Some(Level::Error));
        let e = p.parse("Mar  1 10:00:00 h app: error reading file");
        assert_eq!(e.level, None);
        // <14> is informational.
        let e = p.parse("<14>Mar  1 10:00:00 h app: ERROR in the message");
        assert_eq!(e.level, Some(Level::Info));
    }

    /// Without a PRI, an upper-case level word after the time is the
    /// level of a plain line, not a host; in lower case, or under a PRI, it
    /// is still a host.
    #[test]
    fn level_word_where_the_host_would_be() {
        let p = parser();
        let mar1 = 1_709_287_200_000_000;
        for text in [
            "Mar 1 10:00:00 ERROR main: connection refused",
            "Mar  1 10:00:00 WARN worker-3[12]: queue full",
        ] {
            let e = p.parse(text);
            assert_eq!(e.format, Format::Plain, "{text}");
            assert_eq!(e.ts, Some(mar1), "{text}");
            assert_eq!(e.host, None, "{text}");
            assert_eq!(e.service, None, "{text}");
            assert!(e.level.is_some(), "{text}");
        }
        let e = p.parse("Mar 1 10:00:00 ERROR main: connection refused");
        assert_eq!(e.level, Some(Level::Error));
        let e = p.parse("Mar 1 10:00:00 alert app: paged");
        assert_eq!(e.format, Format::Syslog3164);
        assert_eq!(e.host.as_deref(), Some("alert"));
        let e = p.parse("<11>Mar 1 10:00:00 ERROR app: x");
        assert_eq!(e.host.as_deref(), Some("ERROR"));
        assert_eq!(e.level, Some(Level::Error));
    }

    /// `Mmm d` with one space and one digit, with and without PRI.
    #[test]
    fn single_digit_day() {
        let p = parser();
        let mar1 = 1_709_287_200_000_000;
        for text in [
            "Mar 1 10:00:00 host app: single space single digit day",
            "<13>Mar 1 10:00:00 host app: single space single digit day",
        ] {
            let e = p.parse(text);
            assert_eq!(e.format, Format::Syslog3164, "{text}");
            assert_eq!(e.ts, Some(mar1), "{text}");
            assert_eq!(e.host.as_deref(), Some("host"));
            assert_eq!(e.service.as_deref(), Some("app"));
            assert_eq!(e.message, "single space single digit day");
        }
    }

    /// rsyslog's high-precision layout: RFC 3339 time, host, `tag[pid]:`.
    #[test]
    fn rfc3339_time_host_and_tag() {
        let p = parser();
        let text = "2024-03-01T10:00:00.123456+01:00 myhost sshd[123]: rsyslog high precision";
        let e = p.parse(text);
        assert_eq!(e.format, Format::Syslog3164);
        assert_eq!(e.ts, Some(1_709_287_200_000_000 - 3_600_000_000 + 123_456));
        assert_eq!(e.host.as_deref(), Some("myhost"));
        assert_eq!(e.service.as_deref(), Some("sshd"));
        assert_eq!(e.fields.as_deref(), Some(r#"{"pid":"123"}"#));
        assert_eq!(
            e.header,
            "2024-03-01T10:00:00.123456+01:00 myhost sshd[123]: "
        );
        assert_eq!(e.message, "rsyslog high precision");
        let e = p.parse("2024-03-01T10:00:00Z web-1.example.com cron[7]: WARN late");
        assert_eq!(e.host.as_deref(), Some("web-1.example.com"));
        assert_eq!(e.level, Some(Level::Warn));
        // Plain lines of the same start stay plain.
        for text in [
            "2024-03-01T10:00:00Z INFO main[1]: started",
            "2024-03-01T10:00:00Z Server started: listening on 8080",
            "2024-03-01T10:00:00Z [main] app[1]: x",
            "2024-03-01T10:00:00 myhost sshd[123]: no zone",
            "2024-03-01 10:00:00Z myhost sshd[123]: no T",
        ] {
            let e = p.parse(text);
            assert_eq!(e.format, Format::Plain, "{text}");
            assert_eq!(e.host, None, "{text}");
        }
    }
}
