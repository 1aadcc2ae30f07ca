//! `key=value` entries.

use std::borrow::Cow;

use super::{
    Candidates, EntryError, EntryParser, Format, KeyRole, LabelKeys, ParsedEntry, ROLES,
    ROLES_IN_ORDER, key_role, push_json_str, shape_of,
};
use crate::level::Level;
use crate::timestamp::TimestampDetector;

/// An entry's `key=value` pairs, in order, values unquoted.
type Pairs<'a> = Vec<(&'a str, Cow<'a, str>)>;

/// Splits logfmt pairs; `None` unless every token is a pair and there are at
/// least two.
pub(crate) fn pairs(text: &str) -> Option<Pairs<'_>> {
    let b = text.as_bytes();
    // Sized for a typical line, so pushing rarely reallocates.
    let mut out = Vec::with_capacity(16);
    let mut i = 0;
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && is_key_byte(b[i]) {
            i += 1;
        }
        if i == key_start || b.get(i) != Some(&b'=') {
            return None;
        }
        let key = &text[key_start..i];
        i += 1;
        let value = if b.get(i) == Some(&b'"') {
            i += 1;
            let start = i;
            let has_escape;
            (i, has_escape) = quoted_end(b, i)?;
            let raw = &text[start..i];
            i += 1;
            if i < b.len() && !b[i].is_ascii_whitespace() {
                return None;
            }
            if has_escape {
                Cow::Owned(unescape(raw))
            } else {
                Cow::Borrowed(raw)
            }
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() {
                if b[i] == b'"' {
                    return None;
                }
                i += 1;
            }
            Cow::Borrowed(&text[start..i])
        };
        out.push((key, value));
    }
    (out.len() >= 2).then_some(out)
}

/// Where the quoted value starting at `i` (after its opening quote) ends:
/// the closing quote's position, and whether a backslash escape came before
/// it. `None` when no quote closes it. Jumps from one quote or backslash to
/// the next; an escape skips the byte after it.
fn quoted_end(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
    let mut has_escape = false;
    loop {
        i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
        if b[i] == b'"' {
            return Some((i, has_escape));
        }
        has_escape = true;
        i += 2;
    }
}

/// Keeps the last pair of each key, as a JSON object keeps the last value
/// of a repeated key. A 256-bit filter over (length, first and last byte)
/// finds the candidates in one pass; only a key it has seen before is
/// compared with the keys before it.
fn drop_repeated_keys(pairs: &mut Vec<(&str, Cow<'_, str>)>) {
    let mut seen = [0u64; 4];
    let mut repeated = false;
    for (i, (k, _)) in pairs.iter().enumerate() {
        let b = k.as_bytes();
        let h = (b.len() as u32)
            .wrapping_mul(0x9E37_79B1)
            .wrapping_add(u32::from(b[0]).wrapping_mul(0x85EB_CA77))
            .wrapping_add(u32::from(b[b.len() - 1]).wrapping_mul(0xC2B2_AE3D));
        let (word, bit) = ((h >> 30) as usize, 1u64 << ((h >> 24) & 63));
        if seen[word] & bit != 0 && pairs[..i].iter().any(|(o, _)| o == k) {
            repeated = true;
            break;
        }
        seen[word] |= bit;
    }
    if !repeated {
        return;
    }
    let keys: Vec<&str> = pairs.iter().map(|(k, _)| *k).collect();
    let mut i = 0;
    pairs.retain(|_| {
        i += 1;
        !keys[i..].contains(&keys[i - 1])
    });
}

fn is_key_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-' | b'/' | b'@' | b':')
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// The pairs of `text`; failing that, of its first line, with the rest
/// (from the first line's terminator, `\r\n` or `\n`) as the body that
/// follows the message: a stack trace or goroutine dump after a logfmt line.
fn pairs_and_body(text: &str) -> Option<(Pairs<'_>, &str)> {
    if let Some(p) = pairs(text) {
        return Some((p, ""));
    }
    let nl = memchr::memchr(b'\n', text.as_bytes())?;
    let first = &text[..nl];
    let first = first.strip_suffix('\r').unwrap_or(first);
    Some((pairs(first)?, &text[first.len()..]))
}

/// `None` when the text is not logfmt. Times without a year take it from
/// `det`'s clock.
pub(super) fn parse<'a>(
    text: &'a str,
    parser: &EntryParser,
    det: &TimestampDetector,
) -> Option<ParsedEntry<'a>> {
    let (mut pairs, body) = pairs_and_body(text)?;
    drop_repeated_keys(&mut pairs);
    let opts = parser.options();
    let time_keys = &opts.time_keys;
    let role_of = |i: usize| key_role(pairs[i].0, time_keys);
    let mut candidates = Candidates::default();
    let mut labels = LabelKeys::default();
    for i in 0..pairs.len() {
        let role = role_of(i);
        labels.note(i, role.is_some());
        candidates.note(i, role);
    }
    let mut p = ParsedEntry::plain(text);
    p.format = Format::Logfmt;
    let mut promoted = [usize::MAX; ROLES];
    let mut impossible_time = false;
    for role in ROLES_IN_ORDER {
        if opts.overrides(role) {
            continue;
        }
        let fits = |i: usize| {
            let v = &pairs[i].1;
            match role {
                KeyRole::Time => p.take_time(det.classify_value(v), &mut impossible_time),
                KeyRole::Level => {
                    p.level = Level::from_value_str(v);
                    p.level.is_some()
                }
                // Any value is a message, the empty one too.
                KeyRole::Message => {
                    p.message = if body.is_empty() {
                        v.clone()
                    } else {
                        Cow::Owned([v, body].concat())
                    };
                    true
                }
                _ => p.take_text(role, (!v.is_empty()).then(|| v.clone())),
            }
        };
        if let Some(i) = candidates.pick(role, pairs.len(), opts.first_key_only, role_of, fits) {
            promoted[role.index()] = i;
            p.fell_back |= !candidates.is_best(role, i);
        }
    }
    if p.ts.is_none() {
        // A date and a time of day given apart (FortiGate's).
        let value = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| &**v)
        };
        if let (Some(date), Some(time)) = (value("date"), value("time")) {
            let t = det.date_and_time(date, time, value("tz"));
            p.take_time(t, &mut impossible_time);
        }
    }
    if p.ts.is_none() && impossible_time {
        p.error = Some(EntryError::BadTimestamp);
    }
    let has_message = promoted[KeyRole::Message.index()] != usize::MAX;
    let want_fields = !opts.skip_fields || p.fell_back;
    // Empty (no allocation) when not wanted.
    let mut fields = if want_fields {
        // JSON adds quotes around each key and value: four bytes a pair.
        Vec::with_capacity(text.len() + 4 * pairs.len() + 8)
    } else {
        Vec::new()
    };
    let mut shape_keys = Vec::with_capacity(pairs.len());
    if want_fields {
        fields.push(b'{');
    }
    for (i, (k, v)) in pairs.iter().enumerate() {
        if promoted.contains(&i) {
            continue;
        }
        if want_fields {
            if fields.len() > 1 {
                fields.push(b',');
            }
            push_json_str(&mut fields, k);
            fields.push(b':');
            push_json_str(&mut fields, v);
        }
        if !labels.is_label(i, k, opts) {
            shape_keys.push(*k);
        }
    }
    if want_fields {
        fields.push(b'}');
        if fields.len() > 2 {
            p.fields = String::from_utf8(fields).ok();
        }
    }
    // Without a message key the whole line is the message, so Drain sees the
    // keys already and no shape is added.
    if has_message {
        p.shape = shape_of(&mut shape_keys);
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::super::{EntryParser, ParseOptions, test_parsers};
    use super::*;

    fn parser() -> EntryParser {
        EntryParser::new(ParseOptions {
            now_micros: Some(1_718_452_800_000_000),
            ..ParseOptions::default()
        })
    }

    #[test]
    fn splits_pairs() {
        let p = pairs(r#"a=1 b="two words" c= d="esc \"q\"""#).unwrap();
        assert_eq!(p.len(), 4);
        assert_eq!(p[1].1, "two words");
        assert_eq!(p[2].1, "");
        assert_eq!(p[3].1, r#"esc "q""#);
        assert!(pairs("just a=1").is_none());
        assert!(pairs("a=1").is_none());
        assert!(pairs(r#"a="unterminated b=2"#).is_none());
        assert!(pairs(r#"a=1 b="ends in \"#).is_none());
        assert!(pairs(r#"a=1 b="x\"#).is_none());
    }

    /// The quoted value's end, found a byte at a time (the oracle for
    /// `pairs`' jump to the next quote or backslash).
    fn quoted_end_bytewise(b: &[u8], mut i: usize) -> Option<(usize, bool)> {
        let (mut escaped, mut has_escape) = (false, false);
        loop {
            let c = *b.get(i)?;
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
                has_escape = true;
            } else if c == b'"' {
                return Some((i, has_escape));
            }
            i += 1;
        }
    }

    #[test]
    fn quoted_end_matches_a_byte_loop() {
        let mut rng = logoscope_testkit::XorShift::new(0x51ed_2701_a3c4_9b85);
        let alphabet = ["a", " ", "\\", "\"", "é", "=", "\\\\", "\\\""];
        for _ in 0..20_000 {
            let len = rng.index(12);
            let body: String = (0..len)
                .map(|_| alphabet[rng.index(alphabet.len())])
                .collect();
            let b = body.as_bytes();
            for start in 0..=b.len() {
                assert_eq!(
                    quoted_end(b, start),
                    quoted_end_bytewise(b, start),
                    "{body:?} from {start}"
                );
            }
        }
    }

    #[test]
    fn logfmt_with_message() {
        let p = parser();
        let e = p.parse(
            r#"ts=2024-01-02T15:04:05Z level=error msg="db timeout" service=api trace_id=t1 span_id=s1 duration=5s"#,
        );
        assert_eq!(e.format, Format::Logfmt);
        assert_eq!(e.ts, Some(1_704_207_845_000_000));
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(e.message, "db timeout");
        assert_eq!(e.service.as_deref(), Some("api"));
        assert_eq!(e.trace_id.as_deref(), Some("t1"));
        assert_eq!(e.span_id.as_deref(), Some("s1"));
        assert_eq!(e.fields.as_deref(), Some(r#"{"duration":"5s"}"#));
        assert_eq!(e.shape.as_deref(), Some("{duration}"));
    }

    #[test]
    fn label_keys_leave_the_shape() {
        let mut text = String::from("msg=m host=h");
        for i in 0..70 {
            text.push_str(&format!(" k{i:02}={i}"));
        }
        // `host` again, past the 64 remembered keys: the last value wins.
        text.push_str(" service=s kubernetes.pod=p host=h2 zone=z");
        let p = parser();
        let e = p.parse(&text);
        assert_eq!(e.format, Format::Logfmt);
        assert_eq!(e.host.as_deref(), Some("h2"));
        let shape = e.shape.as_deref().unwrap();
        assert!(shape.starts_with("{k00,k01,"), "{shape}");
        assert!(shape.ends_with(",k69,zone}"), "{shape}");
        for label in ["host", "kubernetes", "msg", "service"] {
            assert!(!shape.contains(label), "{label} in {shape}");
        }
    }

    /// A repeated key keeps its last value, in logfmt as in JSON: promoted
    /// or not, in `fields` once.
    #[test]
    fn repeated_keys_keep_the_last_value() {
        let p = parser();
        let logfmt = p.parse("level=info msg=first a=1 level=error msg=second a=2 b=3 a=4");
        let json = p.parse(
            r#"{"level":"info","msg":"first","a":1,"level":"error","msg":"second","a":2,"b":3,"a":4}"#,
        );
        for e in [&logfmt, &json] {
            assert_eq!(e.level, Some(Level::Error));
            assert_eq!(e.message, "second");
            assert_eq!(e.shape.as_deref(), Some("{a,b}"));
        }
        assert_eq!(logfmt.fields.as_deref(), Some(r#"{"b":"3","a":"4"}"#));
        assert_eq!(json.fields.as_deref(), Some(r#"{"a":4,"b":3}"#));
        // Keys that only share a length and first byte are all kept.
        let e = p.parse("msg=m ab=1 ac=2 ad=3");
        assert_eq!(e.fields.as_deref(), Some(r#"{"ab":"1","ac":"2","ad":"3"}"#));
    }

    /// A logfmt line followed by lines that are not pairs (a stack trace, a
    /// goroutine dump, indented text) is read as the single line would be,
    /// and the lines after it are the message's body, terminators as written.
    #[test]
    fn continuation_lines_are_the_message_body() {
        let p = parser();
        let text = "ts=2024-03-01T10:00:00Z level=error msg=\"request failed\"\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)";
        let e = p.parse(text);
        assert_eq!(e.format, Format::Logfmt);
        assert_eq!(e.ts, Some(1_709_287_200_000_000));
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(
            e.message,
            "request failed\njava.lang.IllegalStateException: boom\n\tat a.B.c(B.java:1)"
        );
        assert_eq!(
            (e.fields, e.shape, e.error, e.raw),
            (None, None, None, text)
        );
        // Fields as on the single line; the shape ends the first line.
        let single = p.parse("ts=2024-03-01T10:00:00Z level=warn msg=stuck user=bob n=3");
        for (body, sep) in [
            (
                "goroutine 1 [running]:\nmain.main()\n\t/app/main.go:12 +0x1d",
                "\n",
            ),
            ("  indented detail\n  more", "\r\n"),
        ] {
            let text =
                format!("ts=2024-03-01T10:00:00Z level=warn msg=stuck user=bob n=3{sep}{body}");
            let e = p.parse(&text);
            assert_eq!(e.format, Format::Logfmt, "{text:?}");
            assert_eq!(
                (e.ts, e.level, &e.fields, &e.shape),
                (single.ts, single.level, &single.fields, &single.shape)
            );
            let sep = sep.strip_prefix('\r').map_or(sep, |_| "\r\n");
            assert_eq!(e.message, format!("stuck{sep}{body}"));
            let mut buf = String::new();
            let first = e.drain_input(&mut buf).split('\n').next().unwrap();
            assert!(
                first.starts_with("stuck") && first.ends_with(" {n,user}"),
                "{first:?}"
            );
        }
        // Without a message key the whole entry is the message.
        let e = p.parse("method=GET status=500\n\tat x.Y.z(Y.java:3)");
        assert_eq!(e.format, Format::Logfmt);
        assert_eq!(e.message, "method=GET status=500\n\tat x.Y.z(Y.java:3)");
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"method":"GET","status":"500"}"#)
        );
        // Continuation lines of pairs are still pairs.
        let e = p.parse("msg=m a=1\n  b=2");
        assert_eq!(e.message, "m");
        assert_eq!(e.fields.as_deref(), Some(r#"{"a":"1","b":"2"}"#));
        // A first line that would not be logfmt alone is not logfmt.
        for text in [
            "msg=boom\n\tat a.B.c(B.java:1)",
            "a=1 b\n c d",
            "a=\"open b=2\n  c\"x",
        ] {
            assert_eq!(p.parse(text).format, Format::Plain, "{text:?}");
        }
    }

    /// Keys passed over for a value that does not fit stay fields; only an
    /// impossible time is flagged, and only when no key gives a time.
    #[test]
    fn promoted_keys_fall_back_to_the_next_that_fits() {
        let p = parser();
        let e = p
            .parse("t=abc date=Monday time=2024-01-02T15:04:05Z level=banana severity=error msg=x");
        assert_eq!((e.ts, e.error), (Some(1_704_207_845_000_000), None));
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"t":"abc","date":"Monday","level":"banana"}"#)
        );
        let e = p.parse("t=abc msg=x");
        assert_eq!((e.ts, e.error), (None, None));
        let e = p.parse("ts=2025-02-30T10:00:00Z t=abc msg=x");
        assert_eq!((e.ts, e.error), (None, Some(EntryError::BadTimestamp)));
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"ts":"2025-02-30T10:00:00Z","t":"abc"}"#)
        );
        let e = p.parse("service= app=api msg=x");
        assert_eq!(e.service.as_deref(), Some("api"));
        assert_eq!(e.fields.as_deref(), Some(r#"{"service":""}"#));
    }

    /// As in JSON: a column from a later key is marked and its fields are
    /// built even when skipped; `first_key_only` keeps the keys as fields.
    #[test]
    fn fallbacks_are_marked_and_first_key_only_keeps_the_keys() {
        let skip = EntryParser::new(ParseOptions {
            skip_fields: true,
            ..ParseOptions::default()
        });
        let first = EntryParser::new(ParseOptions {
            first_key_only: true,
            ..ParseOptions::default()
        });
        let text = "ts=soon time=2024-01-02T15:04:05Z level=banana severity=warn msg=c";
        let full = parser();
        let e = full.parse(text);
        assert_eq!(
            (e.ts, e.level),
            (Some(1_704_207_845_000_000), Some(Level::Warn))
        );
        assert!(e.fell_back);
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"ts":"soon","level":"banana"}"#)
        );
        assert_eq!(skip.parse(text).fields, e.fields);
        let f = first.parse(text);
        assert_eq!((f.ts, f.level, f.fell_back), (None, None, false));
        assert_eq!(
            f.fields.as_deref(),
            Some(
                r#"{"ts":"soon","time":"2024-01-02T15:04:05Z","level":"banana","severity":"warn"}"#
            )
        );
        let text = "ts=2024-01-02T15:04:05Z level=warn msg=ok n=1";
        assert!(!full.parse(text).fell_back);
        assert_eq!(skip.parse(text).fields, None);
    }

    /// FortiGate writes the date and the time of day apart: a date alone is
    /// no event time, but with the time of day it is one; both keys are kept.
    #[test]
    fn a_date_alone_is_no_time() {
        let pp = parser();
        let e = pp.parse("date=2024-03-01 level=info msg=x");
        assert_eq!((e.ts, e.error, e.level), (None, None, Some(Level::Info)));
        assert_eq!(e.fields.as_deref(), Some(r#"{"date":"2024-03-01"}"#));
        let e = pp.parse("date=2024-03-01 time=10:00:00 level=info msg=x");
        let ts = Some(1_709_287_200_000_000);
        assert_eq!((e.ts, e.error, e.level), (ts, None, Some(Level::Info)));
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"date":"2024-03-01","time":"10:00:00"}"#)
        );
    }

    /// With `--service`/`--host` the entry's own keys stay fields.
    #[test]
    fn overridden_service_and_host_keys_stay_fields() {
        let pp = test_parsers::overriding();
        let e = pp.parse("service= app=api host=h1 msg=m");
        assert_eq!(
            (e.service.as_deref(), e.host.as_deref()),
            (Some("svc"), Some("box"))
        );
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"service":"","app":"api","host":"h1"}"#)
        );
    }

    #[test]
    fn logfmt_without_message_keeps_line() {
        let pp = parser();
        let e = pp.parse("method=GET path=/x status=200");
        assert_eq!(e.format, Format::Logfmt);
        assert_eq!(e.message, "method=GET path=/x status=200");
        assert_eq!(e.shape, None);
        assert!(e.fields.is_some());
    }
}
