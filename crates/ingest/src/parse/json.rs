//! JSON object entries.

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{
    EntryError, EntryParser, Format, KeyRole, ParsedEntry, ROLES, is_label_key, key_role,
    push_json_str, shape_of, time_from_str,
};
use crate::level::Level;
use crate::timestamp::{epoch_from_float, epoch_from_int};

/// `None` when the text is not one JSON object.
pub(super) fn parse<'a>(text: &'a str, parser: &'a EntryParser) -> Option<ParsedEntry<'a>> {
    let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) else {
        return None;
    };
    let mut flat: Vec<(Cow<'_, str>, &Value)> = Vec::with_capacity(obj.len() + 4);
    flatten(None, &obj, &mut flat);

    let time_keys = &parser.options().time_keys;
    let mut best: [Option<(u8, usize)>; ROLES] = [None; ROLES];
    for (i, (k, v)) in flat.iter().enumerate() {
        if v.is_null() {
            continue;
        }
        if let Some((role, prio)) = key_role(k, time_keys) {
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
        let v = flat[i].1;
        let role = ROLES_IN_ORDER[role_idx];
        let ok = match role {
            KeyRole::Time => {
                let t = match v {
                    Value::String(s) => time_from_str(det, s).ok(),
                    Value::Number(n) => n
                        .as_i64()
                        .and_then(epoch_from_int)
                        .or_else(|| n.as_f64().and_then(epoch_from_float)),
                    _ => None,
                };
                match t {
                    Some(t) => p.ts = Some(t),
                    None => p.error = Some(EntryError::BadTimestamp),
                }
                t.is_some()
            }
            KeyRole::Level => {
                p.level = match v {
                    Value::String(s) => Level::from_value_str(s),
                    Value::Number(n) => n.as_f64().and_then(Level::from_number),
                    _ => None,
                };
                p.level.is_some()
            }
            KeyRole::Message => match v {
                Value::String(s) => {
                    // Docker's `log` values end with the line's newline.
                    p.message = Cow::Owned(s.trim_end_matches(['\n', '\r']).to_owned());
                    true
                }
                _ => false,
            },
            _ => {
                let s = scalar_text(v);
                let ok = s.is_some();
                let dest = match role {
                    KeyRole::Service => &mut p.service,
                    KeyRole::Host => &mut p.host,
                    KeyRole::TraceId => &mut p.trace_id,
                    KeyRole::SpanId => &mut p.span_id,
                    _ => &mut p.parent_span_id,
                };
                *dest = s.map(Cow::Owned);
                ok
            }
        };
        if ok {
            promoted[role_idx] = i;
        }
    }

    let mut fields = Vec::with_capacity(text.len());
    let mut shape_keys: Vec<&str> = Vec::new();
    fields.push(b'{');
    for (i, (k, v)) in flat.iter().enumerate() {
        if promoted.contains(&i) {
            continue;
        }
        if fields.len() > 1 {
            fields.push(b',');
        }
        push_json_str(&mut fields, k);
        fields.push(b':');
        // Writing a Value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut fields, v);
        if !is_label_key(k, parser.options()) {
            shape_keys.push(k);
        }
    }
    fields.push(b'}');
    if fields.len() > 2 {
        // serde_json writes UTF-8 only.
        p.fields = String::from_utf8(fields).ok();
    }
    p.shape = shape_of(&mut shape_keys);
    Some(p)
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

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Nested objects become dotted keys; arrays and scalars are leaves (arrays
/// are kept whole, as JSON).
fn flatten<'v>(
    prefix: Option<&str>,
    obj: &'v Map<String, Value>,
    out: &mut Vec<(Cow<'v, str>, &'v Value)>,
) {
    for (k, v) in obj {
        let key = match prefix {
            None => Cow::Borrowed(k.as_str()),
            Some(p) => {
                let mut s = String::with_capacity(p.len() + 1 + k.len());
                s.push_str(p);
                s.push('.');
                s.push_str(k);
                Cow::Owned(s)
            }
        };
        match v {
            Value::Object(m) if !m.is_empty() => flatten(Some(&key), m, out),
            _ => out.push((key, v)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{EntryParser, ParseOptions};
    use super::*;

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
