//! Residual text: an entry's text with the parts other columns already hold
//! cut out, so that the archive stores each piece of text once.
//!
//! The `header` and `raw` columns hold residuals. A residual is the original
//! text in which some ranges are replaced by *holes*; the query layer fills
//! them back from the row's other columns ([`decode`]) and gets the original
//! text byte for byte. A hole is written with the escape byte SOH (`\u{1}`):
//!
//! | escape | stands for |
//! |---|---|
//! | `\u{1}\u{1}` | a literal SOH byte of the original text |
//! | `\u{1}M` | the row's `message` |
//! | `\u{1}T`, `\u{1}S`, `\u{1}P` | the row's `trace_id`, `span_id`, `parent_span_id` |
//! | `\u{1}t` + 3 characters | the row's `ts`, written in the format the characters name (see [`TsFormat`]) |
//!
//! Encoding only makes a hole where the column's value (for `ts`: the value
//! written in the detected format) is exactly the text it replaces, so
//! decoding is lossless by construction; text that matches nothing (a local
//! time with an offset, an escaped JSON string) simply stays in the residual.
//!
//! ```
//! use logoscope_ingest::residual::{HoleValues, decode, encode, find_ts, Hole, HoleKind};
//!
//! let text = "2026-03-02T00:00:00.079Z INFO started";
//! let ts = 1_772_409_600_079_000; // 2026-03-02T00:00:00.079Z in µs
//! let (range, fmt) = find_ts(text, ts).unwrap();
//! let mut residual = String::new();
//! encode(text, &mut [Hole { range, kind: HoleKind::Ts(fmt) }], &mut residual);
//! assert_eq!(residual, "\u{1}tI3Z INFO started");
//! let mut back = String::new();
//! decode(&residual, &HoleValues { ts: Some(ts), ..HoleValues::default() }, &mut back).unwrap();
//! assert_eq!(back, text);
//! ```

use std::fmt;
use std::ops::Range;

use memchr::memmem;

use crate::Level;
use crate::parse::{EntryParser, ParseOptions, ParsedEntry};
use crate::timestamp::civil_from_days;

/// The escape byte that starts a hole.
pub const ESC: u8 = 0x01;

/// The column values a residual's holes are filled from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HoleValues<'a> {
    /// Event time, UTC µs.
    pub ts: Option<i64>,
    /// The message.
    pub message: Option<&'a str>,
    /// Trace id.
    pub trace_id: Option<&'a str>,
    /// Span id.
    pub span_id: Option<&'a str>,
    /// Parent span id.
    pub parent_span_id: Option<&'a str>,
}

/// What a hole stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HoleKind {
    /// The message.
    Message,
    /// The trace id.
    TraceId,
    /// The span id.
    SpanId,
    /// The parent span id.
    ParentSpanId,
    /// The event time in a format.
    Ts(TsFormat),
}

/// A range of the original text to replace with a hole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hole {
    /// Byte range in the original text.
    pub range: Range<usize>,
    /// What fills it.
    pub kind: HoleKind,
}

/// Why a residual could not be filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResidualError {
    /// An escape names a column the row has no value for.
    MissingValue(char),
    /// An escape that is not one of the table's.
    BadEscape(usize),
}

impl fmt::Display for ResidualError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ResidualError::MissingValue(c) => {
                write!(
                    f,
                    "residual has a `{c}` hole but the row has no value for it"
                )
            }
            ResidualError::BadEscape(at) => write!(f, "residual has a bad escape at byte {at}"),
        }
    }
}

impl std::error::Error for ResidualError {}

/// How a timestamp was written: three ASCII characters, stored after `\u{1}t`.
///
/// | position | character | meaning |
/// |---|---|---|
/// | date | `I` | `2006-01-02T15:04:05` |
/// | | `i` | `2006-01-02 15:04:05` |
/// | | `C` | `02/Jan/2006:15:04:05` (common log format) |
/// | | `s` / `z` | `Jan  2 15:04:05` / `Jan 02 15:04:05` (syslog) |
/// | | `E` | epoch seconds |
/// | fraction | `0` | none |
/// | | `3` `,` `6` `9` | `.mmm`, `,mmm`, `.uuuuuu`, `.uuuuuu000` |
/// | | `m` `u` `n` | epoch only: milli-, micro-, nanoseconds written as one integer |
/// | zone | `-` `Z` `:` `4` `_` | none, `Z`, `+00:00`, `+0000`, ` +0000` |
/// | | `o` `O` `p` | local time at the offset the residual writes right after the hole: `+01:00`, `+0100`, ` +0100` |
///
/// With `o`, `O` and `p` the offset itself stays in the residual as text, and
/// the hole holds the clock time at that offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TsFormat {
    date: u8,
    frac: u8,
    zone: u8,
}

impl TsFormat {
    /// How many bytes of offset text follow a hole of this format (6 for
    /// `+01:00` and ` +0100`, 5 for `+0100`, else 0).
    pub fn offset_len(self) -> usize {
        match self.zone {
            b'o' | b'p' => 6,
            b'O' => 5,
            _ => 0,
        }
    }

    /// Whether the hole holds a local clock whose offset follows it.
    pub fn is_offset(self) -> bool {
        matches!(self.zone, b'o' | b'O' | b'p')
    }

    /// The three code characters.
    pub fn code(self) -> [u8; 3] {
        [self.date, self.frac, self.zone]
    }

    /// A format from its code characters, if they name one.
    pub fn from_code(c: [u8; 3]) -> Option<Self> {
        let [date, frac, zone] = c;
        let ok = match date {
            b'I' | b'i' | b'C' | b's' | b'z' => matches!(frac, b'0' | b'3' | b',' | b'6' | b'9'),
            b'E' => matches!(frac, b'0' | b'3' | b'6' | b'm' | b'u' | b'n'),
            _ => false,
        } && matches!(zone, b'-' | b'Z' | b':' | b'4' | b'_' | b'o' | b'O' | b'p');
        ok.then_some(TsFormat { date, frac, zone })
    }

    /// Writes `ts` (UTC µs) in this format; `false` (and nothing written)
    /// when the format cannot hold it (an epoch before 1970, a year outside
    /// 0..=9999). A format with an offset zone (`o`, `O`, `p`) writes the
    /// UTC clock; [`write_at`](Self::write_at) writes it at an offset.
    pub fn write(self, ts: i64, out: &mut Vec<u8>) -> bool {
        self.write_at(ts, 0, out)
    }

    /// The offset, in seconds east of UTC, that `after` (the text right
    /// after this format's hole) starts with, for the offset zones `o`
    /// (`+01:00`), `O` (`+0100`) and `p` (` +0100`); 0 for every other zone.
    /// None when `after` does not start with the offset the zone says.
    pub fn offset_after(self, after: &[u8]) -> Option<i64> {
        let after = match self.zone {
            b'o' | b'O' => after,
            b'p' => after.strip_prefix(b" ")?,
            _ => return Some(0),
        };
        let sign = match after.first()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digits: [u8; 4] = match (self.zone, after.get(1..6)?) {
            (b'o', &[h1, h2, b':', m1, m2]) => [h1, h2, m1, m2],
            (b'O' | b'p', &[h1, h2, m1, m2, _]) => [h1, h2, m1, m2],
            _ => return None,
        };
        if !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = |i: usize| i64::from(digits[i] - b'0');
        let (hours, minutes) = (n(0) * 10 + n(1), n(2) * 10 + n(3));
        (hours <= 23 && minutes <= 59).then_some(sign * (hours * 3600 + minutes * 60))
    }

    /// Writes `ts` (UTC µs) as the clock at `offset` seconds east of UTC
    /// (see [`write`](Self::write)).
    pub fn write_at(self, ts: i64, offset: i64, out: &mut Vec<u8>) -> bool {
        // Built on the stack and appended once.
        let mut w = TsBuf::default();
        let ok = self.write_buf(ts, offset, &mut w);
        if ok {
            out.extend_from_slice(w.as_bytes());
        }
        ok
    }

    /// [`write_at`](Self::write_at) into a [`TsBuf`]; nothing written when
    /// the format cannot hold the time.
    fn write_buf(self, ts: i64, offset: i64, w: &mut TsBuf) -> bool {
        let Some(ts) = ts.checked_add(offset.saturating_mul(1_000_000)) else {
            return false;
        };
        let secs = ts.div_euclid(1_000_000);
        let micros = ts.rem_euclid(1_000_000) as u32;
        if self.date == b'E' {
            if secs < 0 {
                return false;
            }
            w.uint(secs as u64, 1);
            match self.frac {
                b'm' => w.padded(micros / 1000, 3),
                b'u' => w.padded(micros, 6),
                b'n' => {
                    w.padded(micros, 6);
                    w.bytes(b"000");
                }
                b'3' => {
                    w.byte(b'.');
                    w.padded(micros / 1000, 3);
                }
                b'6' => {
                    w.byte(b'.');
                    w.padded(micros, 6);
                }
                _ => {}
            }
            w.bytes(self.zone_text());
            return true;
        }
        if !self.write_clock(secs, w) {
            return false;
        }
        self.write_tail(micros, w);
        true
    }

    /// The date and the time of day to the second of `secs` (a clock format:
    /// not `E`); `false` and nothing written for a year outside 0..=9999.
    fn write_clock(self, secs: i64, w: &mut TsBuf) -> bool {
        let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
        if !(0..=9999).contains(&y) {
            return false;
        }
        let tod = secs.rem_euclid(86_400) as u32;
        let (y, mo, d) = (y as u32, mo, d);
        let mon = &MONTHS[(mo as usize - 1) * 3..mo as usize * 3];
        match self.date {
            b'I' | b'i' => {
                w.padded(y, 4);
                w.byte(b'-');
                w.padded(mo, 2);
                w.byte(b'-');
                w.padded(d, 2);
                w.byte(if self.date == b'I' { b'T' } else { b' ' });
            }
            b'C' => {
                w.padded(d, 2);
                w.byte(b'/');
                w.bytes(mon);
                w.byte(b'/');
                w.padded(y, 4);
                w.byte(b':');
            }
            _ => {
                w.bytes(mon);
                w.byte(b' ');
                if self.date == b's' && d < 10 {
                    w.byte(b' ');
                    w.padded(d, 1);
                } else {
                    w.padded(d, 2);
                }
                w.byte(b' ');
            }
        }
        w.padded(tod / 3600, 2);
        w.byte(b':');
        w.padded(tod / 60 % 60, 2);
        w.byte(b':');
        w.padded(tod % 60, 2);
        true
    }

    /// What a clock format writes after the seconds: the fraction of
    /// `micros` and the zone.
    fn write_tail(self, micros: u32, w: &mut TsBuf) {
        match self.frac {
            b'3' | b',' => {
                w.byte(if self.frac == b',' { b',' } else { b'.' });
                w.padded(micros / 1000, 3);
            }
            b'6' | b'9' => {
                w.byte(b'.');
                w.padded(micros, 6);
                if self.frac == b'9' {
                    w.bytes(b"000");
                }
            }
            _ => {}
        }
        w.bytes(self.zone_text());
    }

    /// The zone as written (empty for none and for the offset zones).
    fn zone_text(self) -> &'static [u8] {
        match self.zone {
            b'Z' => b"Z",
            b':' => b"+00:00",
            b'4' => b"+0000",
            b'_' => b" +0000",
            _ => b"",
        }
    }
}

const MONTHS: &[u8; 36] = b"JanFebMarAprMayJunJulAugSepOctNovDec";

/// A formatted time, longest `9999-12-31T23:59:59.123456000+00:00` or a
/// 20-digit epoch with a 9-digit fraction.
struct TsBuf {
    buf: [u8; 48],
    len: usize,
}

impl Default for TsBuf {
    fn default() -> Self {
        TsBuf {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl TsBuf {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    #[inline]
    fn byte(&mut self, c: u8) {
        self.buf[self.len] = c;
        self.len += 1;
    }

    #[inline]
    fn bytes(&mut self, s: &[u8]) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    /// `v` in decimal, zero-padded to `width` digits (more when it needs more).
    #[inline]
    fn padded(&mut self, v: u32, width: usize) {
        // The common fields (hours, minutes, seconds, day, month: two digits)
        // without counting digits first.
        if width == 2 && v < 100 {
            self.buf[self.len] = b'0' + (v / 10) as u8;
            self.buf[self.len + 1] = b'0' + (v % 10) as u8;
            self.len += 2;
            return;
        }
        self.uint(u64::from(v), width);
    }

    /// `v` in decimal, at least `width` digits (zero-padded).
    fn uint(&mut self, v: u64, width: usize) {
        let digits = if v == 0 { 1 } else { v.ilog10() as usize + 1 };
        let n = digits.max(width);
        let mut v = v;
        for slot in self.buf[self.len..self.len + n].iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        self.len += n;
    }
}

/// Finds where `text` writes the time `ts` (UTC µs) in one of the
/// [`TsFormat`]s, checking that the format writes exactly those bytes.
///
/// Looks for the time of day (`15:04:05`) and reads the date style, fraction
/// and zone around it; failing that, for the epoch seconds and the digits
/// that follow; failing that, for a clock with the same seconds followed by
/// an offset (`+01:00`, `+0100`, ` +0100`), which must write exactly that
/// time at that offset.
pub fn find_ts(text: &str, ts: i64) -> Option<(Range<usize>, TsFormat)> {
    thread_local! {
        // Reused across entries: most entries share their second with the
        // one before in their date style.
        static MEMO: std::cell::RefCell<ClockMemo> = std::cell::RefCell::new(ClockMemo::default());
    }
    let b = text.as_bytes();
    let secs = ts.div_euclid(1_000_000);
    let tod = secs.rem_euclid(86_400) as u32;
    let two = |v: u32| [b'0' + (v / 10 % 10) as u8, b'0' + (v % 10) as u8];
    let (h, m, s) = (two(tod / 3600), two(tod / 60 % 60), two(tod % 60));
    let hms = [h[0], h[1], b':', m[0], m[1], b':', s[0], s[1]];
    MEMO.with_borrow_mut(|memo| {
        for pos in find_anchored(b, &hms, 2).take(2) {
            if let Some(found) = clock_at(b, pos, ts, memo) {
                return Some(found);
            }
        }
        if secs >= 1_000_000_000 {
            let mut digits = [0u8; 20];
            let mut v = secs as u64;
            let mut i = digits.len();
            while v > 0 {
                i -= 1;
                digits[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
            let digits = &digits[i..];
            for pos in memmem::find_iter(b, digits).take(2) {
                if let Some(found) = epoch_at(b, pos, digits.len(), ts, memo) {
                    return Some(found);
                }
            }
        }
        // A local clock: the hours (and with a half-hour offset the minutes)
        // differ from UTC, the seconds do not.
        let sec = [b':', s[0], s[1]];
        for pos in find_anchored(b, &sec, 0).take(4) {
            let Some(clock) = pos.checked_sub(5) else {
                continue;
            };
            if let Some(found) = clock_at(b, clock, ts, memo).filter(|(_, f)| f.is_offset()) {
                return Some(found);
            }
        }
        None
    })
}

/// Start positions of `needle` in `hay`, found from the positions of
/// `needle[anchor]`, a byte rarer than digits (`:`): for a needle that
/// changes with every entry this is cheaper than building a `memmem`
/// searcher each time.
fn find_anchored<'a>(
    hay: &'a [u8],
    needle: &'a [u8],
    anchor: usize,
) -> impl Iterator<Item = usize> + 'a {
    memchr::memchr_iter(needle[anchor], hay).filter_map(move |p| {
        let start = p.checked_sub(anchor)?;
        (hay.get(start..start + needle.len())? == needle).then_some(start)
    })
}

fn verify(
    b: &[u8],
    range: Range<usize>,
    fmt: TsFormat,
    ts: i64,
    memo: &mut ClockMemo,
) -> Option<(Range<usize>, TsFormat)> {
    let offset = fmt.offset_after(b.get(range.end..)?)?;
    let text = b.get(range.clone())?;
    let ok = if fmt.date == b'E' {
        let mut w = TsBuf::default();
        fmt.write_buf(ts, offset, &mut w) && text == w.as_bytes()
    } else {
        let local = ts.checked_add(offset.saturating_mul(1_000_000))?;
        let micros = local.rem_euclid(1_000_000) as u32;
        let clock = memo.clock(fmt.date, local.div_euclid(1_000_000))?;
        let mut tail = TsBuf::default();
        fmt.write_tail(micros, &mut tail);
        text.len() == clock.len() + tail.len
            && text.starts_with(clock)
            && text.ends_with(tail.as_bytes())
    };
    ok.then_some((range, fmt))
}

/// The clock (date and time of day to the second) [`verify`] wrote last for
/// each date style. Entries come many to a second, so most checks format
/// only the fraction and the zone.
#[derive(Default)]
struct ClockMemo {
    /// Seconds (at the text's offset) and their clock, for `I`, `i`, `C`,
    /// `s` and `z`.
    slots: [Option<(i64, TsBuf)>; 5],
}

impl ClockMemo {
    /// The clock of `secs` in date style `date` (not `E`); None when the
    /// style cannot write it (a year outside 0..=9999).
    fn clock(&mut self, date: u8, secs: i64) -> Option<&[u8]> {
        let slot = match date {
            b'I' => 0,
            b'i' => 1,
            b'C' => 2,
            b's' => 3,
            _ => 4,
        };
        let cached = &mut self.slots[slot];
        if !matches!(cached, Some((s, _)) if *s == secs) {
            let fmt = TsFormat {
                date,
                frac: b'0',
                zone: b'-',
            };
            let mut w = TsBuf::default();
            if !fmt.write_clock(secs, &mut w) {
                *cached = None;
                return None;
            }
            *cached = Some((secs, w));
        }
        cached.as_ref().map(|(_, w)| w.as_bytes())
    }
}

fn clock_at(
    b: &[u8],
    pos: usize,
    ts: i64,
    memo: &mut ClockMemo,
) -> Option<(Range<usize>, TsFormat)> {
    let before = b[..pos].last().copied()?;
    let (date, start) = match before {
        b'T' | b' ' if pos >= 11 && b[pos - 11].is_ascii_digit() && b[pos - 7] == b'-' => {
            (if before == b'T' { b'I' } else { b'i' }, pos - 11)
        }
        b':' if pos >= 12 && b[pos - 10] == b'/' && b[pos - 6] == b'/' => (b'C', pos - 12),
        b' ' if pos >= 7 && b[pos - 4] == b' ' => {
            (if b[pos - 3] == b' ' { b's' } else { b'z' }, pos - 7)
        }
        _ => return None,
    };
    let mut end = pos + 8;
    let frac = match b.get(end) {
        Some(&sep @ (b'.' | b',')) => {
            let n = b[end + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            end += 1 + n;
            match (sep, n) {
                (b'.', 3) => b'3',
                (b',', 3) => b',',
                (b'.', 6) => b'6',
                (b'.', 9) => b'9',
                _ => return None,
            }
        }
        _ => b'0',
    };
    let rest = &b[end..];
    let offset = |zone: u8| TsFormat { date, frac, zone }.offset_after(rest).is_some();
    let zone = if date == b'C' {
        if rest.starts_with(b" +0000") {
            b'_'
        } else if offset(b'p') {
            b'p'
        } else {
            return None;
        }
    } else if rest.starts_with(b"Z") {
        b'Z'
    } else if rest.starts_with(b"+00:00") {
        b':'
    } else if rest.starts_with(b"+0000") {
        b'4'
    } else if offset(b'o') {
        b'o'
    } else if offset(b'O') {
        b'O'
    } else {
        b'-'
    };
    end += match zone {
        b'Z' => 1,
        b':' | b'_' => 6,
        b'4' => 5,
        _ => 0,
    };
    verify(b, start..end, TsFormat { date, frac, zone }, ts, memo)
}

fn epoch_at(
    b: &[u8],
    pos: usize,
    len: usize,
    ts: i64,
    memo: &mut ClockMemo,
) -> Option<(Range<usize>, TsFormat)> {
    if pos > 0 && b[pos - 1].is_ascii_digit() {
        return None;
    }
    let mut end = pos + len;
    let count = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let frac = match b.get(end) {
        Some(b'.') => {
            let n = count(end + 1);
            end += 1 + n;
            match n {
                3 => b'3',
                6 => b'6',
                _ => return None,
            }
        }
        _ => {
            let n = count(end);
            end += n;
            match n {
                0 => b'0',
                3 => b'm',
                6 => b'u',
                9 => b'n',
                _ => return None,
            }
        }
    };
    let fmt = TsFormat {
        date: b'E',
        frac,
        zone: b'-',
    };
    verify(b, pos..end, fmt, ts, memo)
}

/// Writes `text` with `holes` cut out into `out` (appending). Holes are taken
/// in order of their start; one that overlaps an earlier one or falls outside
/// the text is left out. SOH bytes of the text are escaped.
pub fn encode(text: &str, holes: &mut [Hole], out: &mut String) {
    holes.sort_unstable_by_key(|h| h.range.start);
    // One search of the whole text instead of one per piece: almost no text
    // holds an SOH byte.
    let escape = memchr::memchr(ESC, text.as_bytes()).is_some();
    let push = |piece: &str, out: &mut String| {
        if escape {
            push_escaped(piece, out);
        } else {
            out.push_str(piece);
        }
    };
    let mut at = 0;
    // Where the next hole may start: after the last one, and after the offset
    // text a local-clock time hole is decoded with.
    let mut free = 0;
    for h in holes.iter() {
        if h.range.start < free
            || h.range.end > text.len()
            || h.range.start >= h.range.end
            || !text.is_char_boundary(h.range.start)
            || !text.is_char_boundary(h.range.end)
        {
            continue;
        }
        push(&text[at..h.range.start], out);
        out.push(ESC as char);
        match h.kind {
            HoleKind::Message => out.push('M'),
            HoleKind::TraceId => out.push('T'),
            HoleKind::SpanId => out.push('S'),
            HoleKind::ParentSpanId => out.push('P'),
            HoleKind::Ts(f) => {
                out.push('t');
                for c in f.code() {
                    out.push(c as char);
                }
            }
        }
        at = h.range.end;
        free = at
            + match h.kind {
                HoleKind::Ts(f) => f.offset_len(),
                _ => 0,
            };
    }
    push(&text[at..], out);
}

fn push_escaped(s: &str, out: &mut String) {
    let mut rest = s;
    while let Some(p) = memchr::memchr(ESC, rest.as_bytes()) {
        out.push_str(&rest[..=p]);
        out.push(ESC as char);
        rest = &rest[p + 1..];
    }
    out.push_str(rest);
}

/// Whether `residual` has a message hole (`\u{1}M`).
pub fn has_message_hole(residual: &str) -> bool {
    let b = residual.as_bytes();
    let mut i = 0;
    while let Some(p) = memchr::memchr(ESC, &b[i..]) {
        let at = i + p;
        match b.get(at + 1) {
            Some(b'M') => return true,
            Some(b't') => i = at + 5,
            _ => i = at + 2,
        }
        if i >= b.len() {
            break;
        }
    }
    false
}

/// Fills the holes of `residual` from `values`, appending the original text
/// to `out`. On error `out` holds a partial text.
pub fn decode(
    residual: &str,
    values: &HoleValues<'_>,
    out: &mut String,
) -> Result<(), ResidualError> {
    let b = residual.as_bytes();
    let mut i = 0;
    let mut scratch = Vec::new();
    while let Some(p) = memchr::memchr(ESC, &b[i..]) {
        let at = i + p;
        out.push_str(&residual[i..at]);
        let code = *b.get(at + 1).ok_or(ResidualError::BadEscape(at))?;
        i = at + 2;
        match code {
            ESC => out.push(ESC as char),
            b'M' => out.push_str(values.message.ok_or(ResidualError::MissingValue('M'))?),
            b'T' => out.push_str(values.trace_id.ok_or(ResidualError::MissingValue('T'))?),
            b'S' => out.push_str(values.span_id.ok_or(ResidualError::MissingValue('S'))?),
            b'P' => out.push_str(
                values
                    .parent_span_id
                    .ok_or(ResidualError::MissingValue('P'))?,
            ),
            b't' => {
                let code = b
                    .get(at + 2..at + 5)
                    .and_then(|c| TsFormat::from_code([c[0], c[1], c[2]]))
                    .ok_or(ResidualError::BadEscape(at))?;
                let ts = values.ts.ok_or(ResidualError::MissingValue('t'))?;
                let offset = code
                    .offset_after(&b[at + 5..])
                    .ok_or(ResidualError::BadEscape(at))?;
                scratch.clear();
                if !code.write_at(ts, offset, &mut scratch) {
                    return Err(ResidualError::BadEscape(at));
                }
                // The formats write ASCII only.
                out.push_str(
                    std::str::from_utf8(&scratch).map_err(|_| ResidualError::BadEscape(at))?,
                );
                i = at + 5;
            }
            _ => return Err(ResidualError::BadEscape(at)),
        }
    }
    out.push_str(&residual[i..]);
    Ok(())
}

/// Where the template shape (` {k1,k2}`) sits in a rendered Drain input:
/// it ends the first line, after the line's last `" {"` (or is the whole
/// first line when the message's first line was empty). The message is the
/// rendered text without this range. `None` when the first line has no
/// shape to cut.
pub fn shape_range(rendered: &str) -> Option<Range<usize>> {
    let line_end = memchr::memchr(b'\n', rendered.as_bytes()).unwrap_or(rendered.len());
    let first = &rendered[..line_end];
    if !first.ends_with('}') {
        return None;
    }
    // The last `" {"`: the shape's `{` is near the end, so searching back for
    // `{` finds it at once (a substring search sets up a searcher per call).
    let b = first.as_bytes();
    let mut end = b.len();
    while let Some(p) = memchr::memrchr(b'{', &b[..end]) {
        if p > 0 && b[p - 1] == b' ' {
            return Some(p - 1..line_end);
        }
        end = p;
    }
    first.starts_with('{').then_some(0..line_end)
}

/// The message of a rendered Drain input: the text without its
/// [`shape_range`]. `None` when there is no shape to cut.
pub fn strip_shape(rendered: &str) -> Option<String> {
    let cut = shape_range(rendered)?;
    let mut s = String::with_capacity(rendered.len());
    s.push_str(&rendered[..cut.start]);
    s.push_str(&rendered[cut.end..]);
    Some(s)
}

/// What a row holds in its columns, as readers see them (the `logs` view):
/// [`derived_fields`] leaves a key in `fields` unless its value is there.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowColumns<'a> {
    /// `ts`, UTC microseconds.
    pub ts: Option<i64>,
    /// `level`.
    pub level: Option<&'a str>,
    /// `message`.
    pub message: Option<&'a str>,
    /// `service`.
    pub service: Option<&'a str>,
    /// `host`.
    pub host: Option<&'a str>,
    /// `trace_id`.
    pub trace_id: Option<&'a str>,
    /// `span_id`.
    pub span_id: Option<&'a str>,
    /// `parent_span_id`.
    pub parent_span_id: Option<&'a str>,
}

/// The `fields` of a row that left them out (see
/// [`IngestOptions::derive_text`](crate::IngestOptions::derive_text)): a
/// parse of its text `raw` with the default options and no fallback past a
/// column's best key ([`ParseOptions::first_key_only`]), in which a key is
/// promoted out of `fields` only when its value is what the row's column
/// holds.
///
/// Rows written by an older Logoscope were parsed by older rules: a time
/// written with a zone name or a level word that rules now recognise was
/// not promoted then, so the row's column is null and the key must stay
/// in `fields`. Checking each promoted value against the row keeps every
/// value in a column or in `fields` whichever rules wrote the row. For
/// rows written with these rules the check always agrees; a row whose
/// column came from a later key stores its `fields` instead
/// ([`ParsedEntry::fell_back`]).
///
/// [`ParsedEntry::fell_back`]: crate::ParsedEntry::fell_back
pub fn derived_fields(raw: &str, row: &RowColumns<'_>) -> Option<String> {
    static PARSER: std::sync::LazyLock<EntryParser> =
        std::sync::LazyLock::new(|| EntryParser::new(derive_options(0)));
    // A time without a year took the ingest clock's year (or the year
    // before); a clock a day past the row's time gives it the same year
    // again, whenever the query runs.
    let clock = row.ts.map(|ts| ts.saturating_add(86_400_000_000));
    let p = parse_clocked(&PARSER, raw, clock);
    let same = |parsed: Option<&str>, column: Option<&str>| parsed.is_none() || parsed == column;
    let agrees = [
        p.ts.is_none() || p.ts == row.ts,
        same(p.level.map(Level::as_str), row.level),
        same(Some(&*p.message), row.message),
        same(p.service.as_deref(), row.service),
        same(p.host.as_deref(), row.host),
        same(p.trace_id.as_deref(), row.trace_id),
        same(p.span_id.as_deref(), row.span_id),
        same(p.parent_span_id.as_deref(), row.parent_span_id),
    ];
    let unpromoted = agrees
        .iter()
        .enumerate()
        .fold(0u8, |mask, (i, &agrees)| mask | u8::from(!agrees) << i);
    if unpromoted == 0 {
        return p.fields;
    }
    let parser = EntryParser::new(derive_options(unpromoted));
    parse_clocked(&parser, raw, clock).fields
}

fn parse_clocked<'a>(parser: &'a EntryParser, raw: &'a str, clock: Option<i64>) -> ParsedEntry<'a> {
    match clock {
        Some(now) => parser.parse_at(raw, now),
        None => parser.parse(raw),
    }
}

fn derive_options(unpromoted: u8) -> ParseOptions {
    ParseOptions {
        first_key_only: true,
        unpromoted,
        ..ParseOptions::default()
    }
}

/// The `fields` a parse of the entry text `raw` gives with the default
/// options, as `logoscope ingest` extracts them.
pub fn parsed_fields(raw: &str) -> Option<String> {
    static PARSER: std::sync::LazyLock<EntryParser> =
        std::sync::LazyLock::new(|| EntryParser::new(ParseOptions::default()));
    PARSER.parse(raw).fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::TimestampDetector;

    #[test]
    fn ts_buf_digits_match_format() {
        let values = [0, 1, 7, 9, 10, 42, 99, 100, 999, 1000, 2024, 9999, 10_000];
        let more = [123_456, 999_999, 1_000_000, 4_294_967_295];
        for width in [1, 2, 3, 4, 6, 9] {
            for &v in values.iter().chain(&more) {
                let mut w = TsBuf::default();
                w.byte(b'x');
                w.padded(v, width);
                assert_eq!(
                    w.as_bytes(),
                    format!("x{v:0width$}").as_bytes(),
                    "{v} {width}"
                );
            }
        }
        for v in [0, 9, 10, 1_000_000_000, u64::MAX] {
            let mut w = TsBuf::default();
            w.uint(v, 1);
            assert_eq!(w.as_bytes(), v.to_string().as_bytes());
        }
    }

    fn roundtrip(text: &str, holes: &mut [Hole], v: &HoleValues<'_>) -> String {
        let mut r = String::new();
        encode(text, holes, &mut r);
        let mut back = String::new();
        decode(&r, v, &mut back).unwrap();
        assert_eq!(back, text, "residual {r:?}");
        r
    }

    fn ts_of(s: &str) -> i64 {
        TimestampDetector::new(1_772_409_600_000_000)
            .parse_value(s)
            .unwrap()
    }

    #[test]
    fn every_timestamp_style_is_found_and_rebuilt() {
        for (text, stamp, code, iso) in [
            (
                "2026-03-02T00:00:00.079Z INFO x",
                "2026-03-02T00:00:00.079Z",
                "I3Z",
                "",
            ),
            (
                "a 2026-03-02 10:11:12,345 b",
                "2026-03-02 10:11:12,345",
                "i,-",
                "2026-03-02T10:11:12.345Z",
            ),
            (
                "x 2026-03-02T10:11:12.123456+00:00",
                "2026-03-02T10:11:12.123456+00:00",
                "I6:",
                "",
            ),
            (
                "2026-03-02T10:11:12.123456000Z",
                "2026-03-02T10:11:12.123456000Z",
                "I9Z",
                "",
            ),
            (
                "2026-03-02T10:11:12+0000 y",
                "2026-03-02T10:11:12+0000",
                "I04",
                "2026-03-02T10:11:12Z",
            ),
            (
                "1.2.3.4 - - [02/Mar/2026:03:00:05 +0000] \"GET",
                "02/Mar/2026:03:00:05 +0000",
                "C0_",
                "2026-03-02T03:00:05Z",
            ),
            (
                "<13>Mar  2 03:00:05 host app: m",
                "Mar  2 03:00:05",
                "s0-",
                "2026-03-02T03:00:05Z",
            ),
            (
                "<13>Mar 12 03:00:05 host app: m",
                "Mar 12 03:00:05",
                "z0-",
                "2026-03-12T03:00:05Z",
            ),
            (
                "{\"ts\":1772409602478,\"m\":1}",
                "1772409602478",
                "Em-",
                "2026-03-02T00:00:02.478Z",
            ),
            (
                "{\"ts\":1772409602,\"m\":1}",
                "1772409602",
                "E0-",
                "2026-03-02T00:00:02Z",
            ),
            (
                "{\"ts\":1772409602.250,\"m\":1}",
                "1772409602.250",
                "E3-",
                "2026-03-02T00:00:02.250Z",
            ),
            (
                "{\"ts\":1772409602250001,\"m\":1}",
                "1772409602250001",
                "Eu-",
                "2026-03-02T00:00:02.250001Z",
            ),
            (
                "{\"ts\":1772409602250001000}",
                "1772409602250001000",
                "En-",
                "2026-03-02T00:00:02.250001Z",
            ),
            (
                "{\"time\":\"2026-03-02T16:23:06.709+01:00\",\"m\":1}",
                "2026-03-02T16:23:06.709",
                "I3o",
                "2026-03-02T15:23:06.709Z",
            ),
            (
                "2026-03-01 21:53:06-05:30 x",
                "2026-03-01 21:53:06",
                "i0o",
                "2026-03-02T03:23:06Z",
            ),
            (
                "2026-03-02T16:23:06.709123+0100 y",
                "2026-03-02T16:23:06.709123",
                "I6O",
                "2026-03-02T15:23:06.709123Z",
            ),
            (
                "1.2.3.4 - - [01/Mar/2026:22:00:05 -0500] \"GET",
                "01/Mar/2026:22:00:05",
                "C0p",
                "2026-03-02T03:00:05Z",
            ),
        ] {
            let ts = ts_of(if iso.is_empty() { stamp } else { iso });
            let (range, fmt) = find_ts(text, ts).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(&text[range.clone()], stamp);
            assert_eq!(fmt.code(), code.as_bytes(), "{text}");
            roundtrip(
                text,
                &mut [Hole {
                    range,
                    kind: HoleKind::Ts(fmt),
                }],
                &HoleValues {
                    ts: Some(ts),
                    ..HoleValues::default()
                },
            );
        }
    }

    #[test]
    fn the_offset_after_a_local_clock_stays_text() {
        let text = "2026-03-02T16:23:06+01:00x";
        let ts = ts_of("2026-03-02T15:23:06Z");
        let (range, fmt) = find_ts(text, ts).unwrap();
        // A hole over the offset (or starting inside it) is left out: the
        // decoder reads the offset from the text after the time hole.
        let r = roundtrip(
            text,
            &mut [
                Hole {
                    range: range.clone(),
                    kind: HoleKind::Ts(fmt),
                },
                Hole {
                    range: 19..26,
                    kind: HoleKind::Message,
                },
            ],
            &HoleValues {
                ts: Some(ts),
                message: Some("+01:00x"),
                ..HoleValues::default()
            },
        );
        assert_eq!(r, "\u{1}tI0o+01:00x");
        // A residual whose offset text is missing is an error, not a guess.
        let mut out = String::new();
        let values = HoleValues {
            ts: Some(ts),
            ..HoleValues::default()
        };
        assert!(decode("\u{1}tI0o+01", &values, &mut out).is_err());
    }

    #[test]
    fn times_that_do_not_match_are_not_cut() {
        let ts = ts_of("2026-03-02T00:00:03.274Z");
        // Local time with an offset that does not give back the time.
        assert_eq!(find_ts("2026-03-02T02:00:03.274+01:00 x", ts), None);
        assert_eq!(find_ts("2026-03-02T01:00:03.274+01:0 x", ts), None);
        assert_eq!(find_ts("2026-03-02T01:00:03.274+24:00 x", ts), None);
        // Same clock, other date.
        assert_eq!(find_ts("2026-03-03T00:00:03.274Z x", ts), None);
        // A fraction the value does not carry.
        assert_eq!(find_ts("2026-03-02T00:00:03.275Z x", ts), None);
        // Epoch digits inside a longer number.
        let ts = ts_of("1772409602");
        assert_eq!(find_ts("id=91772409602", ts), None);
    }

    #[test]
    fn holes_escapes_and_overlaps() {
        let text = "a\u{1}b msg trace \u{1}\u{1}";
        let v = HoleValues {
            message: Some("msg"),
            trace_id: Some("trace"),
            ..HoleValues::default()
        };
        let r = roundtrip(
            text,
            &mut [
                Hole {
                    range: 8..13,
                    kind: HoleKind::TraceId,
                },
                Hole {
                    range: 4..7,
                    kind: HoleKind::Message,
                },
                // Overlaps the message hole: left out.
                Hole {
                    range: 5..9,
                    kind: HoleKind::SpanId,
                },
            ],
            &v,
        );
        assert_eq!(r, "a\u{1}\u{1}b \u{1}M \u{1}T \u{1}\u{1}\u{1}\u{1}");
        assert!(has_message_hole(&r));
        assert!(!has_message_hole("a\u{1}\u{1}M"));
        assert!(!has_message_hole("\u{1}tI3ZM"));
    }

    #[test]
    fn bad_residuals_are_errors_not_panics() {
        let mut out = String::new();
        let v = HoleValues::default();
        assert_eq!(
            decode("x\u{1}", &v, &mut out),
            Err(ResidualError::BadEscape(1))
        );
        assert_eq!(
            decode("\u{1}q", &v, &mut out),
            Err(ResidualError::BadEscape(0))
        );
        assert_eq!(
            decode("\u{1}tI3", &v, &mut out),
            Err(ResidualError::BadEscape(0))
        );
        assert_eq!(
            decode("\u{1}M", &v, &mut out),
            Err(ResidualError::MissingValue('M'))
        );
        assert_eq!(
            decode("\u{1}tI3Z", &v, &mut out),
            Err(ResidualError::MissingValue('t'))
        );
    }

    /// The memo's check (clock from the memo, fraction and zone written)
    /// agrees with writing the whole time, for texts of the checked time and
    /// of times near it (a microsecond, a second, a day apart, the year 10000),
    /// in every clock format, at UTC and at an offset.
    #[test]
    fn clock_memo_agrees_with_write_at() {
        let mut rng = logoscope_testkit::XorShift::new(0x9e37_79b9_7f4a_7c15);
        let mut next = |n: u64| rng.below(n);
        let mut memo = ClockMemo::default();
        let (mut checked, mut found) = (0, 0);
        for _ in 0..60_000 {
            let code = [
                b"IiCszE"[next(6) as usize],
                b"03,69"[next(5) as usize],
                b"-Z:4_o"[next(6) as usize],
            ];
            let Some(fmt) = TsFormat::from_code(code) else {
                continue;
            };
            // A few seconds around one instant, so the memo hits and misses.
            let ts = match next(50) {
                0 => 253_402_300_799_000_000 + next(2_000_000) as i64,
                _ => 1_700_000_000_000_000 + (next(4) * 1_000_000 + next(1_000_000)) as i64,
            };
            let written = ts + [0, 0, 0, 1, -1, 1_000_000, 86_400_000_000][next(7) as usize];
            let (offset, after): (i64, &[u8]) = if fmt.is_offset() {
                (3600, b"+01:00 rest")
            } else {
                (0, b" rest")
            };
            let mut text = Vec::new();
            if !fmt.write_at(written, offset, &mut text) {
                continue;
            }
            let hole = 0..text.len();
            text.extend_from_slice(after);
            let mut whole = Vec::new();
            let expected =
                fmt.write_at(ts, offset, &mut whole) && text.get(hole.clone()) == Some(&whole[..]);
            let got = verify(&text, hole.clone(), fmt, ts, &mut memo);
            assert_eq!(got.is_some(), expected, "{fmt:?} {ts} {written}");
            checked += 1;
            found += usize::from(expected);
        }
        assert!(checked > 30_000 && found > 10_000, "{checked} {found}");
    }

    #[test]
    fn shapes_are_cut_from_the_first_line() {
        assert_eq!(strip_shape("login ok {user}").as_deref(), Some("login ok"));
        assert_eq!(strip_shape("{user}").as_deref(), Some(""));
        assert_eq!(
            strip_shape("boom {a,b}\n  at x").as_deref(),
            Some("boom\n  at x")
        );
        assert_eq!(strip_shape("a {b} c {d}").as_deref(), Some("a {b} c"));
        assert_eq!(strip_shape("no shape"), None);
        assert_eq!(strip_shape("x}"), None);
    }

    #[test]
    fn shape_range_matches_a_substring_search() {
        fn oracle(rendered: &str) -> Option<Range<usize>> {
            let line_end = rendered.find('\n').unwrap_or(rendered.len());
            let first = &rendered[..line_end];
            if !first.ends_with('}') {
                return None;
            }
            match first.rfind(" {") {
                Some(p) => Some(p..line_end),
                None => first.starts_with('{').then_some(0..line_end),
            }
        }
        // Every string of up to six bytes over the bytes that matter.
        let alphabet = [b' ', b'{', b'}', b'a', b'\n'];
        let mut words: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let longer: Vec<Vec<u8>> = words
                .iter()
                .filter(|w| w.len() == words.last().map_or(0, Vec::len))
                .flat_map(|w| {
                    alphabet.iter().map(move |&c| {
                        let mut w = w.clone();
                        w.push(c);
                        w
                    })
                })
                .collect();
            words.extend(longer);
        }
        for w in &words {
            let s = std::str::from_utf8(w).unwrap();
            assert_eq!(shape_range(s), oracle(s), "{s:?}");
        }
    }
}
