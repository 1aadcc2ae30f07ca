//! Typed masking: a hand-written, allocation-free (in steady state) scanner that
//! splits a message into whitespace-separated tokens and replaces the variable
//! parts of each token by a typed placeholder.
//!
//! The scanner walks the message once. Inside a token it tracks whether the
//! current position is a *boundary* (start of token, or just after a copied
//! punctuation byte). Recognisers run only at boundaries, so `user123` is never
//! split while `key=42`, `blk_-42`, `10.0.0.1:80` and `/a/b:12` are. A
//! placeholder counts as a word character for the next position, which is
//! what makes masking idempotent: the masked text never offers a recogniser a
//! boundary the original did not.

use std::ops::Range;

use xxhash_rust::xxh3::xxh3_64;

/// Every placeholder the masker emits, plus the Drain wildcard `<*>`.
///
/// [`crate::render`] substitutes exactly these strings, and the masker treats
/// them, when they already occur in its input, as values of their own (the
/// parameter is the placeholder text itself). That keeps masking idempotent
/// and `render` exact even for messages that contain placeholder-like text.
pub const PLACEHOLDERS: [&str; 12] = [
    "<*>",
    "<NUM>",
    "<IP>",
    "<EMAIL>",
    "<TIMESTAMP>",
    "<UUID>",
    "<PATH>",
    "<URL>",
    "<HEX>",
    "<B64>",
    "<HOST>",
    "<BOOL>",
];

/// The Drain wildcard: a token position where templates disagreed.
pub const WILDCARD: &str = "<*>";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Num,
    Ip,
    Email,
    Timestamp,
    Uuid,
    Path,
    Url,
    Hex,
    B64,
    Host,
    Bool,
}

impl Kind {
    fn text(self) -> &'static str {
        match self {
            Kind::Num => "<NUM>",
            Kind::Ip => "<IP>",
            Kind::Email => "<EMAIL>",
            Kind::Timestamp => "<TIMESTAMP>",
            Kind::Uuid => "<UUID>",
            Kind::Path => "<PATH>",
            Kind::Url => "<URL>",
            Kind::Hex => "<HEX>",
            Kind::B64 => "<B64>",
            Kind::Host => "<HOST>",
            Kind::Bool => "<BOOL>",
        }
    }
}

/// One token of a scanned message.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Token {
    /// Range of the masked token text in [`Scan::masked`].
    pub(crate) masked: (u32, u32),
    /// Range of the token in the original message.
    pub(crate) orig: (u32, u32),
    /// Range of this token's parameters in [`Scan::params`].
    pub(crate) params: (u32, u32),
    /// Whether the masked token still holds an ASCII digit (Drain routes such
    /// tokens to the wildcard branch of the prefix tree).
    pub(crate) has_digit: bool,
    /// Whether the token is a pure value: placeholders and punctuation only,
    /// no word byte of its own. Similarity ignores positions where both
    /// sides are values.
    pub(crate) var: bool,
}

/// Reusable buffers for scanning one message; cleared, never shrunk.
#[derive(Debug, Default, Clone)]
pub(crate) struct Scan {
    pub(crate) masked: String,
    pub(crate) tokens: Vec<Token>,
    /// xxh3 of each masked token, parallel to `tokens`.
    pub(crate) hashes: Vec<u64>,
    /// [`Token::var`] of each token, parallel to `tokens` (packed for the
    /// similarity loop).
    pub(crate) vars: Vec<bool>,
    pub(crate) params: Vec<Range<usize>>,
    /// Matches of the user masks in the message being scanned: start, end,
    /// rule index; sorted by start, non-overlapping.
    extra: Vec<(usize, usize, usize)>,
    /// Per user mask, the matches left unmasked because they hold
    /// whitespace (a mask applies within one token), over every message
    /// this scan has seen.
    pub(crate) spaced_matches: Vec<u64>,
}

/// A user mask compiled: its `<NAME>` text and its regular expression.
#[derive(Debug, Clone)]
pub(crate) struct CompiledMask {
    pub(crate) placeholder: String,
    pub(crate) regex: regex::Regex,
}

impl Scan {
    pub(crate) fn masked_token(&self, i: usize) -> &str {
        let (a, b) = self.tokens[i].masked;
        &self.masked[a as usize..b as usize]
    }

    /// Separator between token `i - 1` and token `i` in the original message.
    pub(crate) fn separator<'m>(&self, message: &'m str, i: usize) -> &'m str {
        if i == 0 {
            return "";
        }
        let a = self.tokens[i - 1].orig.1 as usize;
        let b = self.tokens[i].orig.0 as usize;
        &message[a..b]
    }
}

const WORD: u8 = 1;
const DIGIT: u8 = 2;
const HEX: u8 = 4;
const ALNUM: u8 = 8;
const SPACE: u8 = 16;
const UPPER: u8 = 32;
const LOWER: u8 = 64;
/// `+` and `/`, the base64 alphabet's symbols.
const B64_SYMBOL: u8 = 128;

/// Byte classes, one table load instead of a chain of comparisons.
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0usize;
    while c < 256 {
        let b = c as u8;
        let mut k = 0;
        if b.is_ascii_alphanumeric() {
            k |= WORD | ALNUM;
        }
        if b >= 0x80 {
            k |= WORD;
        }
        if b.is_ascii_digit() {
            k |= DIGIT;
        }
        if b.is_ascii_hexdigit() {
            k |= HEX;
        }
        if matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0b' | b'\x0c') {
            k |= SPACE;
        }
        if b.is_ascii_uppercase() {
            k |= UPPER;
        }
        if b.is_ascii_lowercase() {
            k |= LOWER;
        }
        if b == b'+' || b == b'/' {
            k |= B64_SYMBOL;
        }
        t[c] = k;
        c += 1;
    }
    t
};

/// Where the last `@`, `/` and `://` of a message are, for the recognisers
/// that cannot match without one at or after where they start (e-mail
/// addresses, relative paths, URLs). Most messages hold none, and one
/// backward `memchr` over the message then rules such a recogniser out
/// everywhere, instead of it scanning every dotted or underscored word to find
/// out. Each is looked for only when first needed.
#[derive(Debug)]
struct Ahead<'a> {
    /// The whole message (occurrences past a user mask's match only make the
    /// test looser).
    b: &'a [u8],
    at: Option<Option<usize>>,
    slash: Option<Option<usize>>,
    url: Option<Option<usize>>,
}

impl<'a> Ahead<'a> {
    fn new(b: &'a [u8]) -> Self {
        Ahead {
            b,
            at: None,
            slash: None,
            url: None,
        }
    }

    /// Whether an `@` occurs at `i` or later.
    #[inline]
    fn at(&mut self, i: usize) -> bool {
        let b = self.b;
        self.at
            .get_or_insert_with(|| memchr::memrchr(b'@', b))
            .is_some_and(|p| p >= i)
    }

    /// Whether a `/` occurs at `i` or later.
    #[inline]
    fn slash(&mut self, i: usize) -> bool {
        let b = self.b;
        self.slash
            .get_or_insert_with(|| memchr::memrchr(b'/', b))
            .is_some_and(|p| p >= i)
    }

    /// Whether `://` occurs at `i` or later.
    #[inline]
    fn url(&mut self, i: usize) -> bool {
        if !self.slash(i) {
            return false;
        }
        let b = self.b;
        // Colons are few: checking each from the end is cheaper than a
        // substring search set up for every message.
        self.url
            .get_or_insert_with(|| {
                memchr::memrchr_iter(b':', b).find(|&p| b[p + 1..].starts_with(b"//"))
            })
            .is_some_and(|p| p >= i)
    }
}

#[inline]
pub(crate) fn is_ws(c: u8) -> bool {
    CLASS[c as usize] & SPACE != 0
}

/// Word bytes: ASCII alphanumerics and every non-ASCII byte, so boundaries
/// never fall inside a multi-byte character.
#[inline]
fn is_word(c: u8) -> bool {
    CLASS[c as usize] & WORD != 0
}

#[inline]
fn is_hex(c: u8) -> bool {
    CLASS[c as usize] & HEX != 0
}

#[inline]
fn at(b: &[u8], i: usize) -> u8 {
    if i < b.len() { b[i] } else { 0 }
}

/// Length of the no-break space starting at `i` (U+00A0, U+2007 figure
/// space, U+2009 thin space, U+202F narrow no-break space; `5\u{a0}µs`,
/// `1\u{202f}234`), 0 for anything else. Such a space does not split a
/// token, but within one it is punctuation, not a word byte: a value before
/// or after it is masked.
#[inline]
fn nbsp_len(b: &[u8], i: usize) -> usize {
    match b[i] {
        0xc2 if at(b, i + 1) == 0xa0 => 2,
        0xe2 if at(b, i + 1) == 0x80 && matches!(at(b, i + 2), 0x87 | 0x89 | 0xaf) => 3,
        _ => 0,
    }
}

/// A word byte that is not the start of a no-break space.
#[inline]
fn word_at(b: &[u8], i: usize) -> bool {
    let c = b[i];
    is_word(c) && (c < 0x80 || nbsp_len(b, i) == 0)
}

/// A match may end at the end of input or before a non-word byte. `<` counts
/// as a word byte here because masking turns word bytes into placeholders
/// starting with `<`: a match that failed before a word must fail the same
/// way before that word's placeholder, or masking would not be idempotent.
#[inline]
fn end_ok(b: &[u8], j: usize) -> bool {
    j >= b.len() || !(word_at(b, j) || b[j] == b'<')
}

fn digits(b: &[u8], i: usize, min: usize, max: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len() && j - i < max && b[j].is_ascii_digit() {
        j += 1;
    }
    (j - i >= min).then_some(j)
}

/// Masks `text` and returns the masked string (tokens joined by the original
/// separators; leading and trailing whitespace dropped).
///
/// ```
/// assert_eq!(
///     logoscope_drain::mask("took 12ms from 10.0.0.1:8080 user=bob@example.com"),
///     "took <NUM> from <IP>:<NUM> user=<EMAIL>"
/// );
/// ```
pub fn mask(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    Masker::default().mask_into(text, &mut out);
    out
}

/// The masking scanner with buffers kept between calls, for masking many
/// messages without allocating.
#[derive(Debug, Default, Clone)]
pub struct Masker {
    scan: Scan,
}

impl Masker {
    /// Appends the masked form of `text` (see [`mask`]) to `out`; returns the
    /// number of values masked.
    pub fn mask_into(&mut self, text: &str, out: &mut String) -> usize {
        scan_message(text, &mut self.scan);
        for i in 0..self.scan.tokens.len() {
            out.push_str(self.scan.separator(text, i));
            out.push_str(self.scan.masked_token(i));
        }
        self.scan.params.len()
    }
}

/// Splits `message` into tokens and masks them into `scan` (cleared first).
pub(crate) fn scan_message(message: &str, scan: &mut Scan) {
    scan_message_with(message, scan, &[], usize::MAX);
}

/// Finds where the user masks match, first rule first; a match that contains
/// whitespace, is empty, or overlaps an earlier-found one is dropped.
fn find_extra(
    message: &str,
    masks: &[CompiledMask],
    out: &mut Vec<(usize, usize, usize)>,
    spaced: &mut Vec<u64>,
) {
    out.clear();
    spaced.resize(masks.len(), 0);
    for (r, mask) in masks.iter().enumerate() {
        // The earlier rules' matches, sorted and disjoint: a match overlaps
        // one of them exactly when the last that starts before its end ends
        // after its start. One rule's own matches never overlap, so each
        // match costs a binary search, not a pass over all the others.
        let earlier = out.len();
        for m in mask.regex.find_iter(message) {
            let (s, e) = (m.start(), m.end());
            if s == e {
                continue;
            }
            if message.as_bytes()[s..e].iter().any(|&c| is_ws(c)) {
                spaced[r] += 1;
                continue;
            }
            let before = out[..earlier].partition_point(|&(a, _, _)| a < e);
            if before > 0 && out[before - 1].1 > s {
                continue;
            }
            out.push((s, e, r));
        }
        if earlier > 0 && out.len() > earlier {
            out.sort_unstable();
        }
    }
}

/// [`scan_message`] with user masks applied before the built-in recognisers.
///
/// After `max_tokens` tokens, the rest of the message (to its last
/// non-whitespace byte) becomes one `<*>`, as the lines after a multi-line
/// message's first do (see `push_body`): it bounds a template's number of
/// tokens by configuration whatever the length of the messages.
pub(crate) fn scan_message_with(
    message: &str,
    scan: &mut Scan,
    masks: &[CompiledMask],
    max_tokens: usize,
) {
    scan.masked.clear();
    scan.tokens.clear();
    scan.hashes.clear();
    scan.vars.clear();
    scan.params.clear();
    let mut extra = std::mem::take(&mut scan.extra);
    if masks.is_empty() {
        extra.clear();
    } else {
        find_extra(message, masks, &mut extra, &mut scan.spaced_matches);
    }
    let mut next_extra = 0;
    let b = message.as_bytes();
    let n = b.len();
    let mut i = 0;
    // Hash of the previous token while it is a pure value (see `extend_run`).
    let mut run_hash: Option<u64> = None;
    // Last masked byte of the previous token (`>` when it ends with a value).
    let mut prev_end = 0u8;
    let mut ahead = Ahead::new(message.as_bytes());
    let multiline = memchr::memchr(b'\n', b).is_some();
    loop {
        let ws_start = i;
        while i < n && is_ws(b[i]) {
            i += 1;
        }
        if i >= n {
            break;
        }
        // The first line has ended (see `push_body`).
        if multiline && !scan.tokens.is_empty() && b[ws_start..i].contains(&b'\n') {
            push_body(scan, message, i);
            break;
        }
        if scan.tokens.len() >= max_tokens {
            push_body(scan, message, i);
            break;
        }
        let tok_start = i;
        let m_start = scan.masked.len();
        let p_start = scan.params.len();
        let mut boundary = true;
        let mut has_digit = false;
        let mut has_word = false;
        // Message bytes not yet copied to `masked`: text that stays as it is
        // is copied in one piece when a placeholder or the token end comes,
        // not byte by byte.
        let mut copied = i;
        // The quoted string the scan is inside, if any (see `quote_close`):
        // `q_end` is its closing quote (0 outside one), `route` the range of
        // its request target (empty unless it is an HTTP request line). All
        // of it is handled where a `"` meets the punctuation branch below, so
        // positions outside quotes pay nothing for it.
        let mut quote: Option<Quote> = None;
        let mut q_end = 0;
        let mut route = (0, 0);
        while i < n && (!is_ws(b[i]) || i < q_end) {
            let c = b[i];
            if let Some(&(s, e, r)) = extra.get(next_extra) {
                // Skip user matches the scan has moved past (inside a value
                // a built-in recogniser took).
                if s < i {
                    next_extra += 1;
                    continue;
                }
                if s == i {
                    scan.masked.push_str(&message[copied..i]);
                    scan.masked.push_str(&masks[r].placeholder);
                    scan.params.push(s..e);
                    next_extra += 1;
                    i = e;
                    copied = i;
                    boundary = false;
                    continue;
                }
            }
            // User matches win: nothing built in may run over the next one.
            // (No recogniser takes a `"`, so none runs past a closing quote.)
            let lim = extra.get(next_extra).map_or(n, |m| m.0);
            let bl = &b[..lim];
            if c == b'<'
                && let Some(len) = literal_placeholder(&bl[i..])
            {
                // Copied as it is, with the rest of the token.
                scan.params.push(i..i + len);
                i += len;
                boundary = false;
                continue;
            }
            // Where the recogniser's look at an ASCII alphanumeric run ended,
            // so the scan below need not look at it again.
            let mut known = i;
            if boundary {
                match recognise(bl, i, &mut ahead) {
                    // A request target is a route: its segments are kept and
                    // only the values in them are masked.
                    Ok((Kind::Path | Kind::Url, _)) if route.0 <= i && i < route.1 => {}
                    Ok((kind, len)) => {
                        scan.masked.push_str(&message[copied..i]);
                        scan.masked.push_str(kind.text());
                        scan.params.push(i..i + len);
                        i += len;
                        copied = i;
                        boundary = false;
                        continue;
                    }
                    Err((end, digit)) => {
                        known = end;
                        has_digit |= digit;
                    }
                }
            }
            if word_at(bl, i) {
                i = known;
                while i < lim && word_at(bl, i) {
                    has_digit |= CLASS[b[i] as usize] & DIGIT != 0;
                    i += 1;
                }
                boundary = false;
                has_word = true;
            } else {
                if c == b'"' {
                    if q_end > 0 && i == q_end {
                        if let Some(q) = quote.take()
                            && close_quote(scan, &q)
                        {
                            (has_digit, has_word) = (q.has_digit, q.has_word);
                            copied = i;
                        }
                        (q_end, route) = (0, (0, 0));
                    } else if q_end == 0
                        && (i == tok_start || matches!(b[i - 1], b'=' | b':'))
                        && let Some(q) = open_quote(scan, message, copied, i, has_digit, has_word)
                    {
                        // Free text in quotes (a user agent) becomes one `<*>`
                        // at its close whatever its scan finds, unless it is
                        // one value or a user match may start inside: skip it.
                        if q.spaced
                            && q.route.1 == 0
                            && lim > q.close
                            && skip_free_text()
                            && !one_value(bl, &q, &mut ahead)
                        {
                            scan.masked.push_str(WILDCARD);
                            scan.params.push(q.open + 1..q.close);
                            copied = q.close;
                            i = q.close + 1;
                            boundary = true;
                            continue;
                        }
                        copied = i + 1;
                        (q_end, route) = (q.close, q.route);
                        quote = Some(q);
                    }
                }
                i += nbsp_len(bl, i).max(1);
                boundary = true;
            }
        }
        scan.masked.push_str(&message[copied..i]);
        let m_end = scan.masked.len();
        let hash = xxh3_64(&scan.masked.as_bytes()[m_start..m_end]);
        let valued = scan.params.len() > p_start;
        let var = !has_word && valued;
        // Lists are runs of one kind of identifier (`blk_<NUM> blk_<NUM>`);
        // runs of bare values (`14 0 4`) are usually distinct fields.
        let listable = has_word && valued;
        if listable && run_hash == Some(hash) {
            extend_run(scan, m_start, p_start, i);
            prev_end = scan.masked.as_bytes().last().copied().unwrap_or(0);
            continue;
        }
        run_hash = listable.then_some(hash);
        scan.hashes.push(hash);
        scan.vars.push(var);
        scan.tokens.push(Token {
            masked: (m_start as u32, m_end as u32),
            orig: (tok_start as u32, i as u32),
            params: (p_start as u32, scan.params.len() as u32),
            has_digit,
            var,
        });
        // Only a unit word or a bracketed token can join its predecessor:
        // the first byte rules out almost every token at no cost.
        // Only a bracketed token, or a unit word after a number, can join its
        // predecessor: two byte tests rule out almost every token. (A joined
        // token is never listable, so `run_hash` is already None.)
        let c0 = b[tok_start];
        if c0 == b'(' || c0 == b'[' || (prev_end == b'>' && join_candidate(c0)) {
            settle_joins(scan, message);
        }
        prev_end = scan.masked.as_bytes().last().copied().unwrap_or(0);
    }
    scan.extra = extra;
}

/// A double-quoted string being scanned: byte offsets of its quotes, where its
/// content starts in the masked text and in the parameters, the token's
/// digit/word flags before it, whether the content holds whitespace, and
/// where its request target is when it is an HTTP request line.
#[derive(Debug, Clone, Copy)]
struct Quote {
    open: usize,
    close: usize,
    m_at: usize,
    p_at: usize,
    has_digit: bool,
    has_word: bool,
    spaced: bool,
    /// The request target's range (empty unless an HTTP request line).
    route: (usize, usize),
}

/// At a `"` that may open a quoted string (see [`quote_close`]): copies the
/// message up to and including the quote to the masked text and returns the
/// string's state, or `None` when the quote opens nothing.
#[cold]
fn open_quote(
    scan: &mut Scan,
    message: &str,
    copied: usize,
    i: usize,
    has_digit: bool,
    has_word: bool,
) -> Option<Quote> {
    let b = message.as_bytes();
    let close = quote_close(b, i)?;
    scan.masked.push_str(&message[copied..=i]);
    let content = &b[i + 1..close];
    Some(Quote {
        open: i,
        close,
        m_at: scan.masked.len(),
        p_at: scan.params.len(),
        has_digit,
        has_word,
        spaced: content.iter().any(|&x| is_ws(x)),
        route: request_target(content).map_or((0, 0), |(a, e)| (i + 1 + a, i + 1 + e)),
    })
}

/// At the closing quote of `q`: the content is one value when it spans
/// whitespace (free text) or holds a value, unless it is an HTTP request line,
/// which stays as scanned, or one typed value already (`"<URL>"`). Returns
/// whether the content was replaced (the token's digit/word flags are then
/// those from before the string).
#[cold]
fn close_quote(scan: &mut Scan, q: &Quote) -> bool {
    let whole = scan.params.len() == q.p_at + 1 && scan.params[q.p_at] == (q.open + 1..q.close);
    if q.route.1 > 0 || whole || !(q.spaced || scan.params.len() > q.p_at) {
        return false;
    }
    scan.masked.truncate(q.m_at);
    scan.masked.push_str(WILDCARD);
    scan.params.truncate(q.p_at);
    scan.params.push(q.open + 1..q.close);
    true
}

/// Whether quoted free text skips its scan (tests compare both ways).
#[inline]
fn skip_free_text() -> bool {
    #[cfg(test)]
    return tests::SKIP_FREE_TEXT.with(std::cell::Cell::get);
    #[cfg(not(test))]
    true
}

/// Whether the content of the quoted string `q` is one value: what the scan
/// takes at its first byte (a placeholder written out, or a recognised value)
/// runs to the closing quote. [`close_quote`] keeps such a string as scanned.
fn one_value(b: &[u8], q: &Quote, ahead: &mut Ahead<'_>) -> bool {
    let s = q.open + 1;
    let len = match (b[s] == b'<')
        .then(|| literal_placeholder(&b[s..]))
        .flatten()
    {
        Some(len) => len,
        None => match recognise(b, s, ahead) {
            Ok((_, len)) => len,
            Err(_) => return false,
        },
    };
    s + len == q.close
}

/// The closing quote of a double-quoted string opening at `b[open]`, if the
/// string is one value of the message: it closes on the same line, is not
/// empty, and after it only closing punctuation (`,;.)]}`) comes before
/// whitespace or the end. (Callers open strings only at a token start or
/// after `=` / `:`.) Quotes delimit data: a quoted string that spans
/// whitespace is one position, so free text of varying length (a user agent,
/// `tag="View Lock"`) does not change a message's token count.
pub(crate) fn quote_close(b: &[u8], open: usize) -> Option<usize> {
    let close = open + 1 + memchr::memchr2(b'"', b'\n', &b[open + 1..])?;
    if b[close] != b'"' || close == open + 1 {
        return None;
    }
    let mut j = close + 1;
    while j < b.len() && matches!(b[j], b',' | b';' | b'.' | b')' | b']' | b'}') {
        j += 1;
    }
    (j == b.len() || is_ws(b[j])).then_some(close)
}

/// The request target's byte range inside the content of a quoted HTTP
/// request line (`GET /api/v1/orders/42 HTTP/1.1`): an upper-case method, one
/// space, a target starting with `/` or holding `://`, one space, `HTTP/`.
#[inline(never)]
fn request_target(content: &[u8]) -> Option<(usize, usize)> {
    let m = content
        .iter()
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    if !(3..=7).contains(&m) || content.get(m) != Some(&b' ') {
        return None;
    }
    let start = m + 1;
    let len = memchr::memchr(b' ', &content[start..])?;
    let (target, rest) = (&content[start..start + len], &content[start + len + 1..]);
    let routed = target.first() == Some(&b'/') || memchr::memmem::find(target, b"://").is_some();
    (routed && rest.starts_with(b"HTTP/") && !rest.iter().any(|&c| is_ws(c)))
        .then_some((start, start + len))
}

/// Ends the scan of a multi-line message: everything from `start` (the first
/// token after the first line) to the last non-whitespace byte becomes one
/// `<*>` whose parameter is that text. (The same ends a message at the token
/// bound: see [`scan_message_with`].) A stack trace, a goroutine dump or an
/// indented continuation is the detail of the event its first line names;
/// its length and its frames vary from one occurrence to the next, so as
/// tokens it would split one event into as many templates as there are trace
/// lengths. The masked form of such a message ends in `\n<*>` (or whatever
/// separator the body follows), which scans to the same tokens again.
#[cold]
fn push_body(scan: &mut Scan, message: &str, start: usize) {
    let b = message.as_bytes();
    let mut end = b.len();
    while end > start && is_ws(b[end - 1]) {
        end -= 1;
    }
    let m_start = scan.masked.len();
    let p_start = scan.params.len();
    scan.masked.push_str(WILDCARD);
    scan.params.push(start..end);
    let hash = xxh3_64(WILDCARD.as_bytes());
    scan.hashes.push(hash);
    scan.vars.push(true);
    scan.tokens.push(Token {
        masked: (m_start as u32, scan.masked.len() as u32),
        orig: (start as u32, end as u32),
        params: (p_start as u32, scan.params.len() as u32),
        has_digit: false,
        var: true,
    });
}

/// Whether a token starting with `c` could be a unit (see [`joined_var`]).
#[inline]
fn join_candidate(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == 0xc2
}

/// Joins the last token into the one before it while [`joined_var`] allows.
fn settle_joins(scan: &mut Scan, message: &str) {
    while scan.tokens.len() >= 2 {
        let n = scan.tokens.len();
        let (prev, cur) = (scan.tokens[n - 2], scan.tokens[n - 1]);
        let Some(var) = joined_var(
            scan.masked_token(n - 2),
            prev.var,
            scan.masked_token(n - 1),
            cur.var,
        ) else {
            return;
        };
        let sep = &message[prev.orig.1 as usize..cur.orig.0 as usize];
        scan.masked.insert_str(cur.masked.0 as usize, sep);
        scan.tokens.pop();
        scan.hashes.pop();
        scan.vars.pop();
        let p = &mut scan.tokens[n - 2];
        p.masked.1 = scan.masked.len() as u32;
        p.orig.1 = cur.orig.1;
        p.params.1 = cur.params.1;
        p.has_digit |= cur.has_digit;
        p.var = var;
        let (a, e) = (p.masked.0 as usize, p.masked.1 as usize);
        scan.hashes[n - 2] = xxh3_64(&scan.masked.as_bytes()[a..e]);
        scan.vars[n - 2] = var;
    }
}

/// Whether two whitespace-separated tokens (their masked texts and whether
/// each is a pure value) form one token, and if so whether that token is a
/// value. Two shapes, both about values written with spaces:
///
/// - a number and its unit: `12.8 KB`, `5 ms`, `(3 sec)` — the unit belongs to
///   the value as it does in `12.8KB` or `5ms` (single-letter units are too
///   ambiguous apart from their number and stay words);
/// - a bracketed value after a token, `bytes (12.8 KB)`, `slot [7]`: an
///   annotation that some messages carry and others leave out, so messages
///   with and without it keep the same number of tokens.
///
/// The rule reads masked text only, so it gives the same tokens for a message
/// and for its masked form (templates are re-tokenised with it on load).
pub(crate) fn joined_var(prev: &str, prev_var: bool, cur: &str, cur_var: bool) -> Option<bool> {
    let c = cur.as_bytes();
    match c.first()? {
        b'(' | b'[' => {
            let close = if c[0] == b'(' { b')' } else { b']' };
            (cur_var && c.len() > 2 && c[c.len() - 1] == close).then_some(prev_var)
        }
        _ => {
            if !prev.ends_with("<NUM>") {
                return None;
            }
            let unit_end = c
                .iter()
                .position(|&x| !(x.is_ascii_alphabetic() || x >= 0x80))
                .unwrap_or(c.len());
            let tail_ok = c[unit_end..]
                .iter()
                .all(|&x| matches!(x, b')' | b']' | b'}' | b',' | b';' | b'.'));
            (unit_end >= 2 && tail_ok && is_unit(&c[..unit_end])).then_some(prev_var)
        }
    }
}

/// Folds the token just scanned (masked from `m_start`, parameters from
/// `p_start`, ending at `end` in the message) into the previous one, an equal
/// identifier holding a value: a list such as `blk_1 blk_2 blk_3` becomes one `<*>` whose
/// parameter is the whole list, so messages that differ only in the length of
/// a list share a template.
fn extend_run(scan: &mut Scan, m_start: usize, p_start: usize, end: usize) {
    scan.masked.truncate(m_start);
    scan.params.truncate(p_start);
    let Some(prev) = scan.tokens.last_mut() else {
        return;
    };
    if scan.masked.as_bytes()[prev.masked.0 as usize..prev.masked.1 as usize]
        != *WILDCARD.as_bytes()
        || prev.params.1 - prev.params.0 != 1
    {
        scan.masked.truncate(prev.masked.0 as usize);
        scan.masked.push_str(WILDCARD);
        scan.params.truncate(prev.params.0 as usize);
        scan.params.push(prev.orig.0 as usize..end);
        prev.masked.1 = scan.masked.len() as u32;
        prev.params.1 = scan.params.len() as u32;
        if let Some(h) = scan.hashes.last_mut() {
            *h = xxh3_64(WILDCARD.as_bytes());
        }
    } else if let Some(p) = scan.params.last_mut() {
        p.end = end;
    }
    prev.orig.1 = end as u32;
    prev.has_digit = false;
}

/// Longest placeholder name [`literal_placeholder`] accepts, so a stray `<`
/// never makes it scan far.
const MAX_PLACEHOLDER_NAME: usize = 32;

/// Length of the placeholder spelled at the start of `s`, if any: `<*>` or
/// `<NAME>` where NAME is an ASCII uppercase letter followed by uppercase
/// letters, digits or `_` (the built-in [`PLACEHOLDERS`] and the names of
/// user masks alike, so [`crate::render`] needs no configuration).
#[inline]
pub(crate) fn literal_placeholder(s: &[u8]) -> Option<usize> {
    if s.len() < 3 || s[0] != b'<' {
        return None;
    }
    if s[1] == b'*' {
        return (s[2] == b'>').then_some(3);
    }
    if !s[1].is_ascii_uppercase() {
        return None;
    }
    let mut j = 2;
    while j < s.len() && j <= MAX_PLACEHOLDER_NAME {
        match s[j] {
            b'>' => return Some(j + 1),
            c if c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_' => j += 1,
            _ => return None,
        }
    }
    None
}

/// Whether `name` can be spelled as a placeholder `<name>` (see
/// [`literal_placeholder`]).
pub(crate) fn is_placeholder_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() < MAX_PLACEHOLDER_NAME
        && b[0].is_ascii_uppercase()
        && b[1..]
            .iter()
            .all(|&c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_')
}

/// Tries every recogniser that can start with `b[i]`; `i` is a boundary.
///
/// One pass over the ASCII alphanumeric run at `i` gives its length, whether
/// it is all digits / all hex, and the byte after it; each recogniser is only
/// called when those facts allow it to succeed (a necessary condition, so the
/// result is the same as trying them all), which keeps the common case — an
/// ordinary word — to a single scan.
///
/// `ahead` rules out the recognisers whose value needs a byte that does not
/// occur from `i` on.
///
/// On a miss, returns the end of that alphanumeric run (`i` when `b[i]` is
/// not alphanumeric) and whether it holds a digit.
///
/// Kept out of line: inlined into [`scan_message_with`]'s loop it cost the
/// template thread 10.7% more instructions on the generated mixed corpus;
/// on plain text (the Loghub samples) the call itself costs the scan ~6%
/// (callgrind; see BENCHMARKS.md).
#[inline(never)]
fn recognise(b: &[u8], i: usize, ahead: &mut Ahead<'_>) -> Result<(Kind, usize), (usize, bool)> {
    let c = b[i];
    let prev = if i > 0 { b[i - 1] } else { b' ' };
    let mut miss = (i, false);
    let found = if CLASS[c as usize] & ALNUM != 0 {
        let mut e = i;
        let (mut all, mut any) = (DIGIT | HEX, 0u8);
        while e < b.len() {
            let k = CLASS[b[e] as usize];
            if k & ALNUM == 0 {
                break;
            }
            all &= k;
            any |= k;
            e += 1;
        }
        let (all_digit, all_hex) = (all & DIGIT != 0, all & HEX != 0);
        miss = (e, any & DIGIT != 0);
        let len = e - i;
        let next = at(b, e);
        let email_ok = matches!(next, b'@' | b'.' | b'_' | b'%' | b'+' | b'-') && ahead.at(i);
        let host_ok = next == b'.' || next == b'-';
        let b64_ok = len >= 20 || matches!(next, b'+' | b'/');
        let try_ipv6 = all_hex && len <= 4 && next == b':';
        let try_long_hex = all_hex && !all_digit && len >= 8;
        if c.is_ascii_digit() {
            let sep = matches!(next, b'-' | b'/');
            None.or_else(|| {
                (all_digit && (len == 4 || len == 2) && sep)
                    .then(|| timestamp_numeric(b, i).map(|j| (Kind::Timestamp, j)))
                    .flatten()
            })
            .or_else(|| {
                (all_hex && len == 8 && next == b'-')
                    .then(|| uuid(b, i).map(|j| (Kind::Uuid, j)))
                    .flatten()
            })
            .or_else(|| {
                (all_hex && len == 2 && matches!(next, b':' | b'-'))
                    .then(|| mac(b, i).map(|j| (Kind::Hex, j)))
                    .flatten()
            })
            .or_else(|| {
                (all_digit && len <= 2 && next == b':')
                    .then(|| time(b, i).map(|j| (Kind::Timestamp, j)))
                    .flatten()
            })
            .or_else(|| {
                (all_digit && len <= 3 && next == b'.')
                    .then(|| ipv4(b, i).map(|j| (Kind::Ip, j)))
                    .flatten()
            })
            .or_else(|| {
                host_ok
                    .then(|| host(b, i, prev).map(|j| (Kind::Host, j)))
                    .flatten()
            })
            .or_else(|| {
                try_ipv6
                    .then(|| ipv6(b, i).map(|j| (Kind::Ip, j)))
                    .flatten()
            })
            .or_else(|| hex0x(b, i).map(|j| (Kind::Hex, j)))
            .or_else(|| number(b, i).map(|j| (Kind::Num, j)))
            .or_else(|| {
                try_long_hex
                    .then(|| long_hex(b, i).map(|j| (Kind::Hex, j)))
                    .flatten()
            })
            .or_else(|| {
                email_ok
                    .then(|| email(b, i, prev).map(|j| (Kind::Email, j)))
                    .flatten()
            })
            .or_else(|| {
                b64_ok
                    .then(|| b64(b, i, prev).map(|j| (Kind::B64, j)))
                    .flatten()
            })
        } else {
            let url_ok = matches!(next, b':' | b'+' | b'.' | b'-') && ahead.url(i);
            let path_ok = (matches!(next, b'.' | b'_' | b'-' | b'/' | b'~' | b'+' | b'@' | b'%')
                || next >= 0x80)
                && ahead.slash(i);
            None.or_else(|| url_ok.then(|| url(b, i).map(|j| (Kind::Url, j))).flatten())
                .or_else(|| {
                    (len == 4 || len == 5)
                        .then(|| boolean(b, i, e, prev).map(|j| (Kind::Bool, j)))
                        .flatten()
                })
                .or_else(|| {
                    email_ok
                        .then(|| email(b, i, prev).map(|j| (Kind::Email, j)))
                        .flatten()
                })
                .or_else(|| {
                    (len == 3 && next == b' ' && c.is_ascii_uppercase())
                        .then(|| syslog_ts(b, i).map(|j| (Kind::Timestamp, j)))
                        .flatten()
                })
                .or_else(|| {
                    (all_hex && len == 8 && next == b'-')
                        .then(|| uuid(b, i).map(|j| (Kind::Uuid, j)))
                        .flatten()
                })
                .or_else(|| {
                    (all_hex && len == 2 && matches!(next, b':' | b'-'))
                        .then(|| mac(b, i).map(|j| (Kind::Hex, j)))
                        .flatten()
                })
                .or_else(|| {
                    try_ipv6
                        .then(|| ipv6(b, i).map(|j| (Kind::Ip, j)))
                        .flatten()
                })
                .or_else(|| {
                    try_long_hex
                        .then(|| long_hex(b, i).map(|j| (Kind::Hex, j)))
                        .flatten()
                })
                .or_else(|| {
                    (len == 1 && next == b':')
                        .then(|| windows_path(b, i).map(|j| (Kind::Path, j)))
                        .flatten()
                })
                .or_else(|| {
                    host_ok
                        .then(|| host(b, i, prev).map(|j| (Kind::Host, j)))
                        .flatten()
                })
                .or_else(|| {
                    b64_ok
                        .then(|| b64(b, i, prev).map(|j| (Kind::B64, j)))
                        .flatten()
                })
                .or_else(|| {
                    path_ok
                        .then(|| relative_path(b, i, prev).map(|j| (Kind::Path, j)))
                        .flatten()
                })
        }
    } else {
        match c {
            // `/10.0.0.1` (Java's `InetAddress` text): the slash belongs to
            // the address, as in the Loghub ground truth.
            b'/' if at(b, i + 1).is_ascii_digit() => ipv4(b, i + 1)
                .map(|j| (Kind::Ip, j))
                .or_else(|| abs_path(b, i).map(|j| (Kind::Path, j))),
            b'/' | b'.' | b'~' => abs_path(b, i).map(|j| (Kind::Path, j)),
            b'-' | b'+' if at(b, i + 1).is_ascii_digit() => number(b, i).map(|j| (Kind::Num, j)),
            b':' => ipv6(b, i).map(|j| (Kind::Ip, j)),
            _ => None,
        }
    };
    found.map(|(k, j)| (k, j - i)).ok_or(miss)
}

// ---------------------------------------------------------------- timestamps

/// Time of day `h:mm:ss` or `hh:mm:ss` with an optional `.123`/`,123`
/// fraction. Returns the end index.
fn time_of_day(b: &[u8], i: usize) -> Option<usize> {
    let j = digits(b, i, 1, 2)?;
    if at(b, j) != b':' {
        return None;
    }
    let j = digits(b, j + 1, 2, 2)?;
    if at(b, j) != b':' {
        return None;
    }
    let mut j = digits(b, j + 1, 2, 2)?;
    if matches!(at(b, j), b'.' | b',') && at(b, j + 1).is_ascii_digit() {
        j = digits(b, j + 1, 1, 9)?;
    }
    Some(j)
}

/// Optional zone after a time: `Z`, `+hh`, `+hhmm`, `+hh:mm`.
fn zone(b: &[u8], j: usize) -> usize {
    match at(b, j) {
        b'Z' => j + 1,
        b'+' | b'-' => {
            let Some(k) = digits(b, j + 1, 2, 2) else {
                return j;
            };
            if at(b, k) == b':' {
                digits(b, k + 1, 2, 2).unwrap_or(k)
            } else {
                digits(b, k, 2, 2).unwrap_or(k)
            }
        }
        _ => j,
    }
}

/// End of a time of day at `t`, with its zone when one follows and ends
/// cleanly, else without (the zone-like text may be something else).
fn zoned(b: &[u8], t: usize) -> Option<usize> {
    let z = zone(b, t);
    if z > t && end_ok(b, z) {
        return Some(z);
    }
    end_ok(b, t).then_some(t)
}

fn time(b: &[u8], i: usize) -> Option<usize> {
    zoned(b, time_of_day(b, i)?)
}

/// `2024-01-02`, `2024/01/02`, optionally followed by `T` or one space and a
/// time of day with zone; `01-02 15:04:05` (Android); `02/Jan/2024:15:04:05
/// +0000` (common log format).
fn timestamp_numeric(b: &[u8], i: usize) -> Option<usize> {
    if let Some(j) = digits(b, i, 4, 4)
        && matches!(at(b, j), b'-' | b'/')
    {
        let sep = b[j];
        let k = digits(b, j + 1, 2, 2)?;
        if at(b, k) != sep {
            return None;
        }
        let date_end = digits(b, k + 1, 2, 2)?;
        if matches!(at(b, date_end), b'T' | b' ')
            && let Some(t) = time_of_day(b, date_end + 1).and_then(|t| zoned(b, t))
        {
            return Some(t);
        }
        return end_ok(b, date_end).then_some(date_end);
    }
    let j = digits(b, i, 2, 2)?;
    match at(b, j) {
        b'-' => {
            let k = digits(b, j + 1, 2, 2)?;
            if at(b, k) != b' ' {
                return None;
            }
            let t = time_of_day(b, k + 1)?;
            end_ok(b, t).then_some(t)
        }
        b'/' => {
            let m = j + 1;
            if !(at(b, m).is_ascii_uppercase()
                && at(b, m + 1).is_ascii_lowercase()
                && at(b, m + 2).is_ascii_lowercase()
                && at(b, m + 3) == b'/')
            {
                return None;
            }
            let y = digits(b, m + 4, 4, 4)?;
            if at(b, y) != b':' {
                return None;
            }
            let mut t = time_of_day(b, y + 1)?;
            if at(b, t) == b' '
                && matches!(at(b, t + 1), b'+' | b'-')
                && let Some(z) = digits(b, t + 2, 4, 4)
            {
                t = z;
            }
            end_ok(b, t).then_some(t)
        }
        _ => None,
    }
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Syslog (RFC 3164) `Jan  2 15:04:05`: the day may be space-padded.
fn syslog_ts(b: &[u8], i: usize) -> Option<usize> {
    if i + 3 > b.len() || !MONTHS.iter().any(|m| &b[i..i + 3] == *m) {
        return None;
    }
    let mut j = i + 3;
    let sp = j;
    while at(b, j) == b' ' && j - sp < 2 {
        j += 1;
    }
    if j == sp {
        return None;
    }
    let d = digits(b, j, 1, 2)?;
    if at(b, d) != b' ' {
        return None;
    }
    let t = time_of_day(b, d + 1)?;
    end_ok(b, t).then_some(t)
}

// ------------------------------------------------------------- network & ids

fn ipv4(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..4 {
        let k = digits(b, j, 1, 3)?;
        let mut v = 0u32;
        for &d in &b[j..k] {
            v = v * 10 + u32::from(d - b'0');
        }
        if v > 255 {
            return None;
        }
        j = k;
        if part < 3 {
            if at(b, j) != b'.' {
                return None;
            }
            j += 1;
        }
    }
    // `1.2.3.4.5` is a dotted number, `1.2.3.4.dsl.example.net` a host name,
    // not an address.
    if at(b, j) == b'.' && at(b, j + 1).is_ascii_alphanumeric() {
        return None;
    }
    end_ok(b, j).then_some(j)
}

fn ipv6(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    let mut groups = 0usize;
    let mut double = false;
    let mut has_digit = false;
    if at(b, j) == b':' {
        if at(b, j + 1) != b':' {
            return None;
        }
        double = true;
        j += 2;
    }
    loop {
        let start = j;
        while j < b.len() && j - start < 5 && is_hex(b[j]) {
            has_digit |= b[j].is_ascii_digit();
            j += 1;
        }
        let glen = j - start;
        if glen == 0 {
            // Only a trailing `::` may be followed by nothing.
            if !(double && j >= 2 && b[j - 1] == b':' && b[j - 2] == b':') {
                return None;
            }
            break;
        }
        // A group running into a placeholder (`::fe80:<HEX>`) was part of
        // something longer than an address before masking.
        if glen > 4 || (at(b, j) == b':' && at(b, j + 1) == b'<') {
            return None;
        }
        if at(b, j) == b'.' {
            let v4 = ipv4_prefix(b, start)?;
            groups += 2;
            j = v4;
            has_digit = true;
            break;
        }
        groups += 1;
        if at(b, j) == b':' && at(b, j + 1) == b':' {
            if double {
                return None;
            }
            double = true;
            j += 2;
            continue;
        }
        if at(b, j) == b':' && is_hex(at(b, j + 1)) {
            j += 1;
            continue;
        }
        break;
    }
    let ok = if double {
        (1..=7).contains(&groups)
    } else {
        groups == 8
    };
    if !ok || !(has_digit || groups == 8) {
        return None;
    }
    end_ok(b, j).then_some(j)
}

/// An IPv4 address without the trailing-context check (used inside IPv6).
fn ipv4_prefix(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..4 {
        let k = digits(b, j, 1, 3)?;
        j = k;
        if part < 3 {
            if at(b, j) != b'.' {
                return None;
            }
            j += 1;
        }
    }
    Some(j)
}

fn hex_run(b: &[u8], i: usize, len: usize) -> bool {
    i + len <= b.len() && b[i..i + len].iter().all(|&c| is_hex(c))
}

fn uuid(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for (k, len) in [8usize, 4, 4, 4, 12].into_iter().enumerate() {
        if !hex_run(b, j, len) {
            return None;
        }
        j += len;
        if k < 4 {
            if at(b, j) != b'-' {
                return None;
            }
            j += 1;
        }
    }
    end_ok(b, j).then_some(j)
}

/// MAC address `aa:bb:cc:dd:ee:ff` / `aa-bb-…`, masked as `<HEX>`.
fn mac(b: &[u8], i: usize) -> Option<usize> {
    if !hex_run(b, i, 2) {
        return None;
    }
    let sep = at(b, i + 2);
    if sep != b':' && sep != b'-' {
        return None;
    }
    let mut j = i + 2;
    for _ in 0..5 {
        if at(b, j) != sep || !hex_run(b, j + 1, 2) {
            return None;
        }
        j += 3;
    }
    end_ok(b, j).then_some(j)
}

fn hex0x(b: &[u8], i: usize) -> Option<usize> {
    if b[i] != b'0' || !matches!(at(b, i + 1), b'x' | b'X') || !is_hex(at(b, i + 2)) {
        return None;
    }
    let mut j = i + 2;
    while j < b.len() && is_hex(b[j]) {
        j += 1;
    }
    end_ok(b, j).then_some(j)
}

/// A hex string of at least 8 characters holding a digit and a letter (pure
/// digit runs are numbers): block ids, hashes, object ids.
fn long_hex(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    let (mut digit, mut alpha) = (false, false);
    while j < b.len() && is_hex(b[j]) {
        if b[j].is_ascii_digit() {
            digit = true;
        } else {
            alpha = true;
        }
        j += 1;
    }
    (j - i >= 8 && digit && alpha && end_ok(b, j)).then_some(j)
}

/// Host names: `label(.label)+` followed by `:port`, or with three or more
/// labels ending in a short lowercase top-level label (`proxy.example.edu.hk`).
/// At least one label holds a letter (all-digit names are IPv4 or numbers),
/// and the name must not continue a larger dotted or path-like word.
fn host(b: &[u8], i: usize, prev: u8) -> Option<usize> {
    if i > 0
        && matches!(
            prev,
            b'.' | b'-' | b'_' | b'/' | b'@' | b'\\' | b'%' | b'+' | b'~'
        )
    {
        return None;
    }
    let mut j = i;
    let mut labels = 0;
    let mut last;
    let mut alpha = false;
    loop {
        let s = j;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-') {
            alpha |= b[j].is_ascii_alphabetic();
            j += 1;
        }
        if j == s || b[s] == b'-' || b[j - 1] == b'-' {
            return None;
        }
        labels += 1;
        last = s;
        if at(b, j) == b'.' && at(b, j + 1).is_ascii_alphanumeric() {
            j += 1;
            continue;
        }
        break;
    }
    // A dotted name running into a placeholder (`a.b.<NUM>`) was not a name
    // before masking either; deciding the same way keeps masking idempotent.
    if labels < 2 || !alpha || (at(b, j) == b'.' && at(b, j + 1) == b'<') {
        return None;
    }
    if at(b, j) == b':'
        && let Some(k) = digits(b, j + 1, 1, 5)
        && end_ok(b, k)
    {
        return Some(j);
    }
    let tld = &b[last..j];
    (labels >= 3
        && (2..=4).contains(&tld.len())
        && tld.iter().all(u8::is_ascii_lowercase)
        && end_ok(b, j))
    .then_some(j)
}

/// `true` / `false` in any of their usual casings, as a whole word (not part
/// of an identifier such as `is_true` or `true-ish`).
fn boolean(b: &[u8], i: usize, e: usize, prev: u8) -> Option<usize> {
    let glued = |c: u8| matches!(c, b'_' | b'-' | b'.');
    if (i > 0 && glued(prev)) || glued(at(b, e)) || !end_ok(b, e) {
        return None;
    }
    matches!(
        &b[i..e],
        b"true" | b"True" | b"TRUE" | b"false" | b"False" | b"FALSE"
    )
    .then_some(e)
}

// ------------------------------------------------------------------- numbers

fn is_unit(u: &[u8]) -> bool {
    matches!(
        u,
        b"ns"
            | b"us"
            | b"\xc2\xb5s"
            | b"ms"
            | b"s"
            | b"sec"
            | b"secs"
            | b"m"
            | b"min"
            | b"mins"
            | b"h"
            | b"hr"
            | b"hrs"
            | b"d"
            | b"b"
            | b"B"
            | b"k"
            | b"K"
            | b"kb"
            | b"kB"
            | b"KB"
            | b"Kb"
            | b"KiB"
            | b"M"
            | b"mb"
            | b"MB"
            | b"Mb"
            | b"MiB"
            | b"G"
            | b"gb"
            | b"GB"
            | b"Gb"
            | b"GiB"
            | b"T"
            | b"tb"
            | b"TB"
            | b"TiB"
    )
}

/// Integers, decimals, signed numbers, dotted numbers (versions), exponents,
/// and numbers with a unit (`12ms`, `4.5MB`, `1h30m`).
fn number(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if matches!(b[j], b'-' | b'+') {
        j += 1;
    }
    // Where a shorter dotted prefix could end: returning it when the whole
    // run fails keeps the decision independent of what follows, which masking
    // may change (`1.2.3abc…` must mask the same before and after).
    let mut last_good = None;
    // A unit: the letters (or `µ`) from `from`.
    let unit = |from: usize| {
        let mut u = from;
        loop {
            match at(b, u) {
                c if c.is_ascii_alphabetic() => u += 1,
                0xc2 if at(b, u + 1) == 0xb5 => u += 2,
                _ => break,
            }
        }
        (u > from && is_unit(&b[from..u])).then_some(u)
    };
    // A no-break space and a unit after a number ending at `k` (`5\u{a0}µs`,
    // as formatters localised for French or .NET write it) are part of it.
    let spaced_unit = |k: usize| {
        let space = if k < b.len() { nbsp_len(b, k) } else { 0 };
        (space > 0)
            .then(|| unit(k + space))
            .flatten()
            .filter(|&u| end_ok(b, u))
    };
    loop {
        let mut k = digits(b, j, 1, usize::MAX)?;
        while at(b, k) == b'.' && at(b, k + 1).is_ascii_digit() {
            last_good = Some(k);
            k = digits(b, k + 1, 1, usize::MAX)?;
        }
        if matches!(at(b, k), b'e' | b'E') {
            let s = if matches!(at(b, k + 1), b'+' | b'-') {
                k + 2
            } else {
                k + 1
            };
            if let Some(e) = digits(b, s, 1, 4) {
                if end_ok(b, e) {
                    return Some(spaced_unit(e).unwrap_or(e));
                }
                // A unit right after the exponent (`1.5e3ms`).
                if let Some(u) = unit(e)
                    && end_ok(b, u)
                {
                    return Some(u);
                }
            }
        }
        if end_ok(b, k) {
            return Some(spaced_unit(k).unwrap_or(k));
        }
        // A unit right after the digits.
        let Some(u) = unit(k) else {
            return last_good;
        };
        if end_ok(b, u) {
            return Some(u);
        }
        if !b[u].is_ascii_digit() {
            return last_good;
        }
        // Compound duration such as `1h30m5s`. An earlier dotted prefix stays
        // the fallback: `3.5T12QU…` is `<NUM>.` + whatever follows, before and
        // after masking alike.
        j = u;
    }
}

// --------------------------------------------------------------- text values

fn is_local_part(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

/// `local@domain.tld`; tried only where a local part can begin, so each byte
/// is looked at a bounded number of times.
fn email(b: &[u8], i: usize, prev: u8) -> Option<usize> {
    if i > 0 && is_local_part(prev) {
        return None;
    }
    let mut j = i;
    while j < b.len() && is_local_part(b[j]) {
        j += 1;
    }
    if j == i || at(b, j) != b'@' {
        return None;
    }
    j += 1;
    let d = j;
    let mut last_dot = None;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'-' || b[j] == b'.') {
        if b[j] == b'.' {
            last_dot = Some(j);
        }
        j += 1;
    }
    // A sentence may end right after the address.
    if end_ok(b, j) {
        while j > d && b[j - 1] == b'.' {
            j -= 1;
            last_dot = b[d..j].iter().rposition(|&c| c == b'.').map(|p| d + p);
        }
    }
    let dot = last_dot?;
    let tld = &b[dot + 1..j];
    if dot == d || tld.len() < 2 || !tld.iter().all(u8::is_ascii_alphabetic) {
        return None;
    }
    end_ok(b, j).then_some(j)
}

/// `scheme://rest` up to whitespace or a quote/angle bracket; trailing
/// sentence punctuation is left out.
fn url(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    while j < b.len()
        && j - i <= 16
        && (b[j].is_ascii_alphanumeric() || matches!(b[j], b'+' | b'.' | b'-'))
    {
        j += 1;
    }
    if !(j - i >= 2 && b[j..].starts_with(b"://")) {
        return None;
    }
    j += 3;
    let rest = j;
    while j < b.len() && !is_ws(b[j]) && !matches!(b[j], b'"' | b'\'' | b'<' | b'>' | b'`') {
        j += 1;
    }
    while j > rest
        && matches!(
            b[j - 1],
            b'.' | b',' | b';' | b':' | b'!' | b'?' | b')' | b']' | b'}'
        )
    {
        j -= 1;
    }
    (j > rest).then_some(j)
}

fn is_path_char(c: u8) -> bool {
    is_word(c) || matches!(c, b'.' | b'_' | b'-' | b'/' | b'~' | b'+' | b'@' | b'%')
}

/// End of a run of path bytes with trailing dots trimmed (sentence ends)
/// unless a placeholder follows (see [`end_ok`]).
fn path_end(b: &[u8], i: usize, extra: u8) -> usize {
    let mut j = i;
    while j < b.len() && (is_path_char(b[j]) || b[j] == extra) {
        j += 1;
    }
    if end_ok(b, j) {
        while j > i && b[j - 1] == b'.' {
            j -= 1;
        }
    }
    j
}

/// `/a/b`, `/tmp`, `./x`, `../x`, `~/x`. A single segment must start like a
/// name, so `/10.0.0.1:80` keeps its address and port.
fn abs_path(b: &[u8], i: usize) -> Option<usize> {
    let body = match b[i] {
        b'/' => i + 1,
        b'.' if at(b, i + 1) == b'/' => i + 2,
        b'.' if at(b, i + 1) == b'.' && at(b, i + 2) == b'/' => i + 3,
        b'~' if at(b, i + 1) == b'/' => i + 2,
        _ => return None,
    };
    let j = path_end(b, i, 0);
    if j <= body || b[body] == b'/' {
        return None;
    }
    let multi = b[body..j].contains(&b'/');
    if b[i] == b'/' && !multi && !(b[body].is_ascii_alphabetic() || matches!(b[body], b'.' | b'_'))
    {
        return None;
    }
    end_ok(b, j).then_some(j)
}

fn windows_path(b: &[u8], i: usize) -> Option<usize> {
    if at(b, i + 1) != b':' || !matches!(at(b, i + 2), b'\\' | b'/') || !is_path_char(at(b, i + 3))
    {
        return None;
    }
    let j = path_end(b, i + 3, b'\\');
    end_ok(b, j).then_some(j)
}

/// `a/b/c`: at least three non-empty segments.
fn relative_path(b: &[u8], i: usize, prev: u8) -> Option<usize> {
    if i > 0 && is_path_char(prev) {
        return None;
    }
    let j = path_end(b, i, 0);
    let seg = &b[i..j];
    if seg.iter().filter(|&&c| c == b'/').count() < 2
        || seg.windows(2).any(|w| w == b"//")
        || seg.last() == Some(&b'/')
    {
        return None;
    }
    end_ok(b, j).then_some(j)
}

fn is_b64(c: u8) -> bool {
    CLASS[c as usize] & (ALNUM | B64_SYMBOL) != 0
}

/// Base64-ish: at least 20 characters from the base64 alphabet with a digit
/// and mixed case (or `+`, `/`, `=` padding), tried only where such a run
/// begins.
fn b64(b: &[u8], i: usize, prev: u8) -> Option<usize> {
    if i > 0 && is_b64(prev) {
        return None;
    }
    let mut j = i;
    // The classes of the run's bytes, or-ed: one table load a byte.
    let mut seen = 0u8;
    while j < b.len() {
        let k = CLASS[b[j] as usize];
        if k & (ALNUM | B64_SYMBOL) == 0 {
            break;
        }
        seen |= k;
        j += 1;
    }
    let (upper, lower) = (seen & UPPER != 0, seen & LOWER != 0);
    let (digit, sym) = (seen & DIGIT != 0, seen & B64_SYMBOL != 0);
    let len = j - i;
    let run_end = j;
    let mut pad = 0;
    while at(b, j) == b'=' && pad < 2 {
        j += 1;
        pad += 1;
    }
    if len < 20 {
        return None;
    }
    let shaped = |pad: bool| digit && (upper && lower || sym || pad) || (upper && lower && pad);
    if pad > 0 && shaped(true) && end_ok(b, j) {
        return Some(j);
    }
    // Without the padding when `=` starts something else (`key=…`).
    (shaped(false) && end_ok(b, run_end)).then_some(run_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Off: quoted free text is scanned and then replaced, as before
        /// the skip (the oracle of `skipping_free_text_changes_nothing`).
        pub(super) static SKIP_FREE_TEXT: std::cell::Cell<bool> = const { std::cell::Cell::new(true) };
    }

    /// Two user masks: `<TICKET>` for `T-` and digits, `<WORD>` for `word`.
    fn ticket_and_word(word: &str) -> [CompiledMask; 2] {
        [
            CompiledMask {
                placeholder: "<TICKET>".to_owned(),
                regex: regex::Regex::new(r"T-\d+").unwrap(),
            },
            CompiledMask {
                placeholder: "<WORD>".to_owned(),
                regex: regex::Regex::new(word).unwrap(),
            },
        ]
    }

    /// User-mask matches as the plain rule says: in rule order, a match that
    /// overlaps one already taken is dropped (the oracle of `find_extra`).
    fn extra_by_the_rule(message: &str, masks: &[CompiledMask]) -> Vec<(usize, usize, usize)> {
        let mut out: Vec<(usize, usize, usize)> = Vec::new();
        for (r, mask) in masks.iter().enumerate() {
            for m in mask.regex.find_iter(message) {
                let (s, e) = (m.start(), m.end());
                if s == e || message[s..e].bytes().any(is_ws) {
                    continue;
                }
                if !out.iter().any(|&(a, b, _)| s < b && a < e) {
                    out.push((s, e, r));
                }
            }
        }
        out.sort_unstable();
        out
    }

    proptest::proptest! {
        #[test]
        fn overlapping_user_masks_keep_the_earlier_rule(msg in "[abc 0-9-]{0,60}") {
            let masks: Vec<CompiledMask> = ["ab", "bc+", "[0-9]+", "c", "b-?[0-9]", "a*"]
                .iter()
                .enumerate()
                .map(|(i, re)| CompiledMask {
                    placeholder: format!("<M{i}>"),
                    regex: regex::Regex::new(re).unwrap(),
                })
                .collect();
            let mut got = Vec::new();
            find_extra(&msg, &masks, &mut got, &mut Vec::new());
            proptest::prop_assert_eq!(got, extra_by_the_rule(&msg, &masks));
        }
    }

    /// Masked tokens, hashes, flags and parameters of a scan, to compare.
    type ScanParts = (String, Vec<Token>, Vec<u64>, Vec<bool>, Vec<Range<usize>>);

    fn scan_parts(msg: &str, masks: &[CompiledMask]) -> ScanParts {
        let mut scan = Scan::default();
        scan_message_with(msg, &mut scan, masks, usize::MAX);
        (
            scan.masked,
            scan.tokens,
            scan.hashes,
            scan.vars,
            scan.params,
        )
    }

    #[test]
    fn skipping_free_text_changes_nothing() {
        // Quoted strings of every kind the scan treats apart: free text,
        // one value with a space, request lines, a written-out placeholder,
        // content ending in `=` or `:`, closing punctuation, unclosed and
        // empty quotes, user matches inside, at and after the string.
        let pieces = [
            r#""Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0""#,
            r#"ua="curl/8.5.0 x""#,
            r#""2024-01-02 03:04:05""#,
            r#"at="2024-01-02 03:04:05.123Z","#,
            r#""GET /api/v1/orders/42 HTTP/1.1""#,
            r#""POST https://a.example/x?y=1 HTTP/2""#,
            r#""<NUM> <NUM>""#,
            r#""<NUM>""#,
            r#""a b=""#,
            r#""a b:"x"#,
            r#"k:"T-12 and T-13")."#,
            r#""zz top""#,
            r#""a b"T-9"#,
            r#""""#,
            r#""never closed"#,
            r#""line
break""#,
            r#"msg="disk 90% full on /dev/sda1 (12.8 KB left)""#,
            "plain",
            "T-7",
            "12 ms",
            "[7]",
        ];
        let masks = ticket_and_word(r"zz\w*");
        let mut rng = logoscope_testkit::XorShift::new(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: usize| rng.index(n);
        let seps = [" ", "  ", "\t", "=", ":", ""];
        let mut skipped = 0;
        for _ in 0..20_000 {
            let mut msg = String::new();
            for _ in 0..1 + next(5) {
                msg.push_str(seps[next(seps.len())]);
                msg.push_str(pieces[next(pieces.len())]);
            }
            for user in [&masks[..], &[]] {
                SKIP_FREE_TEXT.with(|s| s.set(true));
                let fast = scan_parts(&msg, user);
                SKIP_FREE_TEXT.with(|s| s.set(false));
                let slow = scan_parts(&msg, user);
                SKIP_FREE_TEXT.with(|s| s.set(true));
                assert_eq!(fast, slow, "{msg:?}");
                skipped += usize::from(fast.0.contains("\"<*>\""));
            }
        }
        // The skip is taken, not only compared.
        assert!(skipped > 1000, "{skipped}");
    }

    fn m(s: &str) -> String {
        mask(s)
    }

    /// Every class bit of every byte agrees with the predicate it stands for.
    #[test]
    fn byte_classes() {
        for c in 0..=255u8 {
            let k = CLASS[c as usize];
            assert_eq!(k & WORD != 0, c.is_ascii_alphanumeric() || c >= 0x80, "{c}");
            assert_eq!(k & DIGIT != 0, c.is_ascii_digit(), "{c}");
            assert_eq!(k & HEX != 0, c.is_ascii_hexdigit(), "{c}");
            assert_eq!(k & ALNUM != 0, c.is_ascii_alphanumeric(), "{c}");
            assert_eq!(k & SPACE != 0, c.is_ascii_whitespace() || c == 0x0b, "{c}");
            assert_eq!(k & UPPER != 0, c.is_ascii_uppercase(), "{c}");
            assert_eq!(k & LOWER != 0, c.is_ascii_lowercase(), "{c}");
            assert_eq!(k & B64_SYMBOL != 0, c == b'+' || c == b'/', "{c}");
            assert_eq!(
                is_b64(c),
                c.is_ascii_alphanumeric() || c == b'+' || c == b'/'
            );
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(m("a 12 b"), "a <NUM> b");
        assert_eq!(m("x=-3.5"), "x=<NUM>");
        assert_eq!(m("v 1.2.3"), "v <NUM>");
        assert_eq!(
            m("took 12ms 4.5MB 300s 10KiB 1h30m 5µs"),
            "took <NUM> <NUM> <NUM> <NUM> <NUM> <NUM>"
        );
        assert_eq!(m("blk_-6952295868487656571"), "blk_<NUM>");
        // A no-break space is punctuation inside a token, and one between a
        // number and its unit is part of the value.
        assert_eq!(
            m(
                "took 5\u{a0}µs, 12\u{202f}ms, 3\u{a0}tries, 1\u{2009}234 x\u{a0}7 é\u{a0} 1e5\u{a0}ms"
            ),
            "took <NUM>, <NUM>, <NUM>\u{a0}tries, <NUM>\u{2009}<NUM> x\u{a0}<NUM> é\u{a0} <NUM>"
        );
        let once = m("a\u{a0}5\u{a0}\u{a0}ms\u{a0}é 7\u{202f}µs\u{a0}x 9\u{2007}");
        assert_eq!(
            once,
            "a\u{a0}<NUM>\u{a0}\u{a0}ms\u{a0}é <NUM>\u{a0}x <NUM>\u{2007}"
        );
        assert_eq!(m(&once), once);
        assert_eq!(m("10-20"), "<NUM>-<NUM>");
        assert_eq!(m("1e-5"), "<NUM>");
        assert_eq!(m("took 1.5e3ms 1e5ms 2E-3s"), "took <NUM> <NUM> <NUM>");
        assert_eq!(m("1e5msx 1e5ms5"), "1e5msx 1e5ms5");
        assert_eq!(m("end 12."), "end <NUM>.");
        // Not numbers: digits inside words, unknown units.
        assert_eq!(m("user123 5th a-b h2o"), "user123 5th a-b h2o");
        assert_eq!(m("12abc"), "12abc");
        // A failed compound duration falls back to the dotted prefix, so
        // masking is idempotent here (found by proptest).
        let once = m("user-3.5T12QUJDREVGR0hJSktMTU5PUFFSU1RVVldY1 ");
        assert_eq!(once, "user-<NUM>.<B64>");
        assert_eq!(m(&once), once);
    }

    #[test]
    fn ips() {
        assert_eq!(m("from 10.0.0.1"), "from <IP>");
        assert_eq!(m("10.251.73.220:50010"), "<IP>:<NUM>");
        // A leading slash (Java's `InetAddress` text) belongs to the address.
        assert_eq!(m("/10.251.73.220:50010"), "<IP>:<NUM>");
        assert_eq!(m("to (/10.0.0.1)"), "to (<IP>)");
        assert_eq!(m("0.0.0.0/0.0.0.0:3888"), "<IP>/<IP>:<NUM>");
        assert_eq!(m("/var/10.0.0.1"), "<PATH>");
        assert_eq!(
            m("::1 fe80::1ff:fe23:4567:890a 2001:db8::8a2e:370:7334"),
            "<IP> <IP> <IP>"
        );
        assert_eq!(m("[::1]:8080"), "[<IP>]:<NUM>");
        assert_eq!(m("1:2:3:4:5:6:7:8"), "<IP>");
        assert_eq!(m("::fe80:deadbeef12"), m(&m("::fe80:deadbeef12")));
        assert_eq!(m("::ffff:192.0.2.1"), "<IP>");
        assert_eq!(m("999.1.1.1"), "<NUM>");
        assert_eq!(m("1.2.3.4.5"), "<NUM>");
        assert_eq!(m("1.2.3.4.dsl.example.net"), "<HOST>");
        // Not addresses.
        assert_eq!(
            m("std::string a:b dead::beef"),
            "std::string a:b dead::beef"
        );
    }

    #[test]
    fn emails_and_urls() {
        assert_eq!(m("to bob.smith+x@mail.example.com."), "to <EMAIL>.");
        assert_eq!(m("<bob@ex.io>"), "<<EMAIL>>");
        assert_eq!(m("user=a@b.cd"), "user=<EMAIL>");
        assert_eq!(m("a@b nope@localhost"), "a@b nope@localhost");
        assert_eq!(m("see https://x.io/a?b=1&c=2)."), "see <URL>).");
        assert_eq!(m("url=\"s3://bucket/key\""), "url=\"<URL>\"");
        assert_eq!(m("http:// x"), "http:// x");
    }

    #[test]
    fn timestamps() {
        assert_eq!(m("at 2024-01-02T15:04:05.123Z ok"), "at <TIMESTAMP> ok");
        assert_eq!(m("2024-01-02 15:04:05,123 INFO"), "<TIMESTAMP> INFO");
        assert_eq!(m("2024-01-02T15:04:05+05:30"), "<TIMESTAMP>");
        assert_eq!(m("Jan  2 15:04:05 host sshd"), "<TIMESTAMP> host sshd");
        assert_eq!(m("Dec 12 01:02:03"), "<TIMESTAMP>");
        assert_eq!(m("[15:04:05]"), "[<TIMESTAMP>]");
        assert_eq!(m("03-17 16:13:38.811"), "<TIMESTAMP>");
        assert_eq!(m("[10/Oct/2000:13:55:36 -0700]"), "[<TIMESTAMP>]");
        assert_eq!(m("day 2024/01/02"), "day <TIMESTAMP>");
        // Not timestamps: a month word alone, a clock without seconds.
        assert_eq!(m("Jan is 12:30"), "Jan is <NUM>:<NUM>");
    }

    #[test]
    fn uuids_hex_b64() {
        assert_eq!(m("id=123e4567-e89b-12d3-a456-426614174000"), "id=<UUID>");
        assert_eq!(m("0x1F 0xdeadBEEF"), "<HEX> <HEX>");
        assert_eq!(m("sha e3b0c44298fc1c149afbf4c8996fb924"), "sha <HEX>");
        assert_eq!(m("mac 00:1a:2b:3c:4d:5e"), "mac <HEX>");
        assert_eq!(m("deadbeef abc123 0xg"), "deadbeef abc123 0xg");
        assert_eq!(m("tok=dGhpcyBpcyBhIHRlc3QgMTIz=="), "tok=<B64>");
        assert_eq!(m("k QUJDREVGR0hJSktMTU5PUFFSU1RVVldY1/+a"), "k <B64>");
        assert_eq!(
            m("AbstractSingletonProxyFactoryBean"),
            "AbstractSingletonProxyFactoryBean"
        );
    }

    #[test]
    fn paths() {
        assert_eq!(m("open /var/log/syslog: denied"), "open <PATH>: denied");
        assert_eq!(m("file=/tmp"), "file=<PATH>");
        assert_eq!(m("at /src/main.rs:12"), "at <PATH>:<NUM>");
        assert_eq!(m(r"C:\Users\bob\x.txt"), "<PATH>");
        assert_eq!(m("./run.sh ~/bin/x a/b/c"), "<PATH> <PATH> <PATH>");
        assert_eq!(m("read/write / // and/or"), "read/write / // and/or");
    }

    #[test]
    fn literal_placeholders_are_values() {
        let mut scan = Scan::default();
        let msg = "a <NUM> b<*>c <USER_MASK> <nope>";
        scan_message(msg, &mut scan);
        let params: Vec<&str> = scan.params.iter().map(|r| &msg[r.clone()]).collect();
        assert_eq!(params, ["<NUM>", "<*>", "<USER_MASK>"]);
        assert_eq!(m(msg), msg);
    }

    #[test]
    fn hosts() {
        assert_eq!(m("tcpconn3.tencent.com:443 open"), "<HOST>:<NUM> open");
        assert_eq!(m("BAYMSGR2.gateway.live.com:443"), "<HOST>:<NUM>");
        assert_eq!(
            m("resolve proxy.cse.example.edu.hk error"),
            "resolve <HOST> error"
        );
        assert_eq!(
            m("rhost=5.36.59.76.dynamic-dsl-ip.omantel.net.om"),
            "rhost=<HOST>"
        );
        // Not hosts: addresses, two-label names without a port, code names,
        // names continuing a larger word, long last labels.
        assert_eq!(m("10.0.0.1:80"), "<IP>:<NUM>");
        assert_eq!(
            m("NameSystem.addStoredBlock: n.leader"),
            "NameSystem.addStoredBlock: n.leader"
        );
        assert_eq!(
            m("org.apache.zookeeper.server"),
            "org.apache.zookeeper.server"
        );
        assert_eq!(
            m("a_b.example.com x-y.example.com"),
            "a_b.example.com <HOST>"
        );
        assert_eq!(m("a.b.cd.5"), "a.b.cd.<NUM>");
        assert_eq!(m(&m("a.b.cd.5")), "a.b.cd.<NUM>");
        assert_eq!(m("tr.intent:Intent"), "tr.intent:Intent");
    }

    #[test]
    fn booleans() {
        assert_eq!(
            m("setLightsOn(true) ok=False x TRUE"),
            "setLightsOn(<BOOL>) ok=<BOOL> x <BOOL>"
        );
        assert_eq!(
            m("is_true true_x true-ish truer untrue tRuE"),
            "is_true true_x true-ish truer untrue tRuE"
        );
    }

    #[test]
    fn identifier_lists_become_one_value() {
        let mut scan = Scan::default();
        let msg = "delete  blk_1 blk_-2 blk_3 then blk_4";
        scan_message(msg, &mut scan);
        assert_eq!(m(msg), "delete  <*> then blk_<NUM>");
        let params: Vec<&str> = scan.params.iter().map(|r| &msg[r.clone()]).collect();
        assert_eq!(params, ["blk_1 blk_-2 blk_3", "4"]);
        // Bare values stay separate fields, and a lone identifier stays typed.
        assert_eq!(m("REPORT : 7 5 1"), "REPORT : <NUM> <NUM> <NUM>");
        assert_eq!(m("a blk_1 b blk_2"), "a blk_<NUM> b blk_<NUM>");
    }

    #[test]
    fn user_masks_run_first() {
        let masks = ticket_and_word(r"zz\w*|a b");
        let mut scan = Scan::default();
        let msg = "see T-12/T-3 x.zzTop 10.0.0.1 a b";
        scan_message_with(msg, &mut scan, &masks, usize::MAX);
        let masked: Vec<&str> = (0..scan.tokens.len())
            .map(|i| scan.masked_token(i))
            .collect();
        // Matches win over built-ins and split words; a match holding
        // whitespace (`a b`) is ignored.
        assert_eq!(
            masked,
            ["see", "<TICKET>/<TICKET>", "x.<WORD>", "<IP>", "a", "b"]
        );
        let params: Vec<&str> = scan.params.iter().map(|r| &msg[r.clone()]).collect();
        assert_eq!(params, ["T-12", "T-3", "zzTop", "10.0.0.1"]);
        // Without masks the hot path is the plain scanner.
        scan_message_with(msg, &mut scan, &[], usize::MAX);
        assert_eq!(scan.masked_token(1), "T-<NUM>/T-<NUM>");
    }

    #[test]
    fn tokens_keep_original_ranges() {
        let mut scan = Scan::default();
        let msg = "  Jan  2 15:04:05 host\tx=1 ";
        scan_message(msg, &mut scan);
        assert_eq!(scan.tokens.len(), 3);
        let t0 = scan.tokens[0];
        assert_eq!(
            &msg[t0.orig.0 as usize..t0.orig.1 as usize],
            "Jan  2 15:04:05"
        );
        assert_eq!(scan.masked_token(2), "x=<NUM>");
        assert_eq!(scan.separator(msg, 2), "\t");
        assert!(!scan.tokens[2].has_digit);
    }

    fn tokens_of(msg: &str) -> Vec<(String, bool)> {
        let mut scan = Scan::default();
        scan_message(msg, &mut scan);
        (0..scan.tokens.len())
            .map(|i| (scan.masked_token(i).to_owned(), scan.tokens[i].var))
            .collect()
    }

    #[test]
    fn numbers_and_their_units_are_one_value() {
        let t = tokens_of("took 5 ms, then 12.8 KB (3 sec) in 2  MiB");
        let texts: Vec<&str> = t.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            texts,
            [
                "took",
                "<NUM> ms,",
                "then",
                "<NUM> KB (<NUM> sec)",
                "in",
                "<NUM>  MiB"
            ]
        );
        // A number with its unit is a value, as `5ms` is; an annotation
        // joined to it keeps it one.
        assert!(t[1].1 && t[3].1 && t[5].1);
        // The masked text is unchanged by joining, so masking stays idempotent.
        let masked = mask("took 5 ms, then 12.8 KB (3 sec)");
        assert_eq!(mask(&masked), masked);
    }

    #[test]
    fn words_that_are_not_units_stay_apart() {
        // Single-letter units, unit-like words after a non-number, and
        // units followed by more letters are ordinary words.
        assert_eq!(tokens_of("moved 5 m away").len(), 4);
        assert_eq!(tokens_of("took some ms").len(), 3);
        assert_eq!(tokens_of("got 5 msgs").len(), 3);
        assert_eq!(tokens_of("got 5 ms-ish").len(), 3);
    }

    #[test]
    fn bracketed_values_join_the_token_before() {
        let t = tokens_of("sent 10 bytes (1.2 KB) ok [7]");
        let texts: Vec<&str> = t.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(texts, ["sent", "<NUM>", "bytes (<NUM> KB)", "ok [<NUM>]"]);
        // The joined token keeps its word, so it is not a value.
        assert!(!t[2].1 && !t[3].1);
        let mut scan = Scan::default();
        let msg = "sent 10 bytes (1.2 KB) ok";
        scan_message(msg, &mut scan);
        let o = scan.tokens[2].orig;
        assert_eq!(&msg[o.0 as usize..o.1 as usize], "bytes (1.2 KB)");
        assert_eq!(scan.params.len(), 2);
    }

    #[test]
    fn bracketed_words_do_not_join() {
        assert_eq!(tokens_of("2 (n.leader), 0x1 (n.zxid)").len(), 4);
        assert_eq!(tokens_of("x (12").len(), 2);
        assert_eq!(tokens_of("x () (a1)").len(), 3);
        assert_eq!(tokens_of("(7) first").len(), 2);
    }
}
