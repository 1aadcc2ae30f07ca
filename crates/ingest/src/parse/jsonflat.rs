//! A validating, flattening JSON object scanner that borrows from its input.
//!
//! A JSON entry needs three things: whether the text is one JSON object,
//! its leaves under dotted keys (nested objects flattened, arrays and
//! scalars kept whole), and the raw text of each leaf to write `fields`.
//! Building a `serde_json::Value` tree for that allocates for every key and
//! string and then serialises the values again; this scanner walks the text
//! once, checks it against the JSON grammar (RFC 8259: string escapes, no raw
//! control characters, number syntax, literals, nesting up to
//! [`MAX_DEPTH`]), and records each leaf as byte ranges: the flattened key in
//! a reused buffer and the value as the exact text of the input. Only keys
//! holding escapes are decoded (by `serde_json`, on the key alone).
//!
//! Duplicate keys are kept as written; [`Flat::sort_dedup`] leaves one leaf
//! per flattened key, the last, as a JSON object read into a map would, and
//! drops the leaves of an earlier value of a repeated key (`{"a":{"b":1},
//! "a":5}` is `a` = 5 alone).

use std::collections::HashMap;
use std::ops::Range;

/// Deepest nesting accepted, as `serde_json`'s default recursion limit.
pub(crate) const MAX_DEPTH: usize = 128;

/// What a leaf holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeafKind {
    Null,
    Bool,
    Number,
    /// A string; `escaped` when its raw text holds a backslash.
    String {
        escaped: bool,
    },
    Array,
    /// `{}`: an empty object is a leaf, kept as written.
    EmptyObject,
    /// An object inside an array (only arrays hold these).
    Object,
}

/// One leaf: its flattened key (a range of [`Flat::keys`]) and its value (a
/// range of the scanned text, quotes included for strings).
#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    pub(crate) key: Range<usize>,
    pub(crate) value: Range<usize>,
    pub(crate) kind: LeafKind,
}

/// The leaves of one object; reused across entries.
#[derive(Debug, Default)]
pub(crate) struct Flat {
    /// Flattened keys, unescaped, back to back.
    pub(crate) keys: String,
    /// The key prefix of the object being scanned.
    path: String,
    pub(crate) leaves: Vec<Leaf>,
    /// Orders [`Flat::sort_dedup`] found for key sequences seen before: the
    /// entries of one logger repeat a few key sequences, so most objects are
    /// put in order by a lookup instead of a sort.
    orders: HashMap<u64, Order>,
    /// Scratch for the leaves being put in order.
    sorted: Vec<Leaf>,
    /// The keys (raw text ranges) of the members holding objects, of the
    /// objects being scanned, innermost last.
    members: Vec<Range<u32>>,
    /// Whether an object of this text names a member twice (or may: a key
    /// with escapes, an object of very many members).
    repeated: bool,
    /// Set while [`Flat::drop_shadowed`] scans again: objects then track
    /// every member and mark the leaves a repeated member replaces.
    resolve: bool,
    /// Leaves (indices) marked so.
    dead: Vec<usize>,
}

/// Members of one object looked at for repeats; an object with more members
/// holding objects, or with more leaves before one, is treated as if it
/// repeated one (see [`Flat::repeated`]).
const MEMBERS_COMPARED: usize = 64;

/// The order of one key sequence: the sequence (keys back to back and where
/// each ends), and the leaf indices in sorted order, duplicates left out.
#[derive(Debug)]
struct Order {
    keys: String,
    ends: Vec<u32>,
    perm: Vec<u32>,
}

/// Key sequences remembered at most; the cache starts over when full, so a
/// stream of ever-new sequences costs a sort each, as without it.
const ORDERS_MAX: usize = 512;

/// Longest key text (all keys of an object) whose order is remembered; with
/// [`ORDERS_MAX`] this bounds the cache to about 1 MiB.
const ORDER_KEYS_MAX: usize = 2048;

impl Flat {
    /// The flattened key of `leaf`.
    pub(crate) fn key(&self, leaf: &Leaf) -> &str {
        &self.keys[leaf.key.clone()]
    }

    /// Sorts the leaves of the object `text` by key and keeps the last of
    /// equal keys.
    pub(crate) fn sort_dedup(&mut self, text: &str) {
        if self.repeated {
            self.drop_shadowed(text);
        }
        if self.leaves.len() < 2 {
            return;
        }
        if self.keys.len() > ORDER_KEYS_MAX {
            let perm = self.sorted_order();
            reorder(&mut self.leaves, &mut self.sorted, &perm);
            return;
        }
        // Leaves are recorded in document order with their keys back to
        // back, so the keys text and the key ends are the whole sequence.
        let mut hash = xxhash_rust::xxh3::xxh3_64(self.keys.as_bytes());
        for leaf in &self.leaves {
            hash = (hash ^ leaf.key.end as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
        let same = |o: &Order, keys: &str, leaves: &[Leaf]| {
            o.keys == keys
                && o.ends.len() == leaves.len()
                && o.ends
                    .iter()
                    .zip(leaves)
                    .all(|(&e, l)| e as usize == l.key.end)
        };
        let hit = self
            .orders
            .get(&hash)
            .filter(|o| same(o, &self.keys, &self.leaves));
        let order = match hit {
            Some(o) => o,
            None => {
                let perm = self.sorted_order();
                if self.orders.len() >= ORDERS_MAX {
                    self.orders.clear();
                }
                let order = Order {
                    keys: self.keys.clone(),
                    ends: self.leaves.iter().map(|l| l.key.end as u32).collect(),
                    perm,
                };
                // A colliding sequence replaces the one remembered.
                self.orders.insert(hash, order);
                &self.orders[&hash]
            }
        };
        reorder(&mut self.leaves, &mut self.sorted, &order.perm);
    }

    /// A member named twice: the later value replaces the earlier whole, so
    /// the leaves of an earlier value (`{"a":{"b":1},"a":5}`) go. The text
    /// is scanned again with every object tracking its members (see
    /// `Scanner::object`), which marks them.
    #[cold]
    fn drop_shadowed(&mut self, text: &str) {
        self.resolve = true;
        let scanned = scan_object(text, self);
        self.resolve = false;
        if scanned && !self.dead.is_empty() {
            let mut dead = vec![false; self.leaves.len()];
            for &i in &self.dead {
                dead[i] = true;
            }
            let mut i = 0;
            self.leaves.retain(|_| {
                i += 1;
                !dead[i - 1]
            });
        }
    }

    /// Leaf indices sorted by key, the last of equal keys kept.
    fn sorted_order(&self) -> Vec<u32> {
        let keys = &self.keys;
        let leaves = &self.leaves;
        let mut perm: Vec<u32> = (0..leaves.len() as u32).collect();
        // Stable: equal keys stay in document order, so the last one wins.
        perm.sort_by(|&a, &b| {
            keys[leaves[a as usize].key.clone()].cmp(&keys[leaves[b as usize].key.clone()])
        });
        let mut out: Vec<u32> = Vec::with_capacity(perm.len());
        for i in perm {
            match out.last_mut() {
                Some(prev)
                    if keys[leaves[*prev as usize].key.clone()]
                        == keys[leaves[i as usize].key.clone()] =>
                {
                    *prev = i
                }
                _ => out.push(i),
            }
        }
        out
    }
}

/// Puts `leaves` in the order `perm` gives (indices into them), through `scratch`.
fn reorder(leaves: &mut Vec<Leaf>, scratch: &mut Vec<Leaf>, perm: &[u32]) {
    scratch.clear();
    scratch.extend(perm.iter().map(|&i| leaves[i as usize].clone()));
    std::mem::swap(leaves, scratch);
}

/// Scans `text` as one JSON object (whitespace around it allowed) into
/// `flat` (cleared first). `false` when the text is anything else.
pub(crate) fn scan_object(text: &str, flat: &mut Flat) -> bool {
    flat.keys.clear();
    flat.path.clear();
    flat.leaves.clear();
    flat.members.clear();
    flat.repeated = false;
    flat.dead.clear();
    let b = text.as_bytes();
    let mut s = Scanner { b, i: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return false;
    }
    if s.object(text, flat, 1).is_none() {
        return false;
    }
    s.ws();
    s.i == b.len()
}

/// A mask with the high bit set in each byte of `word` (little-endian) that
/// ends a run of plain string bytes: `"`, `\\` or a control byte. Bytes above
/// the first such one may be flagged falsely (a borrow carries), so only the
/// lowest set bit is exact, which is all a scan needs.
#[inline]
fn string_stops(word: u64) -> u64 {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |w: u64| w.wrapping_sub(LOW) & !w;
    let below_space = word.wrapping_sub(LOW * 0x20) & !word;
    (below_space
        | zero_in(word ^ (LOW * u64::from(b'"')))
        | zero_in(word ^ (LOW * u64::from(b'\\'))))
        & HIGH
}

/// The first position at or after `i` holding a quote, a backslash or a
/// control byte (`b.len()` when none does): the end of a run of plain string
/// bytes, looked for eight bytes at a time, then one at a time.
#[inline]
pub(crate) fn string_stop(b: &[u8], mut i: usize) -> usize {
    while let Some(word) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        let special = string_stops(u64::from_le_bytes(w));
        if special != 0 {
            return i + (special.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        i += 1;
    }
    i
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek() == Some(c)).then(|| self.i += 1)
    }

    /// An object at `self.i` (`{`), its leaves under the key prefix
    /// `flat.path` (empty at the top level).
    fn object(&mut self, text: &str, flat: &mut Flat, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        let base = flat.path.len();
        let members = flat.members.len();
        let leaves = flat.leaves.len();
        // Resolving: each member's key and the leaves its value made.
        let mut seen: Vec<(String, Range<usize>)> = Vec::new();
        loop {
            self.ws();
            let (k, escaped) = self.string()?;
            flat.path.truncate(base);
            if depth > 1 {
                flat.path.push('.');
            }
            if escaped {
                let key: String = serde_json::from_str(&text[k.clone()]).ok()?;
                flat.path.push_str(&key);
            } else {
                flat.path.push_str(&text[k.start + 1..k.end - 1]);
            }
            self.ws();
            self.eat(b':')?;
            self.ws();
            let v = self.i;
            let object = self.peek()? == b'{' && !self.empty_object_ahead();
            // Most members hold no object and follow none that does: nothing
            // to look at.
            if !flat.repeated && (escaped || object || flat.members.len() > members) {
                flat.repeated =
                    escaped || self.repeats(flat, members, leaves, k.start + 1..k.end - 1, object);
            }
            let first_leaf = flat.leaves.len();
            let leaf = if object {
                // A non-empty object is flattened under this member's key.
                self.object(text, flat, depth + 1)?;
                None
            } else {
                Some(self.value(depth)?)
            };
            if let Some(kind) = leaf {
                let start = flat.keys.len();
                flat.keys.push_str(&flat.path);
                flat.leaves.push(Leaf {
                    key: start..flat.keys.len(),
                    value: v..self.i,
                    kind,
                });
            }
            if flat.resolve {
                let key = &flat.path[base + usize::from(depth > 1)..];
                if let Some(at) = seen.iter().position(|(k, _)| k == key) {
                    let (_, earlier) = seen.remove(at);
                    flat.dead.extend(earlier);
                }
                seen.push((key.to_owned(), first_leaf..flat.leaves.len()));
            }
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    flat.path.truncate(base);
                    flat.members.truncate(members);
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// Whether the member whose key is at `key` (raw text, no escapes) in the
    /// object whose members holding objects start at `flat.members[members]`
    /// and whose leaves at `flat.leaves[leaves]` was named before in a way
    /// that leaves leaves of the earlier value (`flat.path` is its flattened
    /// key): a member holding an object named before at all, or any member
    /// named before as one holding an object. Two plain values under one
    /// name are one flattened key, which [`Flat::sort_dedup`] settles. Records
    /// a member holding an object.
    fn repeats(
        &self,
        flat: &mut Flat,
        members: usize,
        leaves: usize,
        key: Range<usize>,
        object: bool,
    ) -> bool {
        let text = &self.b[key.clone()];
        let objects = &flat.members[members..];
        if objects.len() >= MEMBERS_COMPARED {
            return true;
        }
        if objects
            .iter()
            .any(|r| r.len() == text.len() && self.b[r.start as usize..r.end as usize] == *text)
        {
            return true;
        }
        if !object {
            return false;
        }
        let plain = &flat.leaves[leaves..];
        if plain.len() >= 4 * MEMBERS_COMPARED {
            return true;
        }
        let path = flat.path.as_bytes();
        if plain
            .iter()
            .any(|l| l.key.len() == path.len() && flat.keys.as_bytes()[l.key.clone()] == *path)
        {
            return true;
        }
        flat.members.push(key.start as u32..key.end as u32);
        false
    }

    /// Whether the `{` at `self.i` opens an empty object.
    fn empty_object_ahead(&self) -> bool {
        let mut j = self.i + 1;
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(j) {
            j += 1;
        }
        self.b.get(j) == Some(&b'}')
    }

    /// A string at `self.i`: its range with the quotes, and whether it holds
    /// an escape.
    fn string(&mut self) -> Option<(Range<usize>, bool)> {
        let start = self.i;
        self.eat(b'"')?;
        let mut escaped = false;
        loop {
            self.i = string_stop(self.b, self.i);
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    return Some((start..self.i, escaped));
                }
                b'\\' => {
                    escaped = true;
                    self.i += 1;
                    match self.peek()? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
                        b'u' => {
                            let hex = self.b.get(self.i + 1..self.i + 5)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.i += 5;
                        }
                        _ => return None,
                    }
                }
                _ => return None,
            }
        }
    }

    /// Any value but a non-empty object (arrays may hold objects).
    fn value(&mut self, depth: usize) -> Option<LeafKind> {
        match self.peek()? {
            b'"' => {
                let (_, escaped) = self.string()?;
                Some(LeafKind::String { escaped })
            }
            b'[' => {
                self.array(depth + 1)?;
                Some(LeafKind::Array)
            }
            b'{' => {
                // An empty object (a member's), or any object in an array.
                let empty = self.empty_object_ahead();
                self.skip_object(depth + 1)?;
                Some(if empty {
                    LeafKind::EmptyObject
                } else {
                    LeafKind::Object
                })
            }
            b't' => self.literal(b"true", LeafKind::Bool),
            b'f' => self.literal(b"false", LeafKind::Bool),
            b'n' => self.literal(b"null", LeafKind::Null),
            _ => {
                self.number()?;
                Some(LeafKind::Number)
            }
        }
    }

    fn literal(&mut self, word: &[u8], kind: LeafKind) -> Option<LeafKind> {
        self.b[self.i..].starts_with(word).then(|| {
            self.i += word.len();
            kind
        })
    }

    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.peek().filter(u8::is_ascii_digit)?;
            self.digits();
        }
        Some(())
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
    }

    /// A bracketed, comma-separated sequence (`[…]`, or an object read
    /// without flattening): `item` reads one element.
    fn sequence(
        &mut self,
        (open, close): (u8, u8),
        depth: usize,
        mut item: impl FnMut(&mut Self) -> Option<()>,
    ) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.eat(open)?;
        self.ws();
        if self.eat(close).is_some() {
            return Some(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.i += 1,
                c if c == close => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<()> {
        self.sequence((b'[', b']'), depth, |s| s.value(depth).map(drop))
    }

    /// An object inside an array: validated, not flattened.
    fn skip_object(&mut self, depth: usize) -> Option<()> {
        self.sequence((b'{', b'}'), depth, |s| {
            s.string()?;
            s.ws();
            s.eat(b':')?;
            s.ws();
            s.value(depth).map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    /// The word-at-a-time test finds the same first stop byte as a byte
    /// loop, for every byte value at every position and for random words.
    #[test]
    fn string_stops_finds_the_first_stop() {
        let first = |bytes: [u8; 8]| {
            bytes
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .unwrap_or(8)
        };
        let swar = |bytes: [u8; 8]| {
            (string_stops(u64::from_le_bytes(bytes)).trailing_zeros() / 8) as usize
        };
        for pos in 0..8 {
            for c in 0..=255u8 {
                for fill in [b'a', 0xff, 0x80, b' ', 0x1f, b'"'] {
                    let mut bytes = [fill; 8];
                    bytes[pos] = c;
                    assert_eq!(swar(bytes), first(bytes), "{bytes:?}");
                }
            }
        }
        let mut rng = logoscope_testkit::XorShift::new(0x9e37_79b9_7f4a_7c15);
        for _ in 0..100_000 {
            let bytes = rng.next_u64().to_le_bytes();
            assert_eq!(swar(bytes), first(bytes), "{bytes:?}");
        }
    }

    fn leaves(text: &str) -> Option<Vec<(String, String)>> {
        let mut flat = Flat::default();
        if !scan_object(text, &mut flat) {
            return None;
        }
        flat.sort_dedup(text);
        Some(
            flat.leaves
                .iter()
                .map(|l| (flat.key(l).to_owned(), text[l.value.clone()].to_owned()))
                .collect(),
        )
    }

    /// The oracle: serde_json's tree, flattened the way entries are.
    fn oracle(text: &str) -> Option<Vec<(String, Value)>> {
        fn walk(prefix: Option<&str>, obj: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
            for (k, v) in obj {
                let key = prefix.map_or_else(|| k.clone(), |p| format!("{p}.{k}"));
                match v {
                    Value::Object(m) if !m.is_empty() => walk(Some(&key), m, out),
                    _ => out.push((key, v.clone())),
                }
            }
        }
        let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(text) else {
            return None;
        };
        let mut out = Vec::new();
        walk(None, &obj, &mut out);
        // Two paths can flatten to one key (`{"a":{"b":1},"a.b":2}`): the
        // last in document order wins, as for duplicate keys.
        out.sort_by(|a, b| a.0.cmp(&b.0));
        let mut deduped: Vec<(String, Value)> = Vec::with_capacity(out.len());
        for (k, v) in out {
            match deduped.last_mut() {
                Some(last) if last.0 == k => last.1 = v,
                _ => deduped.push((k, v)),
            }
        }
        Some(deduped)
    }

    /// A repeated member replaces the leaves of its earlier value only: a
    /// dotted key of the same text stays, and so does any depth the scanner
    /// takes.
    #[test]
    fn a_repeated_member_replaces_only_its_own_leaves() {
        let got = leaves(r#"{"a.b":7,"a":{"b":1},"a":5}"#).unwrap();
        assert_eq!(got, [("a".into(), "5".into()), ("a.b".into(), "7".into())]);
        let deep = format!(
            r#"{{"a":{{"b":1}},"a":5,"d":{}{}}}"#,
            "[".repeat(127),
            "]".repeat(127)
        );
        let got = leaves(&deep).unwrap();
        let keys: Vec<&str> = got.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["a", "d"]);
    }

    /// One `Flat` reused across objects, as on the parse thread: remembered
    /// orders must give what a fresh sort gives, for repeated sequences, the
    /// same keys in another order, splits that concatenate alike (`ab`,`c`
    /// vs `a`,`bc`), duplicates, long key texts, and after the cache starts over.
    #[test]
    fn remembered_orders_match_a_fresh_sort() {
        let mut texts: Vec<String> = vec![
            r#"{"b":1,"a":2,"c":3}"#.into(),
            r#"{"b":4,"a":5,"c":6}"#.into(),
            r#"{"c":1,"b":2,"a":3}"#.into(),
            r#"{"ab":1,"c":2}"#.into(),
            r#"{"a":1,"bc":2}"#.into(),
            r#"{"a":1,"b":2,"a":3}"#.into(),
            r#"{"a":1,"b":2,"a":4}"#.into(),
            r#"{"x":{"b":1,"a":2},"x.a":3}"#.into(),
            format!(r#"{{"{}":1,"b":2,"a":3}}"#, "k".repeat(3000)),
        ];
        for i in 0..(2 * ORDERS_MAX + 10) {
            texts.push(format!(r#"{{"k{}":1,"a":2,"k{}":3}}"#, i % 700, i % 300));
        }
        texts.extend(texts.clone());
        let mut flat = Flat::default();
        for text in &texts {
            assert!(scan_object(text, &mut flat), "{text}");
            flat.sort_dedup(text);
            let got: Vec<(String, Value)> = flat
                .leaves
                .iter()
                .map(|l| {
                    let v = serde_json::from_str(&text[l.value.clone()]).unwrap();
                    (flat.key(l).to_owned(), v)
                })
                .collect();
            assert_eq!(got, oracle(text).unwrap(), "{text}");
        }
    }

    #[test]
    fn flattens_with_exact_value_text() {
        let got = leaves(
            r#" {"b": {"c": [1, {"d": 2}], "e": {}}, "a": "x\"y", "n": 1.50e3, "z": null} "#,
        );
        assert_eq!(
            got.unwrap(),
            [
                ("a".into(), r#""x\"y""#.into()),
                ("b.c".into(), r#"[1, {"d": 2}]"#.into()),
                ("b.e".into(), "{}".into()),
                ("n".into(), "1.50e3".into()),
                ("z".into(), "null".into()),
            ]
        );
        // Escaped keys are decoded; the last of duplicate keys wins.
        assert_eq!(
            leaves(r#"{"k\u00e9y":1,"a":1,"a":2}"#).unwrap(),
            [("a".into(), "2".into()), ("kéy".into(), "1".into())]
        );
    }

    #[test]
    fn rejects_what_is_not_one_json_object() {
        for bad in [
            "",
            "{",
            "}",
            "[]",
            "1",
            "{} {}",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{a:1}",
            "{\"a\":01}",
            "{\"a\":1.}",
            "{\"a\":-}",
            "{\"a\":tru}",
            "{\"a\":\"\\x\"}",
            "{\"a\":\"\\u12\"}",
            "{\"a\":\"tab\there\"}",
            "{\"a\":[1,]}",
            "{\"a\":{\"b\":1}",
            "{\"a\":1}x",
        ] {
            assert_eq!(leaves(bad), None, "{bad:?}");
            assert!(oracle(bad).is_none(), "oracle accepts {bad:?}");
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        assert_eq!(leaves(&deep), None);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e9f64..1e9).prop_map(Value::from),
            "[a-z\"\\\\ é\u{1F600}\t]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[a-c.\"]{0,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Same verdict and same leaves as serde_json, whatever the spacing.
        #[test]
        fn agrees_with_serde_json(v in json_value(), pretty in any::<bool>()) {
            let text = if pretty { serde_json::to_string_pretty(&v) } else { serde_json::to_string(&v) }.unwrap();
            let ours = leaves(&text);
            match oracle(&text) {
                None => prop_assert!(ours.is_none(), "{text}"),
                Some(expected) => {
                    let ours = ours.unwrap();
                    let ours: Vec<(String, Value)> = ours
                        .into_iter()
                        .map(|(k, raw)| (k, serde_json::from_str(&raw).unwrap()))
                        .collect();
                    prop_assert_eq!(ours, expected, "{}", text);
                }
            }
        }

        /// Repeated keys whose values are objects or not, at any depth: the
        /// last value stands, with none of an earlier value's leaves.
        #[test]
        fn repeated_keys_keep_only_their_last_value(
            pairs in prop::collection::vec(
                (
                    prop::sample::select(vec!["a", "b", "c", "\\u0062", "long_key_name"]),
                    prop::sample::select(vec![
                        "1", "\"x\"", "{}", "[1]", "{\"b\":2}", "{\"c\":{\"b\":3}}", "{\"b\":{}}",
                        "{\"b\":1,\"b\":{\"c\":4}}", "{\"long_key_name\":{\"a\":5},\"long_key_nameX\":6}",
                    ]),
                ),
                1..8,
            )
        ) {
            let body: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            let text = format!("{{{}}}", body.join(","));
            let ours: Vec<(String, Value)> = leaves(&text)
                .unwrap()
                .into_iter()
                .map(|(k, raw)| (k, serde_json::from_str(&raw).unwrap()))
                .collect();
            prop_assert_eq!(ours, oracle(&text).unwrap(), "{}", text);
        }

        /// Arbitrary text: never a panic, and never a verdict serde_json
        /// disagrees with.
        #[test]
        fn same_verdict_on_noise(s in "\\{[ -~]{0,30}\\}?") {
            prop_assert_eq!(leaves(&s).is_some(), oracle(&s).is_some(), "{}", s);
        }
    }
}
