//! Hand-rolled timestamp writers: chrono's `format` re-parses its pattern on
//! every call, which dominated the profile at a million entries.

use std::fmt::Write as _;

use chrono::{DateTime, Datelike, Timelike, Utc};

pub(crate) const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

pub(crate) fn to_utc(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or(DateTime::UNIX_EPOCH)
}

/// `2026-03-02T00:00:01` (no fraction, no zone), shifted by `offset_secs`.
fn date_time(us: i64, offset_secs: i64, sep: char, out: &mut String) {
    let t = to_utc(us + offset_secs * 1_000_000);
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}{sep}{:02}:{:02}:{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

/// `2026-03-02T00:00:01.234Z`
pub(crate) fn rfc3339_ms(us: i64, out: &mut String) {
    date_time(us, 0, 'T', out);
    let _ = write!(out, ".{:03}Z", us.rem_euclid(1_000_000) / 1000);
}

/// `2026-03-02T00:00:01.234567Z`
pub(crate) fn rfc3339_us(us: i64, out: &mut String) {
    date_time(us, 0, 'T', out);
    let _ = write!(out, ".{:06}Z", us.rem_euclid(1_000_000));
}

/// `2026-03-02T01:00:01.234+01:00` — the same instant written with a local offset.
pub(crate) fn rfc3339_ms_offset(us: i64, offset_hours: i64, out: &mut String) {
    date_time(us, offset_hours * 3600, 'T', out);
    let sign = if offset_hours < 0 { '-' } else { '+' };
    let _ = write!(
        out,
        ".{:03}{sign}{:02}:00",
        us.rem_euclid(1_000_000) / 1000,
        offset_hours.abs()
    );
}

/// `2026-03-02 00:00:01,234` — Python `logging`'s default `asctime` (zone-less, UTC here).
pub(crate) fn python_asctime(us: i64, out: &mut String) {
    date_time(us, 0, ' ', out);
    let _ = write!(out, ",{:03}", us.rem_euclid(1_000_000) / 1000);
}

/// `Mar  2 00:00:01` — RFC 3164 (no year, space-padded day).
pub(crate) fn bsd_syslog(us: i64, out: &mut String) {
    let t = to_utc(us);
    let _ = write!(
        out,
        "{} {:>2} {:02}:{:02}:{:02}",
        MONTHS[t.month0() as usize],
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

/// `02/Mar/2026:00:00:01 +0000` — nginx `$time_local` in UTC.
pub(crate) fn clf(us: i64, out: &mut String) {
    let t = to_utc(us);
    let _ = write!(
        out,
        "{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000",
        t.day(),
        MONTHS[t.month0() as usize],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_match_chrono() {
        let us = DateTime::parse_from_rfc3339("2026-03-02T23:59:58.123456Z")
            .unwrap()
            .timestamp_micros();
        let t = to_utc(us);
        let mut s = String::new();
        rfc3339_ms(us, &mut s);
        assert_eq!(s, t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
        s.clear();
        rfc3339_us(us, &mut s);
        assert_eq!(s, "2026-03-02T23:59:58.123456Z");
        s.clear();
        rfc3339_ms_offset(us, 1, &mut s);
        assert_eq!(s, "2026-03-03T00:59:58.123+01:00");
        s.clear();
        python_asctime(us, &mut s);
        assert_eq!(s, "2026-03-02 23:59:58,123");
        s.clear();
        bsd_syslog(us, &mut s);
        assert_eq!(s, "Mar  2 23:59:58");
        s.clear();
        clf(us, &mut s);
        assert_eq!(s, "02/Mar/2026:23:59:58 +0000");
    }
}
