//! JSON object entries.
//!
//! The object is scanned once by [`super::jsonflat`] (validation and
//! flattening without building a value tree); promoted values are decoded
//! from their text, and `fields` is written from the leaves' exact text.

use std::borrow::Cow;
use std::cell::RefCell;

use super::jsonflat::{Flat, Leaf, LeafKind, scan_object};
use super::{
    Candidates, EntryError, EntryParser, Format, KeyRole, LabelKeys, ParsedEntry, ROLES,
    ROLES_IN_ORDER, key_role, push_json_str, shape_of,
};
use crate::level::Level;
use crate::timestamp::{
    TimeValue, TimestampDetector, epoch_from_float, epoch_from_int, epoch_out_of_range,
};

thread_local! {
    /// Scratch leaves, reused by every entry parsed on this thread.
    static FLAT: RefCell<Flat> = RefCell::new(Flat::default());
}

/// `None` when the text is not one JSON object. Times without a year take
/// it from `det`'s clock.
pub(super) fn parse<'a>(
    text: &'a str,
    parser: &EntryParser,
    det: &TimestampDetector,
) -> Option<ParsedEntry<'a>> {
    FLAT.with(|flat| {
        let mut flat = flat.borrow_mut();
        if !scan_object(text, &mut flat) {
            return None;
        }
        flat.sort_dedup(text);
        Some(build(text, parser, det, &flat))
    })
}

fn build<'a>(
    text: &'a str,
    parser: &EntryParser,
    det: &TimestampDetector,
    flat: &Flat,
) -> ParsedEntry<'a> {
    let opts = parser.options();
    let time_keys = &opts.time_keys;
    // A null is no value: it is not promoted and no fallback considers it.
    let role_of = |i: usize| {
        let leaf = &flat.leaves[i];
        (leaf.kind != LeafKind::Null)
            .then(|| key_role(flat.key(leaf), time_keys))
            .flatten()
    };
    let mut candidates = Candidates::default();
    let mut labels = LabelKeys::default();
    for (i, leaf) in flat.leaves.iter().enumerate() {
        if leaf.kind == LeafKind::Null {
            continue;
        }
        let role = key_role(flat.key(leaf), time_keys);
        labels.note(i, role.is_some());
        candidates.note(i, role);
    }

    let mut p = ParsedEntry::plain(text);
    p.format = Format::Json;
    p.message = Cow::Borrowed("");
    let mut promoted = [usize::MAX; ROLES];
    let mut impossible_time = false;
    for role in ROLES_IN_ORDER {
        if opts.overrides(role) {
            continue;
        }
        let fits = |i: usize| {
            let leaf = &flat.leaves[i];
            match role {
                KeyRole::Time => p.take_time(time_value(text, leaf, det), &mut impossible_time),
                KeyRole::Level => {
                    p.level = match leaf.kind {
                        LeafKind::String { .. } => {
                            string(text, leaf).and_then(|s| Level::from_value_str(&s))
                        }
                        LeafKind::Number => text[leaf.value.clone()]
                            .parse::<f64>()
                            .ok()
                            .and_then(Level::from_number),
                        _ => None,
                    };
                    p.level.is_some()
                }
                KeyRole::Message => match string(text, leaf) {
                    Some(s) => {
                        // Docker's `log` values end with the line's newline.
                        p.message = match s {
                            Cow::Borrowed(b) => Cow::Borrowed(b.trim_end_matches(['\n', '\r'])),
                            Cow::Owned(o) => {
                                Cow::Owned(o.trim_end_matches(['\n', '\r']).to_owned())
                            }
                        };
                        true
                    }
                    None => false,
                },
                _ => p.take_text(role, scalar_text(text, leaf)),
            }
        };
        let keys = flat.leaves.len();
        if let Some(i) = candidates.pick(role, keys, opts.first_key_only, role_of, fits) {
            promoted[role.index()] = i;
            p.fell_back |= !candidates.is_best(role, i);
        }
    }
    if p.ts.is_none() {
        // A date and a time of day given apart (FortiGate's).
        let value = |k: &str| {
            flat.leaves
                .iter()
                .rev()
                .find(|l| matches!(l.kind, LeafKind::String { .. }) && flat.key(l) == k)
                .and_then(|l| string(text, l))
        };
        if let (Some(date), Some(time)) = (value("date"), value("time")) {
            let t = det.date_and_time(&date, &time, value("tz").as_deref());
            p.take_time(t, &mut impossible_time);
        }
    }
    if p.ts.is_none() && impossible_time {
        p.error = Some(EntryError::BadTimestamp);
    }

    let want_fields = !opts.skip_fields || p.fell_back;
    // Empty (no allocation) when not wanted.
    let mut fields = if want_fields {
        Vec::with_capacity(text.len())
    } else {
        Vec::new()
    };
    let mut shape_keys: Vec<&str> = Vec::with_capacity(flat.leaves.len());
    if want_fields {
        fields.push(b'{');
    }
    for (i, leaf) in flat.leaves.iter().enumerate() {
        if promoted.contains(&i) {
            continue;
        }
        let k = flat.key(leaf);
        if want_fields {
            if fields.len() > 1 {
                fields.push(b',');
            }
            push_json_str(&mut fields, k);
            fields.push(b':');
            // The value exactly as written: valid JSON, already checked.
            fields.extend_from_slice(text[leaf.value.clone()].as_bytes());
        }
        if !labels.is_label(i, k, opts) {
            shape_keys.push(k);
        }
    }
    if want_fields {
        fields.push(b'}');
        if fields.len() > 2 {
            // Keys are escaped by serde_json and values are slices of a `str`.
            p.fields = String::from_utf8(fields).ok();
        }
    }
    p.shape = shape_of(&mut shape_keys);
    p
}

/// A time leaf's value: a string as [`TimestampDetector::classify_value`]
/// reads it, a number as an epoch (unit by magnitude).
fn time_value(text: &str, leaf: &Leaf, det: &TimestampDetector) -> TimeValue {
    match leaf.kind {
        LeafKind::String { .. } => {
            string(text, leaf).map_or(TimeValue::NotTime, |s| det.classify_value(&s))
        }
        LeafKind::Number => {
            let raw = &text[leaf.value.clone()];
            let t = raw
                .parse::<i64>()
                .ok()
                .and_then(epoch_from_int)
                .or_else(|| raw.parse::<f64>().ok().and_then(epoch_from_float));
            match t {
                Some(t) => TimeValue::Time(t),
                None if epoch_out_of_range(raw) => TimeValue::Impossible,
                None => TimeValue::NotTime,
            }
        }
        _ => TimeValue::NotTime,
    }
}

/// The text of a string leaf, borrowed unless it holds escapes.
fn string<'a>(text: &'a str, leaf: &Leaf) -> Option<Cow<'a, str>> {
    let LeafKind::String { escaped } = leaf.kind else {
        return None;
    };
    let raw = &text[leaf.value.clone()];
    if escaped {
        serde_json::from_str::<String>(raw).ok().map(Cow::Owned)
    } else {
        Some(Cow::Borrowed(&raw[1..raw.len() - 1]))
    }
}

/// A scalar as a label: a non-empty string, a number as written, or a bool.
fn scalar_text<'a>(text: &'a str, leaf: &Leaf) -> Option<Cow<'a, str>> {
    match leaf.kind {
        LeafKind::String { .. } => string(text, leaf).filter(|s| !s.is_empty()),
        LeafKind::Number | LeafKind::Bool => Some(Cow::Borrowed(&text[leaf.value.clone()])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{EntryParser, ParseOptions, test_parsers};
    use super::*;
    use serde_json::Value;

    fn parser(time_keys: &[&str]) -> EntryParser {
        EntryParser::new(ParseOptions {
            time_keys: time_keys.iter().map(|s| s.to_string()).collect(),
            now_micros: Some(1_718_452_800_000_000),
            ..ParseOptions::default()
        })
    }

    #[test]
    fn drop_keys_leave_the_shape_but_stay_in_fields() {
        let p = EntryParser::new(ParseOptions {
            drop_keys: vec!["user".into(), "req".into()],
            ..ParseOptions::default()
        });
        let e = p.parse(r#"{"msg":"hi","user":{"id":1},"request":2,"req":3,"usr":4}"#);
        // `user` covers `user.id`; `req` covers neither `request` nor `usr`.
        assert_eq!(e.shape.as_deref(), Some("{request,usr}"));
        let fields: Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
        assert_eq!(
            fields,
            serde_json::json!({"user.id":1,"request":2,"req":3,"usr":4})
        );
    }

    #[test]
    fn label_keys_leave_the_shape_past_the_remembered_64() {
        let p = parser(&[]);
        // Keys sort by name: `k00`..`k69` come before `level`, `service`,
        // `zone`; `host` sorts among the first. A null `service` is never
        // asked for its role in the promotion pass.
        let mut text = String::from(r#"{"msg":"m","host":null"#);
        for i in 0..70 {
            text.push_str(&format!(r#","k{i:02}":{i}"#));
        }
        text.push_str(r#","level":null,"service":null,"service.version":"1","zone":"z"}"#);
        let e = p.parse(&text);
        let shape = e.shape.as_deref().unwrap();
        assert!(shape.starts_with("{k00,k01,"), "{shape}");
        assert!(shape.ends_with(",k69,zone}"), "{shape}");
        for label in ["host", "level", "msg", "service"] {
            assert!(!shape.contains(label), "{label} in {shape}");
        }
    }

    #[test]
    fn promotes_and_flattens() {
        let p = parser(&[]);
        let text = r#"{"ts":"2024-01-02T15:04:05Z","level":"warn","msg":"user login","service":"api","host":"h1","trace_id":"abc","spanId":"s1","user":{"id":42,"name":"bob"},"tags":["a","b"],"kubernetes":{"namespace_name":"prod"}}"#;
        let e = p.parse(text);
        assert_eq!(e.format, Format::Json);
        assert_eq!(e.ts, Some(1_704_207_845_000_000));
        assert_eq!(e.level, Some(Level::Warn));
        assert_eq!(e.message, "user login");
        assert_eq!(e.service.as_deref(), Some("api"));
        assert_eq!(e.host.as_deref(), Some("h1"));
        assert_eq!(e.trace_id.as_deref(), Some("abc"));
        assert_eq!(e.span_id.as_deref(), Some("s1"));
        let fields: Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
        assert_eq!(
            fields,
            serde_json::json!({"user.id":42,"user.name":"bob","tags":["a","b"],"kubernetes.namespace_name":"prod"})
        );
        assert_eq!(e.shape.as_deref(), Some("{tags,user.id,user.name}"));
        assert_eq!(e.header, "");
        assert_eq!(e.error, None);
        let mut buf = String::new();
        assert_eq!(
            e.drain_input(&mut buf),
            "user login {tags,user.id,user.name}"
        );
        // A multi-line message keeps its shape on the first line, where Drain
        // still reads it (the lines after the first are one value).
        let e = p.parse(r#"{"msg":"boom\n\tat a.b(C.java:1)","user":1}"#);
        assert_eq!(e.drain_input(&mut buf), "boom {user}\n\tat a.b(C.java:1)");
    }

    #[test]
    fn time_keys_win_and_epochs() {
        let p = parser(&["when"]);
        let e = p.parse(r#"{"when":1704207845123,"ts":"garbage","message":"m"}"#);
        assert_eq!(e.ts, Some(1_704_207_845_123_000));
        assert!(e.fields.as_deref().unwrap().contains("garbage"));
        let e = p.parse(r#"{"time":1704207845.5,"msg":"m"}"#);
        assert_eq!(e.ts, Some(1_704_207_845_500_000));
        let e = p.parse(r#"{"time":1704207845123456789,"msg":"m"}"#);
        assert_eq!(e.ts, Some(1_704_207_845_123_456));
    }

    /// `bad_timestamp` is for a time that is shaped right but impossible, and
    /// only when no other time key gives a time.
    #[test]
    fn impossible_times_are_flagged() {
        let pp = parser(&[]);
        for text in [
            r#"{"timestamp":"2025-02-30T10:00:00Z","msg":"m"}"#,
            r#"{"ts":"2025-13-01T00:00:00Z","msg":"m"}"#,
            r#"{"time":"Feb 30 10:00:00","msg":"m"}"#,
            r#"{"ts":-1704207845,"msg":"m"}"#,
            r#"{"ts":1e30,"msg":"m"}"#,
            r#"{"ts":"-1704207845123","msg":"m"}"#,
            // A word before an impossible time: still flagged.
            r#"{"ts":"soon","date":"2025-02-30 10:00:00","msg":"m"}"#,
        ] {
            let e = pp.parse(text);
            assert_eq!(
                (e.ts, e.error),
                (None, Some(EntryError::BadTimestamp)),
                "{text}"
            );
            // Not promoted, so still a field, as written.
            let fields: Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
            let original: Value = serde_json::from_str(text).unwrap();
            let mut original = original.as_object().unwrap().clone();
            original.remove("msg");
            assert_eq!(fields, Value::Object(original), "{text}");
        }
        // An impossible time with a valid one elsewhere: the valid one wins.
        let e = pp.parse(r#"{"ts":"2025-02-30T10:00:00Z","time":"2024-01-02T15:04:05Z"}"#);
        assert_eq!((e.ts, e.error), (Some(1_704_207_845_000_000), None));
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"ts":"2025-02-30T10:00:00Z"}"#)
        );
    }

    /// Each column takes the first key, by priority, whose value fits; the
    /// keys passed over stay in `fields` as written.
    #[test]
    fn promoted_keys_fall_back_to_the_next_that_fits() {
        let pp = parser(&[]);
        let e = pp.parse(r#"{"ts":"not a time","time":"2025-01-01T00:00:00Z","msg":"a"}"#);
        assert_eq!((e.ts, e.error), (Some(1_735_689_600_000_000), None));
        assert_eq!(e.message, "a");
        assert_eq!(e.fields.as_deref(), Some(r#"{"ts":"not a time"}"#));
        // Words and small numbers in time keys are not times: no flag.
        for (text, fields) in [
            (r#"{"t":"abc","msg":"b"}"#, r#"{"t":"abc"}"#),
            (r#"{"date":"Monday","msg":"c"}"#, r#"{"date":"Monday"}"#),
            (r#"{"t":5,"date":true,"msg":"d"}"#, r#"{"date":true,"t":5}"#),
            (
                r#"{"ts":"2024-01-02T15:04:05Z (approx)","msg":"e"}"#,
                r#"{"ts":"2024-01-02T15:04:05Z (approx)"}"#,
            ),
        ] {
            let e = pp.parse(text);
            assert_eq!((e.ts, e.error), (None, None), "{text}");
            assert_eq!(e.fields.as_deref(), Some(fields), "{text}");
        }
        let e =
            pp.parse(r#"{"msg":42,"message":"real message","level":"banana","severity":"error"}"#);
        assert_eq!(e.message, "real message");
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(e.fields.as_deref(), Some(r#"{"level":"banana","msg":42}"#));
        // Labels stay out of the shape whether promoted or not.
        assert_eq!(e.shape, None);
        // Service, host and ids skip empty and non-scalar values.
        let e = pp.parse(
            r#"{"service":"","app":"api","host":{"ip":1},"hostname":"h1","trace_id":[1],"traceId":"t1","msg":"m"}"#,
        );
        assert_eq!(
            (
                e.service.as_deref(),
                e.host.as_deref(),
                e.trace_id.as_deref()
            ),
            (Some("api"), Some("h1"), Some("t1"))
        );
        let fields: Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
        assert_eq!(
            fields,
            serde_json::json!({"service":"","host.ip":1,"trace_id":[1]})
        );
        // A string message wins over a later one however short; with no
        // string at all there is no message and the keys stay fields.
        let e = pp.parse(r#"{"msg":"","message":"later"}"#);
        assert_eq!(e.message, "");
        assert_eq!(e.fields.as_deref(), Some(r#"{"message":"later"}"#));
        let e = pp.parse(r#"{"msg":{"a":1},"message":7,"n":1}"#);
        assert_eq!(e.message, "");
        let fields: Value = serde_json::from_str(e.fields.as_deref().unwrap()).unwrap();
        assert_eq!(fields, serde_json::json!({"msg.a":1,"message":7,"n":1}));
        // Nulls are no candidates.
        let e = pp.parse(r#"{"level":null,"lvl":"warn","msg":"m"}"#);
        assert_eq!(e.level, Some(Level::Warn));
        assert_eq!(e.fields.as_deref(), Some(r#"{"level":null}"#));
    }

    /// A column promoted from a key other than its best one is marked, and
    /// its `fields` are built even when skipped (they must be stored); with
    /// `first_key_only` only the best key is tried and the keys stay fields,
    /// as archives written before the fallback show them.
    #[test]
    fn fallbacks_are_marked_and_first_key_only_keeps_the_keys() {
        let opts = test_parsers::fixed_clock();
        let full = EntryParser::new(opts.clone());
        let skip = test_parsers::skipping(&opts);
        let first = EntryParser::new(ParseOptions {
            first_key_only: true,
            ..opts
        });
        for (text, fields, first_fields) in [
            (
                r#"{"ts":"not a time","time":"2024-01-02T15:04:05Z","msg":"a"}"#,
                r#"{"ts":"not a time"}"#,
                r#"{"time":"2024-01-02T15:04:05Z","ts":"not a time"}"#,
            ),
            (
                r#"{"level":"banana","severity":"error","msg":"b"}"#,
                r#"{"level":"banana"}"#,
                r#"{"level":"banana","severity":"error"}"#,
            ),
            (
                r#"{"msg":42,"message":"real"}"#,
                r#"{"msg":42}"#,
                r#"{"message":"real","msg":42}"#,
            ),
            (
                r#"{"service":"","app":"api","msg":"m"}"#,
                r#"{"service":""}"#,
                r#"{"app":"api","service":""}"#,
            ),
        ] {
            let e = full.parse(text);
            assert!(e.fell_back, "{text}");
            assert_eq!(e.fields.as_deref(), Some(fields), "{text}");
            let s = skip.parse(text);
            assert_eq!((s.fell_back, s.fields), (true, e.fields), "{text}");
            let f = first.parse(text);
            assert!(!f.fell_back, "{text}");
            assert_eq!(f.fields.as_deref(), Some(first_fields), "{text}");
        }
        // The best key fits, no key to fall back to, or a null before the
        // key (a null is no candidate): nothing to mark, the same fields.
        for text in [
            r#"{"ts":"2024-01-02T15:04:05Z","time":"x","msg":"a","n":1}"#,
            r#"{"ts":"not a time","msg":"a"}"#,
            r#"{"level":null,"lvl":"warn","msg":"m"}"#,
        ] {
            let e = full.parse(text);
            assert!(!e.fell_back, "{text}");
            assert_eq!(skip.parse(text).fields, None, "{text}");
            assert_eq!(first.parse(text).fields, e.fields, "{text}");
        }
    }

    /// A date alone is no event time: the row has no time, no flag, and
    /// the key stays a field. With a separate time of day (FortiGate and
    /// others write `date` and `time` apart) the two make the time, and
    /// both stay fields.
    #[test]
    fn a_date_alone_is_no_time() {
        let pp = parser(&[]);
        let e = pp.parse(r#"{"date":"2024-03-01","time":"10:00:00","msg":"x"}"#);
        assert_eq!((e.ts, e.error), (Some(1_709_287_200_000_000), None));
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"date":"2024-03-01","time":"10:00:00"}"#)
        );
        for (text, fields) in [
            (r#"{"ts":"2024-03-01","msg":"x"}"#, r#"{"ts":"2024-03-01"}"#),
            (
                r#"{"date":"2025-02-30","msg":"x"}"#,
                r#"{"date":"2025-02-30"}"#,
            ),
        ] {
            let e = pp.parse(text);
            assert_eq!((e.ts, e.error, e.fell_back), (None, None, false), "{text}");
            assert_eq!(e.fields.as_deref(), Some(fields), "{text}");
        }
        // A full time in a later key still wins over the date.
        let e = pp.parse(r#"{"date":"2024-03-01","timestamp":"2024-03-01T10:00:00Z"}"#);
        assert_eq!(e.ts, Some(1_709_287_200_000_000));
    }

    /// `--service` and `--host` name the columns; the entry's own keys of
    /// those roles are not promoted and stay in `fields`.
    #[test]
    fn overridden_service_and_host_keys_stay_fields() {
        let pp = test_parsers::overriding();
        for (text, fields) in [
            (
                r#"{"service":"","app":"api","msg":"m"}"#,
                r#"{"app":"api","service":""}"#,
            ),
            (r#"{"service":"orig","msg":"m"}"#, r#"{"service":"orig"}"#),
            (
                r#"{"hostname":"h1","kubernetes":{"pod_name":"p"},"msg":"m"}"#,
                r#"{"hostname":"h1","kubernetes.pod_name":"p"}"#,
            ),
        ] {
            let e = pp.parse(text);
            assert_eq!(
                (e.service.as_deref(), e.host.as_deref()),
                (Some("svc"), Some("box")),
                "{text}"
            );
            assert_eq!(e.fields.as_deref(), Some(fields), "{text}");
            // Labels still: they do not split templates.
            assert_eq!(e.shape, None, "{text}");
        }
    }

    /// A `--time-key` holding no time gives way to the default keys; several
    /// time keys are tried in the order given.
    #[test]
    fn time_keys_that_hold_no_time_give_way() {
        let p = parser(&["when", "at"]);
        let e = p.parse(r#"{"when":"garbage","ts":"2024-01-02T15:04:05Z","msg":"m"}"#);
        assert_eq!((e.ts, e.error), (Some(1_704_207_845_000_000), None));
        assert_eq!(e.fields.as_deref(), Some(r#"{"when":"garbage"}"#));
        let e = p.parse(r#"{"when":"x","at":1704207845,"ts":"2025-01-01T00:00:00Z"}"#);
        assert_eq!(e.ts, Some(1_704_207_845_000_000));
        assert_eq!(
            e.fields.as_deref(),
            Some(r#"{"ts":"2025-01-01T00:00:00Z","when":"x"}"#)
        );
        let e = p.parse(r#"{"when":"2025-02-30T10:00:00Z","ts":"later"}"#);
        assert_eq!((e.ts, e.error), (None, Some(EntryError::BadTimestamp)));
    }

    /// A fallback past the 64 keys whose roles are remembered, and time keys
    /// beyond the tenth (which share a priority) in the order of the keys.
    #[test]
    fn fallback_past_many_keys() {
        let mut text = String::from(r#"{"level":"x""#);
        for i in 0..80 {
            text.push_str(&format!(r#","k{i:02}":{i}"#));
        }
        text.push_str(r#","severity":"warn"}"#);
        let pp = parser(&[]);
        let e = pp.parse(&text);
        assert_eq!(e.level, Some(Level::Warn));
        assert!(e.fields.as_deref().unwrap().starts_with(r#"{"k00":0,"#));
        assert!(e.fields.as_deref().unwrap().contains(r#""level":"x""#));
        let keys: Vec<String> = (0..12).map(|i| format!("w{i:02}")).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let pp = parser(&keys);
        let e = pp.parse(r#"{"w10":"no","w11":1704207845,"ts":"2025-01-01"}"#);
        assert_eq!(e.ts, Some(1_704_207_845_000_000));
    }

    #[test]
    fn pino_numbers_and_kubernetes() {
        let pp = parser(&[]);
        let e = pp.parse(
            r#"{"level":50,"time":1704207845123,"msg":"boom","kubernetes":{"pod_name":"api-7f","container_name":"api"}}"#,
        );
        assert_eq!(e.level, Some(Level::Error));
        assert_eq!(e.service.as_deref(), Some("api"));
        assert_eq!(e.host.as_deref(), Some("api-7f"));
        assert_eq!(e.fields, None);
        assert_eq!(e.shape, None);
    }

    #[test]
    fn malformed_json_is_plain_with_error() {
        let pp = parser(&[]);
        let e = pp.parse(r#"{"msg": "unterminated"#);
        assert_eq!(e.format, Format::Plain);
        assert_eq!(e.error, Some(EntryError::MalformedJson));
        assert_eq!(e.message, r#"{"msg": "unterminated"#);
    }
}
