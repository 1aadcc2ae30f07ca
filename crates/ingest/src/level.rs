//! Severity normalisation.
//!
//! Everything maps onto six levels: TRACE DEBUG INFO WARN ERROR FATAL.
//!
//! * Words, case-insensitive: `trace`/`trc`/`finest`/`verbose` → TRACE;
//!   `debug`/`dbg`/`fine`/`finer` → DEBUG; `info`/`inf`/`information`/
//!   `informational`/`notice`/`config` → INFO; `warn`/`warning`/`wrn` → WARN;
//!   `error`/`err`/`eror`/`severe` → ERROR; `fatal`/`ftl`/`critical`/`crit`/
//!   `panic`/`emerg`/`emergency`/`alert` → FATAL.
//! * Single letters `T D I W E F` only where a format makes them unambiguous
//!   (klog/glog headers, and the value of a JSON/logfmt level key).
//! * pino/bunyan numbers: ≤10 TRACE, ≤20 DEBUG, ≤30 INFO, ≤40 WARN, ≤50 ERROR,
//!   above FATAL (numbers below 10 are not levels).
//! * syslog severity (PRI % 8): 0–2 FATAL, 3 ERROR, 4 WARN, 5–6 INFO, 7 DEBUG.

/// A normalised severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// TRACE
    Trace,
    /// DEBUG
    Debug,
    /// INFO
    Info,
    /// WARN
    Warn,
    /// ERROR
    Error,
    /// FATAL
    Fatal,
}

impl Level {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "TRACE",
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }

    /// A level word (not a single letter), case-insensitive.
    pub fn from_word(word: &str) -> Option<Level> {
        if word.len() < 3 || word.len() > 13 {
            return None;
        }
        let mut buf = [0u8; 13];
        let lower = &mut buf[..word.len()];
        lower.copy_from_slice(word.as_bytes());
        lower.make_ascii_lowercase();
        Some(match &*lower {
            b"trace" | b"trc" | b"finest" | b"verbose" => Level::Trace,
            b"debug" | b"dbg" | b"fine" | b"finer" => Level::Debug,
            b"info" | b"inf" | b"information" | b"informational" | b"notice" | b"config" => {
                Level::Info
            }
            b"warn" | b"warning" | b"wrn" => Level::Warn,
            b"error" | b"err" | b"eror" | b"severe" => Level::Error,
            b"fatal" | b"ftl" | b"critical" | b"crit" | b"panic" | b"emerg" | b"emergency"
            | b"alert" => Level::Fatal,
            _ => return None,
        })
    }

    /// A single-letter level (`T D I W E F`, case-insensitive).
    pub fn from_letter(c: u8) -> Option<Level> {
        Some(match c.to_ascii_uppercase() {
            b'T' => Level::Trace,
            b'D' => Level::Debug,
            b'I' => Level::Info,
            b'W' => Level::Warn,
            b'E' => Level::Error,
            b'F' => Level::Fatal,
            _ => return None,
        })
    }

    /// pino/bunyan numeric level.
    pub fn from_number(n: f64) -> Option<Level> {
        if !(10.0..=1000.0).contains(&n) {
            return None;
        }
        Some(if n <= 10.0 {
            Level::Trace
        } else if n <= 20.0 {
            Level::Debug
        } else if n <= 30.0 {
            Level::Info
        } else if n <= 40.0 {
            Level::Warn
        } else if n <= 50.0 {
            Level::Error
        } else {
            Level::Fatal
        })
    }

    /// syslog severity (0–7).
    pub fn from_syslog_severity(sev: u8) -> Level {
        match sev {
            0..=2 => Level::Fatal,
            3 => Level::Error,
            4 => Level::Warn,
            5 | 6 => Level::Info,
            _ => Level::Debug,
        }
    }

    /// The value of a structured level key: a word, a single letter, or a
    /// pino number (as text).
    pub fn from_value_str(s: &str) -> Option<Level> {
        let s = s.trim();
        if s.len() == 1 {
            return Level::from_letter(s.as_bytes()[0]);
        }
        if let Some(l) = Level::from_word(s) {
            return Some(l);
        }
        s.parse::<f64>().ok().and_then(Level::from_number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_map_to_levels() {
        for (w, l) in [
            ("info", Level::Info),
            ("INFO", Level::Info),
            ("Warning", Level::Warn),
            ("err", Level::Error),
            ("critical", Level::Fatal),
            ("crit", Level::Fatal),
            ("fatal", Level::Fatal),
            ("panic", Level::Fatal),
            ("notice", Level::Info),
            ("emerg", Level::Fatal),
            ("alert", Level::Fatal),
            ("trace", Level::Trace),
            ("dbg", Level::Debug),
        ] {
            assert_eq!(Level::from_word(w), Some(l), "{w}");
        }
        assert_eq!(Level::from_word("hello"), None);
        assert_eq!(Level::from_word("I"), None);
    }

    #[test]
    fn numbers_and_letters() {
        assert_eq!(Level::from_number(30.0), Some(Level::Info));
        assert_eq!(Level::from_number(60.0), Some(Level::Fatal));
        assert_eq!(Level::from_number(10.0), Some(Level::Trace));
        assert_eq!(Level::from_number(50.0), Some(Level::Error));
        assert_eq!(Level::from_number(3.0), None);
        assert_eq!(Level::from_value_str("W"), Some(Level::Warn));
        assert_eq!(Level::from_value_str("40"), Some(Level::Warn));
        assert_eq!(Level::from_syslog_severity(3), Level::Error);
        assert_eq!(Level::from_syslog_severity(0), Level::Fatal);
        assert_eq!(Level::from_syslog_severity(5), Level::Info);
        assert_eq!(Level::from_syslog_severity(7), Level::Debug);
    }
}
