//! Log templating for Logoscope: typed masking, a tokenizer, the Drain prefix
//! tree and a serialisable, mergeable catalog of templates.
//!
//! This crate owns turning a log *message* (the text after the header) into a
//! stable [`TemplateId`] plus the parameters that fill the template's
//! placeholders. It must not depend on Arrow, DataFusion, storage or the
//! ingest pipeline: it works on `&str` and byte ranges only.
//!
//! ```
//! use logoscope_drain::{DrainConfig, TemplateCatalog, render};
//!
//! let mut catalog = TemplateCatalog::new(DrainConfig::default());
//! let mut params = Vec::new();
//! catalog.add("connected to 10.0.0.1:80 in 12ms as alice", None, &mut params);
//! let msg = "connected to 10.0.0.2:8080 in 3ms as bob";
//! let m = catalog.add(msg, Some(1_700_000_000_000_000), &mut params);
//!
//! let info = catalog.get(m.id).unwrap();
//! assert_eq!(info.template, "connected to <IP>:<NUM> in <NUM> as <*>");
//! let values: Vec<&str> = params.iter().map(|r| &msg[r.clone()]).collect();
//! assert_eq!(values, ["10.0.0.2", "8080", "3ms", "bob"]);
//! assert_eq!(render(&info.template, &values), msg);
//!
//! // The first template was generalised away and points at the new one.
//! assert_eq!(catalog.templates().count(), 2);
//! assert_eq!(catalog.live_len(), 1);
//! let old = catalog.templates().next().unwrap();
//! assert_eq!(catalog.resolve(old.id), m.id);
//!
//! // Persistence keeps ids; the tree is rebuilt on load.
//! let loaded = TemplateCatalog::from_json(&catalog.to_json()).unwrap();
//! assert_eq!(loaded.find("connected to 192.168.0.1:443 in 1s as carol", &mut params), Some(m.id));
//! ```
//!
//! # Masking
//!
//! [`mask`] (and the catalog) scan each message once, by hand — no regular
//! expressions, and no allocation per message once the catalog's buffers have
//! grown. Tokens are separated by ASCII whitespace; a no-break space (U+00A0,
//! U+2007, U+2009, U+202F) does not split a token but is punctuation inside
//! it. Inside a token, recognisers
//! run only at a *boundary*: the token start, or right after a punctuation
//! byte that was kept. A recognised value must end at the end of the token or
//! before a non-alphanumeric byte, so digits inside words (`user123`, `h2o`)
//! stay, while compound tokens split naturally: `key=42` → `key=<NUM>`,
//! `blk_-42` → `blk_<NUM>`, `/src/a.rs:12` → `<PATH>:<NUM>`.
//!
//! | placeholder | recognised |
//! |---|---|
//! | `<TIMESTAMP>` | `2024-01-02T15:04:05.123Z`, `2024-01-02 15:04:05,123` (the space is part of the value), `2024/01/02`, dates alone, syslog `Jan  2 15:04:05`, Android `01-02 15:04:05.123`, CLF `02/Jan/2024:15:04:05 +0000`, times `15:04:05(.123)` |
//! | `<UUID>` | `8-4-4-4-12` hex |
//! | `<IP>` | IPv4 (octets ≤ 255) and IPv6 (`::1`, `fe80::1`, `::ffff:1.2.3.4`); a `/` opening the token belongs to the address (`/10.0.0.1`, Java's `InetAddress` text) |
//! | `<HOST>` | host names: `name.domain:port` (two or more labels, one with a letter, then a port) and `a.b.edu.hk` (three or more labels ending in a 2–4 letter lowercase label) |
//! | `<BOOL>` | `true`/`false` (`True`, `FALSE`) as whole words, not inside identifiers (`is_true`) |
//! | `<NUM>` | integers, decimals, signs, exponents, dotted numbers (`1.2.3`), with a unit (`12ms`, `4.5MB`, `300s`, `10KiB`, `1h30m`, or after a no-break space: `5\u{a0}µs`) |
//! | `<HEX>` | `0x1f`, hex strings of ≥ 8 characters holding a digit and a letter, MAC addresses |
//! | `<EMAIL>` | `local@domain.tld` |
//! | `<URL>` | `scheme://…` up to whitespace, quotes or angle brackets, without trailing punctuation |
//! | `<PATH>` | `/a/b`, `/name`, `./x`, `../x`, `~/x`, `C:\x`, relative `a/b/c` (three or more segments) |
//! | `<B64>` | ≥ 20 base64 characters with a digit and mixed case (or `+`, `/`, `=` padding) |
//!
//! **`ip:port` becomes `<IP>:<NUM>`** (two parameters), so the port stays a
//! separately queryable value and the template shows the shape; bracketed
//! IPv6 gives `[<IP>]:<NUM>`.
//!
//! Placeholder text already present in a message (`<NUM>`, `<*>`, any
//! `<UPPER_CASE>` name) is treated as a value whose parameter is that text.
//! With the boundary rule (a placeholder counts as a word character for what
//! follows) this makes masking idempotent: `mask(mask(s)) == mask(s)`.
//!
//! **Lists.** Consecutive equal tokens that hold a value and a word of their
//! own (`blk_1 blk_2 blk_3`, all `blk_<NUM>`) are one list: one `<*>` whose
//! parameter is the whole run, so messages that differ only in a list's
//! length share a template. Runs of bare values (`7 5 1`) stay separate
//! fields.
//!
//! **Values written with spaces.** Two shapes join whitespace-separated
//! tokens into one (the template text is unchanged; only what counts as one
//! position is):
//! - a number and a unit of two or more letters (`12.8 KB`, `5 ms`,
//!   `3 sec,`): the unit belongs to the value as in `12.8KB`, and the pair
//!   is a value (single letters such as `5 m` stay words: too ambiguous);
//! - a bracketed value after any token (`bytes (12.8 KB)`, `slot [7]`): an
//!   annotation some messages carry and others leave out, so messages with
//!   and without it keep the same number of positions and can share a
//!   template (`bytes` / `bytes (12.8 KB)` generalise to `<*>`).
//!
//! The rule reads masked text only, so a template's text is re-tokenised the
//! same way on load, and masking stays idempotent.
//!
//! **Quoted strings.** Quotes delimit data. A double-quoted string that opens
//! at a token start or after `=` / `:`, closes on the same line, and is
//! followed only by closing punctuation (`,;.)]}`) is one position even when
//! it spans whitespace. When its content spans whitespace or holds a value it
//! is one value: `tag="View Lock",` → `tag="<*>",`, a user agent
//! `"Mozilla/5.0 (X11; Linux x86_64) …"` or `"curl/8.5.0"` → `"<*>"`, so
//! free text of varying length does not change a message's token count. A
//! quoted word (`"PowerManagerService.WakeLocks"`) stays, and so does a
//! string that is one typed value (`"<URL>"`). The exception is an **HTTP
//! request line** (`"GET /api/v1/orders/42 HTTP/1.1"`): method and target
//! are what an access-log line is about, so it stays one token as scanned,
//! and its target is a *route* — its segments are kept and only the values
//! in them masked (`/api/v1/orders/<NUM>`, `/products?page=<NUM>`), where
//! elsewhere the whole path would be `<PATH>`.
//!
//! **Multi-line messages.** Everything after a message's first line (a Java,
//! Python, Go or Rust trace, a goroutine dump, indented continuation lines)
//! is one `<*>` whose parameter is that text without trailing whitespace:
//! the first line names the event, and traces vary in length and frames from
//! one occurrence to the next, so as tokens they would split one event into
//! as many templates as there are trace lengths. The template is the first
//! line's template followed by `\n<*>` (the separator as written), and the
//! trace stays queryable as that parameter.
//!
//! **User masks.** [`DrainConfig::extra_masks`] holds [`MaskRule`]s (`name`,
//! `regex`). Their matches (without whitespace; earlier rules win overlaps)
//! are masked as `<NAME>` before any built-in recogniser looks at the text,
//! and built-in values never run over a match. With no rules the scanner
//! does no extra work and still allocates nothing per message.
//!
//! # The Drain tree
//!
//! Following Drain (He et al., 2017) and Drain3: messages are grouped first by
//! token count, then by their first `depth - 3` tokens (default depth 4: one
//! token). A token that still holds a digit after masking, or is a pure value
//! (`<IP>:<NUM>`, `<HOST>:<NUM>`, `<TIMESTAMP>`), goes to the `<*>` branch, so
//! values of different types in the routing position do not split an event;
//! once a node has `max_children` children (default 100), further new tokens
//! also share `<*>`. In the leaf, the message joins the template with
//! the highest *similarity* if that is at least `similarity` (default 0.7);
//! otherwise it starts a new template. Ties go to the template with more
//! wildcards.
//!
//! **Similarity counts words, not values.** Each template token is a word
//! (literal text, possibly with typed values inside, like `uid=<NUM>`), a
//! *value* (placeholders and punctuation only, like `<IP>:<NUM>`), `<*>`, or
//! a framed wildcard (below). Positions where the template has `<*>`, and
//! positions where both sides are values, say nothing about the message's
//! shape and are left out; the similarity is the share of the remaining
//! positions whose tokens agree. Drain's plain ratio lets two messages that
//! share only their variables (`HBM brightnessIn =38` / `HBM brightnessOut
//! =38`) or differ in the words that name the event (`establish new session`
//! / `renew session 0x1`) merge; discounting values lets the threshold be
//! raised to 0.7 while messages that differ in one free-text word among many
//! (`user alice` / `user bob` in a long line) still join.
//!
//! **Generalisation.** When a message joins a template it differs from, the
//! differing positions become `<*>`, except where the two tokens share a
//! literal *frame* — a prefix ending with punctuation and/or a suffix
//! starting with punctuation, holding a letter and no placeholder
//! (`rhost=…`, `environment:…`, `Surface(…)`): then only the part inside the
//! frame becomes `<*>` (`rhost=<*>`), the way a `key=value` pair is labelled,
//! and later tokens fit the template when they carry the same frame. Values
//! of different types in one position (`<IP>:<NUM>` / `<HOST>:<NUM>`) become
//! `<*>`. The template text changes, so it gets a
//! new id; the old [`TemplateInfo`] keeps its text and gets `parent_id` = the
//! new id ([`TemplateCatalog::resolve`] follows the chain). If the new text is
//! already live, the two clusters merge. Counts and first/last seen are kept
//! per id: they describe the messages stored under that id.
//!
//! **Settled words.** A plain word (no value in it, no literal frame shared
//! with the message's token) that a template has kept over at least
//! `settle_count` messages (default 4, counted under the template's current
//! id) is *settled*: a message that would join but has a different plain word
//! there starts a template of its own instead (`… proxy HTTPS` ×N, then
//! `… proxy SOCKS5`; `Failed password for …` / `Failed none for …`). When a
//! third word shows up at that position — a live template in the leaf equal
//! everywhere else already holds another word — the position is a variable
//! after all and generalises to `<*>` as usual (`for root` / `for uucp` /
//! `for ftp` → `for <*>`). `0` turns this off.
//!
//! **Covered templates are absorbed.** After a generalisation, every other
//! live template sharing a leaf that the new template *covers* (each position
//! equal, `<*>`, or within the same frame) is retired into it (its
//! `parent_id` points at the new id): all its messages fit the new template,
//! and keeping both would split one event over two templates depending on
//! which one a message meets first.
//!
//! **Bounds.** A leaf offers at most [`DrainConfig::max_leaf_templates`]
//! (default 256) clusters for matching: when a new one would pass it, the
//! leaf lets go of its least recently used cluster, which stays live in the
//! catalog (a message with its exact text lists it again, under the same
//! id). Messages that share few words therefore cost a bounded scan instead
//! of one that grows with every template. A message is split into at most
//! [`DrainConfig::max_tokens`] tokens (default 256): the rest of a longer one
//! becomes one `<*>`, as a multi-line message's body does, so no template
//! has more than 257 tokens. The catalog holds at most
//! [`DrainConfig::max_templates`] templates (default 100,000) and at most
//! [`DrainConfig::max_catalog_bytes`] of them (default 64 MiB, counted as
//! their text plus 160 bytes each and 40 per word); after that a
//! message that would start a template gets the *overflow template* of its
//! token count (`<*> <*> … <*>`, one space apart), which is in no leaf, so
//! it never takes a message a real template could. A full catalog learns no
//! new text: a message that fits a template as it is still gets it, and so
//! does one whose exact text is a known template, but one that would
//! generalise a template gets the overflow template instead (generalising
//! adds a template text too). A catalog loaded already over a bound is full
//! at once. Which templates are overflow ones is saved with the catalog
//! (never inferred from the text: learning can reach `<*> <*>` too). The
//! recency of use is not saved: in a loaded catalog, a leaf over the bound
//! lists its most recently created templates.
//!
//! **Steady state.** Which template takes a message depends only on its
//! masked tokens and on the tree and templates, not on counts. The catalog
//! therefore remembers, in a small direct-mapped table, which template took
//! each recent *shape* (sequence of masked tokens) as it was; a message of a
//! remembered shape skips the descent and the similarity scan of its leaf,
//! after a check that the template still covers it. Any change to the tree or
//! a template forgets the whole table at once, so the outcome of every
//! message is exactly the one the full search would give.
//!
//! **Ids.** [`TemplateId`] is xxh3_64 of the template text, so equal text
//! gives equal ids in every run and every catalog. The text is the masked
//! tokens joined by the whitespace of the message that created the template;
//! [`render`] of the template and the parameters returns the message whenever
//! the message uses the same separators and has no leading/trailing
//! whitespace (otherwise the caller keeps the message).
//!
//! # Persistence and merging
//!
//! [`TemplateCatalog::to_json`] stores the settings and every template;
//! [`TemplateCatalog::from_json`] rebuilds the tree from the live templates in
//! creation order (as Drain3 persistence restores its clusters), so a loaded
//! catalog continues as the saved one would have, except where the saved tree
//! had overflowed `max_children` with nodes no live template needs.
//! [`TemplateCatalog::merge`] takes the union of two catalogs; ids never
//! change.

mod catalog;
mod mask;
mod render;

pub use catalog::{DrainConfig, MaskRule, Matched, TemplateCatalog, TemplateId, TemplateInfo};
pub use mask::{Masker, PLACEHOLDERS, WILDCARD, mask};
pub use render::{placeholder_count, render, render_into, renders_as};

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// The catalog JSON could not be parsed.
    #[error("catalog JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The catalog was written by an unknown format version.
    #[error("unsupported catalog format version {0}")]
    UnsupportedVersion(u32),
    /// The catalog parses but is inconsistent.
    #[error("invalid catalog: {0}")]
    InvalidCatalog(String),
    /// A user mask has a bad name or a regular expression that does not compile.
    #[error("mask {name}: {reason}")]
    InvalidMask {
        /// The rule's name.
        name: String,
        /// What is wrong.
        reason: String,
    },
}
