//! Splitting a byte stream into log entries.
//!
//! Physical lines end at `\n` or `\r\n`; a `\r` ending the input ends its
//! last line too, and any other `\r` is text. An entry's text is its lines
//! byte for byte — inner terminators (`\n` or `\r\n`, as written) and
//! whitespace-only inner lines included — without the last line's
//! terminator. Consecutive lines are consolidated into one entry when the
//! later ones are clearly a continuation of the first:
//!
//! * indented lines (leading space or tab) — Java `\tat …` frames, Python
//!   `  File …` frames, Go frames, Rust `   N: fn` / `at src/…` lines, and
//!   indented continuations in general;
//! * `Caused by:`, `Suppressed:`, `... N more`, and a Java exception header
//!   (`com.foo.BarException: msg`, a dotted name ending in `Exception`,
//!   `Error` or `Throwable`) following a log line;
//! * Python: `Traceback (most recent call last):` and everything up to and
//!   including the first non-indented line after the frames (the
//!   `XxxError: msg` line); chained tracebacks (`During handling of the above
//!   exception…`, `The above exception was the direct cause…`) stay together,
//!   blank lines between them included, while a `Traceback` line right after
//!   a finished traceback starts the next entry;
//! * Go: an entry starting `panic:`, `fatal error:` or `goroutine N [` (or a
//!   log line followed by one, which the dump then joins, as a Java exception
//!   header joins the line before it) continues over blank lines,
//!   `goroutine N […]:`, `[signal …`, function lines (`pkg.fn(…)`), indented
//!   frames, `created by …` and `exit status N`;
//! * Rust: `thread '…' panicked at …` takes its message line, then
//!   `stack backtrace:`, indented frames and `note: …` lines;
//! * JSON: an entry whose first line starts with `{` and whose brackets do not
//!   balance (string-aware) continues, blank lines included, until they do,
//!   over lines JSON could hold there: lines starting (after indentation) with
//!   a string, a number, `true`/`false`/`null`, `,`, `:`, a closing bracket,
//!   or an opening one where a value is expected (after `:`, or after `,` or
//!   `[` inside a nested container). Any other line — a log line of any
//!   format, a timestamp, a second top-level `{` — starts a new entry. An
//!   entry spans at most [`FramerConfig::max_json_lines`] lines, and one whose
//!   line was cut at the size bound ends with that line: the brackets of a
//!   cut text say nothing.
//!
//! Outside open JSON, a line that starts a new record — one beginning with
//! `{`, a syslog `<PRI>`, or a timestamp shape (`YYYY-MM-DD`, `[YYYY-…`,
//! `Mmm dd `, a 10+ digit epoch) — is never glued to the previous entry.
//! Whitespace-only lines outside entries — before, between or after them, a
//! line held inside a trace or open JSON that no continuation followed — are
//! not entries: they are counted by [`EntryFramer::blank_lines`], so that the
//! physical lines of all entries plus the blank lines equal the lines of the
//! input.
//!
//! Memory is bounded by [`FramerConfig::max_entry_bytes`]: a longer entry (or
//! a single longer line) is cut at the bound, flagged `truncated`, and the rest
//! of it is read and discarded without being buffered.

use std::borrow::Cow;
use std::io::{self, BufRead};

/// Framing limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FramerConfig {
    /// Largest entry kept, in bytes (longer ones are cut and flagged).
    pub max_entry_bytes: usize,
    /// Most physical lines an unbalanced JSON entry may span.
    pub max_json_lines: u32,
}

impl Default for FramerConfig {
    fn default() -> Self {
        FramerConfig {
            max_entry_bytes: 1 << 20,
            max_json_lines: 10_000,
        }
    }
}

/// One log entry: one or more physical lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry<'a> {
    /// 1-based number of the entry's first physical line.
    pub line: u64,
    /// Physical lines the entry spans (including blank lines inside it).
    pub lines: u32,
    /// The entry text; invalid UTF-8 replaced by U+FFFD.
    pub text: Cow<'a, str>,
    /// Cut at the size bound.
    pub truncated: bool,
    /// The bytes were not valid UTF-8 (text is a lossy conversion).
    pub invalid_utf8: bool,
    /// Contains NUL bytes or mostly control characters.
    pub binary: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Plain,
    JsonOpen(JsonDepth),
    JsonDone,
    PyTraceback,
    /// After the closing `XxxError: message` line.
    PyDone,
    /// After `During handling of the above exception…` or `The above
    /// exception was the direct cause…`: the next traceback joins.
    PyChained,
    GoPanic,
    RustPanic {
        message_line: bool,
    },
}

impl Kind {
    fn allows_blanks(self) -> bool {
        matches!(
            self,
            Kind::JsonOpen(_) | Kind::GoPanic | Kind::PyTraceback | Kind::PyDone | Kind::PyChained
        )
    }
}

/// String-aware bracket depth of a JSON text seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct JsonDepth {
    depth: i32,
    in_string: bool,
    escaped: bool,
    /// The last byte outside whitespace, a string's quotes standing for it.
    last: u8,
}

impl JsonDepth {
    fn feed(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                    i += 1;
                    continue;
                }
                // Inside a string only a quote or a backslash matters: jump
                // to the next one (most of a JSON line is string content),
                // stepping over control bytes, which stop the search too.
                i = crate::parse::string_stop(bytes, i);
                match bytes.get(i) {
                    Some(b'\\') => self.escaped = true,
                    Some(b'"') => self.in_string = false,
                    _ => {}
                }
                i += 1;
                continue;
            }
            match bytes[i] {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => self.depth -= 1,
                _ => {}
            }
            i += 1;
        }
        // The last byte outside strings that is not whitespace, found once
        // per line: a line that ends inside a string last left one at its
        // opening quote; otherwise it is the line's last non-whitespace byte
        // (a closing quote stands for its string's opening one).
        if self.in_string {
            self.last = b'"';
        } else if let Some(&c) = bytes
            .iter()
            .rev()
            .find(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'\x0c'))
        {
            self.last = c;
        }
        // A string never spans lines in JSON; resetting keeps a stray quote
        // from hiding every later bracket.
        self.in_string = false;
        self.escaped = false;
    }

    /// Whether the text so far ends where JSON expects a value: after a `:`,
    /// or after a `,` or `[` inside a nested container (in the entry's own
    /// object a `,` is followed by a key).
    fn expects_value(&self) -> bool {
        self.last == b':' || (matches!(self.last, b',' | b'[') && self.depth >= 2)
    }
}

/// Blank lines held while waiting to see whether the entry goes on.
const MAX_HELD_BLANKS: u32 = 2;

/// Reads entries from a [`BufRead`]; see the module doc for the rules.
#[derive(Debug)]
pub struct EntryFramer<R> {
    reader: R,
    config: FramerConfig,
    next_line_no: u64,
    pend: Vec<u8>,
    pend_ready: bool,
    pend_truncated: bool,
    /// The pending line ended `\r\n` (or in a `\r` at the end of input).
    pend_crlf: bool,
    pend_no: u64,
    /// Whitespace-only lines held at the end of `cur`, after `held_from`,
    /// while waiting to see whether the entry goes on.
    held: u32,
    held_from: usize,
    held_truncated: bool,
    cur: Vec<u8>,
    cur_active: bool,
    cur_line: u64,
    cur_lines: u32,
    cur_truncated: bool,
    /// The terminator of the last line in `cur`: written only when another
    /// line follows, since an entry's final terminator is not part of it.
    cur_crlf: bool,
    cur_kind: Kind,
    out: Vec<u8>,
    blank_lines: u64,
    bytes: u64,
    error: Option<io::Error>,
    eof: bool,
}

impl<R: BufRead> EntryFramer<R> {
    /// A framer with the given limits.
    pub fn new(reader: R, config: FramerConfig) -> Self {
        EntryFramer {
            reader,
            config: FramerConfig {
                max_entry_bytes: config.max_entry_bytes.max(1),
                ..config
            },
            next_line_no: 1,
            pend: Vec::new(),
            pend_ready: false,
            pend_truncated: false,
            pend_crlf: false,
            pend_no: 0,
            held: 0,
            held_from: 0,
            held_truncated: false,
            cur: Vec::new(),
            cur_active: false,
            cur_line: 0,
            cur_lines: 0,
            cur_truncated: false,
            cur_crlf: false,
            cur_kind: Kind::Plain,
            out: Vec::new(),
            blank_lines: 0,
            bytes: 0,
            error: None,
            eof: false,
        }
    }

    /// Bytes consumed from the reader so far (after decompression).
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    /// Whitespace-only lines that were not part of any entry.
    pub fn blank_lines(&self) -> u64 {
        self.blank_lines
    }

    /// Physical lines read so far.
    pub fn lines_read(&self) -> u64 {
        self.next_line_no - 1
    }

    /// The next entry, `Ok(None)` at the end. A read error is returned after
    /// the entry that was being assembled when it happened; after an error the
    /// framer yields nothing more.
    pub fn next_entry(&mut self) -> io::Result<Option<Entry<'_>>> {
        loop {
            if !self.pend_ready && !self.eof && self.error.is_none() {
                match self.read_physical() {
                    Ok(true) => self.pend_ready = true,
                    Ok(false) => self.eof = true,
                    Err(e) => self.error = Some(e),
                }
            }
            if !self.pend_ready {
                if self.cur_active {
                    // The input broke off inside or right after this entry
                    // (a truncated gzip or zstd stream): it may be cut.
                    let cut = self.error.is_some();
                    let mut entry = self.emit();
                    entry.truncated |= cut;
                    return Ok(Some(entry));
                }
                return match self.error.take() {
                    Some(e) => {
                        self.eof = true;
                        Err(e)
                    }
                    None => Ok(None),
                };
            }
            if self.pend.iter().all(u8::is_ascii_whitespace) {
                if self.cur_active && self.holds_blank() {
                    self.hold_blank();
                    continue;
                }
                self.pend_ready = false;
                self.blank_lines += 1;
                if self.cur_active {
                    return Ok(Some(self.emit()));
                }
                continue;
            }
            if !self.cur_active {
                self.start_entry();
                continue;
            }
            match self.continuation() {
                Some(kind) => {
                    self.cur_kind = kind;
                    self.cur_lines += self.held + 1;
                    self.held = 0;
                    self.append_pending();
                }
                None => return Ok(Some(self.emit())),
            }
        }
    }

    fn start_entry(&mut self) {
        std::mem::swap(&mut self.cur, &mut self.pend);
        self.pend.clear();
        self.pend_ready = false;
        self.cur_active = true;
        self.cur_line = self.pend_no;
        self.cur_lines = 1;
        self.cur_truncated = self.pend_truncated;
        self.cur_crlf = self.pend_crlf;
        self.cur_kind = classify_start(&self.cur, self.cur_truncated);
    }

    /// Whether a whitespace-only line may be inside the current entry: it is
    /// held until the next line says whether the entry goes on.
    fn holds_blank(&self) -> bool {
        match self.cur_kind {
            Kind::JsonOpen(_) => self.cur_lines + self.held + 1 < self.config.max_json_lines,
            kind => kind.allows_blanks() && self.held < MAX_HELD_BLANKS,
        }
    }

    /// Appends a whitespace-only line to `cur` tentatively: [`Self::emit`]
    /// takes it back off when no continuation line follows.
    fn hold_blank(&mut self) {
        if self.held == 0 {
            self.held_from = self.cur.len();
            self.held_truncated = self.cur_truncated;
        }
        self.held += 1;
        self.append_pending();
    }

    /// Appends the pending line, after the terminator of the line before it,
    /// as far as the entry bound allows.
    fn append_pending(&mut self) {
        self.pend_ready = false;
        let crlf = std::mem::replace(&mut self.cur_crlf, self.pend_crlf);
        if self.cur_truncated {
            return;
        }
        let sep: &[u8] = if crlf { b"\r\n" } else { b"\n" };
        let room = self.config.max_entry_bytes.saturating_sub(self.cur.len());
        if sep.len() + self.pend.len() <= room {
            self.cur.extend_from_slice(sep);
            self.cur.extend_from_slice(&self.pend);
            self.cur_truncated = self.pend_truncated;
        } else {
            // A cut entry does not end in a bare line break.
            if sep.len() < room {
                self.cur.extend_from_slice(sep);
                self.cur.extend_from_slice(&self.pend[..room - sep.len()]);
            }
            self.cur_truncated = true;
        }
    }

    /// Whether the pending line continues the current entry, and the entry's
    /// kind after it.
    fn continuation(&self) -> Option<Kind> {
        let line = &self.pend[..];
        let kind = self.cur_kind;
        if self.held > 0 && !kind.allows_blanks() {
            return None;
        }
        match kind {
            Kind::JsonDone => return None,
            Kind::JsonOpen(mut depth) => {
                if self.cur_lines + self.held >= self.config.max_json_lines
                    || !continues_json(line, &depth)
                {
                    return None;
                }
                // The rest of a cut line is unseen, so the balance is unknown
                // from here on: the entry ends with this line.
                if self.pend_truncated {
                    return Some(Kind::JsonDone);
                }
                depth.feed(line);
                return Some(if depth.depth <= 0 {
                    Kind::JsonDone
                } else {
                    Kind::JsonOpen(depth)
                });
            }
            _ => {}
        }
        if starts_new_record(line) {
            return None;
        }
        let indented = matches!(line.first(), Some(b' ' | b'\t'));
        match kind {
            Kind::PyTraceback | Kind::PyDone | Kind::PyChained => {
                if indented {
                    return Some(Kind::PyTraceback);
                }
                if line.starts_with(b"Traceback (most recent call last):") {
                    // After a finished traceback only a chain line joins the
                    // next one; otherwise it is another error.
                    return (kind != Kind::PyDone).then_some(Kind::PyTraceback);
                }
                if line.starts_with(b"During handling of the above exception")
                    || line.starts_with(b"The above exception was the direct cause")
                {
                    return Some(Kind::PyChained);
                }
                if self.held > 0 {
                    return None;
                }
                // The final `XxxError: message` line closes the traceback.
                return (kind == Kind::PyTraceback).then_some(Kind::PyDone);
            }
            Kind::GoPanic => {
                if indented
                    || line.starts_with(b"goroutine ")
                    || line.starts_with(b"[signal ")
                    || line.starts_with(b"created by ")
                    || line.starts_with(b"exit status ")
                    || line.starts_with(b"panic: ")
                    || is_go_function_line(line)
                {
                    return Some(Kind::GoPanic);
                }
                return None;
            }
            Kind::RustPanic { message_line } => {
                if indented || line.starts_with(b"stack backtrace:") || line.starts_with(b"note: ")
                {
                    return Some(Kind::RustPanic {
                        message_line: false,
                    });
                }
                if message_line {
                    return Some(Kind::RustPanic {
                        message_line: false,
                    });
                }
                return None;
            }
            _ => {}
        }
        if indented
            || line.starts_with(b"Caused by:")
            || line.starts_with(b"Suppressed:")
            || is_more_line(line)
            || is_java_exception_header(line)
        {
            return Some(kind);
        }
        if line.starts_with(b"Traceback (most recent call last):") {
            return Some(Kind::PyTraceback);
        }
        if line.starts_with(b"stack backtrace:") {
            return Some(Kind::RustPanic {
                message_line: false,
            });
        }
        // Go's runtime prints `panic:` / `fatal error:` right after the log line
        // that reported the crash: like a Java exception header, it belongs to it.
        if line.starts_with(b"panic: ")
            || line.starts_with(b"fatal error: ")
            || is_goroutine_header(line)
        {
            return Some(Kind::GoPanic);
        }
        None
    }

    fn emit(&mut self) -> Entry<'_> {
        if self.held > 0 {
            // Whitespace-only lines after the entry's last line are not in it.
            self.cur.truncate(self.held_from);
            self.cur_truncated = self.held_truncated;
            self.blank_lines += u64::from(self.held);
            self.held = 0;
        }
        self.cur_active = false;
        std::mem::swap(&mut self.out, &mut self.cur);
        self.cur.clear();
        if self.cur_truncated {
            trim_partial_char(&mut self.out);
        }
        let binary = is_binary(&self.out);
        let (text, invalid_utf8) = match std::str::from_utf8(&self.out) {
            Ok(s) => (Cow::Borrowed(s), false),
            Err(_) => (
                Cow::Owned(String::from_utf8_lossy(&self.out).into_owned()),
                true,
            ),
        };
        Entry {
            line: self.cur_line,
            lines: self.cur_lines,
            text,
            truncated: self.cur_truncated,
            invalid_utf8,
            binary,
        }
    }

    /// Reads one physical line into `pend` without its terminator, storing
    /// at most the entry bound and discarding the rest. `Ok(false)` at end of
    /// input.
    fn read_physical(&mut self) -> io::Result<bool> {
        self.pend.clear();
        let cap = self.config.max_entry_bytes;
        // Bytes of the line before its `\n`; `pend` holds the first `cap`.
        let mut len = 0usize;
        let mut last_cr = false;
        let mut any = false;
        loop {
            let buf = match self.reader.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if any => {
                    // Keep the partial line; report the error after it.
                    self.error = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                break;
            }
            any = true;
            let (chunk_len, consumed, done) = match memchr::memchr(b'\n', buf) {
                Some(i) => (i, i + 1, true),
                None => (buf.len(), buf.len(), false),
            };
            if chunk_len > 0 {
                last_cr = buf[chunk_len - 1] == b'\r';
                let room = cap - self.pend.len();
                self.pend.extend_from_slice(&buf[..chunk_len.min(room)]);
                len += chunk_len;
            }
            self.reader.consume(consumed);
            self.bytes += consumed as u64;
            if done {
                break;
            }
        }
        if !any {
            return Ok(false);
        }
        // `\r\n` ends a line as `\n` does, and so does a `\r` ending the input.
        let text_len = len - usize::from(last_cr);
        self.pend.truncate(text_len);
        self.pend_truncated = text_len > cap;
        self.pend_crlf = last_cr;
        self.pend_no = self.next_line_no;
        self.next_line_no += 1;
        Ok(true)
    }
}

fn classify_start(line: &[u8], truncated: bool) -> Kind {
    let trimmed = trim_ascii_start(line);
    if trimmed.first() == Some(&b'{') {
        // The balance of a cut line says nothing: the entry is that line.
        if truncated {
            return Kind::JsonDone;
        }
        let mut d = JsonDepth::default();
        d.feed(line);
        return if d.depth > 0 {
            Kind::JsonOpen(d)
        } else {
            Kind::JsonDone
        };
    }
    if line.starts_with(b"Traceback (most recent call last):") {
        return Kind::PyTraceback;
    }
    if line.starts_with(b"panic: ")
        || line.starts_with(b"fatal error: ")
        || is_goroutine_header(line)
    {
        return Kind::GoPanic;
    }
    if line.starts_with(b"thread '") && memchr::memmem::find(line, b"' panicked at").is_some() {
        return Kind::RustPanic { message_line: true };
    }
    Kind::Plain
}

/// Whether a line can go on an open JSON entry: it starts with something a
/// JSON text can hold there, and an opening bracket only where a value is
/// expected — a `{` line after an unterminated `{"msg": "…` line is the next
/// record, while one after `"items": [` is an element.
fn continues_json(line: &[u8], depth: &JsonDepth) -> bool {
    let t = trim_ascii_start(line);
    match t.first() {
        Some(b'{') => depth.expects_value(),
        Some(b'[') => depth.expects_value() && !starts_new_record(line),
        Some(b'"' | b'}' | b']' | b',' | b':' | b'-') => true,
        Some(b'0'..=b'9') => !starts_new_record(line),
        Some(b't') => t.starts_with(b"true"),
        Some(b'f') => t.starts_with(b"false"),
        Some(b'n') => t.starts_with(b"null"),
        _ => false,
    }
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

/// Cheap shape test for "this line begins a new record".
pub(crate) fn starts_new_record(line: &[u8]) -> bool {
    let Some(&c) = line.first() else {
        return false;
    };
    match c {
        b'{' => true,
        b'<' => line.get(1).is_some_and(u8::is_ascii_digit),
        b'[' => line.get(1).is_some_and(u8::is_ascii_digit) && looks_dated(&line[1..]),
        b'0'..=b'9' => looks_dated(line),
        b'A'..=b'Z' | b'a'..=b'z' => {
            line.len() >= 7
                && line[3] == b' '
                && (line[4] == b' ' || line[4].is_ascii_digit())
                && line[5].is_ascii_digit()
                && line[6] == b' '
                && is_month(&line[..3])
        }
        _ => false,
    }
}

fn looks_dated(b: &[u8]) -> bool {
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 4 {
        return matches!(b.get(4), Some(b'-' | b'/'))
            && b.get(5).is_some_and(u8::is_ascii_digit)
            && b.get(6).is_some_and(u8::is_ascii_digit);
    }
    digits >= 10
}

fn is_month(b: &[u8]) -> bool {
    const MONTHS: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    MONTHS.iter().any(|m| m[..] == *b)
}

/// `goroutine 1 [running]:`
fn is_goroutine_header(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"goroutine ") else {
        return false;
    };
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    n > 0 && rest[n..].starts_with(b" [")
}

/// A Go stack function line: `main.main()`, `pkg.(*T).m(0x1, …)`.
fn is_go_function_line(line: &[u8]) -> bool {
    let Some(open) = memchr::memchr(b'(', line) else {
        return false;
    };
    open > 0 && !line[..open].contains(&b' ') && line.ends_with(b")")
}

/// `... 12 more` (possibly indented; indented ones are caught earlier).
fn is_more_line(line: &[u8]) -> bool {
    let t = trim_ascii_start(line);
    let Some(rest) = t.strip_prefix(b"... ") else {
        return false;
    };
    let n = rest.iter().take_while(|c| c.is_ascii_digit()).count();
    n > 0 && rest[n..].starts_with(b" more")
}

/// `java.lang.IllegalStateException: boom`, `com.x.Foo$BarError`.
fn is_java_exception_header(line: &[u8]) -> bool {
    let end = line
        .iter()
        .position(|&c| c == b':' || c == b' ')
        .unwrap_or(line.len());
    if end < line.len() && line[end] != b':' {
        return false;
    }
    let name = &line[..end];
    if !name.contains(&b'.')
        || !name
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'$')
        || !name.first().is_some_and(u8::is_ascii_alphabetic)
    {
        return false;
    }
    name.ends_with(b"Exception") || name.ends_with(b"Error") || name.ends_with(b"Throwable")
}

/// Binary: any NUL byte, or more than one byte in ten a control character
/// other than tab, newline, carriage return and escape (ANSI colours).
fn is_binary(b: &[u8]) -> bool {
    // Almost every entry has no control byte at all: ruled out eight bytes
    // at a time before anything is counted.
    if !has_control(b) {
        return false;
    }
    if memchr::memchr(0, b).is_some() {
        return true;
    }
    // This runs over every entry: count branch-free into byte-wide sums (at
    // most 255 per chunk) so the loop vectorises on byte lanes.
    let mut controls = 0usize;
    for chunk in b.chunks(255) {
        let mut n = 0u8;
        for &c in chunk {
            let control = (c < 0x20) & (c != b'\t') & (c != b'\n') & (c != b'\r') & (c != 0x1b);
            n += u8::from(control | (c == 0x7f));
        }
        controls += usize::from(n);
    }
    controls > 0 && controls * 10 > b.len()
}

/// Whether `b` holds a byte below 0x20 or 0x7f (DEL).
fn has_control(b: &[u8]) -> bool {
    const LOW: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let (words, rest) = b.as_chunks::<8>();
    let mut seen = 0u64;
    for word in words {
        let w = u64::from_le_bytes(*word);
        // A byte's high bit is set where it is below 0x20 or equals 0x7f
        // (borrows can set more bits only in a word that has such a byte).
        let del = w ^ (LOW * 0x7f);
        seen |= (w.wrapping_sub(LOW * 0x20) & !w) | (del.wrapping_sub(LOW) & !del);
    }
    seen & HIGH != 0 || rest.iter().any(|&c| c < 0x20 || c == 0x7f)
}

/// Drops an incomplete UTF-8 sequence at the end (left by a cut at the bound)
/// so a cut does not turn valid text into "invalid UTF-8".
fn trim_partial_char(b: &mut Vec<u8>) {
    let n = b.len();
    for back in 1..=3.min(n) {
        let c = b[n - back];
        if c & 0xC0 == 0x80 {
            continue;
        }
        let width = if c >= 0xF0 {
            4
        } else if c >= 0xE0 {
            3
        } else if c >= 0xC0 {
            2
        } else {
            1
        };
        if width > back {
            b.truncate(n - back);
        }
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time control test agrees with a byte loop: every byte
    /// value at every position of inputs of several lengths.
    #[test]
    fn has_control_matches_a_byte_loop() {
        let naive = |b: &[u8]| b.iter().any(|&c| c < 0x20 || c == 0x7f);
        for len in [0, 1, 7, 8, 9, 16, 23] {
            for pos in 0..len {
                for c in 0..=255u8 {
                    for fill in [b'a', 0xff, 0x80, b' ', 0x7e] {
                        let mut b = vec![fill; len];
                        b[pos] = c;
                        assert_eq!(has_control(&b), naive(&b), "{b:?}");
                    }
                }
            }
        }
    }

    /// The bracket depth a word-at-a-time string skip finds agrees with a
    /// byte loop, over random lines of the bytes that matter (and control
    /// bytes, which stop the skip), fed one after another.
    #[test]
    fn json_depth_matches_a_byte_loop() {
        fn naive(depth: &mut i32, last: &mut u8, line: &[u8]) {
            let (mut in_string, mut escaped) = (false, false);
            for &c in line {
                if !in_string && !c.is_ascii_whitespace() {
                    *last = c;
                }
                if in_string {
                    if escaped {
                        escaped = false;
                    } else if c == b'\\' {
                        escaped = true;
                    } else if c == b'"' {
                        in_string = false;
                    }
                    continue;
                }
                match c {
                    b'"' => in_string = true,
                    b'{' | b'[' => *depth += 1,
                    b'}' | b']' => *depth -= 1,
                    _ => {}
                }
            }
        }
        let alphabet = [
            b'"', b'\\', b'{', b'}', b'[', b']', b'a', b'a', b'a', b' ', 0x01, 0xc3,
        ];
        let mut rng = logoscope_testkit::XorShift::new(0x2545_f491_4f6c_dd1d);
        let mut next = |n: usize| rng.index(n);
        for _ in 0..2_000 {
            let (mut ours, mut expected, mut last) = (JsonDepth::default(), 0, 0);
            for _ in 0..3 {
                let line: Vec<u8> = (0..next(40))
                    .map(|_| alphabet[next(alphabet.len())])
                    .collect();
                ours.feed(&line);
                naive(&mut expected, &mut last, &line);
                assert_eq!((ours.depth, ours.last), (expected, last), "{line:?}");
            }
        }
    }

    fn frame_with(input: &[u8], config: FramerConfig) -> (Vec<(u64, u32, String, bool)>, u64) {
        let mut f = EntryFramer::new(input, config);
        let mut out = Vec::new();
        while let Some(e) = f.next_entry().unwrap() {
            out.push((e.line, e.lines, e.text.into_owned(), e.truncated));
        }
        (out, f.blank_lines())
    }

    fn frame(input: &str) -> Vec<String> {
        frame_with(input.as_bytes(), FramerConfig::default())
            .0
            .into_iter()
            .map(|e| e.2)
            .collect()
    }

    #[test]
    fn single_lines_and_crlf() {
        assert_eq!(frame("a\r\nb\nc"), vec!["a", "b", "c"]);
        assert!(frame("").is_empty());
    }

    #[test]
    fn java_stack_trace() {
        let input = [
            "2024-01-02 10:00:00 ERROR failed",
            "java.lang.IllegalStateException: boom",
            "\tat com.x.A.run(A.java:10)",
            "\tat com.x.B.main(B.java:5)",
            "Caused by: java.io.IOException: disk",
            "    at com.x.C.io(C.java:3)",
            "\t... 12 more",
            "... 3 more",
            "2024-01-02 10:00:01 INFO next",
            "",
        ]
        .join("\n");
        let input = input.as_str();
        let e = frame(input);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].ends_with("... 3 more"));
        assert_eq!(e[1], "2024-01-02 10:00:01 INFO next");
    }

    #[test]
    fn python_traceback() {
        let input = [
            "2024-01-02 10:00:00,123 ERROR boom",
            "Traceback (most recent call last):",
            "  File \"a.py\", line 1, in <module>",
            "    main()",
            "ValueError: bad value",
            "",
            "During handling of the above exception, another exception occurred:",
            "",
            "Traceback (most recent call last):",
            "  File \"a.py\", line 3, in <module>",
            "KeyError: 'x'",
            "plain line after",
            "",
        ]
        .join("\n");
        let input = input.as_str();
        let (e, blanks) = frame_with(input.as_bytes(), FramerConfig::default());
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].2.ends_with("KeyError: 'x'"));
        assert_eq!(e[0].1, 11);
        assert_eq!(e[1].2, "plain line after");
        assert_eq!(e[1].0, 12);
        assert_eq!(blanks, 0);
    }

    #[test]
    fn go_panic_joins_the_log_line_that_reported_it() {
        let input = [
            "2024-01-02T10:00:00Z FATAL [inv] worker 4 crashed",
            "panic: runtime error: index out of range [7] with length 4",
            "goroutine 236 [running]:",
            "main.(*SyncWorker).apply(0xc0003472fe, {0xc0001a4000, 0x4, 0x4})",
            "\t/src/inventory/sync.go:122 +0x2f4",
            "created by main.startWorkers in goroutine 1",
            "\t/src/inventory/main.go:52 +0x8c",
            "2024-01-02T10:00:01Z INFO [inv] restarted",
            "",
        ]
        .join("\n");
        let (e, _) = frame_with(input.as_bytes(), FramerConfig::default());
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!((e[0].0, e[0].1), (1, 7));
        assert!(e[0].2.ends_with("main.go:52 +0x8c"));
        assert_eq!(e[1].0, 8);
    }

    #[test]
    fn go_panic() {
        let input = [
            "panic: runtime error: index out of range",
            "",
            "goroutine 1 [running]:",
            "main.main()",
            "\t/tmp/x/main.go:5 +0x1d",
            "created by main.start",
            "\t/tmp/x/main.go:9 +0x2",
            "exit status 2",
            "2024-01-02T10:00:00Z next",
            "",
        ]
        .join("\n");
        let input = input.as_str();
        let e = frame(input);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].ends_with("exit status 2"));
    }

    #[test]
    fn rust_backtrace() {
        let input = [
        "thread 'main' panicked at src/main.rs:2:5:",
        "explicit panic",
        "stack backtrace:",
        "   0: rust_begin_unwind",
        "             at /rustc/abc/library/std/src/panicking.rs:645:5",
        "   1: app::main",
        "             at ./src/main.rs:2:5",
        "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.",
        "unrelated",
        "",
    ]
    .join("\n");
        let input = input.as_str();
        let e = frame(input);
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].contains("explicit panic"));
        assert!(e[0].ends_with("verbose backtrace."));
        assert_eq!(e[1], "unrelated");
    }

    #[test]
    fn multi_line_json() {
        let input = "{\n  \"msg\": \"a } brace in a string {\",\n\n  \"n\": [1,\n 2]\n}\n{\"msg\":\"one line\"}\n  indented after json\n";
        let (e, blanks) = frame_with(input.as_bytes(), FramerConfig::default());
        assert_eq!(e.len(), 3, "{e:?}");
        assert_eq!(e[0].1, 6);
        assert!(serde_json::from_str::<serde_json::Value>(&e[0].2).is_ok());
        assert_eq!(e[1].2, "{\"msg\":\"one line\"}");
        assert_eq!(e[2].2, "  indented after json");
        assert_eq!(blanks, 0);
    }

    #[test]
    fn unbalanced_json_stops_at_new_record() {
        let e = frame("{\"a\": 1,\n2024-01-02 10:00:00 next\n");
        assert_eq!(e.len(), 2);
    }

    #[test]
    fn timestamp_line_never_glued() {
        let e = frame("2024-01-02 10:00:00 a\n2024-01-02 10:00:01 b\nJan  2 10:00:00 host x\n");
        assert_eq!(e.len(), 3);
    }

    #[test]
    fn blank_lines_counted() {
        let (e, blanks) = frame_with(b"\n\na\n\n  \nb\n\n", FramerConfig::default());
        assert_eq!(e.len(), 2);
        assert_eq!(blanks, 5);
        assert_eq!(e[1].0, 6);
    }

    #[test]
    fn long_line_is_cut_and_rest_skipped() {
        let mut input = vec![b'x'; 10_000];
        input.extend_from_slice(b"\nnext\n");
        let cfg = FramerConfig {
            max_entry_bytes: 100,
            ..FramerConfig::default()
        };
        let (e, _) = frame_with(&input, cfg);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].2.len(), 100);
        assert!(e[0].3);
        assert_eq!(e[1], (2, 1, "next".to_owned(), false));
    }

    #[test]
    fn long_multi_line_entry_is_cut_but_lines_counted() {
        let mut input = String::from("head\n");
        for i in 0..100 {
            input.push_str(&format!("\tat frame{i}\n"));
        }
        input.push_str("tail\n");
        let cfg = FramerConfig {
            max_entry_bytes: 64,
            ..FramerConfig::default()
        };
        let (e, _) = frame_with(input.as_bytes(), cfg);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].1, 101);
        assert!(e[0].3);
        assert!(e[0].2.len() <= 64);
        assert_eq!(e[1].0, 102);
    }

    #[test]
    fn cut_inside_multibyte_char_stays_valid() {
        let input = "ééééé\n".as_bytes();
        let cfg = FramerConfig {
            max_entry_bytes: 5,
            ..FramerConfig::default()
        };
        let mut f = EntryFramer::new(input, cfg);
        let e = f.next_entry().unwrap().unwrap();
        assert_eq!(e.text, "éé");
        assert!(e.truncated && !e.invalid_utf8);
    }

    #[test]
    fn invalid_utf8_and_binary_flags() {
        let mut f = EntryFramer::new(
            &b"ok \xff\xfe bytes\nbin\0ary\n"[..],
            FramerConfig::default(),
        );
        let e = f.next_entry().unwrap().unwrap();
        assert!(e.invalid_utf8 && !e.binary);
        assert_eq!(e.text, "ok \u{fffd}\u{fffd} bytes");
        let e = f.next_entry().unwrap().unwrap();
        assert!(e.binary && !e.invalid_utf8);
        assert!(f.next_entry().unwrap().is_none());
    }

    #[test]
    fn read_error_after_entries() {
        struct Failing(Vec<u8>, bool);
        impl io::Read for Failing {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                if self.1 {
                    return Err(io::Error::other("boom"));
                }
                self.1 = true;
                let n = self.0.len().min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                Ok(n)
            }
        }
        // The entry the input broke off in, or right after, is flagged.
        for (input, last) in [
            (&b"a\nb\npartial"[..], "partial"),
            (b"a\nb\npartial\n", "partial"),
        ] {
            let r = io::BufReader::new(Failing(input.to_vec(), false));
            let mut f = EntryFramer::new(r, FramerConfig::default());
            let mut next = || {
                let e = f.next_entry().unwrap().unwrap();
                (e.text.into_owned(), e.truncated)
            };
            assert_eq!(next(), ("a".to_owned(), false));
            assert_eq!(next(), ("b".to_owned(), false));
            assert_eq!(next(), (last.to_owned(), true));
            assert!(f.next_entry().is_err());
            assert!(f.next_entry().unwrap().is_none());
        }
    }

    fn cut_at(max_entry_bytes: usize) -> FramerConfig {
        FramerConfig {
            max_entry_bytes,
            ..FramerConfig::default()
        }
    }

    /// Entries as `(first line, lines, text, truncated)` with borrowed text,
    /// for comparing whole.
    fn entries(e: &[(u64, u32, String, bool)]) -> Vec<(u64, u32, &str, bool)> {
        e.iter()
            .map(|(l, n, t, c)| (*l, *n, t.as_str(), *c))
            .collect()
    }

    /// The rest of a cut line is never seen, so the brackets of what was
    /// kept say nothing: the lines after a cut JSON line are their own
    /// entries, none dropped.
    #[test]
    fn lines_after_a_cut_json_line_are_their_own_entries() {
        let big = format!("{{\"msg\":\"big\",\"blob\":\"{}\"}}", "x".repeat(500));
        let input = format!(
            "{big}\nts=2026-03-02T10:00:02Z level=info msg=\"B\"\nplain words here\n{{\"msg\":\"C\"}}\n"
        );
        let (e, _) = frame_with(input.as_bytes(), cut_at(64));
        assert_eq!(
            entries(&e),
            [
                (1, 1, &big[..64], true),
                (2, 1, "ts=2026-03-02T10:00:02Z level=info msg=\"B\"", false),
                (3, 1, "plain words here", false),
                (4, 1, "{\"msg\":\"C\"}", false),
            ]
        );
        // A cut line inside an open JSON entry ends it the same way.
        let blob = format!("\"blob\": \"{}\",", "x".repeat(500));
        let input = format!("{{\n{blob}\n\"msg\": \"next\"\n}}\nafter\n");
        let (e, _) = frame_with(input.as_bytes(), cut_at(64));
        let first = format!("{{\n{}", &blob[..62]);
        assert_eq!(
            entries(&e),
            [
                (1, 2, first.as_str(), true),
                (3, 1, "\"msg\": \"next\"", false),
                (4, 1, "}", false),
                (5, 1, "after", false),
            ]
        );
    }

    /// An unbalanced JSON line goes on only with lines JSON could hold
    /// there: log lines of any format, and a new top-level object, are
    /// entries of their own.
    #[test]
    fn broken_json_does_not_swallow_new_records() {
        let lines = [
            "{\"msg\":\"oops",
            "plain line one",
            "plain line two",
            "ts=2026-03-02T10:00:02Z level=info msg=x",
            "level=warn msg=y",
            "<13>Jan  2 10:00:00 h app: z",
            "ERROR no header",
            "[main] INFO thread",
            "{\"msg\":\"unterminated object\",",
            "{\"msg\":\"next\"}",
            "{\"msg\": \"last\", \"n\":",
            "not json",
            "",
        ];
        let e = frame(&lines.join("\n"));
        assert_eq!(e, lines[..lines.len() - 1]);
    }

    /// Multi-line JSON goes on over every line JSON allows, indented or not.
    #[test]
    fn multi_line_json_with_and_without_indentation() {
        let pretty = r#"{
  "s": "x",
  "n":
    -1,
  "arr": [
    1,
    true,
    false,
    null,
    [2, 3],
    {"k": "v"}
  ],
  "o": {
    "deep": [
      {"a": 1},
      {"b": 2}
    ]
  }
}
"#;
        let flat: String = pretty
            .lines()
            .map(|l| l.trim_start().to_owned() + "\n")
            .collect();
        for input in [
            pretty,
            &flat,
            "{\n\"msg\": \"batch\",\n\"items\": [\n{\"x\": 1}\n]\n}\n",
        ] {
            let (e, _) = frame_with(input.as_bytes(), FramerConfig::default());
            assert_eq!(e.len(), 1, "{e:?}");
            assert_eq!(e[0].1 as usize, input.lines().count());
            assert!(serde_json::from_str::<serde_json::Value>(&e[0].2).is_ok());
        }
    }

    #[test]
    fn open_json_is_bounded_by_max_json_lines() {
        let cfg = FramerConfig {
            max_json_lines: 5,
            ..FramerConfig::default()
        };
        let (e, _) = frame_with(b"{\"a\": [\n1,\n2,\n3,\n4,\n5,\n6]}\n", cfg);
        let spans: Vec<(u64, u32)> = e.iter().map(|e| (e.0, e.1)).collect();
        assert_eq!(spans, [(1, 5), (6, 1), (7, 1)]);
        // Blank lines count towards the bound.
        let (e, blanks) = frame_with(b"{\"a\": [\n\n\n\n\n\n1]}\n", cfg);
        let spans: Vec<(u64, u32)> = e.iter().map(|e| (e.0, e.1)).collect();
        assert_eq!((spans, blanks), (vec![(1, 1), (7, 1)], 5));
    }

    #[test]
    fn python_tracebacks_in_a_row_are_separate_entries() {
        let one = "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nValueError: one";
        let two = "Traceback (most recent call last):\n  File \"b.py\", line 1, in <module>\nKeyError: two";
        let (e, _) = frame_with(
            format!("{one}\n{two}\n").as_bytes(),
            FramerConfig::default(),
        );
        assert_eq!(entries(&e), [(1, 3, one, false), (4, 3, two, false)]);
        // A chain line joins them, with or without the blank lines Python
        // prints around it.
        for chain in [
            "During handling of the above exception, another exception occurred:",
            "The above exception was the direct cause of the following exception:",
        ] {
            for text in [
                format!("{one}\n{chain}\n{two}"),
                format!("{one}\n\n{chain}\n\n{two}"),
            ] {
                let (e, _) = frame_with(
                    format!("{text}\nnext\n").as_bytes(),
                    FramerConfig::default(),
                );
                assert_eq!(
                    entries(&e)[0],
                    (1, text.lines().count() as u32, text.as_str(), false)
                );
                assert_eq!(e.len(), 2, "{e:?}");
            }
        }
    }

    /// An entry's text is its lines byte for byte: inner `\r\n` terminators
    /// and whitespace-only inner lines stay; the last line's terminator and
    /// whitespace-only lines between entries do not belong to any entry.
    #[test]
    fn entry_text_keeps_inner_lines_byte_for_byte() {
        let e = frame("2024-01-02 03:04:05 ERROR boom\r\n\tat a.B.c(B.java:1)\r\n");
        assert_eq!(
            e,
            ["2024-01-02 03:04:05 ERROR boom\r\n\tat a.B.c(B.java:1)"]
        );
        let input = "  \n{\n  \"a\": 1,\r\n   \t\r\n\n  \"b\": 2\n}\r\n \t \r\nnext\n";
        let (e, blanks) = frame_with(input.as_bytes(), FramerConfig::default());
        assert_eq!(
            entries(&e),
            [
                (2, 6, "{\n  \"a\": 1,\r\n   \t\r\n\n  \"b\": 2\n}", false),
                (9, 1, "next", false),
            ]
        );
        assert_eq!(blanks, 2);
        // Whitespace-only lines held at the end of an open entry stay out.
        let (e, blanks) = frame_with(b"{\"a\": [\n  \r\n\t\n", FramerConfig::default());
        assert_eq!((entries(&e), blanks), (vec![(1, 1, "{\"a\": [", false)], 2));
        // A `\r` not before `\n` is text, except as the last byte of input.
        assert_eq!(frame("a\rb\r\nc\r"), ["a\rb", "c"]);
    }

    /// A line exactly at the bound is whole, whatever its terminator.
    #[test]
    fn line_at_the_bound_is_not_cut() {
        let (e, _) = frame_with(b"12345\r\n1234\r\n", cut_at(5));
        assert_eq!(entries(&e), [(1, 1, "12345", false), (2, 1, "1234", false)]);
    }
}
