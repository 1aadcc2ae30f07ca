//! Apache/nginx common and combined log format.

use std::borrow::Cow;

use super::{EntryError, Format, ParsedEntry, push_json_str};
use crate::level::Level;
use crate::timestamp::{TimestampDetector, TsScan};

/// `client ident user [ts] "request" status bytes ["referer" "agent"] …`.
/// The header is everything up to the request; the level comes from the
/// status: 5xx ERROR, 4xx WARN, else INFO. `fields` is built only when
/// `want_fields` (see [`super::ParseOptions::skip_fields`]).
pub(super) fn parse<'a>(
    text: &'a str,
    det: &TimestampDetector,
    want_fields: bool,
) -> Option<ParsedEntry<'a>> {
    let b = text.as_bytes();
    let mut pos = 0;
    let mut tok = || -> Option<&'a str> {
        let end = pos + memchr::memchr(b' ', b.get(pos..)?)?;
        let t = &text[pos..end];
        pos = end + 1;
        (!t.is_empty()).then_some(t)
    };
    let client = tok()?;
    let ident = tok()?;
    let user = tok()?;
    if b.get(pos) != Some(&b'[') {
        return None;
    }
    // An impossible time (`31/Feb/2024`, an offset past ±23:59) shaped as
    // the log's is flagged; the request, status and level are still read.
    let (ts, len) = match det.scan_prefix(&text[pos + 1..]) {
        TsScan::Found { micros, len } => (Some(micros), len),
        TsScan::Bad { len } => (None, len),
        TsScan::None => return None,
    };
    pos += 1 + len;
    if !b[pos..].starts_with(b"] \"") {
        return None;
    }
    pos += 2;
    let header_end = pos;
    let (request, after) = quoted(text, pos)?;
    pos = after;
    if b.get(pos) != Some(&b' ') {
        return None;
    }
    pos += 1;
    let status_str = text.get(pos..pos + 3)?;
    let status: u16 = status_str.parse().ok()?;
    pos += 3;
    let mut bytes_val = None;
    if b.get(pos) == Some(&b' ') {
        let start = pos + 1;
        let end = b[start..]
            .iter()
            .position(|&c| c == b' ')
            .map_or(b.len(), |i| start + i);
        let t = &text[start..end];
        if t != "-" {
            bytes_val = Some(t.parse::<u64>().ok()?);
        }
        pos = end;
    } else if pos != b.len() {
        return None;
    }
    let mut referer = None;
    let mut agent = None;
    if b[pos..].starts_with(b" \"")
        && let Some((r, after)) = quoted(text, pos + 1)
    {
        referer = Some(r);
        if b[after..].starts_with(b" \"")
            && let Some((a, _)) = quoted(text, after + 1)
        {
            agent = Some(a);
        }
    }

    let mut p = ParsedEntry::plain(text);
    p.format = Format::Clf;
    p.ts = ts;
    if ts.is_none() {
        p.error = Some(EntryError::BadTimestamp);
    }
    p.level = Some(match status {
        500.. => Level::Error,
        400..=499 => Level::Warn,
        _ => Level::Info,
    });
    p.header = &text[..header_end];
    p.message = Cow::Borrowed(&text[header_end..]);
    if !want_fields {
        return Some(p);
    }

    let mut f = Vec::with_capacity(text.len() + 64);
    f.push(b'{');
    let mut add = |k: &str, v: &str, quoted: bool| {
        if f.len() > 1 {
            f.push(b',');
        }
        push_json_str(&mut f, k);
        f.push(b':');
        if quoted {
            push_json_str(&mut f, v);
        } else {
            f.extend_from_slice(v.as_bytes());
        }
    };
    add("client", client, true);
    if ident != "-" {
        add("ident", ident, true);
    }
    if user != "-" {
        add("user", user, true);
    }
    let mut parts = request.splitn(3, ' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(m), Some(path), proto) => {
            add("method", m, true);
            add("path", path, true);
            if let Some(proto) = proto {
                add("protocol", proto, true);
            }
        }
        _ => add("request", request, true),
    }
    add("status", status_str, false);
    if let Some(n) = bytes_val {
        add("bytes", &n.to_string(), false);
    }
    if let Some(r) = referer.filter(|r| *r != "-") {
        add("referer", r, true);
    }
    if let Some(a) = agent.filter(|a| *a != "-") {
        add("user_agent", a, true);
    }
    f.push(b'}');
    p.fields = String::from_utf8(f).ok();
    Some(p)
}

/// A `"…"` string starting at `start` (backslash escapes skipped, not
/// decoded): (contents, index after the closing quote).
fn quoted(text: &str, start: usize) -> Option<(&str, usize)> {
    let b = text.as_bytes();
    if b.get(start) != Some(&b'"') {
        return None;
    }
    let mut i = start + 1;
    while i < b.len() {
        let j = i + memchr::memchr2(b'"', b'\\', &b[i..])?;
        if b[j] == b'"' {
            return Some((&text[start + 1..j], j + 1));
        }
        // A backslash escapes the byte after it.
        i = j + 2;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::{EntryParser, ParseOptions};
    use super::*;

    /// An impossible time is flagged; the request, status and level stay.
    #[test]
    fn an_impossible_time_is_flagged_and_the_rest_read() {
        let p = EntryParser::new(ParseOptions::default());
        for text in [
            r#"10.0.0.1 - - [31/Feb/2024:10:00:01 +0000] "GET /a HTTP/1.1" 503 12"#,
            r#"10.0.0.1 - - [01/Mar/2024:10:00:01 +2500] "GET /a HTTP/1.1" 503 12"#,
        ] {
            let e = p.parse(text);
            assert_eq!(e.format, Format::Clf, "{text}");
            assert_eq!(
                (e.ts, e.error),
                (None, Some(EntryError::BadTimestamp)),
                "{text}"
            );
            assert_eq!(e.level, Some(Level::Error), "{text}");
            assert_eq!(e.message, r#""GET /a HTTP/1.1" 503 12"#);
            let f: serde_json::Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
            assert_eq!(
                (f["method"].as_str(), f["status"].as_u64()),
                (Some("GET"), Some(503))
            );
        }
    }

    #[test]
    fn common_and_combined() {
        let p = EntryParser::new(ParseOptions::default());
        let text = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
        let e = p.parse(text);
        assert_eq!(e.format, Format::Clf);
        assert_eq!(e.ts, Some(971_211_336_000_000));
        assert_eq!(e.level, Some(Level::Info));
        assert_eq!(e.header, "127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] ");
        assert_eq!(e.message, r#""GET /apache_pb.gif HTTP/1.0" 200 2326"#);
        let f: serde_json::Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
        assert_eq!(f["status"], 200);
        assert_eq!(f["bytes"], 2326);
        assert_eq!(f["user"], "frank");
        assert_eq!(f["path"], "/apache_pb.gif");

        let text = r#"10.0.0.2 - - [10/Oct/2000:13:55:36 +0000] "POST /api HTTP/1.1" 503 - "http://ref/" "curl/8.0""#;
        let e = p.parse(text);
        assert_eq!(e.format, Format::Clf);
        assert_eq!(e.level, Some(Level::Error));
        let f: serde_json::Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
        assert_eq!(f["user_agent"], "curl/8.0");
        assert_eq!(f["referer"], "http://ref/");
        assert!(f.get("bytes").is_none());
    }
}
