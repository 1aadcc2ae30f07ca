//! The Drain prefix tree and the catalog of every template ever issued.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Range;

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::DrainError;
use crate::mask::{
    CompiledMask, Scan, WILDCARD, is_placeholder_name, is_ws, joined_var, quote_close,
    scan_message_with,
};
use crate::render::{placeholder_spans, renders_at};

/// Stable identifier of a template: xxh3_64 of its text.
pub type TemplateId = u64;

/// Drain parameters. See the crate documentation for what each one does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DrainConfig {
    /// Depth of the prefix tree, counting the root and the leaf layer (the
    /// tree descends on the first `depth - 3` tokens, never the last one).
    /// Values below 3 act as 3.
    pub depth: usize,
    /// Minimum similarity for a message to join a template (`0.0..=1.0`): the
    /// share of agreeing positions among those that are not `<*>` in the
    /// template and not values on both sides (see the crate docs).
    pub similarity: f64,
    /// Maximum children of an inner tree node; further distinct tokens share
    /// the `<*>` child. Values below 1 act as 1.
    pub max_children: usize,
    /// Route tokens that still contain a digit after masking, and pure
    /// values (`<IP>:<NUM>`), to the `<*>` branch of the tree, as Drain3 does
    /// with tokens holding digits.
    pub parametrize_numeric_tokens: bool,
    /// A plain word that a template has kept over at least this many
    /// messages is *settled*: a message that differs there by another plain
    /// word (and would otherwise join) starts a template of its own, until a
    /// third word shows up at that position, which generalises it to `<*>`.
    /// 0 turns this off.
    pub settle_count: u64,
    /// User masks, applied before the built-in recognisers, in order (an
    /// earlier rule wins where matches overlap). Each match becomes
    /// `<NAME>`; a match that contains whitespace is ignored.
    pub extra_masks: Vec<MaskRule>,
    /// Most templates one leaf of the tree offers for matching. When a new
    /// template would pass it, the leaf's least recently matched template
    /// leaves the leaf (it stays in the catalog, live; a message with its
    /// exact text lists it again). Bounds the work per message on logs whose
    /// messages share few words. Values below 1 act as 1.
    pub max_leaf_templates: usize,
    /// Most templates the catalog holds (retired ones included). Once it
    /// holds this many it is *full*: a message that fits no template as it
    /// is gets the overflow template of its token count (`<*> <*> … <*>`)
    /// instead of a new or generalised one. Bounds the catalog's memory on
    /// input that never repeats. Values below 1 act as 1.
    pub max_templates: usize,
    /// Most bytes the catalog's templates take (retired ones included),
    /// counted as their text plus 160 bytes each and 40 per
    /// whitespace-separated word (about what they hold in memory). Past it
    /// the catalog is full, as at `max_templates`. Bounds its memory on
    /// messages that never repeat and are long.
    /// Values below 1 act as 1.
    pub max_catalog_bytes: usize,
    /// Most tokens a message is split into: the rest of a longer message
    /// (to its last non-whitespace byte) becomes one `<*>`, as the lines
    /// after a multi-line message's first do. Bounds the number of tokens of
    /// a template whatever the length of the messages.
    /// Values below 1 act as 1.
    pub max_tokens: usize,
    /// Field keys left out of structured (JSON, logfmt) template shapes.
    /// Templating does not read this: the ingest layer does, and keeping it
    /// here stores it with the catalog, so that every ingest into an archive
    /// builds shapes the same way, as the masks do. `None` for a catalog
    /// stored before the keys were kept (they were given per ingest then).
    #[serde(default)]
    pub shape_drop_keys: Option<Vec<String>>,
}

/// Bytes counted for each template against [`DrainConfig::max_catalog_bytes`],
/// besides its text.
const TEMPLATE_COST: usize = 160;
/// Bytes counted for each token of a template against
/// [`DrainConfig::max_catalog_bytes`] (its hash, kind, span and hole).
const TOKEN_COST: usize = 40;

/// What a template counts against [`DrainConfig::max_catalog_bytes`].
fn template_cost(template: &str) -> usize {
    let tokens = template.split_ascii_whitespace().count();
    template.len() + TEMPLATE_COST + TOKEN_COST * tokens
}

/// A user mask: every match of `regex` in a message becomes the placeholder
/// `<NAME>` (with the matched text as its parameter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaskRule {
    /// Placeholder name: an ASCII uppercase letter, then uppercase letters,
    /// digits or `_` (at most 31 bytes), e.g. `TICKET`.
    pub name: String,
    /// Regular expression (Rust `regex` syntax).
    pub regex: String,
}

impl MaskRule {
    /// A rule from its name and regular expression (checked when a catalog is
    /// built; see [`TemplateCatalog::try_new`]).
    pub fn new(name: impl Into<String>, regex: impl Into<String>) -> Self {
        MaskRule {
            name: name.into(),
            regex: regex.into(),
        }
    }

    fn compile(&self) -> Result<CompiledMask, DrainError> {
        if !is_placeholder_name(&self.name) {
            return Err(DrainError::InvalidMask {
                name: self.name.clone(),
                reason: "name must be an uppercase letter followed by uppercase letters, \
                         digits or '_' (at most 31 bytes)"
                    .to_owned(),
            });
        }
        let regex = regex::Regex::new(&self.regex).map_err(|e| DrainError::InvalidMask {
            name: self.name.clone(),
            reason: e.to_string(),
        })?;
        Ok(CompiledMask {
            placeholder: format!("<{}>", self.name),
            regex,
        })
    }
}

impl Default for DrainConfig {
    /// Drain3's tree defaults (depth 4, max children 100, numeric tokens
    /// parametrised) with similarity 0.7 (for the value-aware similarity;
    /// Drain3's 0.4 is for its plain ratio), settle count 4 and no user
    /// masks. One setting for every log: 0.7 was picked among 0.4–0.8 and
    /// 4 among 2–64 on the averaged Loghub samples, never per dataset
    /// (every settle count from 2 to 64 gave the same or better averages
    /// than none; 2–8 gave the best).
    fn default() -> Self {
        DrainConfig {
            depth: 4,
            similarity: 0.7,
            max_children: 100,
            parametrize_numeric_tokens: true,
            settle_count: 4,
            extra_masks: Vec::new(),
            max_leaf_templates: 256,
            max_templates: 100_000,
            max_catalog_bytes: 64 << 20,
            max_tokens: 256,
            shape_drop_keys: Some(Vec::new()),
        }
    }
}

impl DrainConfig {
    fn sanitised(mut self) -> Self {
        self.depth = self.depth.max(3);
        self.max_children = self.max_children.max(1);
        self.max_leaf_templates = self.max_leaf_templates.max(1);
        self.max_templates = self.max_templates.max(1);
        self.max_catalog_bytes = self.max_catalog_bytes.max(1);
        self.max_tokens = self.max_tokens.max(1);
        self.similarity = if self.similarity.is_finite() {
            self.similarity.clamp(0.0, 1.0)
        } else {
            DrainConfig::default().similarity
        };
        self
    }
}

/// Result of [`TemplateCatalog::add`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched {
    /// The live template the message now belongs to.
    pub id: TemplateId,
    /// True when this call issued `id` for the first time.
    pub is_new: bool,
}

/// One template, live or generalised away.
///
/// `count`, `first_seen` and `last_seen` describe the messages [`TemplateCatalog::add`]
/// returned *this* id for (the rows stored under it), so summing `count` over
/// the ids that [`TemplateCatalog::resolve`] to a live template gives that
/// template's total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TemplateInfo {
    /// xxh3_64 of `template`.
    pub id: TemplateId,
    /// Template text: masked tokens, `<*>` where messages differed, joined by
    /// the separators of the message that created it.
    pub template: String,
    /// Messages assigned this id.
    pub count: u64,
    /// Earliest timestamp (µs since the epoch) among those messages.
    pub first_seen: Option<i64>,
    /// Latest timestamp (µs since the epoch) among those messages.
    pub last_seen: Option<i64>,
    /// The more general template this one became; `None` while live.
    pub parent_id: Option<TemplateId>,
}

/// Hasher for keys that already are xxh3 outputs.
#[derive(Debug, Default, Clone, Copy)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = xxh3_64(bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type IdMap<V> = HashMap<u64, V, BuildHasherDefault<PassThrough>>;

const NONE: u32 = u32::MAX;
fn holds_placeholder(t: &[u8]) -> bool {
    (0..t.len()).any(|i| t[i] == b'<' && crate::mask::literal_placeholder(&t[i..]).is_some())
}

#[derive(Debug, Clone, Default)]
struct Node {
    children: IdMap<u32>,
    clusters: Vec<u32>,
}

/// What a template token stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    /// Literal text (possibly holding typed placeholders next to words).
    Const,
    /// A pure value: typed placeholders and punctuation only.
    Var,
    /// `<*>`: any token.
    Wild,
    /// Literal prefix and suffix (byte lengths) around one `<*>`, as in
    /// `rhost=<*>`: any token with that prefix and suffix.
    Partial(u16, u16),
}

/// Whether a token kind is a word: literal text, or a `<*>` framed by it.
fn is_word(k: Tok) -> bool {
    matches!(k, Tok::Const | Tok::Partial(..))
}

/// Whether a template of these token kinds has no word.
fn wordless(kinds: &[Tok]) -> bool {
    !kinds.iter().copied().any(is_word)
}

#[derive(Debug, Clone)]
struct Cluster {
    /// Index of the live template in `infos`.
    info: u32,
    /// xxh3 of each template token.
    tokens: Vec<u64>,
    /// Kind of each template token.
    kinds: Vec<Tok>,
    /// Whether each token is a [`Tok::Var`] (packed for the similarity loop).
    vars: Vec<bool>,
    /// Whether any token is a [`Tok::Partial`] (else hashes decide alone).
    framed: bool,
    /// Whether no token is a word ([`Tok::Const`] or [`Tok::Partial`]):
    /// then a `<*>` takes only values (see [`Score::similarity`]).
    wordless: bool,
    /// Positions of the `<*>` and [`Tok::Partial`] tokens: everywhere else
    /// a message's parameters are its own, in order.
    open: Vec<u32>,
    /// Byte range of each token in the template text.
    spans: Vec<(u32, u32)>,
    /// Leaves listing this cluster.
    leaves: Vec<u32>,
    alive: bool,
    /// When it last took a message ([`TemplateCatalog::tick`]): the least
    /// recently used leaves a full leaf first.
    used: u64,
}

#[derive(Serialize)]
struct PersistedRef<'a> {
    version: u32,
    config: &'a DrainConfig,
    templates: &'a [TemplateInfo],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    overflow: &'a [TemplateId],
}

#[derive(Deserialize)]
struct Persisted {
    version: u32,
    config: DrainConfig,
    templates: Vec<TemplateInfo>,
    #[serde(default)]
    overflow: Vec<TemplateId>,
}

const FORMAT_VERSION: u32 = 1;

/// The Drain tree plus every template ever issued; see the crate docs.
#[derive(Clone)]
pub struct TemplateCatalog {
    config: DrainConfig,
    wildcard: u64,
    infos: Vec<TemplateInfo>,
    /// For each entry of `infos`, the byte ranges of its placeholders.
    holes: Vec<Box<[(u32, u32)]>>,
    by_id: IdMap<u32>,
    /// For each entry of `infos`, its cluster while live, else `NONE`.
    cluster_of: Vec<u32>,
    clusters: Vec<Cluster>,
    nodes: Vec<Node>,
    /// Token count → first-layer node.
    by_len: Vec<u32>,
    scan: Scan,
    /// `config.extra_masks`, compiled.
    masks: Vec<CompiledMask>,
    /// Recent message shapes each taken as is by a cluster; see [`ShapeMemo`].
    memo: ShapeMemo,
    /// Messages added so far: the clock of [`Cluster::used`].
    tick: u64,
    /// Token count → the cluster of its overflow template (`<*> … <*>`), or
    /// `NONE`. Overflow clusters are in no leaf: they take only what
    /// [`DrainConfig::max_templates`] sends them.
    overflow: Vec<u32>,
    /// Ids of the overflow templates, saved with the catalog: which template is an overflow
    /// one is decided when it is issued, never by its text (learning can reach `<*> <*>` too).
    overflow_ids: Vec<TemplateId>,
    /// Messages sent to an overflow template.
    overflowed: u64,
    /// What the templates count against [`DrainConfig::max_catalog_bytes`].
    bytes: usize,
}

/// Slots of the [`ShapeMemo`] (a power of two).
const MEMO_SLOTS: usize = 4096;

/// Direct-mapped memo of the steady state: the *shape* of a message (its
/// masked tokens, as hashes) → the cluster that took such a message as it
/// is. Matching reads the tree, the clusters and their templates only, never
/// counts, so while none of those changes a message of a remembered shape
/// would go down the same path to the same cluster; the memo lets it skip
/// the descent and the similarity scan of its leaf. Any change to the tree or
/// a cluster starts a new generation, which forgets every slot at once.
/// A hit is still checked to cover the message, so a 64-bit key collision
/// can never return a template the message does not fit.
#[derive(Clone, Default)]
struct ShapeMemo {
    /// Key, cluster, generation; empty until first used.
    slots: Vec<(u64, u32, u32)>,
    /// Current generation; slots of older ones are stale. Starts at 1 so
    /// zeroed slots are never current.
    generation: u32,
}

impl ShapeMemo {
    fn key(hashes: &[u64], vars: &[bool]) -> u64 {
        let mut k = hashes.len() as u64;
        for (&h, &v) in hashes.iter().zip(vars) {
            k = (k.rotate_left(23) ^ h ^ u64::from(v)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        k
    }

    fn slot(key: u64) -> usize {
        (key >> 32) as usize & (MEMO_SLOTS - 1)
    }

    fn get(&self, key: u64) -> Option<u32> {
        match self.slots.get(Self::slot(key)) {
            Some(&(k, ci, g)) if k == key && g == self.generation => Some(ci),
            _ => None,
        }
    }

    fn put(&mut self, key: u64, ci: u32) {
        if self.slots.is_empty() {
            self.slots = vec![(0, 0, 0); MEMO_SLOTS];
            self.generation = self.generation.max(1);
        }
        self.slots[Self::slot(key)] = (key, ci, self.generation);
    }

    fn forget(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.slots.iter_mut().for_each(|s| *s = (0, 0, 0));
            self.generation = 1;
        }
    }
}

impl fmt::Debug for TemplateCatalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TemplateCatalog")
            .field("config", &self.config)
            .field("templates", &self.infos.len())
            .field("live", &self.live_len())
            .finish()
    }
}

impl Default for TemplateCatalog {
    fn default() -> Self {
        TemplateCatalog::new(DrainConfig::default())
    }
}

/// Outcome of comparing a message with a cluster.
#[derive(Clone, Copy)]
struct Score {
    /// Positions that agree and count for similarity.
    equal: usize,
    /// Positions that count for similarity.
    counted: usize,
    wild: usize,
    /// Wildcard positions where the message has a word.
    wild_words: usize,
}

impl Score {
    /// The share of counted positions that agree. A template with none
    /// (wildcards and values only, such as `<*>` generalised from `<PATH>`
    /// and `<NUM>`) is as similar as can be to a message of values, and not
    /// at all to one with a word where it has a wildcard: it says nothing
    /// about words, so it must not take in every message of its length.
    fn similarity(self) -> f64 {
        if self.counted == 0 {
            if self.wild_words == 0 { 1.0 } else { 0.0 }
        } else {
            self.equal as f64 / self.counted as f64
        }
    }
}

impl TemplateCatalog {
    /// An empty catalog. Out-of-range settings are brought into range (see
    /// [`DrainConfig`]); [`TemplateCatalog::config`] shows the values in use.
    ///
    /// User masks ([`DrainConfig::extra_masks`]) that do not compile or have
    /// an invalid name are left out (and out of [`TemplateCatalog::config`]);
    /// [`TemplateCatalog::try_new`] reports them instead.
    pub fn new(mut config: DrainConfig) -> Self {
        let mut masks = Vec::new();
        config.extra_masks.retain(|rule| match rule.compile() {
            Ok(m) => {
                masks.push(m);
                true
            }
            Err(_) => false,
        });
        TemplateCatalog::with_masks(config, masks)
    }

    /// Like [`TemplateCatalog::new`], but fails on an invalid user mask.
    pub fn try_new(config: DrainConfig) -> Result<Self, DrainError> {
        let masks = config
            .extra_masks
            .iter()
            .map(MaskRule::compile)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TemplateCatalog::with_masks(config, masks))
    }

    fn with_masks(config: DrainConfig, masks: Vec<CompiledMask>) -> Self {
        TemplateCatalog {
            masks,
            config: config.sanitised(),
            wildcard: xxh3_64(WILDCARD.as_bytes()),
            infos: Vec::new(),
            holes: Vec::new(),
            by_id: IdMap::default(),
            cluster_of: Vec::new(),
            clusters: Vec::new(),
            nodes: Vec::new(),
            by_len: Vec::new(),
            scan: Scan::default(),
            memo: ShapeMemo::default(),
            tick: 0,
            overflow: Vec::new(),
            overflow_ids: Vec::new(),
            overflowed: 0,
            bytes: 0,
        }
    }

    /// The settings in use.
    pub fn config(&self) -> &DrainConfig {
        &self.config
    }

    /// Sets [`DrainConfig::max_templates`] (at least 1) for what is added
    /// from now on; templates already issued stay.
    pub fn set_max_templates(&mut self, max: usize) {
        self.config.max_templates = max.max(1);
    }

    /// Sets [`DrainConfig::max_catalog_bytes`] (at least 1) for what is
    /// added from now on; templates already issued stay.
    pub fn set_max_catalog_bytes(&mut self, max: usize) {
        self.config.max_catalog_bytes = max.max(1);
    }

    /// Sets [`DrainConfig::shape_drop_keys`], for a catalog stored before
    /// they were kept: from then on they are the catalog's.
    pub fn set_shape_drop_keys(&mut self, keys: Vec<String>) {
        self.config.shape_drop_keys = Some(keys);
    }

    /// What the templates count against [`DrainConfig::max_catalog_bytes`].
    pub fn template_bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the catalog is full: it holds
    /// [`DrainConfig::max_templates`] templates or
    /// [`DrainConfig::max_catalog_bytes`] bytes of them.
    pub fn is_full(&self) -> bool {
        self.infos.len() >= self.config.max_templates || self.bytes >= self.config.max_catalog_bytes
    }

    /// Messages this catalog sent to an overflow template since it was
    /// built or loaded (see [`DrainConfig::max_templates`]).
    pub fn overflowed(&self) -> u64 {
        self.overflowed
    }

    /// The user masks (by name) that matched text holding whitespace, and how
    /// many times, in the messages [`add`](Self::add) has seen since this
    /// catalog was built or loaded. Such matches are left as they are: a mask
    /// applies within one token.
    pub fn masks_with_spaced_matches(&self) -> Vec<(&str, u64)> {
        self.config
            .extra_masks
            .iter()
            .zip(&self.scan.spaced_matches)
            .filter(|(_, n)| **n > 0)
            .map(|(m, &n)| (m.name.as_str(), n))
            .collect()
    }

    /// Masks and templates `message`, learning from it.
    ///
    /// `params` is cleared, then receives the byte ranges (into `message`) of
    /// the values the returned template's placeholders stand for, in order:
    /// rendering the template with them gives back `message` whenever the
    /// message has no leading/trailing whitespace and the same separators as
    /// the template. `ts_micros` feeds `first_seen`/`last_seen`.
    pub fn add(
        &mut self,
        message: &str,
        ts_micros: Option<i64>,
        params: &mut Vec<Range<usize>>,
    ) -> Matched {
        params.clear();
        let mut scan = std::mem::take(&mut self.scan);
        scan_message_with(message, &mut scan, &self.masks, self.config.max_tokens);
        let key = ShapeMemo::key(&scan.hashes, &scan.vars);
        let (ci, is_new) = match self.memo.get(key) {
            Some(ci) if self.covers(ci, message, &scan) => {
                self.touch(self.clusters[ci as usize].info, ts_micros);
                (ci, false)
            }
            _ => self.learn(message, &scan, key, ts_micros),
        };
        self.tick += 1;
        self.clusters[ci as usize].used = self.tick;
        self.push_params(ci, &scan, params);
        self.scan = scan;
        Matched {
            id: self.infos[self.clusters[ci as usize].info as usize].id,
            is_new,
        }
    }

    /// Like [`TemplateCatalog::add`] without learning: the live template whose
    /// every non-wildcard token equals the message's, if any.
    pub fn find(&self, message: &str, params: &mut Vec<Range<usize>>) -> Option<TemplateId> {
        params.clear();
        let mut scan = Scan::default();
        scan_message_with(message, &mut scan, &self.masks, self.config.max_tokens);
        let hashes = &scan.hashes;
        let ci = self
            .leaf_for(hashes)
            .and_then(|leaf| {
                self.first_covering(
                    message,
                    self.nodes[leaf as usize].clusters.iter().copied(),
                    &scan,
                )
            })
            .or_else(|| {
                // Real templates first; the overflow one covers every message of its length.
                let all = (0..self.clusters.len() as u32).filter(|&c| {
                    let cl = &self.clusters[c as usize];
                    cl.alive && cl.tokens.len() == hashes.len() && !self.is_overflow(c)
                });
                self.first_covering(message, all, &scan)
            })
            .or_else(|| {
                self.overflow
                    .get(hashes.len())
                    .copied()
                    .filter(|&c| c != NONE)
            })?;
        self.push_params(ci, &scan, params);
        Some(self.infos[self.clusters[ci as usize].info as usize].id)
    }

    /// Any template ever issued.
    pub fn get(&self, id: TemplateId) -> Option<&TemplateInfo> {
        self.by_id.get(&id).map(|&i| &self.infos[i as usize])
    }

    /// Whether template `id` with `params` in its placeholders gives exactly
    /// `expected` ([`crate::renders_as`], with the placeholders found once
    /// per template rather than per call); false for an unknown id.
    pub fn renders_as<'p>(
        &self,
        id: TemplateId,
        params: impl IntoIterator<Item = &'p str>,
        expected: &str,
    ) -> bool {
        self.by_id.get(&id).is_some_and(|&i| {
            let i = i as usize;
            renders_at(&self.infos[i].template, &self.holes[i], params, expected)
        })
    }

    /// Follows `parent_id` links to the live template; unknown ids map to
    /// themselves.
    pub fn resolve(&self, id: TemplateId) -> TemplateId {
        let mut cur = id;
        // Chains are acyclic by construction; the bound only guards against
        // a hand-edited catalog.
        for _ in 0..=self.infos.len() {
            match self.get(cur).and_then(|t| t.parent_id) {
                Some(p) => cur = p,
                None => return cur,
            }
        }
        cur
    }

    /// Every template ever issued, in the order they were issued, including
    /// generalised-away ones.
    pub fn templates(&self) -> impl Iterator<Item = &TemplateInfo> {
        self.infos.iter()
    }

    /// Number of live templates (those without a parent).
    pub fn live_len(&self) -> usize {
        self.clusters.iter().filter(|c| c.alive).count()
    }

    /// Serialises the settings and all templates; the tree is rebuilt from
    /// the live templates by [`TemplateCatalog::from_json`].
    pub fn to_json(&self) -> String {
        let p = PersistedRef {
            version: FORMAT_VERSION,
            config: &self.config,
            templates: &self.infos,
            overflow: &self.overflow_ids,
        };
        // Plain data with string keys: serialisation cannot fail.
        serde_json::to_string(&p).unwrap_or_default()
    }

    /// Loads a catalog written by [`TemplateCatalog::to_json`].
    pub fn from_json(s: &str) -> Result<Self, DrainError> {
        let p: Persisted = serde_json::from_str(s)?;
        if p.version != FORMAT_VERSION {
            return Err(DrainError::UnsupportedVersion(p.version));
        }
        let mut cat = TemplateCatalog::try_new(p.config)?;
        for t in p.templates {
            if xxh3_64(t.template.as_bytes()) != t.id {
                return Err(DrainError::InvalidCatalog(format!(
                    "template id {} does not match its text {:?}",
                    t.id, t.template
                )));
            }
            if cat.by_id.insert(t.id, cat.infos.len() as u32).is_some() {
                return Err(DrainError::InvalidCatalog(format!(
                    "duplicate template id {}",
                    t.id
                )));
            }
            cat.holes.push(placeholder_spans(&t.template));
            cat.infos.push(t);
        }
        for t in &cat.infos {
            if let Some(p) = t.parent_id
                && !cat.by_id.contains_key(&p)
            {
                return Err(DrainError::InvalidCatalog(format!(
                    "template {} has unknown parent {p}",
                    t.id
                )));
            }
        }
        if let Some(id) = p.overflow.iter().find(|id| !cat.by_id.contains_key(id)) {
            return Err(DrainError::InvalidCatalog(format!(
                "unknown overflow template {id}"
            )));
        }
        cat.overflow_ids = p.overflow;
        // Catalogs written before 2026-11 could record a template whose
        // generalisation left its text as it was as its own parent; it is
        // live, and reads so.
        for t in &mut cat.infos {
            if t.parent_id == Some(t.id) {
                t.parent_id = None;
            }
        }
        if cat.break_cycles() {
            return Err(DrainError::InvalidCatalog(
                "parent_id links form a cycle".into(),
            ));
        }
        cat.rebuild();
        Ok(cat)
    }

    /// Adds `other`'s templates to this catalog. Ids present in both get
    /// summed counts and widened first/last seen; a template live here but
    /// generalised in `other` takes `other`'s parent. The tree is rebuilt.
    pub fn merge(&mut self, other: &TemplateCatalog) {
        self.merge_counting(other, |t| t.count);
    }

    /// Like [`TemplateCatalog::merge`], for `other` learnt on from `base`,
    /// whose counts this catalog already holds (a newer catalog that also
    /// grew from `base`): only what `other` counted since `base` is added, so
    /// concurrent ingests that started from one catalog count each message
    /// once.
    pub fn merge_since(&mut self, other: &TemplateCatalog, base: &TemplateCatalog) {
        self.merge_counting(other, |t| {
            t.count
                .saturating_sub(base.get(t.id).map_or(0, |b| b.count))
        });
    }

    fn merge_counting(&mut self, other: &TemplateCatalog, count: impl Fn(&TemplateInfo) -> u64) {
        for t in &other.infos {
            match self.by_id.get(&t.id) {
                None => {
                    self.by_id.insert(t.id, self.infos.len() as u32);
                    self.holes.push(placeholder_spans(&t.template));
                    self.infos.push(TemplateInfo {
                        count: count(t),
                        ..t.clone()
                    });
                }
                Some(&i) => {
                    let mine = &mut self.infos[i as usize];
                    mine.count += count(t);
                    mine.first_seen = min_opt(mine.first_seen, t.first_seen);
                    mine.last_seen = max_opt(mine.last_seen, t.last_seen);
                    if mine.parent_id.is_none() {
                        mine.parent_id = t.parent_id;
                    }
                }
            }
        }
        for &id in &other.overflow_ids {
            if !self.overflow_ids.contains(&id) {
                self.overflow_ids.push(id);
            }
        }
        self.break_cycles();
        self.rebuild();
    }

    // ------------------------------------------------------------ learning

    /// Finds or creates the cluster for a scanned message; returns it and
    /// whether a new id was issued.
    /// `key` is the message's [`ShapeMemo`] key.
    fn learn(&mut self, message: &str, scan: &Scan, key: u64, ts: Option<i64>) -> (u32, bool) {
        let hashes = &scan.hashes;
        let matched = self.leaf_for(hashes).and_then(|leaf| {
            self.best_in(
                message,
                self.nodes[leaf as usize].clusters.iter().copied(),
                scan,
                self.config.similarity,
            )
        });
        let Some(ci) = matched else {
            return self.create_or_overflow(message, scan, ts);
        };
        if self.covers(ci, message, scan) {
            let info = self.clusters[ci as usize].info;
            self.touch(info, ts);
            self.memo.put(key, ci);
            return (ci, false);
        }
        if let Some(p) = self.settled_conflict(ci, scan)
            && !self.has_rival(self.leaf_for(hashes).unwrap_or(NONE), ci, p, scan.hashes[p])
        {
            return self.create_or_overflow(message, scan, ts);
        }
        // A full catalog learns no new text: generalising would add one.
        if self.is_full() {
            return self.create_or_overflow(message, scan, ts);
        }
        let (target, is_new) = self.generalise(ci, message, scan, ts);
        self.absorb_covered(target);
        (target, is_new)
    }

    /// A new template for the message, or its overflow template once the
    /// catalog is full (see [`TemplateCatalog::is_full`]).
    fn create_or_overflow(&mut self, message: &str, scan: &Scan, ts: Option<i64>) -> (u32, bool) {
        // A full catalog still lists or revives a template with the message's exact text:
        // neither adds an entry.
        let full = self.is_full();
        if let Some(found) = self.create(message, scan, ts, !full) {
            return found;
        }
        self.overflowed += 1;
        let n = scan.hashes.len();
        if let Some(&ci) = self.overflow.get(n).filter(|&&ci| ci != NONE) {
            self.touch(self.clusters[ci as usize].info, ts);
            return (ci, false);
        }
        let text = overflow_text(n);
        let id = xxh3_64(text.as_bytes());
        let spans = (0..n as u32).map(|i| (i * 4, i * 4 + 3)).collect();
        let (ci, is_new) = match self.by_id.get(&id).copied() {
            Some(idx) if self.cluster_of[idx as usize] != NONE => {
                // A template with this text was learnt from messages: it is
                // the overflow template now, and in no leaf.
                let ci = self.cluster_of[idx as usize];
                self.detach_all(ci);
                (ci, false)
            }
            Some(idx) => {
                self.infos[idx as usize].parent_id = None;
                (
                    self.new_cluster(idx, vec![self.wildcard; n], vec![Tok::Wild; n], spans),
                    false,
                )
            }
            None => {
                let idx = self.push_info(id, text);
                (
                    self.new_cluster(idx, vec![self.wildcard; n], vec![Tok::Wild; n], spans),
                    true,
                )
            }
        };
        self.set_overflow(n, ci);
        self.touch(self.clusters[ci as usize].info, ts);
        (ci, is_new)
    }

    /// Makes cluster `ci` the overflow cluster of `n` tokens (recording its id for
    /// persistence).
    fn set_overflow(&mut self, n: usize, ci: u32) {
        if self.overflow.len() <= n {
            self.overflow.resize(n + 1, NONE);
        }
        self.overflow[n] = ci;
        let id = self.infos[self.clusters[ci as usize].info as usize].id;
        if !self.overflow_ids.contains(&id) {
            self.overflow_ids.push(id);
        }
    }

    /// Whether cluster `ci` is an overflow cluster (in no leaf).
    fn is_overflow(&self, ci: u32) -> bool {
        let n = self.clusters[ci as usize].tokens.len();
        self.overflow.get(n) == Some(&ci)
    }

    /// Takes cluster `ci` out of every leaf (it stays live).
    fn detach_all(&mut self, ci: u32) {
        self.memo.forget();
        for leaf in std::mem::take(&mut self.clusters[ci as usize].leaves) {
            self.nodes[leaf as usize].clusters.retain(|&c| c != ci);
        }
    }

    /// A template for the message as it is: a live one with its text (listed in its leaf), a
    /// retired one revived, or a new one when `allow_new`; `None` when that would be new and
    /// `allow_new` is false.
    fn create(
        &mut self,
        message: &str,
        scan: &Scan,
        ts: Option<i64>,
        allow_new: bool,
    ) -> Option<(u32, bool)> {
        let mut text = String::with_capacity(message.len());
        let mut spans = Vec::with_capacity(scan.tokens.len());
        for i in 0..scan.tokens.len() {
            text.push_str(scan.separator(message, i));
            let s = text.len() as u32;
            text.push_str(scan.masked_token(i));
            spans.push((s, text.len() as u32));
        }
        let id = xxh3_64(text.as_bytes());
        let has_digit: Vec<bool> = scan.tokens.iter().map(|t| t.has_digit || t.var).collect();
        let kinds: Vec<Tok> = scan
            .tokens
            .iter()
            .enumerate()
            .map(|(i, t)| {
                if scan.masked_token(i) == WILDCARD {
                    Tok::Wild
                } else if t.var {
                    Tok::Var
                } else {
                    // A word framing a wildcard (`name="<*>"`, a quoted
                    // string of several words) is the kind a catalog read
                    // back gives it, so the next `name="x"` fits it here too.
                    match kind_of(scan.masked_token(i)) {
                        k @ Tok::Partial(..) => k,
                        _ => Tok::Const,
                    }
                }
            })
            .collect();
        if let Some(&idx) = self.by_id.get(&id) {
            let live = self.cluster_of[idx as usize];
            if live != NONE {
                // Same text as a live template this path did not reach (tree
                // overflow, a full leaf, or too many wildcards to pass the
                // threshold): list it here too rather than issue a duplicate.
                // An overflow template stays out of the leaves.
                if !self.is_overflow(live) {
                    let leaf = self.leaf_path(&scan.hashes, &has_digit);
                    self.attach(live, leaf);
                }
                self.touch(idx, ts);
                return Some((live, false));
            }
            // Generalised away earlier, now seen again as is: it lives again.
            self.infos[idx as usize].parent_id = None;
            let ci = self.new_cluster(idx, scan.hashes.clone(), kinds, spans);
            let leaf = self.leaf_path(&scan.hashes, &has_digit);
            self.attach(ci, leaf);
            self.touch(idx, ts);
            return Some((ci, false));
        }
        if !allow_new {
            return None;
        }
        let idx = self.push_info(id, text);
        let ci = self.new_cluster(idx, scan.hashes.clone(), kinds, spans);
        let leaf = self.leaf_path(&scan.hashes, &has_digit);
        self.attach(ci, leaf);
        self.touch(idx, ts);
        Some((ci, true))
    }

    fn generalise(&mut self, ci: u32, message: &str, scan: &Scan, ts: Option<i64>) -> (u32, bool) {
        let wild = self.wildcard;
        let c = &self.clusters[ci as usize];
        let old_idx = c.info;
        let old_text = &self.infos[old_idx as usize].template;
        let mut text = String::with_capacity(old_text.len());
        let mut spans = Vec::with_capacity(c.spans.len());
        let mut tokens = Vec::with_capacity(c.tokens.len());
        let mut kinds = Vec::with_capacity(c.tokens.len());
        let mut prev_end = 0usize;
        for (i, &(a, b)) in c.spans.iter().enumerate() {
            text.push_str(&old_text[prev_end..a as usize]);
            prev_end = b as usize;
            let s = text.len() as u32;
            let t = c.tokens[i];
            let old_tok = &old_text[a as usize..b as usize];
            let k = c.kinds[i];
            if t == scan.hashes[i] || k == Tok::Wild || token_matches(k, old_tok, scan, i, message)
            {
                text.push_str(old_tok);
                tokens.push(t);
                kinds.push(k);
            } else if let Some((pre, suf)) = shared_frame(old_tok, scan.masked_token(i)) {
                text.push_str(&old_tok[..pre]);
                text.push_str(WILDCARD);
                text.push_str(&old_tok[old_tok.len() - suf..]);
                tokens.push(xxh3_64(&text.as_bytes()[s as usize..]));
                kinds.push(Tok::Partial(pre as u16, suf as u16));
            } else {
                text.push_str(WILDCARD);
                tokens.push(wild);
                kinds.push(Tok::Wild);
            }
            spans.push((s, text.len() as u32));
        }
        let new_id = xxh3_64(text.as_bytes());
        if new_id == self.infos[old_idx as usize].id {
            // Only the kinds changed (a frame learnt around a wildcard the
            // text already had): the same template, never its own parent.
            self.rebind(ci, old_idx, tokens, kinds, spans);
            self.touch(old_idx, ts);
            return (ci, false);
        }
        let (target_ci, is_new) = match self.by_id.get(&new_id) {
            None => {
                let idx = self.push_info(new_id, text);
                self.rebind(ci, idx, tokens, kinds, spans);
                (ci, true)
            }
            Some(&idx) => {
                let live = self.cluster_of[idx as usize];
                if live != NONE {
                    self.kill(ci, live);
                    (live, false)
                } else {
                    self.infos[idx as usize].parent_id = None;
                    self.rebind(ci, idx, tokens, kinds, spans);
                    (ci, false)
                }
            }
        };
        self.infos[old_idx as usize].parent_id = Some(new_id);
        self.cluster_of[old_idx as usize] = NONE;
        let info = self.clusters[target_ci as usize].info;
        self.touch(info, ts);
        (target_ci, is_new)
    }

    /// A position where joining the message would turn a *settled* word of
    /// cluster `ci` into `<*>`: a plain word (no value, no shared frame with
    /// the message's token) that the template has kept over at least
    /// `settled` messages, against a plain word of the message.
    fn settled_conflict(&self, ci: u32, scan: &Scan) -> Option<usize> {
        let settled = self.config.settle_count;
        let c = &self.clusters[ci as usize];
        if settled == 0 || self.infos[c.info as usize].count < settled {
            return None;
        }
        let text = &self.infos[c.info as usize].template;
        (0..c.tokens.len()).find(|&i| {
            let m = &scan.tokens[i];
            c.kinds[i] == Tok::Const
                && c.tokens[i] != scan.hashes[i]
                && m.params.0 == m.params.1
                && {
                    let (a, b) = c.spans[i];
                    let t = &text[a as usize..b as usize];
                    !holds_placeholder(t.as_bytes())
                        && shared_frame(t, scan.masked_token(i)).is_none()
                }
        })
    }

    /// Whether another live cluster of `leaf` matches cluster `ci` everywhere
    /// except at position `p`, where it holds a third word (neither `ci`'s
    /// nor `word`): then the position has taken three values and is a
    /// variable after all.
    fn has_rival(&self, leaf: u32, ci: u32, p: usize, word: u64) -> bool {
        if leaf == NONE {
            return false;
        }
        let c = &self.clusters[ci as usize];
        self.nodes[leaf as usize].clusters.iter().any(|&o| {
            let r = &self.clusters[o as usize];
            o != ci
                && r.alive
                && r.tokens.len() == c.tokens.len()
                && r.kinds[p] == Tok::Const
                && r.tokens[p] != c.tokens[p]
                && r.tokens[p] != word
                && (0..c.tokens.len()).all(|j| j == p || r.tokens[j] == c.tokens[j])
        })
    }

    /// Retires every other live cluster sharing a leaf with `ci` whose
    /// template `ci`'s template now covers: its messages all fit `ci`, and
    /// keeping it would split one event over two templates.
    fn absorb_covered(&mut self, ci: u32) {
        let leaves = self.clusters[ci as usize].leaves.clone();
        for leaf in leaves {
            let mut k = 0;
            while k < self.nodes[leaf as usize].clusters.len() {
                let o = self.nodes[leaf as usize].clusters[k];
                k += 1;
                if o != ci && self.clusters[o as usize].alive && self.template_covers(ci, o) {
                    let (from, into) = (
                        self.clusters[o as usize].info,
                        self.clusters[ci as usize].info,
                    );
                    self.infos[from as usize].parent_id = Some(self.infos[into as usize].id);
                    self.cluster_of[from as usize] = NONE;
                    self.kill(o, ci);
                    k = 0;
                }
            }
        }
    }

    /// Whether cluster `a`'s template takes every message cluster `b`'s does.
    fn template_covers(&self, a: u32, b: u32) -> bool {
        let (x, y) = (&self.clusters[a as usize], &self.clusters[b as usize]);
        if x.tokens.len() != y.tokens.len() {
            return false;
        }
        let (tx, ty) = (
            &self.infos[x.info as usize].template,
            &self.infos[y.info as usize].template,
        );
        (0..x.tokens.len()).all(|i| {
            x.tokens[i] == y.tokens[i]
                // A wordless template's `<*>` takes only values.
                || (x.kinds[i] == Tok::Wild
                    && (!x.wordless
                        || match y.kinds[i] {
                            Tok::Var => true,
                            Tok::Wild => y.wordless,
                            _ => false,
                        }))
                || match (x.kinds[i], y.kinds[i]) {
                    (Tok::Partial(pre, suf), Tok::Const | Tok::Partial(..)) => {
                        let (a, b) = x.spans[i];
                        let (c, d) = y.spans[i];
                        let (f, g) = (
                            &tx.as_bytes()[a as usize..b as usize],
                            &ty.as_bytes()[c as usize..d as usize],
                        );
                        let (pre, suf) = (pre as usize, suf as usize);
                        g.len() > pre + suf
                            && g.starts_with(&f[..pre])
                            && g.ends_with(&f[f.len() - suf..])
                    }
                    _ => false,
                }
        })
    }

    /// Points cluster `ci` at template `idx` with new tokens.
    fn rebind(
        &mut self,
        ci: u32,
        idx: u32,
        tokens: Vec<u64>,
        kinds: Vec<Tok>,
        spans: Vec<(u32, u32)>,
    ) {
        self.memo.forget();
        let c = &mut self.clusters[ci as usize];
        c.info = idx;
        c.open = open_positions(&tokens, &kinds, self.wildcard);
        c.tokens = tokens;
        c.vars = kinds.iter().map(|&k| k == Tok::Var).collect();
        c.framed = kinds.iter().any(|k| matches!(k, Tok::Partial(..)));
        c.wordless = wordless(&kinds);
        c.kinds = kinds;
        c.spans = spans;
        self.cluster_of[idx as usize] = ci;
    }

    /// Retires cluster `ci` in favour of live cluster `into`, which takes its
    /// place in every leaf.
    fn kill(&mut self, ci: u32, into: u32) {
        self.memo.forget();
        let leaves = std::mem::take(&mut self.clusters[ci as usize].leaves);
        self.clusters[ci as usize].alive = false;
        self.clusters[ci as usize].tokens = Vec::new();
        self.clusters[ci as usize].kinds = Vec::new();
        self.clusters[ci as usize].vars = Vec::new();
        self.clusters[ci as usize].open = Vec::new();
        self.clusters[ci as usize].spans = Vec::new();
        let into_overflow = self.is_overflow(into);
        for leaf in leaves {
            let list = &mut self.nodes[leaf as usize].clusters;
            // An overflow cluster stays out of the leaves.
            if into_overflow || list.contains(&into) {
                list.retain(|&c| c != ci);
            } else {
                for c in list.iter_mut() {
                    if *c == ci {
                        *c = into;
                    }
                }
                self.clusters[into as usize].leaves.push(leaf);
            }
        }
    }

    fn push_info(&mut self, id: TemplateId, mut template: String) -> u32 {
        // Built in a buffer sized for the message, which masking may have
        // made far longer than the template: keep only the text, as the
        // catalog's byte bound counts it.
        template.shrink_to_fit();
        let idx = self.infos.len() as u32;
        self.bytes += template_cost(&template);
        self.holes.push(placeholder_spans(&template));
        self.infos.push(TemplateInfo {
            id,
            template,
            count: 0,
            first_seen: None,
            last_seen: None,
            parent_id: None,
        });
        self.cluster_of.push(NONE);
        self.by_id.insert(id, idx);
        idx
    }

    fn new_cluster(
        &mut self,
        idx: u32,
        tokens: Vec<u64>,
        kinds: Vec<Tok>,
        spans: Vec<(u32, u32)>,
    ) -> u32 {
        self.memo.forget();
        let ci = self.clusters.len() as u32;
        self.clusters.push(Cluster {
            info: idx,
            vars: kinds.iter().map(|&k| k == Tok::Var).collect(),
            framed: kinds.iter().any(|k| matches!(k, Tok::Partial(..))),
            wordless: wordless(&kinds),
            open: open_positions(&tokens, &kinds, self.wildcard),
            tokens,
            kinds,
            spans,
            leaves: Vec::new(),
            alive: true,
            used: 0,
        });
        self.cluster_of[idx as usize] = ci;
        ci
    }

    /// Lists cluster `ci` in `leaf`; a full leaf first lets go of its least
    /// recently used cluster (the earliest listed among equals).
    fn attach(&mut self, ci: u32, leaf: u32) {
        let list = &self.nodes[leaf as usize].clusters;
        if list.contains(&ci) {
            return;
        }
        self.memo.forget();
        if list.len() >= self.config.max_leaf_templates {
            let clusters = &self.clusters;
            let (at, &old) = list
                .iter()
                .enumerate()
                .min_by_key(|&(k, &c)| (clusters[c as usize].used, k))
                .expect("a full leaf lists a cluster");
            self.nodes[leaf as usize].clusters.remove(at);
            self.clusters[old as usize].leaves.retain(|&l| l != leaf);
        }
        self.nodes[leaf as usize].clusters.push(ci);
        self.clusters[ci as usize].leaves.push(leaf);
    }

    fn touch(&mut self, idx: u32, ts: Option<i64>) {
        let t = &mut self.infos[idx as usize];
        t.count += 1;
        if ts.is_some() {
            t.first_seen = min_opt(t.first_seen, ts);
            t.last_seen = max_opt(t.last_seen, ts);
        }
    }

    fn push_params(&self, ci: u32, scan: &Scan, params: &mut Vec<Range<usize>>) {
        let c = &self.clusters[ci as usize];
        // Between open positions the message's own parameters follow each
        // other in `scan.params`: copy each stretch at once.
        let mut from = 0usize;
        for &i in &c.open {
            let i = i as usize;
            let tok = &scan.tokens[i];
            let (t, k) = (c.tokens[i], c.kinds[i]);
            let range = if t == self.wildcard {
                tok.orig.0 as usize..tok.orig.1 as usize
            } else if let Tok::Partial(pre, suf) = k
                && t != scan.hashes[i]
            {
                // The frame is literal text outside any placeholder, so it has
                // the same length in the message as in its masked form.
                tok.orig.0 as usize + pre as usize..tok.orig.1 as usize - suf as usize
            } else {
                continue;
            };
            params.extend_from_slice(&scan.params[from..tok.params.0 as usize]);
            params.push(range);
            from = tok.params.1 as usize;
        }
        params.extend_from_slice(&scan.params[from..]);
    }

    // ---------------------------------------------------------------- tree

    /// How many leading tokens of an `n`-token message the tree descends on:
    /// `depth - 3` (Drain3's `max_node_depth - 1`), and always
    /// before the last token.
    fn descent(&self, n: usize) -> usize {
        (self.config.depth - 2).min(n).saturating_sub(1)
    }

    /// Drain3's `tree_search` descent: the leaf a message would be matched in.
    fn leaf_for(&self, hashes: &[u64]) -> Option<u32> {
        let n = hashes.len();
        let mut node = *self.by_len.get(n)?;
        if node == NONE {
            return None;
        }
        for h in hashes.iter().take(self.descent(n)) {
            let children = &self.nodes[node as usize].children;
            node = *children.get(h).or_else(|| children.get(&self.wildcard))?;
        }
        Some(node)
    }

    /// Drain3's `add_seq_to_prefix_tree` descent, creating nodes on the way;
    /// returns the leaf.
    fn leaf_path(&mut self, hashes: &[u64], has_digit: &[bool]) -> u32 {
        let n = hashes.len();
        if self.by_len.len() <= n {
            self.by_len.resize(n + 1, NONE);
        }
        if self.by_len[n] == NONE {
            self.by_len[n] = self.new_node();
        }
        let mut node = self.by_len[n];
        let max_children = self.config.max_children;
        let wild = self.wildcard;
        for (i, &h) in hashes.iter().enumerate().take(self.descent(n)) {
            let cur = &self.nodes[node as usize].children;
            node = if let Some(&next) = cur.get(&h) {
                next
            } else if self.config.parametrize_numeric_tokens && has_digit[i] {
                match cur.get(&wild) {
                    Some(&next) => next,
                    None => self.new_child(node, wild),
                }
            } else if let Some(&w) = cur.get(&wild) {
                if cur.len() < max_children {
                    self.new_child(node, h)
                } else {
                    w
                }
            } else if cur.len() + 1 < max_children {
                self.new_child(node, h)
            } else {
                // The last free slot goes to the wildcard child.
                self.new_child(node, wild)
            };
        }
        node
    }

    fn new_node(&mut self) -> u32 {
        self.memo.forget();
        self.nodes.push(Node::default());
        (self.nodes.len() - 1) as u32
    }

    fn new_child(&mut self, parent: u32, key: u64) -> u32 {
        let child = self.new_node();
        self.nodes[parent as usize].children.insert(key, child);
        child
    }

    /// Drain3's `fast_match` with a value-aware similarity: the most similar
    /// cluster, ties going to the one with more wildcards, then to the
    /// earlier one; `None` when even that one is below `threshold`.
    fn best_in(
        &self,
        message: &str,
        candidates: impl Iterator<Item = u32>,
        scan: &Scan,
        threshold: f64,
    ) -> Option<u32> {
        let n = scan.hashes.len();
        // similarity = 1 - misses / counted <= 1 - misses / n, so a cluster
        // with more misses than this cannot reach the threshold.
        let bound = |sim: f64| ((1.0 - sim) * n as f64 + 1e-9).floor() as usize;
        let mut max_miss = bound(threshold);
        let mut best: Option<(u32, Score)> = None;
        for ci in candidates {
            let c = &self.clusters[ci as usize];
            if c.tokens.len() != n {
                continue;
            }
            let Some(s) = self.score(c, message, scan, max_miss) else {
                continue;
            };
            // A wordless template with a word at its `<*>` is no candidate
            // at any threshold (0.0 included): generalising it would give
            // the same template.
            if s.counted == 0 && s.wild_words > 0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, b)) => {
                    let (x, y) = (s.equal * b.counted.max(1), b.equal * s.counted.max(1));
                    x > y || (x == y && s.wild > b.wild)
                }
            };
            if better {
                best = Some((ci, s));
                // Only as similar or better can still win (ties included).
                max_miss = max_miss.min(bound(s.similarity()));
            }
        }
        let (ci, s) = best?;
        (s.similarity() >= threshold).then_some(ci)
    }

    /// The first candidate whose every token covers the message's.
    fn first_covering(
        &self,
        message: &str,
        mut candidates: impl Iterator<Item = u32>,
        scan: &Scan,
    ) -> Option<u32> {
        candidates.find(|&ci| {
            self.clusters[ci as usize].tokens.len() == scan.hashes.len()
                && self.covers(ci, message, scan)
        })
    }

    /// Whether cluster `ci` takes the message as it is (no generalisation).
    fn covers(&self, ci: u32, message: &str, scan: &Scan) -> bool {
        let c = &self.clusters[ci as usize];
        if c.tokens.len() != scan.hashes.len() {
            return false;
        }
        // A wordless template's `<*>` takes only values.
        let words = !c.wordless;
        if !c.framed {
            return (c.tokens.iter().zip(&c.kinds))
                .zip(scan.hashes.iter().zip(&scan.vars))
                .all(|((&t, &k), (&h, &v))| t == h || (k == Tok::Wild && (words || v)));
        }
        let text = &self.infos[c.info as usize].template;
        (0..c.tokens.len()).all(|i| {
            let (t, k) = (c.tokens[i], c.kinds[i]);
            t == scan.hashes[i] || (k == Tok::Wild && (words || scan.vars[i])) || {
                let (a, b) = c.spans[i];
                token_matches(k, &text[a as usize..b as usize], scan, i, message)
            }
        })
    }

    /// Similarity of a message to a cluster. Wildcard positions do not count;
    /// neither do positions where both sides are pure values (`<IP>` against
    /// `<NUM>:<NUM>`): those say nothing about the message's shape. What is
    /// left are the words, and the similarity is the share of them that agree,
    /// so a template of many values and two words is not matched by anything
    /// sharing only its values.
    ///
    /// `None` as soon as more than `max_miss` counted positions disagree.
    fn score(&self, c: &Cluster, message: &str, scan: &Scan, max_miss: usize) -> Option<Score> {
        let mut s = Score {
            equal: 0,
            counted: 0,
            wild: 0,
            wild_words: 0,
        };
        if !c.framed {
            // Hashes decide alone: a branch-light loop over packed arrays.
            let wild = self.wildcard;
            let mut miss = 0;
            let toks = c.tokens.iter().zip(&c.vars);
            for ((&t, &tv), (&h, &mv)) in toks.zip(scan.hashes.iter().zip(&scan.vars)) {
                let is_wild = t == wild;
                let counts = !(is_wild || (tv && mv));
                s.wild += usize::from(is_wild);
                s.wild_words += usize::from(is_wild && !mv);
                s.counted += usize::from(counts);
                let agrees = t == h;
                s.equal += usize::from(counts && agrees);
                miss += usize::from(counts && !agrees);
                if miss > max_miss {
                    return None;
                }
            }
            return Some(s);
        }
        let toks = c.tokens.iter().zip(&c.kinds);
        for (i, ((&t, &k), (&h, m))) in toks.zip(scan.hashes.iter().zip(&scan.tokens)).enumerate() {
            let agrees = match k {
                Tok::Wild => {
                    s.wild += 1;
                    s.wild_words += usize::from(!m.var);
                    continue;
                }
                Tok::Var if m.var => continue,
                Tok::Partial(..) if t != h => {
                    let text = &self.infos[c.info as usize].template;
                    let (a, b) = c.spans[i];
                    token_matches(k, &text[a as usize..b as usize], scan, i, message)
                }
                _ => t == h,
            };
            s.counted += 1;
            if agrees {
                s.equal += 1;
            } else if s.counted - s.equal > max_miss {
                return None;
            }
        }
        Some(s)
    }

    // --------------------------------------------------------- persistence

    /// Clears parent links that would close a cycle; true if any did.
    fn break_cycles(&mut self) -> bool {
        let n = self.infos.len();
        // 0 = unvisited, 1 = on the current walk, 2 = done.
        let mut state = vec![0u8; n];
        let mut found = false;
        let mut walk = Vec::new();
        for start in 0..n {
            walk.clear();
            let mut cur = start;
            while state[cur] == 0 {
                state[cur] = 1;
                walk.push(cur);
                match self.infos[cur].parent_id.and_then(|p| self.by_id.get(&p)) {
                    Some(&p) => {
                        let p = p as usize;
                        if state[p] == 1 {
                            self.infos[cur].parent_id = None;
                            found = true;
                            break;
                        }
                        cur = p;
                    }
                    None => break,
                }
            }
            for &w in &walk {
                state[w] = 2;
            }
        }
        found
    }

    /// Rebuilds clusters and tree from the live templates, in the order their
    /// clusters were first created (the earliest id resolving to each).
    fn rebuild(&mut self) {
        self.memo.forget();
        self.bytes = self.infos.iter().map(|t| template_cost(&t.template)).sum();
        self.clusters.clear();
        self.nodes.clear();
        self.by_len.clear();
        self.overflow.clear();
        self.cluster_of = vec![NONE; self.infos.len()];
        let mut first = vec![usize::MAX; self.infos.len()];
        for i in 0..self.infos.len() {
            let live = self.resolve(self.infos[i].id);
            if let Some(&l) = self.by_id.get(&live) {
                first[l as usize] = first[l as usize].min(i);
            }
        }
        let mut order: Vec<usize> = (0..self.infos.len())
            .filter(|&i| self.infos[i].parent_id.is_none())
            .collect();
        order.sort_by_key(|&i| (first[i], i));
        for idx in order {
            let (spans, kinds) = template_tokens(&self.infos[idx].template);
            let text = self.infos[idx].template.as_bytes();
            let hashes: Vec<u64> = spans
                .iter()
                .map(|&(a, b)| xxh3_64(&text[a as usize..b as usize]))
                .collect();
            // Routed as the scanner routes the messages: digits or a pure value.
            let has_digit: Vec<bool> = spans
                .iter()
                .zip(&kinds)
                .map(|(&(a, b), &k)| {
                    text[a as usize..b as usize].iter().any(u8::is_ascii_digit)
                        || matches!(k, Tok::Var | Tok::Wild)
                })
                .collect();
            let ci = self.new_cluster(idx as u32, hashes.clone(), kinds, spans);
            if self.overflow_ids.contains(&self.infos[idx].id) {
                self.set_overflow(hashes.len(), ci);
                continue;
            }
            let leaf = self.leaf_path(&hashes, &has_digit);
            self.attach(ci, leaf);
        }
    }
}

/// The overflow template of `n` tokens: `<*>` `n` times, one space apart.
fn overflow_text(n: usize) -> String {
    let mut text = String::with_capacity(4 * n);
    for i in 0..n {
        if i > 0 {
            text.push(' ');
        }
        text.push_str(WILDCARD);
    }
    text
}

/// Positions whose parameter is not simply the message's own: `<*>` tokens
/// (see [`TemplateCatalog::push_params`]) and [`Tok::Partial`] ones.
fn open_positions(tokens: &[u64], kinds: &[Tok], wildcard: u64) -> Vec<u32> {
    (0..tokens.len())
        .filter(|&i| tokens[i] == wildcard || matches!(kinds[i], Tok::Partial(..)))
        .map(|i| i as u32)
        .collect()
}

/// Splits a template's text into tokens the way the scanner splits the
/// messages it came from: at whitespace, then joined where
/// [`joined_var`] joins masked tokens. Returns each token's byte range and kind.
fn template_tokens(template: &str) -> (Vec<(u32, u32)>, Vec<Tok>) {
    let text = template.as_bytes();
    let mut spans: Vec<(u32, u32)> = Vec::new();
    let mut vars: Vec<bool> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if is_ws(text[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < text.len() && !is_ws(text[i]) {
            // A quoted string is one token even when it spans whitespace
            // (an HTTP request line), as in the scanner.
            if text[i] == b'"'
                && (i == s || matches!(text[i - 1], b'=' | b':'))
                && let Some(close) = quote_close(text, i)
            {
                i = close;
            }
            i += 1;
        }
        let tok = &template[s..i];
        spans.push((s as u32, i as u32));
        vars.push(matches!(kind_of(tok), Tok::Var | Tok::Wild));
        while spans.len() >= 2 {
            let n = spans.len();
            let ((a, b), (c, d)) = (spans[n - 2], spans[n - 1]);
            let prev = &template[a as usize..b as usize];
            let cur = &template[c as usize..d as usize];
            let Some(var) = joined_var(prev, vars[n - 2], cur, vars[n - 1]) else {
                break;
            };
            spans.pop();
            vars.pop();
            spans[n - 2] = (a, d);
            vars[n - 2] = var;
        }
    }
    let kinds = spans
        .iter()
        .zip(&vars)
        .map(
            |(&(a, b), &var)| match kind_of(&template[a as usize..b as usize]) {
                Tok::Const if var => Tok::Var,
                k => k,
            },
        )
        .collect();
    (spans, kinds)
}

/// Whether message token `i` fits template token `tok` of kind `k` beyond
/// hash equality: only a [`Tok::Partial`] can, by having its literal frame.
fn token_matches(k: Tok, tok: &str, scan: &Scan, i: usize, message: &str) -> bool {
    let Tok::Partial(pre, suf) = k else {
        return false;
    };
    let (pre, suf) = (pre as usize, suf as usize);
    let m = scan.masked_token(i).as_bytes();
    let t = tok.as_bytes();
    let o = scan.tokens[i].orig;
    // The value must not be empty, in the masked token or in the message.
    m.len() > pre + suf
        && (o.1 - o.0) as usize > pre + suf
        && m.starts_with(&t[..pre])
        && m.ends_with(&t[t.len() - suf..])
        && message.len() >= o.1 as usize
}

/// The literal frame two differing tokens share, as byte lengths of a prefix
/// ending with punctuation (`rhost=`, `environment:`) and a suffix starting
/// with punctuation (`)`), when there is one: the variable part of a compound
/// token (`key=value`, `name(value)`) is then the only thing generalised.
/// Neither part may hold a placeholder, so the frame is the same text in the
/// message as in its masked form.
fn shared_frame(a: &str, b: &str) -> Option<(usize, usize)> {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    let is_punct = |c: u8| !(c.is_ascii_alphanumeric() || c >= 0x80 || c == b'<' || c == b'>');
    let common = x.iter().zip(y).take_while(|(p, q)| p == q).count();
    let mut pre = 0;
    for (j, &c) in x[..common].iter().enumerate() {
        if c == b'<' || c == b'>' {
            break;
        }
        if is_punct(c) {
            pre = j + 1;
        }
    }
    let max_suf = x.len().min(y.len()) - pre;
    let common_suf = x
        .iter()
        .rev()
        .zip(y.iter().rev())
        .take(max_suf)
        .take_while(|(p, q)| p == q)
        .count();
    let mut suf = 0;
    for (j, &c) in x[x.len() - common_suf..].iter().enumerate().rev() {
        if c == b'<' || c == b'>' {
            break;
        }
        if is_punct(c) {
            suf = common_suf - j;
        }
    }
    // A frame needs a word in it: `(<*>)` alone would be too weak to tell
    // tokens apart, and the wildcard part must hold something on both sides.
    let framed = |part: &[u8]| part.iter().any(u8::is_ascii_alphabetic);
    let ok = (framed(&x[..pre]) || framed(&x[x.len() - suf..]))
        && x.len() > pre + suf
        && y.len() > pre + suf
        && pre + suf <= u16::MAX as usize;
    ok.then_some((pre, suf))
}

/// The kind of a template token read back from its text.
fn kind_of(tok: &str) -> Tok {
    if tok == WILDCARD {
        return Tok::Wild;
    }
    if let Some(p) = tok.find(WILDCARD) {
        let (pre, suf) = (&tok[..p], &tok[p + WILDCARD.len()..]);
        if !pre.contains(['<', '>'])
            && !suf.contains(['<', '>'])
            && shared_frame(tok, tok).is_some()
        {
            return Tok::Partial(pre.len() as u16, suf.len() as u16);
        }
    }
    let b = tok.as_bytes();
    let mut i = 0;
    let mut values = 0;
    while i < b.len() {
        if let Some(len) = crate::mask::literal_placeholder(&b[i..]) {
            values += 1;
            i += len;
        } else if b[i].is_ascii_alphanumeric() || b[i] >= 0x80 {
            return Tok::Const;
        } else {
            i += 1;
        }
    }
    if values > 0 { Tok::Var } else { Tok::Const }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages whose shapes repeat while the catalog still generalises,
    /// absorbs, settles and splits templates around them.
    fn stream() -> Vec<String> {
        let words = ["alice", "bob", "root", "ftp", "HTTPS", "SOCKS5"];
        let shapes = [
            "user {w} logged in from 10.0.0.{n}:{n}",
            "Failed {w} for {w} from host{n}.example.org port {n}",
            "session opened rhost={w} uid={n}",
            "proxy {w} open through proxy {w}",
            "read {n} bytes ({n} KB) in {n} ms",
            "{w} {w} {w}",
            "blk_{n} blk_{n} blk_{n} replicated to /10.0.{n}.1:50010",
        ];
        let mut rng = logoscope_testkit::XorShift::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next_u64();
        (0..3000)
            .map(|i| {
                let shape = shapes[(next() % shapes.len() as u64) as usize];
                let mut out = String::new();
                let mut rest = shape;
                while let Some(p) = rest.find('{') {
                    out.push_str(&rest[..p]);
                    let hole = &rest[p..p + 3];
                    if hole == "{w}" {
                        // Few distinct words early on, all of them later.
                        let pool = if i < 1000 { 2 } else { words.len() as u64 };
                        out.push_str(words[(next() % pool) as usize]);
                    } else {
                        out.push_str(&(next() % 300).to_string());
                    }
                    rest = &rest[p + 3..];
                }
                out.push_str(rest);
                out
            })
            .collect()
    }

    /// A remembered shape whose route through the tree changes: `foo x y z`
    /// first takes the `<*>` branch to `<*> x y z`; once `foo` has a node of
    /// its own, the same shape starts a template there.
    fn rerouted() -> Vec<String> {
        [
            "1 x y z",
            "foo x y z",
            "foo x y z",
            "foo bar baz qux",
            "foo x y z",
            "foo x y z",
        ]
        .map(str::to_owned)
        .to_vec()
    }

    #[test]
    fn shape_memo_follows_tree_changes() {
        let mut cat = TemplateCatalog::default();
        let mut params = Vec::new();
        let ids: Vec<Matched> = rerouted()
            .iter()
            .map(|m| cat.add(m, None, &mut params))
            .collect();
        assert_eq!(cat.get(ids[2].id).unwrap().template, "<*> x y z");
        assert_eq!(cat.get(ids[4].id).unwrap().template, "foo x y z");
        assert!(ids[4].is_new);
        assert_eq!(ids[5].id, ids[4].id);
    }

    #[test]
    fn shape_memo_never_changes_an_outcome() {
        let mut with = TemplateCatalog::default();
        let mut without = TemplateCatalog::default();
        let (mut p1, mut p2) = (Vec::new(), Vec::new());
        let mut hits = 0;
        for (i, m) in rerouted().iter().chain(&stream()).enumerate() {
            let generation = with.memo.generation;
            let a = with.add(m, Some(i as i64), &mut p1);
            hits += usize::from(with.memo.generation == generation);
            without.memo.forget();
            let b = without.add(m, Some(i as i64), &mut p2);
            assert_eq!(a, b, "message {i}: {m:?}");
            assert_eq!(p1, p2, "message {i}: {m:?}");
        }
        assert_eq!(with.to_json(), without.to_json());
        // The memo was in use, not bypassed.
        assert!(hits > 1000, "{hits} messages left the tree as it was");
    }

    /// A template keeps only its own text: a long message that masking
    /// shrinks (here 200,000 numbers into `<NUM>` runs past the token cap)
    /// leaves no message-sized buffer in the catalog, which the byte bound
    /// would not see.
    #[test]
    fn template_text_holds_no_message_sized_buffer() {
        let mut catalog = TemplateCatalog::new(DrainConfig::default());
        let mut params = Vec::new();
        for i in 0..3 {
            let message = format!("job {i} wrote {}", "12345 ".repeat(200_000));
            catalog.add(message.trim_end(), None, &mut params);
        }
        for info in &catalog.infos {
            assert!(
                info.template.capacity() <= info.template.len() + 64,
                "{} bytes of text in a {}-byte buffer",
                info.template.len(),
                info.template.capacity()
            );
        }
    }
}
