//! Inputs → entries → parsed rows → templates → batches.
//!
//! Reading, decompression, framing and parsing run on one background thread
//! (unless [`IngestOptions::background_parse`] is off); templating and batch
//! building run on the caller's thread, because the [`TemplateCatalog`] is
//! borrowed mutably from the caller. The two talk through a bounded channel
//! of chunks, so memory is bounded by `queue_chunks × chunk_bytes` plus one
//! batch (`batch_rows` rows or `batch_bytes` of text, whichever comes first).
//!
//! # What Drain sees
//!
//! For plain, syslog and CLF entries, the message. For JSON (and logfmt with a
//! message key) the message plus its *shape*, `msg text {k1,k2}`: the sorted
//! keys of the remaining fields, without label keys (service, host, app,
//! `kubernetes.*`, and the time/level/trace keys). So `{"msg":"login",
//! "user":"bob"}` and `{"msg":"login","user":"eve"}` share a template, while
//! an entry that gains a field gets a new one.
//!
//! # Nothing is lost
//!
//! Every entry becomes a row. A failing input (missing, unreadable, a
//! directory, a truncated compressed stream) is recorded in
//! [`IngestStats::failures`] and the run goes on with the next input; rows
//! read before the failure are kept.

use std::io::BufRead;
use std::ops::Range;
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use logoscope_drain::{TemplateCatalog, render_into};

use crate::IngestError;
use crate::batch::{LogBatchBuilder, LogRow};
use crate::framing::{Entry, EntryFramer, FramerConfig};
use crate::inputs::{InputSpec, open_input};
use crate::level::Level;
use crate::parse::{EntryError, EntryParser, Format, ParseOptions, push_drain_input};
use crate::residual::{self, Hole, HoleKind, find_ts};

/// Ingest configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestOptions {
    /// Keys tried first for the time of JSON/logfmt entries (`--time-key`).
    pub time_keys: Vec<String>,
    /// Field keys left out of JSON/logfmt template shapes (see [`ParseOptions::drop_keys`]).
    pub drop_keys: Vec<String>,
    /// Service for every entry of these inputs; wins over the entry's own.
    pub service: Option<String>,
    /// Host for every entry of these inputs; wins over the entry's own.
    pub host: Option<String>,
    /// Largest entry kept (bytes); longer ones are cut and flagged. 1 MiB.
    pub max_entry_bytes: usize,
    /// Most lines an unbalanced multi-line JSON entry may span. 10 000.
    pub max_json_lines: u32,
    /// Rows per batch. 8192.
    pub batch_rows: usize,
    /// A batch is also cut once it holds this much text. 8 MiB: with the batches queued
    /// for the writer, this bounds memory when entries are large.
    pub batch_bytes: usize,
    /// Entries per chunk handed from the parse thread. 1024.
    pub chunk_rows: usize,
    /// A chunk is also cut once it holds this much text. 1 MiB.
    pub chunk_bytes: usize,
    /// Chunks in flight between the threads. 32: deep enough that the parse
    /// thread keeps working ahead while the templating thread shares the cores
    /// with the archive writer's encodes, and catches up when they end.
    pub queue_chunks: usize,
    /// Parse on a background thread. On by default.
    pub background_parse: bool,
    /// Ingest clock (UTC µs) for inferring syslog years; system clock if `None`.
    pub now_micros: Option<i64>,
    /// Leave out of the rows what the query layer rebuilds exactly: `fields`
    /// (from the entry text; only without `time_keys`, `service` and `host`,
    /// and not for an entry whose column came from a later key, see
    /// [`ParsedEntry::fell_back`](crate::ParsedEntry::fell_back)), and the time,
    /// message and ids inside the header and entry text (holes, see
    /// [`crate::residual`]). On by default; off stores every text whole.
    pub derive_text: bool,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            time_keys: Vec::new(),
            drop_keys: Vec::new(),
            service: None,
            host: None,
            max_entry_bytes: 1 << 20,
            max_json_lines: 10_000,
            batch_rows: 8192,
            batch_bytes: 8 << 20,
            chunk_rows: 1024,
            chunk_bytes: 1 << 20,
            queue_chunks: 32,
            background_parse: true,
            now_micros: None,
            derive_text: true,
        }
    }
}

/// An input that could not be read to the end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFailure {
    /// Source name (path as given, `-` for stdin).
    pub path: String,
    /// What went wrong (names the path).
    pub message: String,
    /// Entries read from this input before it failed (they are kept).
    pub entries: u64,
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Inputs attempted.
    pub inputs: usize,
    /// Entries read = rows produced.
    pub entries: u64,
    /// Bytes read (after decompression).
    pub bytes: u64,
    /// Physical lines read.
    pub lines: u64,
    /// Whitespace-only lines outside entries (not rows).
    pub blank_lines: u64,
    /// Rows with `error` set.
    pub errors: u64,
    /// Inputs that failed, in order.
    pub failures: Vec<InputFailure>,
}

/// Progress report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Bytes read so far.
    pub bytes: u64,
    /// Entries templated so far.
    pub entries: u64,
    /// Inputs finished so far.
    pub inputs_done: usize,
    /// Inputs in this run.
    pub inputs_total: usize,
}

const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// A span of a chunk's text.
type Span = Option<(usize, usize)>;

#[derive(Debug)]
struct RowSpans {
    line: u64,
    ts: Option<i64>,
    level: Option<Level>,
    service: Span,
    host: Span,
    trace_id: Span,
    span_id: Span,
    parent_span_id: Span,
    /// Residual of the header (see [`crate::residual`]); `None` when empty.
    header: Span,
    /// Residual of the whole entry; `None` when `header + message` is the entry.
    raw: Span,
    /// Whether `raw` has a message hole.
    message_hole: bool,
    message: (usize, usize),
    /// Message plus shape when the entry has one; otherwise the message.
    drain: (usize, usize),
    shaped: bool,
    fields: Span,
    error: Option<EntryError>,
}

/// The stored `fields` of a JSON or logfmt entry with no fields left, when
/// `fields` is not left for the query layer to rebuild (`--time-key`): the
/// `logs` view reads it as null instead of parsing the text again.
pub(crate) const NO_FIELDS: &str = "{}";

/// What a row leaves for the query layer to rebuild.
#[derive(Debug, Clone, Copy)]
struct Derive {
    /// `fields` is left null: a parse of the entry text gives it back.
    fields: bool,
    /// The header and entry text are stored as residuals with holes for the
    /// time, message and ids; otherwise whole (still escaped as residuals).
    holes: bool,
}

#[derive(Debug)]
struct Chunk {
    input: usize,
    bytes: u64,
    text: String,
    rows: Vec<RowSpans>,
    /// Scratch list of holes for the residual being written.
    holes: Vec<Hole>,
}

impl Chunk {
    fn new(input: usize, capacity: usize) -> Self {
        Chunk {
            input,
            bytes: 0,
            text: String::new(),
            rows: Vec::with_capacity(capacity),
            holes: Vec::new(),
        }
    }

    fn get(&self, s: (usize, usize)) -> &str {
        &self.text[s.0..s.1]
    }

    fn opt(&self, s: Span) -> Option<&str> {
        s.map(|s| self.get(s))
    }

    /// Copies `s` into the chunk, or points into the raw copy when `s` is a
    /// slice of the entry text.
    fn put(&mut self, s: &str, raw: &str, raw_at: usize) -> (usize, usize) {
        let base = raw.as_ptr() as usize;
        let p = s.as_ptr() as usize;
        if p >= base && p + s.len() <= base + raw.len() {
            let off = raw_at + (p - base);
            return (off, off + s.len());
        }
        let start = self.text.len();
        self.text.push_str(s);
        (start, self.text.len())
    }

    /// Parses `entry` and appends its row, leaving out what `derive` says
    /// the query layer rebuilds.
    fn push(&mut self, entry: &Entry<'_>, parser: &EntryParser, derive: Derive) {
        let p = parser.parse(&entry.text);
        let raw_at = self.text.len();
        self.text.push_str(p.raw);
        let text: &str = &entry.text;
        let put_opt = |c: &Option<std::borrow::Cow<'_, str>>, chunk: &mut Chunk| {
            c.as_deref().map(|s| chunk.put(s, text, raw_at))
        };
        let service = put_opt(&p.service, self);
        let host = put_opt(&p.host, self);
        let trace_id = put_opt(&p.trace_id, self);
        let span_id = put_opt(&p.span_id, self);
        let parent_span_id = put_opt(&p.parent_span_id, self);
        let fields = match &p.fields {
            // A column promoted from a later key: a parse that does not
            // fall back (the query layer's) gives other fields.
            _ if derive.fields && !p.fell_back => None,
            Some(f) => Some(self.put(f, text, raw_at)),
            // Null would tell the query layer to parse the text again, with
            // the default time keys: `{}` stands for "no fields" instead.
            None if matches!(p.format, Format::Json | Format::Logfmt) => {
                Some(self.put(NO_FIELDS, text, raw_at))
            }
            None => None,
        };
        let (message, drain) = match &p.shape {
            None => {
                let m = self.put(&p.message, text, raw_at);
                (m, m)
            }
            Some(shape) => {
                let start = self.text.len();
                self.text.push_str(&p.message);
                let m = (start, self.text.len());
                // One line: the Drain input is the message and its shape,
                // and shares the message's text. More: the shape ends the
                // first line (a trace after it stays one value), so the
                // input is written apart.
                let d = if p.message.contains('\n') {
                    let d = self.text.len();
                    push_drain_input(&p.message, shape, &mut self.text);
                    d
                } else {
                    if !p.message.is_empty() {
                        self.text.push(' ');
                    }
                    self.text.push_str(shape);
                    start
                };
                (m, (d, self.text.len()))
            }
        };
        let ids = [
            (&p.trace_id, HoleKind::TraceId),
            (&p.span_id, HoleKind::SpanId),
            (&p.parent_span_id, HoleKind::ParentSpanId),
        ];
        let header = (!p.header.is_empty()).then(|| {
            self.holes.clear();
            if derive.holes {
                if let Some((range, fmt)) = p.ts.and_then(|ts| find_ts(p.header, ts)) {
                    self.holes.push(Hole {
                        range,
                        kind: HoleKind::Ts(fmt),
                    });
                }
                // Ids read from the header (syslog structured data).
                for (v, kind) in ids {
                    if let Some(range) = v.as_deref().and_then(|v| within(p.header, v)) {
                        self.holes.push(Hole { range, kind });
                    }
                }
            }
            self.put_residual(p.header)
        });
        let rest = &p.raw[p.header.len()..];
        let mut message_hole = false;
        let raw = (rest != &*p.message).then(|| {
            self.holes.clear();
            if derive.holes {
                if let Some((range, fmt)) = p.ts.and_then(|ts| find_ts(p.raw, ts)) {
                    self.holes.push(Hole {
                        range,
                        kind: HoleKind::Ts(fmt),
                    });
                }
                if p.shape.is_some()
                    && let Some(range) = locate(p.raw, &p.message)
                {
                    self.holes.push(Hole {
                        range,
                        kind: HoleKind::Message,
                    });
                    message_hole = true;
                }
                for (v, kind) in ids {
                    if let Some(range) = v.as_deref().and_then(|v| locate(p.raw, v)) {
                        self.holes.push(Hole { range, kind });
                    }
                }
            }
            self.put_residual(p.raw)
        });
        // A hole that overlapped another was left out by the encoder.
        message_hole &= raw.is_some_and(|r| residual::has_message_hole(self.get(r)));
        self.rows.push(RowSpans {
            line: entry.line,
            ts: p.ts,
            level: p.level,
            service,
            host,
            trace_id,
            span_id,
            parent_span_id,
            header,
            raw,
            message_hole,
            message,
            drain,
            shaped: p.shape.is_some(),
            fields,
            error: EntryError::pick(entry.truncated, entry.binary, entry.invalid_utf8, p.error),
        });
    }

    /// Appends the residual of `text` with the chunk's pending holes.
    fn put_residual(&mut self, text: &str) -> (usize, usize) {
        let start = self.text.len();
        residual::encode(text, &mut self.holes, &mut self.text);
        (start, self.text.len())
    }
}

/// Where `value` is in `text` when it borrows from it (by address).
fn within(text: &str, value: &str) -> Option<Range<usize>> {
    let (base, p) = (text.as_ptr() as usize, value.as_ptr() as usize);
    (!value.is_empty() && p >= base && p + value.len() <= base + text.len())
        .then(|| p - base..p - base + value.len())
}

/// Where `value` is in `text`: by address when it borrows from `text`,
/// otherwise its first occurrence. `None` for an empty value.
fn locate(text: &str, value: &str) -> Option<Range<usize>> {
    if value.is_empty() {
        return None;
    }
    let base = text.as_ptr() as usize;
    let p = value.as_ptr() as usize;
    if p >= base && p + value.len() <= base + text.len() {
        let at = p - base;
        return Some(at..at + value.len());
    }
    memchr::memmem::find(text.as_bytes(), value.as_bytes()).map(|at| at..at + value.len())
}

#[derive(Debug)]
enum Msg {
    Chunk(Chunk),
    InputDone {
        input: usize,
        lines: u64,
        blank_lines: u64,
        failure: Option<String>,
    },
    End,
}

impl Msg {
    /// Heap bytes the message holds while queued.
    fn held_bytes(&self) -> usize {
        match self {
            Msg::Chunk(c) => {
                c.text.capacity()
                    + c.rows.capacity() * std::mem::size_of::<RowSpans>()
                    + c.holes.capacity() * std::mem::size_of::<Hole>()
            }
            Msg::InputDone { failure, .. } => failure.as_ref().map_or(0, String::capacity),
            Msg::End => 0,
        }
    }
}

/// The input being read.
struct Current {
    input: usize,
    framer: EntryFramer<Box<dyn BufRead + Send>>,
    entries: u64,
    last_bytes: u64,
}

/// Reads, frames and parses inputs one after the other.
struct Producer {
    inputs: Vec<InputSpec>,
    next_input: usize,
    current: Option<Current>,
    parser: EntryParser,
    framer: FramerConfig,
    chunk_rows: usize,
    chunk_bytes: usize,
    derive: Derive,
    /// Text bytes of the last full chunk: the next one starts with that much
    /// room instead of growing (and copying) from empty.
    text_hint: usize,
    pending: Option<Msg>,
    ended: bool,
}

impl Producer {
    fn next_msg(&mut self) -> Option<Msg> {
        if let Some(m) = self.pending.take() {
            return Some(m);
        }
        if self.ended {
            return None;
        }
        let Some(Current {
            input,
            framer,
            entries,
            last_bytes,
        }) = &mut self.current
        else {
            if self.next_input >= self.inputs.len() {
                self.ended = true;
                return Some(Msg::End);
            }
            let input = self.next_input;
            self.next_input += 1;
            match open_input(&self.inputs[input]) {
                Ok(reader) => {
                    self.current = Some(Current {
                        input,
                        framer: EntryFramer::new(reader, self.framer),
                        entries: 0,
                        last_bytes: 0,
                    });
                    return self.next_msg();
                }
                Err(e) => {
                    return Some(Msg::InputDone {
                        input,
                        lines: 0,
                        blank_lines: 0,
                        failure: Some(e.to_string()),
                    });
                }
            }
        };
        let input = *input;
        let mut chunk = Chunk::new(input, self.chunk_rows);
        chunk.text.reserve(self.text_hint);
        let failure = loop {
            match framer.next_entry() {
                Ok(Some(entry)) => {
                    chunk.push(&entry, &self.parser, self.derive);
                    *entries += 1;
                    if chunk.rows.len() >= self.chunk_rows || chunk.text.len() >= self.chunk_bytes {
                        self.text_hint = (chunk.text.len() + chunk.text.len() / 8)
                            .min(self.chunk_bytes + (1 << 20));
                        let now = framer.bytes_read();
                        chunk.bytes = now - *last_bytes;
                        *last_bytes = now;
                        return Some(Msg::Chunk(chunk));
                    }
                }
                Ok(None) => break None,
                Err(source) => {
                    break Some(
                        IngestError::Read {
                            path: self.inputs[input].source_name(),
                            entries: *entries,
                            source,
                        }
                        .to_string(),
                    );
                }
            }
        };
        chunk.bytes = framer.bytes_read() - *last_bytes;
        let done = Msg::InputDone {
            input,
            lines: framer.lines_read(),
            blank_lines: framer.blank_lines(),
            failure,
        };
        self.current = None;
        if chunk.rows.is_empty() && chunk.bytes == 0 {
            return Some(done);
        }
        self.pending = Some(done);
        Some(Msg::Chunk(chunk))
    }
}

enum Feed {
    Inline(Box<Producer>),
    Thread {
        rx: Receiver<Msg>,
        handle: Option<JoinHandle<()>>,
        queued: QueueBytes,
    },
    Done,
}

/// Bytes held by the chunks queued between the parse thread and the templating thread: the
/// parse thread waits while a chunk would take them past the limit (`queue_chunks ×
/// chunk_bytes`), so entries near the entry bound (a chunk each) do not fill every slot of the
/// queue with a MiB or two. Ordinary chunks (1,024 short entries) never reach it.
#[derive(Clone)]
struct QueueBytes(Arc<(Mutex<QueueState>, Condvar)>, usize);

#[derive(Default)]
struct QueueState {
    held: usize,
    /// The receiving side is gone: nothing will be freed.
    closed: bool,
}

impl QueueBytes {
    fn new(limit: usize) -> Self {
        QueueBytes(Arc::default(), limit.max(1))
    }

    /// Waits until `n` more bytes fit (or none are held); false once the receiver is gone.
    fn take(&self, n: usize) -> bool {
        let (state, freed) = &*self.0;
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        while !s.closed && s.held > 0 && s.held + n > self.1 {
            s = freed.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        s.held += n;
        !s.closed
    }

    fn give(&self, n: usize) {
        let (state, freed) = &*self.0;
        let mut s = state.lock().unwrap_or_else(|e| e.into_inner());
        s.held = s.held.saturating_sub(n);
        freed.notify_one();
    }

    fn close(&self) {
        let (state, freed) = &*self.0;
        state.lock().unwrap_or_else(|e| e.into_inner()).closed = true;
        freed.notify_one();
    }

    #[cfg(test)]
    fn held(&self) -> usize {
        self.0.0.lock().unwrap_or_else(|e| e.into_inner()).held
    }
}

impl Drop for QueueBytes {
    /// Either side going away wakes a parse thread waiting for room: the templating side
    /// stopped (an error, or the pipeline dropped early), so it must not wait for ever.
    fn drop(&mut self) {
        self.close();
    }
}

/// Runs inputs through framing, parsing, templating and batch building.
pub struct Pipeline {
    sources: Vec<String>,
    feed: Feed,
    opts: IngestOptions,
    builder: LogBatchBuilder,
    chunk: Option<(Chunk, usize)>,
    stats: IngestStats,
    inputs_done: usize,
    entries_before_input: u64,
    ranges: Vec<Range<usize>>,
    render_buf: String,
    last_progress: Instant,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("sources", &self.sources)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// A pipeline over `inputs`, read in order. Nothing is read until the
    /// first [`next_batch`](Self::next_batch) or [`run`](Self::run).
    pub fn new(inputs: Vec<InputSpec>, opts: IngestOptions) -> Self {
        let sources = inputs.iter().map(InputSpec::source_name).collect();
        // `fields` depends on which key is the time and on whether the
        // entry's own service and host keys are promoted: only the default
        // choice is what a parse at query time makes.
        let derive_fields = opts.derive_text
            && opts.time_keys.is_empty()
            && opts.service.is_none()
            && opts.host.is_none();
        let producer = Producer {
            inputs,
            next_input: 0,
            current: None,
            parser: EntryParser::new(ParseOptions {
                time_keys: opts.time_keys.clone(),
                service: opts.service.clone(),
                host: opts.host.clone(),
                now_micros: opts.now_micros,
                drop_keys: opts.drop_keys.clone(),
                skip_fields: derive_fields,
                ..ParseOptions::default()
            }),
            framer: FramerConfig {
                max_entry_bytes: opts.max_entry_bytes,
                max_json_lines: opts.max_json_lines,
            },
            chunk_rows: opts.chunk_rows.max(1),
            chunk_bytes: opts.chunk_bytes.max(1),
            derive: Derive {
                fields: derive_fields,
                holes: opts.derive_text,
            },
            text_hint: 0,
            pending: None,
            ended: false,
        };
        Pipeline {
            sources,
            feed: Feed::Inline(Box::new(producer)),
            opts,
            builder: LogBatchBuilder::new(),
            chunk: None,
            stats: IngestStats::default(),
            inputs_done: 0,
            entries_before_input: 0,
            ranges: Vec::new(),
            render_buf: String::new(),
            last_progress: Instant::now(),
        }
    }

    /// Totals so far (final once [`next_batch`](Self::next_batch) returned `None`).
    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// Current progress.
    pub fn progress(&self) -> Progress {
        Progress {
            bytes: self.stats.bytes,
            entries: self.stats.entries,
            inputs_done: self.inputs_done,
            inputs_total: self.sources.len(),
        }
    }

    /// Runs to the end, handing each batch to `sink` and reporting progress
    /// at most every 100 ms and after each batch.
    pub fn run<E, S, P>(
        mut self,
        catalog: &mut TemplateCatalog,
        mut sink: S,
        mut progress: P,
    ) -> Result<IngestStats, E>
    where
        S: FnMut(RecordBatch) -> Result<(), E>,
        P: FnMut(&Progress),
        E: From<IngestError>,
    {
        while let Some(batch) = self.next_batch_with(catalog, &mut progress)? {
            sink(batch)?;
            progress(&self.progress());
        }
        progress(&self.progress());
        Ok(self.stats)
    }

    /// The next full batch (or the last, partial one); `None` at the end.
    /// Per-input failures do not end the run; they are in [`stats`](Self::stats).
    pub fn next_batch(
        &mut self,
        catalog: &mut TemplateCatalog,
    ) -> Result<Option<RecordBatch>, IngestError> {
        self.next_batch_with(catalog, &mut |_| {})
    }

    fn next_batch_with(
        &mut self,
        catalog: &mut TemplateCatalog,
        progress: &mut dyn FnMut(&Progress),
    ) -> Result<Option<RecordBatch>, IngestError> {
        let batch_rows = self.opts.batch_rows.max(1);
        loop {
            if let Some((chunk, mut next)) = self.chunk.take() {
                while next < chunk.rows.len() {
                    self.append_row(&chunk, next, catalog)?;
                    next += 1;
                    if self.builder.len() >= batch_rows
                        || self.builder.text_bytes() >= self.opts.batch_bytes
                    {
                        if next < chunk.rows.len() {
                            self.chunk = Some((chunk, next));
                        }
                        return self.builder.finish().map(Some);
                    }
                }
            }
            match self.recv()? {
                Some(Msg::Chunk(chunk)) => {
                    self.stats.bytes += chunk.bytes;
                    if self.last_progress.elapsed() >= PROGRESS_EVERY {
                        self.last_progress = Instant::now();
                        progress(&self.progress());
                    }
                    self.chunk = Some((chunk, 0));
                }
                Some(Msg::InputDone {
                    input,
                    lines,
                    blank_lines,
                    failure,
                }) => {
                    self.inputs_done += 1;
                    self.stats.inputs += 1;
                    // Chunks arrive in input order, so every row since the last
                    // finished input belongs to this one.
                    let input_entries = self.stats.entries - self.entries_before_input;
                    self.entries_before_input = self.stats.entries;
                    self.stats.lines += lines;
                    self.stats.blank_lines += blank_lines;
                    if let Some(message) = failure {
                        self.stats.failures.push(InputFailure {
                            path: self.sources[input].clone(),
                            message,
                            entries: input_entries,
                        });
                    }
                }
                Some(Msg::End) | None => {
                    self.feed = Feed::Done;
                    if self.builder.is_empty() {
                        return Ok(None);
                    }
                    return self.builder.finish().map(Some);
                }
            }
        }
    }

    fn recv(&mut self) -> Result<Option<Msg>, IngestError> {
        if self.opts.background_parse && matches!(self.feed, Feed::Inline(_)) {
            let (tx, rx) = sync_channel(self.opts.queue_chunks.max(1));
            let Feed::Inline(mut producer) = std::mem::replace(&mut self.feed, Feed::Done) else {
                return Err(IngestError::WorkerStopped);
            };
            let queued = QueueBytes::new(
                self.opts
                    .queue_chunks
                    .max(1)
                    .saturating_mul(self.opts.chunk_bytes),
            );
            let budget = queued.clone();
            let handle = std::thread::Builder::new()
                .name("logoscope-ingest".into())
                .spawn(move || {
                    while let Some(msg) = producer.next_msg() {
                        if !budget.take(msg.held_bytes()) || tx.send(msg).is_err() {
                            break;
                        }
                    }
                })
                .map_err(|_| IngestError::WorkerStopped)?;
            self.feed = Feed::Thread {
                rx,
                handle: Some(handle),
                queued,
            };
        }
        match &mut self.feed {
            Feed::Inline(p) => Ok(p.next_msg()),
            Feed::Thread { rx, handle, queued } => match rx.recv() {
                Ok(Msg::End) => {
                    if let Some(h) = handle.take() {
                        let _ = h.join();
                    }
                    Ok(Some(Msg::End))
                }
                Ok(m) => {
                    queued.give(m.held_bytes());
                    Ok(Some(m))
                }
                Err(_) => Err(IngestError::WorkerStopped),
            },
            Feed::Done => Ok(None),
        }
    }

    fn append_row(
        &mut self,
        chunk: &Chunk,
        i: usize,
        catalog: &mut TemplateCatalog,
    ) -> Result<(), IngestError> {
        let r = &chunk.rows[i];
        let drain_input = chunk.get(r.drain);
        let matched = catalog.add(drain_input, r.ts, &mut self.ranges);
        let message = chunk.get(r.message);
        let store_message = {
            let mut params = self.ranges.iter().map(|p| &drain_input[p.clone()]);
            if !r.shaped {
                !catalog.renders_as(matched.id, params, message)
            } else if r.message_hole {
                let template = catalog.get(matched.id).map_or("", |t| t.template.as_str());
                self.render_buf.clear();
                render_into(template, &mut params, &mut self.render_buf);
                let rendered = self.render_buf.as_str();
                // The query layer cuts the shape back out of the rendering.
                !residual::shape_range(rendered).is_some_and(|cut| {
                    rendered.len() - cut.len() == message.len()
                        && message.starts_with(&rendered[..cut.start])
                        && message.ends_with(&rendered[cut.end..])
                })
            } else {
                true
            }
        };
        let error = r.error.map(EntryError::as_str);
        let row = LogRow {
            ts: r.ts,
            source: &self.sources[chunk.input],
            line: r.line,
            level: r.level.map(Level::as_str),
            service: chunk.opt(r.service),
            host: chunk.opt(r.host),
            trace_id: chunk.opt(r.trace_id),
            span_id: chunk.opt(r.span_id),
            parent_span_id: chunk.opt(r.parent_span_id),
            template_id: matched.id,
            message: store_message.then_some(message),
            fields: chunk.opt(r.fields),
            header: chunk.opt(r.header),
            raw: chunk.opt(r.raw),
            error,
        };
        self.builder
            .append(&row, self.ranges.iter().map(|p| &drain_input[p.clone()]))?;
        self.stats.entries += 1;
        if error.is_some() {
            self.stats.errors += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parse thread waits while queued chunks would pass the byte limit, goes on as the
    /// templating side takes them, and never waits once that side is gone.
    #[test]
    fn queued_bytes_wait_for_room_and_stop_when_the_receiver_goes() {
        let queued = QueueBytes::new(100);
        // Nothing held: even an oversized chunk goes (one entry may be larger than the limit).
        assert!(queued.take(250));
        let producer = queued.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiting = std::thread::spawn(move || {
            let ok = producer.take(10);
            tx.send(ok).unwrap();
            // Room for this one only after the consumer frees the rest.
            let ok = producer.take(95);
            tx.send(ok).unwrap();
            producer
        });
        std::thread::sleep(Duration::from_millis(50));
        assert!(rx.try_recv().is_err(), "took room that was not there");
        queued.give(250);
        assert!(rx.recv().unwrap());
        assert!(rx.recv_timeout(Duration::from_millis(50)).is_err());
        assert_eq!(queued.held(), 10);
        // The consumer goes away: the waiting side is released, told so, and stops.
        drop(queued);
        assert!(!rx.recv().unwrap());
        drop(waiting.join().unwrap());
    }

    /// Entries near the entry bound, one per chunk, still all arrive and in order while the
    /// queue holds only a few of them at a time.
    #[test]
    fn large_entries_pass_a_small_queue() {
        let dir = std::env::temp_dir().join(format!("logoscope-queue-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big.log");
        let mut text = String::new();
        for i in 0..40 {
            text.push_str(&format!("2024-01-01T00:00:{:02}Z INFO entry {i} ", i % 60));
            text.push_str(&"word ".repeat(60_000));
            text.push('\n');
        }
        std::fs::write(&path, &text).unwrap();
        let opts = IngestOptions {
            queue_chunks: 2,
            ..IngestOptions::default()
        };
        let mut pipeline = Pipeline::new(vec![InputSpec::File(path.clone())], opts);
        let mut catalog = TemplateCatalog::new(Default::default());
        let mut lines = Vec::new();
        while let Some(batch) = pipeline.next_batch(&mut catalog).unwrap() {
            let col = batch
                .column_by_name(crate::schema::col::LINE)
                .unwrap()
                .as_any()
                .downcast_ref::<arrow_array::UInt64Array>()
                .unwrap();
            lines.extend(col.values().iter().copied());
        }
        assert_eq!(lines, (1..=40).collect::<Vec<u64>>());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
