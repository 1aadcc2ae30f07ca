//! Timestamp detection, normalised to UTC microseconds since the Unix epoch.
//!
//! Recognised forms:
//!
//! * ISO 8601 / RFC 3339: `YYYY-MM-DD` then `T`, `t` or one space, then
//!   `hh:mm:ss`, an optional fraction after `.` or `,` (1–9 digits), and an
//!   optional zone: `Z`, `±hh:mm`, `±hhmm`, `±hh`, the last three also after
//!   one space (`2024-01-02 15:04:05 +0100`; after a space only `±hh:mm` and
//!   `±hhmm`), or after one space one of the zone abbreviations of
//!   [`zone_abbreviation`] (`2024-01-02 15:04:05 CET`). `/` may replace `-`
//!   in the date. Without a zone the time is taken as UTC; an upper-case word
//!   that is not in the table is not a zone and is left to the text after
//!   the time. An offset of the right shape beyond ±23:59 (hours 00–23,
//!   minutes 00–59, as RFC 3339 and chrono allow) makes the time
//!   [`TsScan::Bad`] — written right after the time, or after a space in the
//!   `±hh:mm` form (a spaced `+2500` may be a number, so it stays text).
//! * syslog (RFC 3164): `Mmm dd hh:mm:ss[.frac]` (day may be space-padded,
//!   or one digit after a single space: `Mar 1 10:00:00`).
//!   The year is inferred from the ingest clock ([`TimestampDetector::new`]):
//!   the clock's current UTC year, or the previous year if that would put the
//!   time more than one day after the clock (a December log read in January).
//! * Common Log Format: `dd/Mmm/yyyy:hh:mm:ss ±hhmm`.
//! * Epoch numbers, told apart by magnitude: below 1e11 seconds, below 1e14
//!   milliseconds, below 1e17 microseconds, otherwise nanoseconds. As the
//!   first token of a line only 10, 13, 16 or 19 digits (or 10 digits with a
//!   fraction) count, so ordinary numbers are not mistaken for times; a value
//!   below 1e8 seconds (before 1973) is not taken as a time.
//!
//! A prefix that has the shape of one of these forms but impossible values
//! (`2024-13-45 25:00:00`) is reported as [`TsScan::Bad`].

/// Microseconds in a second.
const MICROS: i64 = 1_000_000;

/// Result of looking for a timestamp at the start of a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TsScan {
    /// No timestamp-shaped prefix.
    None,
    /// A timestamp; `len` bytes were consumed.
    Found {
        /// UTC microseconds since the epoch.
        micros: i64,
        /// Bytes consumed.
        len: usize,
    },
    /// Something shaped like a timestamp that does not denote a valid time.
    Bad {
        /// Bytes of the timestamp-shaped prefix.
        len: usize,
    },
}

/// What the value of a time field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeValue {
    /// A time, UTC microseconds since the epoch.
    Time(i64),
    /// Shaped like a time, or a number as large as an epoch, but not a
    /// valid one: the row gets `bad_timestamp` when no other key gives a time.
    Impossible,
    /// Not a time at all (a word, a number too small to be an epoch).
    NotTime,
}

/// Detects timestamps; holds the ingest clock used to infer missing years.
#[derive(Debug, Clone, Copy)]
pub struct TimestampDetector {
    now_micros: i64,
    now_year: i32,
}

impl TimestampDetector {
    /// A detector whose clock reads `now_micros` (UTC µs since the epoch).
    pub fn new(now_micros: i64) -> Self {
        let days = now_micros.div_euclid(86_400 * MICROS);
        let (y, _, _) = civil_from_days(days);
        TimestampDetector {
            now_micros,
            now_year: y,
        }
    }

    /// A detector using the system clock.
    pub fn system() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        Self::new(now)
    }

    /// Looks for a timestamp at the very start of `s` (ISO, syslog, CLF or an
    /// epoch number as a whole token).
    pub fn scan_prefix(&self, s: &str) -> TsScan {
        let b = s.as_bytes();
        let Some(&first) = b.first() else {
            return TsScan::None;
        };
        if first.is_ascii_digit() {
            match scan_iso(b) {
                TsScan::None => {}
                r => return r,
            }
            match scan_clf(b) {
                TsScan::None => {}
                r => return r,
            }
            return scan_epoch_token(b);
        }
        if first.is_ascii_alphabetic() {
            return self.scan_syslog(b);
        }
        TsScan::None
    }

    /// Parses a whole string value (a JSON or logfmt time field): any prefix
    /// form that consumes the whole string, a date alone (midnight UTC), or an
    /// epoch number of any length. `None` when it is not a time.
    pub fn parse_value(&self, s: &str) -> Option<i64> {
        let s = s.trim();
        match self.scan_prefix(s) {
            TsScan::Found { micros, len } if len == s.len() => return Some(micros),
            _ => {}
        }
        let b = s.as_bytes();
        if b.len() == 10
            && let Some((y, m, d, _)) = scan_date(b)
        {
            return micros_from_parts(y, m, d, 0, 0, 0, 0, 0);
        }
        if b.first().is_some_and(|c| c.is_ascii_digit()) {
            if let Ok(n) = s.parse::<i64>() {
                return epoch_from_int(n);
            }
            if let Ok(f) = s.parse::<f64>() {
                return epoch_from_float(f);
            }
        }
        None
    }

    /// What a time field's value holds (see [`TimeValue`]): a date alone
    /// (`2024-03-01`, possible or not) is [`TimeValue::NotTime`], as it
    /// gives no time of day (a `date` key beside a `time` key holding
    /// `10:00:00` is not the event's midnight); else a time as
    /// [`parse_value`](Self::parse_value) reads it; else
    /// [`TimeValue::Impossible`] when it starts with a time's shape whose
    /// values are impossible (`2025-02-30T10:00:00Z`) or is a number too
    /// large or too negative for an epoch; else [`TimeValue::NotTime`] (a
    /// word, a small number).
    pub fn classify_value(&self, s: &str) -> TimeValue {
        let s = s.trim();
        let b = s.as_bytes();
        if b.len() == 10 && scan_date(b).is_some() {
            return TimeValue::NotTime;
        }
        if let Some(t) = self.parse_value(s) {
            return TimeValue::Time(t);
        }
        let shaped = matches!(self.scan_prefix(s), TsScan::Bad { .. }) || epoch_out_of_range(s);
        if shaped {
            TimeValue::Impossible
        } else {
            TimeValue::NotTime
        }
    }

    /// The time a date and a time of day given apart make together
    /// (FortiGate's `date=2024-03-01 time=10:00:00`), at the UTC offset `tz`
    /// when it is one (`+0100`, `-05:00`; FortiGate's `tz` key) and in UTC
    /// otherwise. [`TimeValue::NotTime`] unless `date` is `YYYY-MM-DD` (or
    /// `/`) and `time` is `hh:mm:ss` with an optional fraction;
    /// [`TimeValue::Impossible`] for an impossible date or time.
    pub fn date_and_time(&self, date: &str, time: &str, tz: Option<&str>) -> TimeValue {
        let (date, time) = (date.trim(), time.trim());
        let t = time.as_bytes();
        // `hh:mm:ss`, then nothing or a fraction of one digit or more.
        let time_of_day = (t.len() == 8 || (t.len() > 9 && matches!(t[8], b'.' | b',')))
            && t.iter().enumerate().all(|(i, &c)| match i {
                2 | 5 => c == b':',
                8 => true,
                _ => c.is_ascii_digit(),
            });
        if date.len() != 10 || scan_date(date.as_bytes()).is_none() || !time_of_day {
            return TimeValue::NotTime;
        }
        let offset = tz.map(str::trim).filter(|z| {
            let z = z.as_bytes();
            let sign = matches!(z.first(), Some(b'+' | b'-'));
            let d = |r: std::ops::Range<usize>| z[r].iter().all(u8::is_ascii_digit);
            sign && ((z.len() == 5 && d(1..5))
                || (z.len() == 6 && z[3] == b':' && d(1..3) && d(4..6)))
        });
        let mut s = String::with_capacity(date.len() + time.len() + 8);
        s.push_str(date);
        s.push(' ');
        s.push_str(time);
        s.push_str(offset.unwrap_or(""));
        self.classify_value(&s)
    }

    fn scan_syslog(&self, b: &[u8]) -> TsScan {
        // `Mmm dd hh:mm:ss` or `Mmm  d hh:mm:ss` (15 bytes) or `Mmm d
        // hh:mm:ss` (14 bytes), then an optional fraction.
        if b.len() < 14 || b[3] != b' ' {
            return TsScan::None;
        }
        let Some(month) = month_from_abbrev(&b[..3]) else {
            return TsScan::None;
        };
        let (day, time_at) = match (b[4], b[5]) {
            (b' ', d) if d.is_ascii_digit() => ((d - b'0') as u32, 7),
            (a, d) if a.is_ascii_digit() && d.is_ascii_digit() => {
                (((a - b'0') * 10 + (d - b'0')) as u32, 7)
            }
            (d, b' ') if d.is_ascii_digit() => ((d - b'0') as u32, 6),
            _ => return TsScan::None,
        };
        if b[time_at - 1] != b' ' {
            return TsScan::None;
        }
        let Some((h, mi, sec)) = scan_hms(&b[time_at..]) else {
            return TsScan::None;
        };
        let mut len = time_at + 8;
        let (frac, flen) = scan_fraction(&b[len..]);
        len += flen;
        if !boundary(b, len) {
            return TsScan::None;
        }
        match self.with_inferred_year(month, day, h, mi, sec, frac) {
            Some(micros) => TsScan::Found { micros, len },
            None => TsScan::Bad { len },
        }
    }

    /// A time without a year: the clock's year, or the previous one when that
    /// would be more than a day ahead of the clock (or is not a valid date).
    /// February 29th takes the latest leap year not ahead of the clock.
    pub(crate) fn with_inferred_year(
        &self,
        month: u32,
        day: u32,
        h: u32,
        mi: u32,
        sec: u32,
        nanos: u32,
    ) -> Option<i64> {
        let cutoff = self.now_micros + 86_400 * MICROS;
        match micros_from_parts(self.now_year, month, day, h, mi, sec, nanos, 0) {
            Some(m) if m <= cutoff => Some(m),
            // Any valid date is valid the year before, except February 29th:
            // leap years are at most eight years apart (2096 to 2104).
            _ => (1..=8).find_map(|back| {
                micros_from_parts(self.now_year - back, month, day, h, mi, sec, nanos, 0)
            }),
        }
    }
}

fn boundary(b: &[u8], at: usize) -> bool {
    match b.get(at) {
        None => true,
        Some(c) => !c.is_ascii_alphanumeric(),
    }
}

fn digits<const N: usize>(b: &[u8]) -> Option<u32> {
    if b.len() < N {
        return None;
    }
    let mut v = 0u32;
    for &c in &b[..N] {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + (c - b'0') as u32;
    }
    Some(v)
}

/// `YYYY-MM-DD` or `YYYY/MM/DD`: (year, month, day, separator).
fn scan_date(b: &[u8]) -> Option<(i32, u32, u32, u8)> {
    let y = digits::<4>(b)?;
    let sep = *b.get(4)?;
    if sep != b'-' && sep != b'/' {
        return None;
    }
    let m = digits::<2>(&b[5..])?;
    if *b.get(7)? != sep {
        return None;
    }
    let d = digits::<2>(&b[8..])?;
    Some((y as i32, m, d, sep))
}

pub(crate) fn scan_hms(b: &[u8]) -> Option<(u32, u32, u32)> {
    let h = digits::<2>(b)?;
    if *b.get(2)? != b':' {
        return None;
    }
    let m = digits::<2>(&b[3..])?;
    if *b.get(5)? != b':' {
        return None;
    }
    let s = digits::<2>(&b[6..])?;
    Some((h, m, s))
}

/// `.ddd` or `,ddd` (1–9 digits) → (nanoseconds, bytes consumed).
pub(crate) fn scan_fraction(b: &[u8]) -> (u32, usize) {
    if b.len() < 2 || (b[0] != b'.' && b[0] != b',') || !b[1].is_ascii_digit() {
        return (0, 0);
    }
    let mut n = 0u32;
    let mut i = 1;
    while i < b.len() && b[i].is_ascii_digit() {
        if i <= 9 {
            n = n * 10 + (b[i] - b'0') as u32;
        }
        i += 1;
    }
    let used = (i - 1).min(9);
    for _ in used..9 {
        n *= 10;
    }
    (n, i)
}

/// A zone designator: `Z` or a numeric offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    /// Offset seconds east of UTC, bytes consumed.
    Valid(i32, usize),
    /// Shaped like an offset (`±hh:mm`, `±hhmm`, `±hh`) but beyond ±23:59;
    /// bytes of the shape.
    Impossible(usize),
}

/// Zone designator at the start of `b`, if there is one.
fn scan_zone(b: &[u8]) -> Option<Zone> {
    match b.first()? {
        b'Z' | b'z' => Some(Zone::Valid(0, 1)),
        sign @ (b'+' | b'-') => {
            let h = digits::<2>(&b[1..])?;
            let (m, len) = if b.get(3) == Some(&b':') {
                (digits::<2>(&b[4..])?, 6)
            } else if let Some(m) = digits::<2>(&b[3..]) {
                (m, 5)
            } else {
                (0, 3)
            };
            if h > 23 || m > 59 {
                return Some(Zone::Impossible(len));
            }
            let secs = (h * 3600 + m * 60) as i32;
            Some(Zone::Valid(if *sign == b'-' { -secs } else { secs }, len))
        }
        _ => None,
    }
}

/// The offset, in seconds east of UTC, of a time zone abbreviation written
/// after a time. A fixed table of abbreviations that mean one thing, after
/// PostgreSQL's `Default` set (so `CST` is US Central, not China), upper
/// case only, so words of prose are not read as zones:
///
/// | abbreviation | offset |
/// |---|---|
/// | `UTC` `GMT` `UT` `Z` | +00:00 |
/// | `WET` / `WEST` | +00:00 / +01:00 |
/// | `CET` / `CEST` | +01:00 / +02:00 |
/// | `EET` / `EEST` | +02:00 / +03:00 |
/// | `MSK` | +03:00 |
/// | `EST` / `EDT` | −05:00 / −04:00 |
/// | `CST` / `CDT` | −06:00 / −05:00 |
/// | `MST` / `MDT` | −07:00 / −06:00 |
/// | `PST` / `PDT` | −08:00 / −07:00 |
/// | `AKST` / `AKDT` | −09:00 / −08:00 |
/// | `HST` | −10:00 |
pub fn zone_abbreviation(word: &[u8]) -> Option<i32> {
    const H: i32 = 3600;
    Some(match word {
        b"UTC" | b"GMT" | b"UT" | b"Z" | b"WET" => 0,
        b"WEST" | b"CET" => H,
        b"CEST" | b"EET" => 2 * H,
        b"EEST" | b"MSK" => 3 * H,
        b"EDT" => -4 * H,
        b"EST" | b"CDT" => -5 * H,
        b"CST" | b"MDT" => -6 * H,
        b"MST" | b"PDT" => -7 * H,
        b"PST" | b"AKDT" => -8 * H,
        b"AKST" => -9 * H,
        b"HST" => -10 * H,
        _ => return None,
    })
}

fn scan_iso(b: &[u8]) -> TsScan {
    let Some((y, mo, d, _)) = scan_date(b) else {
        return TsScan::None;
    };
    match b.get(10) {
        Some(b'T' | b't' | b' ') => {}
        _ => return TsScan::None,
    }
    let Some((h, mi, s)) = scan_hms(&b[11..]) else {
        return TsScan::None;
    };
    let mut len = 19;
    let (nanos, flen) = scan_fraction(&b[len..]);
    len += flen;
    let mut offset = 0;
    match scan_zone(&b[len..]) {
        Some(Zone::Valid(off, zlen)) => {
            offset = off;
            len += zlen;
        }
        Some(Zone::Impossible(zlen)) => return TsScan::Bad { len: len + zlen },
        None if b.get(len) == Some(&b' ') => match b.get(len + 1) {
            Some(b'+' | b'-') => match scan_zone(&b[len + 1..]) {
                Some(Zone::Valid(off, zlen)) if zlen >= 5 && boundary(b, len + 1 + zlen) => {
                    offset = off;
                    len += 1 + zlen;
                }
                Some(Zone::Impossible(6)) if boundary(b, len + 7) => {
                    return TsScan::Bad { len: len + 7 };
                }
                _ => {}
            },
            Some(c) if c.is_ascii_uppercase() => {
                let word = &b[len + 1..];
                let n = word
                    .iter()
                    .take(5)
                    .take_while(|c| c.is_ascii_uppercase())
                    .count();
                if boundary(word, n)
                    && let Some(off) = zone_abbreviation(&word[..n])
                {
                    offset = off;
                    len += 1 + n;
                }
            }
            _ => {}
        },
        None => {}
    }
    if b.get(len).is_some_and(|c| c.is_ascii_digit()) {
        return TsScan::Bad { len };
    }
    match micros_from_parts(y, mo, d, h, mi, s, nanos, offset) {
        Some(micros) => TsScan::Found { micros, len },
        None => TsScan::Bad { len },
    }
}

/// `dd/Mmm/yyyy:hh:mm:ss ±hhmm` (the zone is required by the format but
/// tolerated when missing).
fn scan_clf(b: &[u8]) -> TsScan {
    if b.len() < 20 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' {
        return TsScan::None;
    }
    let (Some(d), Some(mo), Some(y)) = (
        digits::<2>(b),
        month_from_abbrev(&b[3..6]),
        digits::<4>(&b[7..]),
    ) else {
        return TsScan::None;
    };
    let Some((h, mi, s)) = scan_hms(&b[12..]) else {
        return TsScan::Bad { len: 20 };
    };
    let mut len = 20;
    let (nanos, flen) = scan_fraction(&b[len..]);
    len += flen;
    let mut offset = 0;
    if b.get(len) == Some(&b' ') {
        match scan_zone(&b[len + 1..]) {
            Some(Zone::Valid(off, zlen)) => {
                offset = off;
                len += 1 + zlen;
            }
            // `+2500` in the access log's own bracket: the time is impossible.
            Some(Zone::Impossible(zlen)) if b.get(len + 1 + zlen) == Some(&b']') => {
                return TsScan::Bad {
                    len: len + 1 + zlen,
                };
            }
            _ => {}
        }
    }
    match micros_from_parts(y as i32, mo, d, h, mi, s, nanos, offset) {
        Some(micros) => TsScan::Found { micros, len },
        None => TsScan::Bad { len },
    }
}

fn scan_epoch_token(b: &[u8]) -> TsScan {
    let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
    if !matches!(n, 10 | 13 | 16 | 19) {
        return TsScan::None;
    }
    let mut len = n;
    let mut frac_nanos = 0;
    if n == 10 {
        let (f, flen) = scan_fraction(&b[n..]);
        if flen > 0 && b[n] == b'.' {
            frac_nanos = f;
            len += flen;
        }
    }
    if !matches!(b.get(len), None | Some(b' ' | b'\t')) {
        return TsScan::None;
    }
    // Safe: at most 19 ASCII digits, which fits i64 only below 9.22e18.
    let Ok(v) = std::str::from_utf8(&b[..n]).unwrap_or("x").parse::<i64>() else {
        return TsScan::None;
    };
    match epoch_from_int(v) {
        Some(m) => TsScan::Found {
            micros: m + frac_nanos as i64 / 1000,
            len,
        },
        None => TsScan::None,
    }
}

/// An integer epoch value, unit by magnitude; `None` before 1973 or negative.
pub fn epoch_from_int(v: i64) -> Option<i64> {
    if v < 100_000_000 {
        return None;
    }
    Some(if v < 100_000_000_000 {
        v.checked_mul(MICROS)?
    } else if v < 100_000_000_000_000 {
        v * 1000
    } else if v < 100_000_000_000_000_000 {
        v
    } else {
        v / 1000
    })
}

/// Whether `s` is a number (optional `-`, then a digit first) at least as
/// large as an epoch (|n| ≥ 1e8) that is still no time: negative, or too
/// large for microseconds in an `i64`. Smaller numbers are counts, not times.
pub fn epoch_out_of_range(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return false;
    }
    let Ok(f) = s.parse::<f64>() else {
        return false;
    };
    let epoch = match s.parse::<i64>() {
        Ok(n) => epoch_from_int(n),
        Err(_) => epoch_from_float(f),
    };
    f.abs() >= 1e8 && epoch.is_none()
}

/// A floating-point epoch value, unit by magnitude.
pub fn epoch_from_float(f: f64) -> Option<i64> {
    if !f.is_finite() || f < 1e8 {
        return None;
    }
    let micros = if f < 1e11 {
        f * 1e6
    } else if f < 1e14 {
        f * 1e3
    } else if f < 1e17 {
        f
    } else {
        f / 1e3
    };
    if micros > i64::MAX as f64 {
        return None;
    }
    Some(micros.round() as i64)
}

fn month_from_abbrev(b: &[u8]) -> Option<u32> {
    if b.len() < 3 {
        return None;
    }
    let m = [
        b[0].to_ascii_lowercase(),
        b[1].to_ascii_lowercase(),
        b[2].to_ascii_lowercase(),
    ];
    Some(match &m {
        b"jan" => 1,
        b"feb" => 2,
        b"mar" => 3,
        b"apr" => 4,
        b"may" => 5,
        b"jun" => 6,
        b"jul" => 7,
        b"aug" => 8,
        b"sep" => 9,
        b"oct" => 10,
        b"nov" => 11,
        b"dec" => 12,
        _ => return None,
    })
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y as i64 - 1 } else { y as i64 };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((if m <= 2 { y + 1 } else { y }) as i32, m, d)
}

#[allow(clippy::too_many_arguments)]
fn micros_from_parts(
    y: i32,
    mo: u32,
    d: u32,
    h: u32,
    mi: u32,
    s: u32,
    nanos: u32,
    offset_secs: i32,
) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    // A leap second is folded onto the last ordinary second of its minute.
    let s = s.min(59);
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + (h * 3600 + mi * 60 + s) as i64 - offset_secs as i64;
    Some(secs * MICROS + (nanos / 1000) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2024-06-15T12:00:00Z
    const NOW: i64 = 1_718_452_800_000_000;
    const T0: i64 = 1_704_207_845_000_000; // 2024-01-02T15:04:05Z

    fn det() -> TimestampDetector {
        TimestampDetector::new(NOW)
    }

    fn found(s: &str) -> (i64, usize) {
        match det().scan_prefix(s) {
            TsScan::Found { micros, len } => (micros, len),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000i64, 0, 1, 59, 365, 10_000, 19_724, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2024, 1, 2), 19_724);
    }

    #[test]
    fn iso_forms() {
        assert_eq!(found("2024-01-02T15:04:05Z rest"), (T0, 20));
        assert_eq!(found("2024-01-02T15:04:05.123Z"), (T0 + 123_000, 24));
        assert_eq!(found("2024-01-02 15:04:05,123 INFO"), (T0 + 123_000, 23));
        assert_eq!(found("2024-01-02 15:04:05 x"), (T0, 19));
        assert_eq!(found("2024-01-02T16:04:05+01:00"), (T0, 25));
        assert_eq!(found("2024-01-02T16:04:05+0100"), (T0, 24));
        assert_eq!(found("2024-01-02T10:04:05-05"), (T0, 22));
        assert_eq!(found("2024-01-02 16:04:05 +0100 msg"), (T0, 25));
        assert_eq!(found("2024/01/02 15:04:05 msg"), (T0, 19));
        assert_eq!(found("2024-01-02T15:04:05.123456789Z"), (T0 + 123_456, 30));
        assert_eq!(found("2024-01-02t15:04:05.5"), (T0 + 500_000, 21));
    }

    #[test]
    fn bad_and_not_timestamps() {
        assert_eq!(
            det().scan_prefix("2024-13-45 25:00:00 x"),
            TsScan::Bad { len: 19 }
        );
        assert_eq!(
            det().scan_prefix("2023-02-29T00:00:00Z"),
            TsScan::Bad { len: 20 }
        );
        assert_eq!(det().scan_prefix("hello world"), TsScan::None);
        assert_eq!(det().scan_prefix("12345 apples"), TsScan::None);
        assert_eq!(det().scan_prefix("2024-01-02 no time"), TsScan::None);
        assert_eq!(det().scan_prefix(""), TsScan::None);
        assert!(matches!(
            det().scan_prefix("Jan 32 10:00:00 x"),
            TsScan::Bad { .. }
        ));
    }

    #[test]
    fn syslog_year_inference() {
        // Same year as the clock when not in the future.
        assert_eq!(found("Jan  2 15:04:05 host"), (T0, 15));
        assert_eq!(found("Jan 02 15:04:05.250 host"), (T0 + 250_000, 19));
        // Dec 31 seen on 2024-06-15 is in the past: 2024. But with a clock in
        // early January, December belongs to the previous year.
        let jan = TimestampDetector::new(T0);
        match jan.scan_prefix("Dec 31 23:00:00 h") {
            TsScan::Found { micros, .. } => {
                assert_eq!(
                    micros,
                    days_from_civil(2023, 12, 31) * 86_400 * MICROS + 23 * 3600 * MICROS
                )
            }
            other => panic!("{other:?}"),
        }
        // Within one day ahead of the clock stays in the current year.
        let d = TimestampDetector::new(T0);
        assert_eq!(
            d.scan_prefix("Jan  3 10:00:00 h"),
            TsScan::Found {
                micros: days_from_civil(2024, 1, 3) * 86_400 * MICROS + 10 * 3600 * MICROS,
                len: 15
            }
        );
        // February 29th: the latest leap year not ahead of the clock.
        let on = |y: i32, m: u32, d: u32| days_from_civil(y, m, d) * 86_400 * MICROS;
        for (clock, leap) in [
            (on(2026, 11, 21), 2024),
            (on(2024, 2, 28), 2024),
            (on(2024, 2, 27), 2020),
            (on(2101, 6, 1), 2096),
        ] {
            assert_eq!(
                TimestampDetector::new(clock).scan_prefix("Feb 29 00:00:00 h"),
                TsScan::Found {
                    micros: on(leap, 2, 29),
                    len: 15
                },
                "clock {clock}"
            );
        }
    }

    /// The zone abbreviations of the table, after one space; other words
    /// are not zones and are not read.
    #[test]
    fn zone_abbreviations() {
        for (s, want, len) in [
            ("2024-01-02 16:04:05 CET [1] x", T0, 23),
            ("2024-01-02 17:04:05.5 CEST x", T0 + 500_000, 26),
            ("2024-01-02 15:04:05 UTC", T0, 23),
            ("2024-01-02T15:04:05 GMT: x", T0, 23),
            ("2024-01-02 15:04:05 UT x", T0, 22),
            ("2024-01-02 15:04:05 Z x", T0, 21),
            ("2024-01-02 10:04:05 EST x", T0, 23),
            ("2024-01-02 09:04:05 CST x", T0, 23),
            ("2024-01-02 18:04:05 MSK x", T0, 23),
            ("2024-01-02 05:04:05 HST x", T0, 23),
            ("2024-01-02 06:04:05 AKST x", T0, 24),
            ("2024-01-02 08:04:05 PDT x", T0, 23),
        ] {
            assert_eq!(found(s), (want, len), "{s}");
        }
        for (s, len) in [
            // Not in the table, lower case, or longer than the abbreviation.
            ("2024-01-02 15:04:05 XYZ [1] x", 19),
            ("2024-01-02 15:04:05 cet x", 19),
            ("2024-01-02 15:04:05 CETX x", 19),
            ("2024-01-02 15:04:05 ESTABLISHED x", 19),
            ("2024-01-02 15:04:05 UTC2 x", 19),
            // Two spaces: not right after the time.
            ("2024-01-02 15:04:05  UTC x", 19),
        ] {
            assert_eq!(found(s), (T0, len), "{s}");
        }
        assert_eq!(zone_abbreviation(b"CST"), Some(-6 * 3600));
        assert_eq!(zone_abbreviation(b"IST"), None);
    }

    /// An offset of the right shape beyond ±23:59 is an impossible time, not
    /// "no zone" with the offset left to the text.
    #[test]
    fn impossible_offsets_are_bad() {
        for (s, len) in [
            ("2024-01-02T15:04:05+25:00 INFO x", 25),
            ("2024-01-02T15:04:05.123-24:00", 29),
            ("2024-01-02T15:04:05+0160 x", 24),
            ("2024-01-02T15:04:05+99 x", 22),
            ("2024-01-02 15:04:05 +25:00 x", 26),
        ] {
            assert_eq!(det().scan_prefix(s), TsScan::Bad { len }, "{s}");
        }
        // The edges are valid.
        assert_eq!(found("2024-01-02T15:04:05+23:59 x").1, 25);
        assert_eq!(found("2024-01-02T15:04:05-23:59 x").1, 25);
        // After a space, `±hhmm` may be a number of the text.
        assert_eq!(found("2024-01-02 15:04:05 +2500 new users"), (T0, 19));
        // A JSON or logfmt time value with such an offset is not a time.
        assert_eq!(det().parse_value("2024-01-02T15:04:05+25:00"), None);
    }

    /// `Mmm d hh:mm:ss`: one space and one digit for the day.
    #[test]
    fn syslog_single_digit_day() {
        let mar1 = days_from_civil(2024, 3, 1) * 86_400 * MICROS + 10 * 3600 * MICROS;
        assert_eq!(found("Mar 1 10:00:00 host app: x"), (mar1, 14));
        assert_eq!(found("Mar 1 10:00:00.25 h"), (mar1 + 250_000, 17));
        assert_eq!(found("Mar 1 10:00:00"), (mar1, 14));
        assert_eq!(found("Mar  1 10:00:00 h"), (mar1, 15));
        assert_eq!(det().scan_prefix("Mar 1 10:00 h"), TsScan::None);
        assert_eq!(det().scan_prefix("Mar 1x10:00:00 h"), TsScan::None);
        assert_eq!(det().scan_prefix("Mar 123 10:00:00"), TsScan::None);
        assert!(matches!(
            det().scan_prefix("Feb 0 10:00:00 h"),
            TsScan::Bad { len: 14 }
        ));
    }

    #[test]
    fn clf_and_epoch() {
        assert_eq!(
            found("10/Oct/2000:13:55:36 -0700]"),
            (971_211_336_000_000, 26)
        );
        assert_eq!(found("1704207845 msg"), (T0, 10));
        assert_eq!(found("1704207845123 msg"), (T0 + 123_000, 13));
        assert_eq!(found("1704207845123456 msg"), (T0 + 123_456, 16));
        assert_eq!(found("1704207845123456789 msg"), (T0 + 123_456, 19));
        assert_eq!(found("1704207845.5 msg"), (T0 + 500_000, 12));
        assert_eq!(det().scan_prefix("17042078451 msg"), TsScan::None);
    }

    #[test]
    fn values() {
        let d = det();
        assert_eq!(d.parse_value("2024-01-02T15:04:05Z"), Some(T0));
        assert_eq!(
            d.parse_value("2024-01-02"),
            Some(T0 - (15 * 3600 + 4 * 60 + 5) * MICROS)
        );
        assert_eq!(d.parse_value("1704207845123"), Some(T0 + 123_000));
        assert_eq!(d.parse_value("1704207845.25"), Some(T0 + 250_000));
        assert_eq!(d.parse_value("yesterday"), None);
        assert_eq!(d.parse_value("2024-01-02T15:04:05Z trailing"), None);
        assert_eq!(epoch_from_float(1_704_207_845_123.0), Some(T0 + 123_000));
        assert_eq!(epoch_from_int(42), None);
    }

    #[test]
    fn values_are_times_impossible_times_or_no_times() {
        let d = det();
        for (s, want) in [
            ("2024-01-02T15:04:05Z", TimeValue::Time(T0)),
            (" 1704207845 ", TimeValue::Time(T0)),
            ("2025-02-30T10:00:00Z", TimeValue::Impossible),
            ("2024-13-45 25:00:00 UTC", TimeValue::Impossible),
            // A date alone gives no time of day: no event time, possible or not.
            ("2024-03-01", TimeValue::NotTime),
            (" 2024/03/01 ", TimeValue::NotTime),
            ("2025-02-30", TimeValue::NotTime),
            ("10:00:00", TimeValue::NotTime),
            ("Feb 30 10:00:00", TimeValue::Impossible),
            ("-1704207845", TimeValue::Impossible),
            ("1e30", TimeValue::Impossible),
            ("99999999999999999999999999", TimeValue::Impossible),
            ("abc", TimeValue::NotTime),
            ("Monday", TimeValue::NotTime),
            ("not a time", TimeValue::NotTime),
            ("42", TimeValue::NotTime),
            ("-3.5", TimeValue::NotTime),
            ("", TimeValue::NotTime),
            ("NaN", TimeValue::NotTime),
            ("inf", TimeValue::NotTime),
            ("2024-01-02T15:04:05Z trailing", TimeValue::NotTime),
        ] {
            assert_eq!(d.classify_value(s), want, "{s:?}");
        }
    }
}
