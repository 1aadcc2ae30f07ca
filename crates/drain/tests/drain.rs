//! Behaviour of the template catalog: grouping, generalisation, ids,
//! persistence, merging, and the masking/render invariants (proptest).

use std::ops::Range;

use logoscope_drain::{
    DrainConfig, DrainError, MaskRule, TemplateCatalog, TemplateId, mask, placeholder_count,
    render, renders_as,
};
use proptest::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

fn add(cat: &mut TemplateCatalog, msg: &str) -> (TemplateId, Vec<String>) {
    let mut params = Vec::new();
    let m = cat.add(msg, None, &mut params);
    (m.id, strs(msg, &params))
}

fn strs(msg: &str, params: &[Range<usize>]) -> Vec<String> {
    params.iter().map(|r| msg[r.clone()].to_string()).collect()
}

fn template(cat: &TemplateCatalog, id: TemplateId) -> &str {
    &cat.get(id).expect("issued id").template
}

fn corpus() -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..40u32 {
        v.push(format!(
            "Accepted password for user{} from 10.0.{}.{} port {} ssh2",
            i % 3,
            i % 7,
            i,
            40000 + i
        ));
        v.push(format!(
            "Failed password for invalid user admin{} from 192.168.1.{} port {}",
            i % 5,
            i,
            22 + i
        ));
        v.push(format!(
            "PacketResponder {} for block blk_{} terminating",
            i % 3,
            1000 + i * 7919
        ));
        v.push(format!(
            "Receiving block blk_-{} src: /10.251.{}.{}:50010 dest: /10.251.1.1:50010",
            i * 31,
            i,
            i + 1
        ));
        v.push(format!(
            "session {} opened for user {} by (uid={})",
            ["alpha", "beta"][(i % 2) as usize],
            ["root", "bob", "eve"][(i % 3) as usize],
            i
        ));
        v.push(format!(
            "GET /api/v1/items/{} took {}ms status={}",
            i,
            i * 3,
            [200, 404, 500][(i % 3) as usize]
        ));
    }
    v
}

#[test]
fn groups_messages_of_one_shape() {
    let mut cat = TemplateCatalog::default();
    let (a, pa) = add(&mut cat, "connected to 10.0.0.1:80 in 12ms");
    let (b, pb) = add(&mut cat, "connected to 10.0.0.9:8080 in 4.5s");
    assert_eq!(a, b);
    assert_eq!(template(&cat, a), "connected to <IP>:<NUM> in <NUM>");
    assert_eq!(pa, ["10.0.0.1", "80", "12ms"]);
    assert_eq!(pb, ["10.0.0.9", "8080", "4.5s"]);
    let (c, _) = add(&mut cat, "disk full on /dev/sda1");
    assert_ne!(a, c);
    assert_eq!(cat.live_len(), 2);
    assert_eq!(cat.get(a).unwrap().count, 2);
}

/// A template of wildcards only (values of two types generalised) takes in
/// later values of any type, but not messages with words: each of those is
/// an event of its own.
#[test]
fn a_template_of_wildcards_only_does_not_take_in_words() {
    let mut cat = TemplateCatalog::default();
    let (a, _) = add(&mut cat, "/var/run/app.sock");
    let (b, _) = add(&mut cat, "42");
    assert_eq!(template(&cat, b), "<*>");
    assert_eq!(cat.get(a).unwrap().parent_id, Some(b));
    let (c, _) = add(&mut cat, "10.0.0.1");
    assert_eq!(c, b);
    let words: Vec<TemplateId> = ["started", "shutdown", "ready"]
        .iter()
        .map(|m| add(&mut cat, m).0)
        .collect();
    for (w, m) in words.iter().zip(["started", "shutdown", "ready"]) {
        assert_ne!(*w, b, "{m}");
        assert_eq!(template(&cat, *w), m);
    }
    let mut four = TemplateCatalog::default();
    let (v, _) = add(&mut four, "/a/b /c/d /e/f /g/h");
    let (v2, _) = add(&mut four, "1.2.3.4 5 6 7");
    assert_eq!(template(&four, v2), "<*> <*> <*> <*>");
    assert_ne!(v, v2);
    for m in ["user alice logged in", "service restarted after crash"] {
        let (id, _) = add(&mut four, m);
        assert_ne!(id, v2, "{m}");
    }
    let (again, _) = add(&mut four, "/x 9 10.0.0.2 0x1f");
    assert_eq!(again, v2);

    // Words first: making `<*>` later leaves their templates alone.
    let mut late = TemplateCatalog::default();
    let words: Vec<TemplateId> = ["started", "shutdown", "ready"]
        .iter()
        .map(|m| add(&mut late, m).0)
        .collect();
    let (n, _) = add(&mut late, "5 retries");
    add(&mut late, "/var/run/app.sock");
    let (wild, _) = add(&mut late, "42");
    assert_eq!(template(&late, wild), "<*>");
    add(&mut late, "/tmp/a /tmp/b");
    let (pair, _) = add(&mut late, "7 8");
    assert_eq!(template(&late, pair), "<*> <*>");
    for id in words.iter().chain([&n]) {
        let t = late.get(*id).unwrap();
        assert_eq!(t.parent_id, None, "{}", t.template);
    }
    assert_eq!(late.live_len(), 6);
    let mut params = Vec::new();
    assert_eq!(late.find("started", &mut params), Some(words[0]));
    assert_eq!(late.find("stopped", &mut params), None);
    assert_eq!(late.find("9", &mut params), Some(wild));

    // Not even at similarity 0, where any other template is a candidate.
    let mut zero = TemplateCatalog::new(DrainConfig {
        similarity: 0.0,
        ..DrainConfig::default()
    });
    for m in ["foo", "bar", "baz", "qux", "42", "baz"] {
        let mut params = Vec::new();
        let got = zero.add(m, None, &mut params);
        let t = zero.get(got.id).unwrap();
        assert_eq!(t.parent_id, None, "{m}");
        let ps: Vec<&str> = params.iter().map(|r| &m[r.clone()]).collect();
        assert_eq!(render(&t.template, &ps), m);
    }
    for t in zero.templates() {
        assert_ne!(t.parent_id, Some(t.id), "{}", t.template);
    }
}

#[test]
fn generalisation_issues_new_id_and_links_parent() {
    let mut cat = TemplateCatalog::default();
    let mut params = Vec::new();
    let m1 = cat.add("user alice logged in", Some(10), &mut params);
    assert!(m1.is_new);
    assert!(params.is_empty());
    let m2 = cat.add("user bob logged in", Some(5), &mut params);
    assert!(m2.is_new);
    assert_ne!(m1.id, m2.id);
    assert_eq!(template(&cat, m2.id), "user <*> logged in");
    assert_eq!(strs("user bob logged in", &params), ["bob"]);

    let old = cat.get(m1.id).unwrap();
    assert_eq!(old.template, "user alice logged in");
    assert_eq!(old.parent_id, Some(m2.id));
    assert_eq!(
        (old.count, old.first_seen, old.last_seen),
        (1, Some(10), Some(10))
    );
    assert_eq!(cat.resolve(m1.id), m2.id);
    assert_eq!(cat.resolve(m2.id), m2.id);
    assert_eq!(cat.resolve(42), 42);

    let m3 = cat.add("user carol logged in", Some(20), &mut params);
    assert_eq!(
        m3,
        logoscope_drain::Matched {
            id: m2.id,
            is_new: false
        }
    );
    let live = cat.get(m2.id).unwrap();
    assert_eq!(
        (live.count, live.first_seen, live.last_seen, live.parent_id),
        (2, Some(5), Some(20), None)
    );
    assert_eq!(cat.templates().count(), 2);
    assert_eq!(cat.live_len(), 1);
}

#[test]
fn generalising_into_an_existing_template_merges_clusters() {
    // Tiny tree: every two-token message shares one leaf, so two clusters
    // can converge on the same text.
    let cfg = DrainConfig {
        similarity: 0.5,
        ..DrainConfig::default()
    };
    let mut cat = TemplateCatalog::new(cfg);
    let (a, _) = add(&mut cat, "x a b c");
    let (b, _) = add(&mut cat, "x d e f");
    assert_ne!(a, b);
    let (g1, _) = add(&mut cat, "x a b z"); // "x a b <*>"
    let (g2, _) = add(&mut cat, "x d e z"); // "x d e <*>"
    assert_eq!(template(&cat, g1), "x a b <*>");
    assert_eq!(template(&cat, g2), "x d e <*>");
    let (w, _) = add(&mut cat, "x a y q"); // joins "x a b <*>" → "x a <*> <*>"
    assert_eq!(template(&cat, w), "x a <*> <*>");
    assert_eq!(cat.resolve(a), w);
    assert_eq!(cat.resolve(b), g2);
}

#[test]
fn ids_are_text_hashes_and_stable_across_catalogs() {
    let mut a = TemplateCatalog::default();
    let mut b = TemplateCatalog::default();
    for msg in corpus() {
        let (ia, pa) = add(&mut a, &msg);
        let (ib, pb) = add(&mut b, &msg);
        assert_eq!(ia, ib);
        assert_eq!(pa, pb);
    }
    for t in a.templates() {
        assert_eq!(t.id, xxh3_64(t.template.as_bytes()));
        assert_eq!(b.get(t.id), Some(t));
    }
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn corpus_templates_and_round_trip() {
    let mut cat = TemplateCatalog::default();
    let mut params = Vec::new();
    for msg in corpus() {
        let m = cat.add(&msg, None, &mut params);
        let t = template(&cat, m.id);
        let values = strs(&msg, &params);
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(placeholder_count(t), params.len(), "{t}");
        assert_eq!(render(t, &refs), msg, "template {t}");
    }
    let live: Vec<&str> = cat
        .templates()
        .filter(|t| t.parent_id.is_none())
        .map(|t| t.template.as_str())
        .collect();
    assert!(
        live.contains(&"PacketResponder <NUM> for block blk_<NUM> terminating"),
        "{live:?}"
    );
    assert!(
        live.contains(&"Receiving block blk_<NUM> src: <IP>:<NUM> dest: <IP>:<NUM>"),
        "{live:?}"
    );
    assert!(
        live.contains(&"GET <PATH> took <NUM> status=<NUM>"),
        "{live:?}"
    );
    assert!(
        live.contains(&"Accepted password for <*> from <IP> port <NUM> ssh2"),
        "{live:?}"
    );
    assert_eq!(cat.live_len(), 6, "{live:?}");
}

/// The catalog's `renders_as` (placeholders found once per template) agrees
/// with `renders_as` on the template text, for every template issued, after
/// a JSON round trip and in a catalog that merged them, on the message, on
/// messages a byte shorter, and with separators changed; and an unknown id
/// renders nothing.
#[test]
fn catalog_renders_as_agrees_with_renders_as() {
    let mut cat = TemplateCatalog::default();
    let mut rows = Vec::new();
    let mut params = Vec::new();
    let mut messages = corpus();
    messages.push("double  spaced <NUM> literal and 7 more".into());
    messages.push("tabs\tand 12ms, \"quoted text here\" end".into());
    for msg in messages {
        let m = cat.add(&msg, None, &mut params);
        rows.push((m.id, strs(&msg, &params), msg));
    }
    let loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    let mut merged = TemplateCatalog::default();
    merged.merge(&cat);
    let mut agreed = 0;
    for (id, values, msg) in &rows {
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let text = template(&cat, *id);
        let mut variants = vec![msg.clone(), msg.replace(' ', "  "), msg.replace(' ', "\t")];
        variants.push(msg[..msg.len() - 1].to_owned());
        for expected in &variants {
            let want = renders_as(text, refs.iter().copied(), expected);
            for c in [&cat, &loaded, &merged] {
                assert_eq!(
                    c.renders_as(*id, refs.iter().copied(), expected),
                    want,
                    "{text} {expected:?}"
                );
            }
            agreed += usize::from(want);
        }
    }
    assert!(agreed >= rows.len(), "{agreed}");
    assert!(!cat.renders_as(0, [], ""));
}

#[test]
fn separators_of_the_first_message_are_kept() {
    let mut cat = TemplateCatalog::default();
    let mut params = Vec::new();
    let m = cat.add("a\tb  12", None, &mut params);
    assert_eq!(template(&cat, m.id), "a\tb  <NUM>");
    let msg = "a b 13";
    let m2 = cat.add(msg, None, &mut params);
    assert_eq!(m.id, m2.id);
    // Different separators: same template, but render gives the template's.
    let values = strs(msg, &params);
    assert_eq!(
        render(template(&cat, m.id), &[values[0].as_str()]),
        "a\tb  13"
    );
}

#[test]
fn find_matches_without_learning() {
    let mut cat = TemplateCatalog::default();
    add(&mut cat, "job 1 done in 5ms");
    let (id, _) = add(&mut cat, "job 2 done in 7ms");
    let before = cat.to_json();
    let mut params = Vec::new();
    assert_eq!(cat.find("job 99 done in 1s", &mut params), Some(id));
    assert_eq!(strs("job 99 done in 1s", &params), ["99", "1s"]);
    assert_eq!(cat.find("job 99 failed in 1s", &mut params), None);
    assert!(params.is_empty());
    assert_eq!(cat.find("something else entirely", &mut params), None);
    assert_eq!(cat.to_json(), before);
}

#[test]
fn wildcard_positions_take_whole_tokens() {
    let mut cat = TemplateCatalog::default();
    add(&mut cat, "open file a.txt ok");
    let msg = "open file x=1,y=2 ok";
    let (id, p) = add(&mut cat, msg);
    assert_eq!(template(&cat, id), "open file <*> ok");
    assert_eq!(p, ["x=1,y=2"]);
}

#[test]
fn messages_with_placeholder_text_round_trip() {
    let mut cat = TemplateCatalog::default();
    for msg in [
        "value <NUM> and <*> here",
        "value <IP> and x<*>y here",
        "  ",
    ] {
        let mut params = Vec::new();
        let m = cat.add(msg, None, &mut params);
        let values = strs(msg, &params);
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        let t = template(&cat, m.id);
        assert_eq!(placeholder_count(t), refs.len());
        assert_eq!(render(t, &refs), msg.trim());
    }
}

#[test]
fn empty_message_has_empty_template() {
    let mut cat = TemplateCatalog::default();
    let (a, p) = add(&mut cat, "");
    let (b, _) = add(&mut cat, " \t ");
    assert_eq!(a, b);
    assert!(p.is_empty());
    assert_eq!(template(&cat, a), "");
    assert_eq!(cat.get(a).unwrap().count, 2);
}

#[test]
fn max_children_overflow_shares_the_wildcard_branch() {
    let cfg = DrainConfig {
        max_children: 3,
        similarity: 0.4,
        ..DrainConfig::default()
    };
    let mut cat = TemplateCatalog::new(cfg);
    let words = ["alpha", "beta", "gamma", "delta", "epsilon"];
    for w in words {
        add(&mut cat, &format!("{w} started worker"));
    }
    // Only two literal first tokens fit, then everything shares `<*>` and the
    // later ones generalise together.
    let live: Vec<String> = cat
        .templates()
        .filter(|t| t.parent_id.is_none())
        .map(|t| t.template.clone())
        .collect();
    assert_eq!(
        live,
        [
            "alpha started worker",
            "beta started worker",
            "<*> started worker"
        ]
    );
}

#[test]
fn persistence_round_trip_continues_identically() {
    let data = corpus();
    let (first, second) = data.split_at(data.len() / 2);
    let mut a = TemplateCatalog::default();
    for m in first {
        add(&mut a, m);
    }
    let json = a.to_json();
    let mut b = TemplateCatalog::from_json(&json).unwrap();
    assert_eq!(b.to_json(), json);
    assert_eq!(b.config(), a.config());
    for m in second {
        assert_eq!(add(&mut a, m), add(&mut b, m));
    }
    assert_eq!(a.to_json(), b.to_json());
}

#[test]
fn config_survives_persistence() {
    let cfg = DrainConfig {
        depth: 5,
        similarity: 0.55,
        max_children: 7,
        parametrize_numeric_tokens: false,
        settle_count: 9,
        extra_masks: vec![MaskRule::new("TICKET", r"T-\d+")],
        max_leaf_templates: 11,
        max_templates: 13,
        max_catalog_bytes: 17,
        max_tokens: 19,
        shape_drop_keys: Some(vec!["user".into()]),
    };
    let cat = TemplateCatalog::new(cfg.clone());
    let loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    assert_eq!(loaded.config(), &cfg);
    // Out-of-range settings are brought into range.
    let odd = TemplateCatalog::new(DrainConfig {
        depth: 1,
        similarity: f64::NAN,
        max_children: 0,
        max_leaf_templates: 0,
        max_templates: 0,
        max_catalog_bytes: 0,
        max_tokens: 0,
        ..cfg
    });
    let c = odd.config();
    assert_eq!(
        (
            c.depth,
            c.similarity,
            c.max_children,
            c.max_leaf_templates,
            c.max_templates,
            c.max_catalog_bytes,
            c.max_tokens
        ),
        (3, 0.7, 1, 1, 1, 1, 1)
    );
    // A catalog saved before the limits existed loads with the defaults,
    // but for drop keys, which it did not keep: unknown, not none.
    let old =
        r#"{"version":1,"config":{"depth":4,"similarity":0.7,"max_children":100},"templates":[]}"#;
    let loaded = TemplateCatalog::from_json(old).unwrap();
    assert_eq!(
        loaded.config(),
        &DrainConfig {
            shape_drop_keys: None,
            ..DrainConfig::default()
        }
    );
}

/// A full leaf lets go of its least recently used template; the template
/// stays in the catalog, and a message with its text gets its id back.
#[test]
fn a_full_leaf_lets_go_of_its_least_recently_used_template() {
    let cfg = DrainConfig {
        max_leaf_templates: 3,
        ..DrainConfig::default()
    };
    let mut capped = TemplateCatalog::new(cfg);
    let mut open = TemplateCatalog::new(DrainConfig::default());
    let msgs = [
        "job alpha beta gamma one",
        "job delta epsilon zeta two",
        "job eta theta iota three",
        "job kappa lambda mu four",
    ];
    let ids: Vec<_> = msgs.iter().map(|m| add(&mut capped, m).0).collect();
    for m in msgs {
        add(&mut open, m);
    }
    assert_eq!(capped.live_len(), 4);
    // The first left the leaf when the fourth came; its text brings it back
    // under the same id, as a new message, counted on.
    let mut params = Vec::new();
    let again = capped.add(msgs[0], None, &mut params);
    assert_eq!((again.id, again.is_new), (ids[0], false));
    assert_eq!(capped.get(ids[0]).unwrap().count, 2);
    // That let go of the least recently used one, the second: a message
    // close to it no longer meets it and starts a template of its own, where
    // the unbounded catalog generalises.
    let m = "job delta epsilon zeta five";
    let (id, _) = add(&mut capped, m);
    assert_eq!(template(&capped, id), m);
    let (id, _) = add(&mut open, m);
    assert_eq!(template(&open, id), "job delta epsilon zeta <*>");
    // Close to one still listed, it generalises as without the limit.
    let m = "job kappa lambda mu five";
    assert_eq!(add(&mut capped, m), add(&mut open, m));
}

/// A template learnt as all `<*>` is an ordinary template: it is not taken
/// for an overflow one, before or after a reload.
#[test]
fn a_learnt_all_wildcard_template_survives_a_reload() {
    let mut cat = TemplateCatalog::new(DrainConfig::default());
    add(&mut cat, "1 2");
    let (w, _) = add(&mut cat, "1.2.3.4 5.6.7.8");
    assert_eq!(template(&cat, w), "<*> <*>");
    let mut loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    let got = add(&mut loaded, "7 8");
    assert_eq!(got, add(&mut cat, "7 8"));
    assert_eq!(got.0, w);
    assert_eq!(loaded.to_json(), cat.to_json());
}

/// A user mask applies within one token: matches holding whitespace are left
/// alone and counted, so the command can say so.
#[test]
fn mask_matches_holding_whitespace_are_counted() {
    let mut cat = TemplateCatalog::try_new(DrainConfig {
        extra_masks: vec![
            MaskRule::new("SESS", "session [0-9]+"),
            MaskRule::new("USER", "root|bob"),
        ],
        ..DrainConfig::default()
    })
    .unwrap();
    let (a, _) = add(&mut cat, "opened session 12 for root");
    add(&mut cat, "opened session 345 for bob");
    assert_eq!(template(&cat, a), "opened session <NUM> for <USER>");
    assert_eq!(cat.masks_with_spaced_matches(), vec![("SESS", 2)]);
}

/// A quoted string of several words masks to `name="<*>"`; a one-word value
/// there (`name="z"`) fits that template, which stays what it was: never
/// its own parent, so the catalog still loads.
#[test]
fn a_frame_around_a_wildcard_is_not_its_own_parent() {
    for (first, second) in [
        ("a b c=\"x y\" d", "a b c=\"z\" d"),
        (
            "job started name=\"nightly backup\" retries=3",
            "job started name=\"cleanup\" retries=0",
        ),
        (
            "login user=\"John Smith\" from office",
            "login user=\"bob\" from office",
        ),
    ] {
        let mut cat = TemplateCatalog::new(DrainConfig::default());
        let (a, _) = add(&mut cat, first);
        let (b, params) = add(&mut cat, second);
        assert_eq!(a, b, "{second}");
        assert!(
            params
                .iter()
                .any(|p| p == "z" || p == "cleanup" || p == "bob"),
            "{params:?}"
        );
        assert!(cat.templates().all(|t| t.parent_id != Some(t.id)));
        let loaded = TemplateCatalog::from_json(&cat.to_json()).expect("no cycle");
        // One ingest or two: the same template.
        let mut split = TemplateCatalog::new(DrainConfig::default());
        add(&mut split, first);
        let mut split = TemplateCatalog::from_json(&split.to_json()).unwrap();
        assert_eq!(add(&mut split, second).0, b);
        assert_eq!(loaded.get(b).unwrap().count, 2);
    }
}

/// A catalog stored with such a self-parent (as earlier versions wrote it)
/// loads, with that template live.
#[test]
fn a_stored_self_parent_loads_as_live() {
    let mut cat = TemplateCatalog::new(DrainConfig::default());
    let (id, _) = add(&mut cat, "a b c=\"x y\" d");
    let mut json: serde_json::Value = serde_json::from_str(&cat.to_json()).unwrap();
    let templates = json["templates"].as_array_mut().unwrap();
    assert_eq!(templates.len(), 1);
    templates[0]["parent_id"] = serde_json::json!(id);
    let mut loaded = TemplateCatalog::from_json(&json.to_string()).expect("repaired");
    assert_eq!(loaded.get(id).unwrap().parent_id, None);
    assert_eq!(loaded.resolve(id), id);
    assert_eq!(add(&mut loaded, "a b c=\"z\" d").0, id);
}

fn framed_token() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "b",
        "c=\"x y\"",
        "c=\"z\"",
        "c=1",
        "c=\"w\"",
        "\"p q\"",
        "(x)",
        "(x y)",
        "k=v",
        "k=\"1 2\"",
        "- a - b",
        "d",
    ])
    .prop_map(str::to_owned)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    /// Whatever order values arrive in, no template becomes its own ancestor
    /// and the catalog reads back.
    #[test]
    fn parent_links_never_cycle(
        msgs in prop::collection::vec((framed_token(), framed_token()), 1..40)
    ) {
        let mut cat = TemplateCatalog::new(DrainConfig::default());
        let mut params = Vec::new();
        for (x, y) in &msgs {
            cat.add(&format!("job run {x} at {y} end"), None, &mut params);
        }
        prop_assert!(TemplateCatalog::from_json(&cat.to_json()).is_ok());
    }
}

/// A full catalog still gives a message the template with its exact text,
/// even one its leaf let go of; only a message that would need a new
/// template overflows.
#[test]
fn a_full_catalog_still_finds_exact_templates() {
    let mut cat = TemplateCatalog::new(DrainConfig {
        max_leaf_templates: 1,
        max_templates: 2,
        ..DrainConfig::default()
    });
    let (a, _) = add(&mut cat, "job alpha beta gamma one");
    add(&mut cat, "job delta epsilon zeta two");
    assert_eq!(add(&mut cat, "job alpha beta gamma one").0, a);
    assert_eq!(cat.overflowed(), 0);
    let (o, _) = add(&mut cat, "job eta theta iota three");
    assert_eq!(template(&cat, o), "<*> <*> <*> <*> <*>");
    assert_eq!(cat.overflowed(), 1);
}

/// When learning reaches the overflow template's text (the bound raised
/// after the catalog was full), the overflow template stays out of the
/// tree: it never takes a message that a real template (here, revived)
/// could take, live or after a reload.
#[test]
fn generalising_into_the_overflow_template_keeps_it_out_of_the_tree() {
    let mut cat = TemplateCatalog::new(DrainConfig {
        max_templates: 1,
        ..DrainConfig::default()
    });
    let (n, _) = add(&mut cat, "1 2");
    let (o, _) = add(&mut cat, "x y");
    assert_eq!(template(&cat, o), "<*> <*>");
    // Full, the catalog does not generalise.
    assert_eq!(add(&mut cat, "1.2.3.4 5.6.7.8").0, o);
    assert_eq!(cat.get(n).unwrap().parent_id, None);
    // `<NUM> <NUM>` meets `<IP> <IP>`: generalised, it is the overflow text.
    cat.set_max_templates(100);
    assert_eq!(add(&mut cat, "1.2.3.4 5.6.7.8").0, o);
    assert_eq!(cat.get(n).unwrap().parent_id, Some(o));
    cat.set_max_templates(1);
    let mut loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    for c in [&mut cat, &mut loaded] {
        assert_eq!(add(c, "3 4").0, n, "revived, not overflowed");
        assert_eq!(add(c, "a b").0, o);
    }
}

/// Once the catalog holds `max_templates`, a message that fits no template
/// gets the overflow template of its word count; known templates still
/// match as they are, nothing generalises, and the overflow template
/// survives persistence outside the leaves.
#[test]
fn a_full_catalog_sends_new_messages_to_overflow_templates() {
    let cfg = DrainConfig {
        max_templates: 2,
        ..DrainConfig::default()
    };
    let mut cat = TemplateCatalog::new(cfg);
    let (a, _) = add(&mut cat, "job alpha beta gamma one");
    let (b, _) = add(&mut cat, "sync delta epsilon zeta two");
    let (c, params) = add(&mut cat, "copy eta theta iota three");
    assert_eq!(template(&cat, c), "<*> <*> <*> <*> <*>");
    assert_eq!(params, ["copy", "eta", "theta", "iota", "three"]);
    let (d, _) = add(&mut cat, "move kappa lambda mu four");
    assert_eq!(d, c);
    let (e, params) = add(&mut cat, "x  y");
    assert_eq!((template(&cat, e), params.len()), ("<*> <*>", 2));
    assert_eq!(cat.overflowed(), 3);
    // Known templates still take their messages as they are; a message that
    // would generalise one overflows instead (generalising adds a text).
    assert_eq!(add(&mut cat, "job alpha beta gamma one").0, a);
    let (g, params) = add(&mut cat, "sync delta epsilon zeta three");
    assert_eq!((g, params.len()), (c, 5));
    assert_eq!(cat.get(b).unwrap().parent_id, None);
    assert_eq!(cat.templates().count(), 4);
    // Loaded, the overflow template is in no leaf: a known template still
    // takes its message, and unknown ones still overflow.
    let mut loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    assert_eq!(add(&mut loaded, "job alpha beta gamma one").0, a);
    assert_eq!(add(&mut loaded, "fork nu xi omicron five").0, c);
    assert_eq!(loaded.overflowed(), 1);
    // Raising the limit lets new and generalised templates in again.
    loaded.set_max_templates(100);
    let (g, params) = add(&mut loaded, "sync delta epsilon zeta three");
    assert_eq!(template(&loaded, g), "sync delta epsilon zeta <*>");
    assert_eq!(params, ["three"]);
    assert_eq!(loaded.get(b).unwrap().parent_id, Some(g));
    let (h, _) = add(&mut loaded, "fork nu xi omicron six");
    assert_eq!(template(&loaded, h), "fork nu xi omicron six");
}

/// Past `max_tokens`, the rest of a message is one `<*>`: a long message
/// gives a template of `max_tokens + 1` tokens that renders it back, and
/// messages that differ only after the bound share it.
#[test]
fn long_messages_end_in_one_wildcard() {
    let cfg = DrainConfig {
        max_tokens: 4,
        ..DrainConfig::default()
    };
    let mut cat = TemplateCatalog::new(cfg);
    let (a, params) = add(&mut cat, "copy done for job  alpha beta\tgamma");
    assert_eq!(template(&cat, a), "copy done for job  <*>");
    assert_eq!(params, ["alpha beta\tgamma"]);
    let (b, params) = add(&mut cat, "copy done for job delta");
    assert_eq!((b, params), (a, vec!["delta".to_owned()]));
    // The default bound: 300 distinct words give 257 tokens.
    let mut cat = TemplateCatalog::default();
    let words: Vec<String> = (0..300)
        .map(|i| {
            format!(
                "w{}x",
                char::from(b'a' + (i % 26) as u8)
                    .to_string()
                    .repeat(1 + i / 26)
            )
        })
        .collect();
    let msg = words.join(" ");
    let (id, params) = add(&mut cat, &msg);
    let t = template(&cat, id).to_owned();
    assert_eq!(t.split(' ').count(), 257, "{t}");
    assert_eq!(params, [words[256..].join(" ")]);
    let refs: Vec<&str> = params.iter().map(String::as_str).collect();
    assert_eq!(render(&t, &refs), msg);
    // Loaded, the template's 257 tokens are found as they are, with the
    // same params.
    let loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    let mut found = Vec::new();
    assert_eq!(loaded.find(&msg, &mut found), Some(id));
    assert_eq!(strs(&msg, &found), params);
}

/// `max_catalog_bytes` fills the catalog as `max_templates` does: past it,
/// new messages get overflow templates; the count survives persistence and
/// raising the bound lets new templates in again.
#[test]
fn the_byte_bound_fills_the_catalog() {
    let cfg = DrainConfig {
        max_catalog_bytes: 700,
        ..DrainConfig::default()
    };
    let mut cat = TemplateCatalog::new(cfg);
    let msgs = [
        "job alpha beta gamma one",
        "sync delta epsilon zeta two",
        "copy eta theta iota three",
        "move kappa lambda mu four",
    ];
    let ids: Vec<TemplateId> = msgs.iter().map(|m| add(&mut cat, m).0).collect();
    // Each counts its text, 160 bytes and 40 per token: 24 + 160 + 200 = 384
    // bytes for the first; the second passes 700 and fills the catalog; the
    // overflow template (19 bytes of text, 5 tokens) counts too.
    assert_eq!(template(&cat, ids[0]), msgs[0]);
    assert_eq!(template(&cat, ids[1]), msgs[1]);
    assert!(cat.is_full());
    assert_eq!(cat.template_bytes(), 384 + 387 + 379);
    assert_eq!(template(&cat, ids[2]), "<*> <*> <*> <*> <*>");
    assert_eq!(ids[3], ids[2]);
    assert_eq!(cat.overflowed(), 2);
    let mut loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    assert_eq!(loaded.template_bytes(), cat.template_bytes());
    assert_eq!(add(&mut loaded, "fork nu xi omicron five").0, ids[2]);
    loaded.set_max_catalog_bytes(1 << 20);
    let (id, _) = add(&mut loaded, "fork nu xi omicron six");
    assert_eq!(template(&loaded, id), "fork nu xi omicron six");
}

#[test]
fn from_json_rejects_bad_catalogs() {
    assert!(matches!(
        TemplateCatalog::from_json("{"),
        Err(DrainError::Json(_))
    ));
    let cat = {
        let mut c = TemplateCatalog::default();
        add(&mut c, "user alice logged in");
        add(&mut c, "user bob logged in");
        c
    };
    let json = cat.to_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = v.clone();
        f(&mut v);
        TemplateCatalog::from_json(&v.to_string())
    };
    assert!(matches!(
        edit(&|v| v["version"] = 99.into()),
        Err(DrainError::UnsupportedVersion(99))
    ));
    assert!(matches!(
        edit(&|v| v["templates"][0]["template"] = "changed".into()),
        Err(DrainError::InvalidCatalog(_))
    ));
    assert!(matches!(
        edit(&|v| v["templates"][0]["parent_id"] = 7.into()),
        Err(DrainError::InvalidCatalog(_))
    ));
    let cycle = |v: &mut serde_json::Value| {
        let first = v["templates"][0]["id"].clone();
        v["templates"][1]["parent_id"] = first;
    };
    assert!(matches!(edit(&cycle), Err(DrainError::InvalidCatalog(_))));
    let dup = |v: &mut serde_json::Value| {
        let t = v["templates"][0].clone();
        v["templates"].as_array_mut().unwrap().push(t);
    };
    assert!(matches!(edit(&dup), Err(DrainError::InvalidCatalog(_))));
}

#[test]
fn merge_is_a_union_with_stable_ids() {
    let data = corpus();
    let mut a = TemplateCatalog::default();
    let mut b = TemplateCatalog::default();
    for (i, m) in data.iter().enumerate() {
        if i % 2 == 0 {
            add(&mut a, m);
        } else {
            add(&mut b, m);
        }
    }
    add(&mut b, "only in b 1");
    let before_a: Vec<_> = a.templates().cloned().collect();
    let mut merged = a.clone();
    merged.merge(&b);
    for t in b.templates().chain(before_a.iter()) {
        let m = merged.get(t.id).expect("every id survives");
        assert_eq!(m.template, t.template);
    }
    for t in merged.templates() {
        let ca = a.get(t.id).map_or(0, |x| x.count);
        let cb = b.get(t.id).map_or(0, |x| x.count);
        assert_eq!(t.count, ca + cb, "{}", t.template);
        let live = merged.resolve(t.id);
        assert!(merged.get(live).unwrap().parent_id.is_none());
    }
    let total: u64 = merged.templates().map(|t| t.count).sum();
    assert_eq!(total as usize, data.len() + 1);
    let mut params = Vec::new();
    assert!(merged.find("only in b 2", &mut params).is_some());
    // Merging into an empty catalog reproduces the other one.
    let mut empty = TemplateCatalog::default();
    empty.merge(&b);
    assert_eq!(empty.to_json(), b.to_json());
}

#[test]
fn merge_takes_the_more_general_state() {
    let mut a = TemplateCatalog::default();
    let (alice, _) = add(&mut a, "user alice logged in");
    let mut b = TemplateCatalog::default();
    add(&mut b, "user alice logged in");
    let (general, _) = add(&mut b, "user bob logged in");
    a.merge(&b);
    assert_eq!(a.get(alice).unwrap().count, 2);
    assert_eq!(a.resolve(alice), general);
    assert_eq!(a.live_len(), 1);
    let (next, _) = add(&mut a, "user carol logged in");
    assert_eq!(next, general);
}

// ------------------------------------------------------------------ proptest

const FRAGMENTS: &[&str] = &[
    "user",
    "id",
    "=",
    "12",
    "-3.5",
    "10.0.0.1",
    ":",
    "8080",
    "/var/log",
    "/",
    "<NUM>",
    "<*>",
    "<IP",
    ">",
    "<",
    "0x1f",
    "Jan",
    " 2",
    "15:04:05",
    "2024-01-02",
    "T",
    "a@b.io",
    "http://x.y/z",
    "deadbeef12",
    "[",
    "]",
    ",",
    ".",
    "_",
    "-",
    "µs",
    "ms",
    "é",
    "ab",
    "::1",
    "fe80",
    "::",
    "blk_",
    "+",
    "12ms",
    "KiB",
    "e5",
    "C:\\x",
    "123e4567-e89b-12d3-a456-426614174000",
    "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY1",
    "==",
    "00:1a:2b:3c:4d:5e",
    "~/a",
    "./b",
    "a/b/c",
    "\"",
    "'",
    "(",
    ")",
    "@",
    "%",
    "#",
    "x",
    "Z",
    "+05:30",
    "1.2.3",
    "GET",
    "HTTP/1.1",
    "=\"",
    "\",",
    "\u{a0}",
    "\u{202f}",
];

fn word() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 1..5).prop_map(|v| v.concat())
}

fn spaced_message() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            word(),
            prop::sample::select(&[" ", " ", " ", "  ", "\t", "", "\n", "\n\t"][..]),
        ),
        0..8,
    )
    .prop_map(|v| v.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
}

fn single_spaced() -> impl Strategy<Value = String> {
    prop::collection::vec(word(), 1..8).prop_map(|v| {
        v.join(" ")
            .split_ascii_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn masking_is_idempotent(s in spaced_message()) {
        let once = mask(&s);
        prop_assert_eq!(mask(&once), once.clone(), "input {:?}", s);
    }

    #[test]
    fn masking_is_idempotent_on_noise(s in "[ a-fA-Z0-9:./<>*=@_+\u{a0}µ\\\\-]{0,40}") {
        let once = mask(&s);
        prop_assert_eq!(mask(&once), once.clone(), "input {:?}", s);
    }

    #[test]
    fn masking_never_panics(s in "\\PC{0,60}") {
        let _ = mask(&s);
    }

    #[test]
    fn params_fill_every_placeholder(msgs in prop::collection::vec(spaced_message(), 1..30)) {
        let mut cat = TemplateCatalog::new(DrainConfig { max_children: 4, ..DrainConfig::default() });
        let mut params = Vec::new();
        for m in &msgs {
            let id = cat.add(m, None, &mut params).id;
            let t = &cat.get(id).unwrap().template;
            prop_assert_eq!(placeholder_count(t), params.len(), "{:?} -> {:?}", m, t);
            prop_assert!(cat.get(id).unwrap().parent_id.is_none());
        }
    }

    #[test]
    fn single_spaced_messages_round_trip(msgs in prop::collection::vec(single_spaced(), 1..30)) {
        let mut cat = TemplateCatalog::default();
        let mut params = Vec::new();
        for m in &msgs {
            let id = cat.add(m, None, &mut params).id;
            let values: Vec<&str> = params.iter().map(|r| &m[r.clone()]).collect();
            let t = &cat.get(id).unwrap().template;
            prop_assert_eq!(&render(t, &values), m, "template {:?}", t);
        }
        let loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
        prop_assert_eq!(loaded.to_json(), cat.to_json());
    }
}

// ------------------------------------------------------- accuracy rules

#[test]
fn compound_tokens_generalise_only_their_value() {
    let mut cat = TemplateCatalog::default();
    add(
        &mut cat,
        "auth failure; uid=0 tty=ssh ruser= rhost=a.example.net user=root",
    );
    let msg = "auth failure; uid=0 tty=ssh ruser= rhost=host-7 user=admin";
    let (id, values) = add(&mut cat, msg);
    assert_eq!(
        template(&cat, id),
        "auth failure; uid=<NUM> tty=ssh ruser= rhost=<*> user=<*>"
    );
    assert_eq!(values, ["0", "host-7", "admin"]);
    // The framed token keeps matching without further generalisation, and a
    // token without the frame does not fit it.
    let (again, values) = add(
        &mut cat,
        "auth failure; uid=1 tty=ssh ruser= rhost=x user=bob",
    );
    assert_eq!(again, id);
    assert_eq!(values, ["1", "x", "bob"]);
    let (other, _) = add(
        &mut cat,
        "auth failure; uid=1 tty=ssh ruser= lhost=x user=bob",
    );
    assert_eq!(
        template(&cat, other),
        "auth failure; uid=<NUM> tty=ssh ruser= <*> user=<*>"
    );
    // Frames survive persistence.
    let loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    let mut params = Vec::new();
    let msg = "auth failure; uid=2 tty=ssh ruser= zhost=q user=carol";
    assert_eq!(loaded.find(msg, &mut params), Some(other));
    assert_eq!(strs(msg, &params), ["2", "zhost=q", "carol"]);
}

#[test]
fn frames_need_a_word_and_a_value() {
    let mut cat = TemplateCatalog::default();
    add(&mut cat, "state is (on) now");
    let (id, _) = add(&mut cat, "state is (off) now");
    // `(` and `)` alone are no frame.
    assert_eq!(template(&cat, id), "state is <*> now");
}

#[test]
fn similarity_counts_words_not_values() {
    let mut cat = TemplateCatalog::default();
    // Same values, different words: two templates, not one.
    let (a, _) = add(
        &mut cat,
        "Client attempting to establish new session at 10.0.0.1:5",
    );
    let (b, _) = add(
        &mut cat,
        "Client attempting to renew session 0x1f at 10.0.0.1:5",
    );
    assert_ne!(a, b);
    let (x, _) = add(&mut cat, "HBM brightnessIn =38");
    let (y, _) = add(&mut cat, "HBM brightnessOut =38");
    assert_ne!(x, y);
    // One differing word among many still joins.
    add(
        &mut cat,
        "Failed password for invalid user alice from 10.0.0.1 port 22 ssh2",
    );
    let (z, _) = add(
        &mut cat,
        "Failed password for invalid user bob from 10.0.0.2 port 23 ssh2",
    );
    assert_eq!(
        template(&cat, z),
        "Failed password for invalid user <*> from <IP> port <NUM> ssh2"
    );
    // Values of different types in one position generalise to `<*>`.
    add(&mut cat, "open through proxy 10.0.0.1:80 HTTPS");
    let (p, values) = add(&mut cat, "open through proxy a.example.com:80 HTTPS");
    assert_eq!(template(&cat, p), "open through proxy <*> HTTPS");
    assert_eq!(values, ["a.example.com:80"]);
}

#[test]
fn identifier_lists_share_a_template() {
    let mut cat = TemplateCatalog::default();
    let (a, _) = add(&mut cat, "ask 10.0.0.1:50010 to delete blk_1 blk_2 blk_3");
    let (b, values) = add(&mut cat, "ask 10.0.0.2:50010 to delete blk_4 blk_5");
    assert_eq!(a, b);
    assert_eq!(template(&cat, b), "ask <IP>:<NUM> to delete <*>");
    assert_eq!(values, ["10.0.0.2", "50010", "blk_4 blk_5"]);
}

#[test]
fn user_masks_apply_before_built_ins() {
    let cfg = DrainConfig {
        extra_masks: vec![MaskRule::new("TICKET", r"[A-Z]+-\d+")],
        ..DrainConfig::default()
    };
    let mut cat = TemplateCatalog::try_new(cfg.clone()).unwrap();
    let mut params = Vec::new();
    let msg = "closed ABC-12 after 3 retries";
    let m = cat.add(msg, None, &mut params);
    let t = template(&cat, m.id).to_owned();
    assert_eq!(t, "closed <TICKET> after <NUM> retries");
    let values = strs(msg, &params);
    assert_eq!(values, ["ABC-12", "3"]);
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    assert_eq!(render(&t, &refs), msg);
    // The rule is part of the persisted configuration.
    let loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    assert_eq!(loaded.config(), &cfg);
    assert_eq!(
        loaded.find("closed XY-9 after 1 retries", &mut params),
        Some(m.id)
    );
    // Without the rule the same message masks differently.
    let mut plain = TemplateCatalog::default();
    let (id, _) = add(&mut plain, msg);
    assert_eq!(template(&plain, id), "closed ABC-<NUM> after <NUM> retries");
}

#[test]
fn invalid_user_masks_are_reported() {
    for (name, regex) in [("lower", "x"), ("", "x"), ("A-B", "x"), ("OK", "(")] {
        let cfg = DrainConfig {
            extra_masks: vec![MaskRule::new(name, regex)],
            ..DrainConfig::default()
        };
        assert!(
            matches!(
                TemplateCatalog::try_new(cfg.clone()),
                Err(DrainError::InvalidMask { .. })
            ),
            "{name} {regex}"
        );
        // `new` cannot fail: it leaves the rule out and says so in its config.
        assert!(TemplateCatalog::new(cfg).config().extra_masks.is_empty());
    }
}

#[test]
fn optional_annotations_and_spaced_units_share_a_template() {
    let mut cat = TemplateCatalog::default();
    let msgs = [
        "h1 close, 0 bytes sent, 0 bytes received, lifetime 00:01",
        "h2 close, 10 bytes (1.2 KB) sent, 9 bytes received, lifetime 00:02",
        "h3 close, 12 bytes sent, 90 bytes (9.1 KB) received, lifetime <1 sec",
        "h4 close, 1 bytes (1 KB) sent, 2 bytes (2.2 MB) received, lifetime 00:03",
        "h5 close, 0 bytes sent, 0 bytes received, lifetime 00:01",
    ];
    let ids: Vec<TemplateId> = msgs.iter().map(|m| add(&mut cat, m).0).collect();
    let live: Vec<TemplateId> = ids.iter().map(|&id| cat.resolve(id)).collect();
    assert!(live.iter().all(|&id| id == live[0]), "{live:?}");
    assert_eq!(cat.live_len(), 1);
    for m in msgs {
        let mut params = Vec::new();
        let id = cat.find(m, &mut params).expect("matches");
        let values: Vec<&str> = params.iter().map(|r| &m[r.clone()]).collect();
        assert_eq!(render(template(&cat, id), &values), m);
    }
}

#[test]
fn settled_words_split_until_a_third_word_appears() {
    let mut cat = TemplateCatalog::default();
    let mut https = Vec::new();
    for _ in 0..5 {
        https.push(add(&mut cat, "alpha open through proxy HTTPS").0);
    }
    let socks = add(&mut cat, "alpha open through proxy SOCKS5").0;
    // HTTPS was kept over 5 ≥ settle_count messages: SOCKS5 gets its own.
    assert_ne!(cat.resolve(https[0]), cat.resolve(socks));
    assert_eq!(template(&cat, socks), "alpha open through proxy SOCKS5");
    assert_eq!(add(&mut cat, "alpha open through proxy HTTPS").0, https[0]);
    // A third word shows the position is a variable: one template again,
    // absorbing the SOCKS5 one.
    let ftp = add(&mut cat, "alpha open through proxy FTP").0;
    assert_eq!(template(&cat, ftp), "alpha open through proxy <*>");
    assert_eq!(cat.resolve(https[0]), ftp);
    assert_eq!(cat.resolve(socks), ftp);
    assert_eq!(cat.live_len(), 1);
}

#[test]
fn settling_needs_enough_messages_and_can_be_off() {
    // Below settle_count the template generalises as plain Drain does.
    let mut cat = TemplateCatalog::default();
    let a = add(&mut cat, "alpha open through proxy HTTPS").0;
    let b = add(&mut cat, "alpha open through proxy SOCKS5").0;
    assert_eq!(cat.resolve(a), b);
    assert_eq!(template(&cat, b), "alpha open through proxy <*>");

    let mut cat = TemplateCatalog::new(DrainConfig {
        settle_count: 0,
        ..DrainConfig::default()
    });
    for _ in 0..10 {
        add(&mut cat, "alpha open through proxy HTTPS");
    }
    let b = add(&mut cat, "alpha open through proxy SOCKS5").0;
    assert_eq!(template(&cat, b), "alpha open through proxy <*>");

    // Words sharing a frame (`user=`) or holding values are not settled.
    let mut cat = TemplateCatalog::default();
    for _ in 0..10 {
        add(&mut cat, "auth failure rhost=a user=root");
    }
    let b = add(&mut cat, "auth failure rhost=a user=admin").0;
    assert_eq!(template(&cat, b), "auth failure rhost=a user=<*>");
}

#[test]
fn leading_values_of_different_types_share_a_branch() {
    let mut cat = TemplateCatalog::default();
    let a = add(
        &mut cat,
        "proxy.example.com:80 error : could not connect now",
    )
    .0;
    let b = add(&mut cat, "10.0.0.1:443 error : could not connect now").0;
    assert_eq!(cat.resolve(a), b);
    assert_eq!(template(&cat, b), "<*> error : could not connect now");
}

#[test]
fn joined_tokens_survive_persistence() {
    let mut cat = TemplateCatalog::default();
    add(&mut cat, "took 5 ms for bytes (1 KB) of job");
    let b = add(&mut cat, "took 7 sec for bytes (2 MB) of job").0;
    let loaded = TemplateCatalog::from_json(&cat.to_json()).expect("loads");
    let mut params = Vec::new();
    let msg = "took 9 min for bytes (3 GB) of job";
    assert_eq!(loaded.find(msg, &mut params), Some(b));
    let values: Vec<&str> = params.iter().map(|r| &msg[r.clone()]).collect();
    assert_eq!(render(template(&cat, b), &values), msg);
}

// ------------------------------------------------ multi-line and quoted text

#[test]
fn a_multi_line_message_is_its_first_line_plus_one_body_value() {
    let mut cat = TemplateCatalog::default();
    let short = "unhandled exception while processing order 17\njava.lang.IllegalStateException: bad state\n\tat a.B.c(B.java:12)\n\tat a.D.e(D.java:40)";
    let long = "unhandled exception while processing order 18\norg.example.DataAccessException: no connection\n\tat a.B.c(B.java:12)\n\tat a.D.e(D.java:40)\n\tat a.F.g(F.java:7)\nCaused by: java.sql.SQLException: timeout\n\t... 12 more\n";
    let (a, _) = add(&mut cat, short);
    let (b, values) = add(&mut cat, long);
    assert_eq!(a, b, "one event whatever the trace");
    assert_eq!(
        template(&cat, b),
        "unhandled exception while processing order <NUM>\n<*>"
    );
    // The body is one value: the trace as written, without trailing whitespace.
    assert_eq!(values[0], "18");
    assert_eq!(values[1], long[long.find("org.").unwrap()..].trim_end());
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    assert_eq!(render(template(&cat, b), &refs), long.trim_end());
    // The first line alone still decides: another first line, another event.
    let (c, _) = add(
        &mut cat,
        "job 4 failed after 3 attempts\nTraceback (most recent call last):\n  File \"/app/x.py\", line 9, in run\nKeyError: 'id'",
    );
    assert_ne!(c, a);
    assert_eq!(
        template(&cat, c),
        "job <NUM> failed after <NUM> attempts\n<*>"
    );
    // Templates with a body survive persistence and keep matching.
    let loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    let mut params = Vec::new();
    assert_eq!(
        loaded.find(
            "unhandled exception while processing order 99\npanic: x\n\tat y",
            &mut params
        ),
        Some(a)
    );
}

#[test]
fn quoted_free_text_is_one_value() {
    assert_eq!(
        mask(r#"acquire lock=233570404, tag="View Lock", name=com.android.systemui"#),
        r#"acquire lock=<NUM>, tag="<*>", name=com.android.systemui"#
    );
    // A quoted value that holds a value is one value; a quoted word stays,
    // and so does a quoted string that is one typed value.
    assert_eq!(mask(r#"agent "curl/8.5.0""#), r#"agent "<*>""#);
    assert_eq!(
        mask(r#"Acquiring suspend blocker "PowerManagerService.WakeLocks"."#),
        r#"Acquiring suspend blocker "PowerManagerService.WakeLocks"."#
    );
    assert_eq!(mask(r#"url="https://x.example/a b""#), r#"url="<*>""#);
    assert_eq!(mask(r#"url="https://x.example/a""#), r#"url="<URL>""#);
    // Unclosed, empty, or closed on another line: plain tokens.
    assert_eq!(mask(r#"say "a b"#), r#"say "a b"#);
    assert_eq!(mask("say \"a\nb\" c"), "say \"a\n<*>");
    assert_eq!(mask(r#"say "" now"#), r#"say "" now"#);
}

#[test]
fn access_log_lines_group_by_method_and_route() {
    let uas = [
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        "curl/8.5.0",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "okhttp/4.12.0",
    ];
    let mut cat = TemplateCatalog::default();
    let mut orders = Vec::new();
    for (i, ua) in uas.iter().enumerate() {
        let line = format!(
            r#""GET /api/v1/orders/{} HTTP/1.1" 200 {} "-" "{ua}""#,
            100 + i,
            300 + i
        );
        let (id, values) = add(&mut cat, &line);
        assert_eq!(values.last().map(String::as_str), Some(*ua));
        let refs: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(render(template(&cat, id), &refs), line);
        orders.push(id);
        let (h, _) = add(
            &mut cat,
            &format!(r#""GET /healthz HTTP/1.1" 200 {i} "-" "kube-probe/1.29""#),
        );
        assert_ne!(h, id);
    }
    assert!(orders.iter().all(|&id| id == orders[0]), "{orders:?}");
    assert_eq!(
        template(&cat, orders[0]),
        r#""GET /api/v1/orders/<NUM> HTTP/<NUM>" <NUM> <NUM> "-" "<*>""#
    );
    let (login, _) = add(
        &mut cat,
        r#""POST /api/v1/auth/login HTTP/1.1" 401 52 "-" "curl/8.5.0""#,
    );
    assert_ne!(login, orders[0]);
    // The request line is one token in a loaded catalog too.
    let loaded = TemplateCatalog::from_json(&cat.to_json()).unwrap();
    let mut params = Vec::new();
    let line = r#""GET /api/v1/orders/7 HTTP/1.1" 404 12 "-" "Wget/1.21""#;
    assert_eq!(loaded.find(line, &mut params), Some(orders[0]));
}
