//! JSON object entries.
//!
//! The object is scanned once by [`super::jsonflat`] (validation and
//! flattening without building a value tree); promoted values are decoded
//! from their text, and `fields` is written from the leaves' exact text.

use std::borrow::Cow;
use std::cell::RefCell;

use super::jsonflat::{Flat, Leaf, LeafKind, scan_object};
use super::{
    EntryError, EntryParser, Format, KeyRole, LabelKeys, ParsedEntry, ROLES, key_role,
    push_json_str, shape_of, time_from_str,
};
use crate::level::Level;
use crate::timestamp::{epoch_from_float, epoch_from_int};

thread_local! {
    /// Scratch leaves, reused by every entry parsed on this thread.
    static FLAT: RefCell<Flat> = RefCell::new(Flat::default());
}

/// `None` when the text is not one JSON object.
pub(super) fn parse<'a>(text: &'a str, parser: &'a EntryParser) -> Option<ParsedEntry<'a>> {
    FLAT.with(|flat| {
        let mut flat = flat.borrow_mut();
        if !scan_object(text, &mut flat) {
            return None;
        }
        flat.sort_dedup();
        Some(build(text, parser, &flat))
    })
}

fn build<'a>(text: &'a str, parser: &'a EntryParser, flat: &Flat) -> ParsedEntry<'a> {
    let time_keys = &parser.options().time_keys;
    let mut best: [Option<(u8, usize)>; ROLES] = [None; ROLES];
    let mut labels = LabelKeys::default();
    for (i, leaf) in flat.leaves.iter().enumerate() {
        if leaf.kind == LeafKind::Null {
            continue;
        }
        let role = key_role(flat.key(leaf), time_keys);
        labels.note(i, role.is_some());
        if let Some((role, prio)) = role {
            let slot = &mut best[role.index()];
            if slot.is_none_or(|(p, _)| prio < p) {
                *slot = Some((prio, i));
            }
        }
    }

    let mut p = ParsedEntry::plain(text);
    p.format = Format::Json;
    p.message = Cow::Borrowed("");
    let mut promoted = [usize::MAX; ROLES];
    let det = parser.detector();
    for (role_idx, slot) in best.iter().enumerate() {
        let Some((_, i)) = *slot else { continue };
        let leaf = &flat.leaves[i];
        let raw = &text[leaf.value.clone()];
        let role = ROLES_IN_ORDER[role_idx];
        let ok = match role {
            KeyRole::Time => {
                let t = match leaf.kind {
                    LeafKind::String { .. } => {
                        string(text, leaf).and_then(|s| time_from_str(det, &s).ok())
                    }
                    LeafKind::Number => raw
                        .parse::<i64>()
                        .ok()
                        .and_then(epoch_from_int)
                        .or_else(|| raw.parse::<f64>().ok().and_then(epoch_from_float)),
                    _ => None,
                };
                match t {
                    Some(t) => p.ts = Some(t),
                    None => p.error = Some(EntryError::BadTimestamp),
                }
                t.is_some()
            }
            KeyRole::Level => {
                p.level = match leaf.kind {
                    LeafKind::String { .. } => {
                        string(text, leaf).and_then(|s| Level::from_value_str(&s))
                    }
                    LeafKind::Number => raw.parse::<f64>().ok().and_then(Level::from_number),
                    _ => None,
                };
                p.level.is_some()
            }
            KeyRole::Message => match string(text, leaf) {
                Some(s) => {
                    // Docker's `log` values end with the line's newline.
                    p.message = match s {
                        Cow::Borrowed(b) => Cow::Borrowed(b.trim_end_matches(['\n', '\r'])),
                        Cow::Owned(o) => Cow::Owned(o.trim_end_matches(['\n', '\r']).to_owned()),
                    };
                    true
                }
                None => false,
            },
            _ => {
                let s = scalar_text(text, leaf);
                let ok = s.is_some();
                let dest = match role {
                    KeyRole::Service => &mut p.service,
                    KeyRole::Host => &mut p.host,
                    KeyRole::TraceId => &mut p.trace_id,
                    KeyRole::SpanId => &mut p.span_id,
                    _ => &mut p.parent_span_id,
                };
                *dest = s;
                ok
            }
        };
        if ok {
            promoted[role_idx] = i;
        }
    }

    let want_fields = !parser.options().skip_fields;
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
        if !labels.is_label(i, k, parser.options()) {
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

const ROLES_IN_ORDER: [KeyRole; ROLES] = [
    KeyRole::Time,
    KeyRole::Level,
    KeyRole::Message,
    KeyRole::Service,
    KeyRole::Host,
    KeyRole::TraceId,
    KeyRole::SpanId,
    KeyRole::ParentSpanId,
];

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
    use super::super::{EntryParser, ParseOptions};
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

    #[test]
    fn bad_time_value() {
        let pp = parser(&[]);
        let e = pp.parse(r#"{"timestamp":"not a time","msg":"m"}"#);
        assert_eq!(e.ts, None);
        assert_eq!(e.error, Some(EntryError::BadTimestamp));
        assert!(e.fields.unwrap().contains("not a time"));
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
