//! The hand-written samples in data/samples keep the entry counts their
//! README promises (other crates' tests rely on them).

use std::path::PathBuf;

/// This package's directory. Cargo sets it for the test process too; the
/// compile-time value is only the fallback, since a build cache shared between
/// checkouts can hold a test binary compiled in another one.
fn manifest_dir() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

fn sample(name: &str) -> String {
    let p = manifest_dir().join("../../data/samples").join(name);
    std::fs::read_to_string(p).unwrap()
}

fn starts_with_iso_date(l: &str) -> bool {
    let b = l.as_bytes();
    b.len() > 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[10] == b'T'
}

#[test]
fn app_log_has_40_entries_over_55_lines_with_two_traces() {
    let text = sample("app.log");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 55);
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| starts_with_iso_date(lines[i]))
        .collect();
    assert_eq!(starts.len(), 40);
    let multi: Vec<(usize, usize)> = starts
        .iter()
        .zip(starts.iter().skip(1).chain([&lines.len()]))
        .filter(|(a, b)| *b - *a > 1)
        .map(|(a, b)| (a + 1, b - a))
        .collect();
    assert_eq!(multi, vec![(15, 10), (27, 7)]);
    let burst = lines
        .iter()
        .filter(|l| l.contains("ERROR [payments] payment provider"))
        .count();
    assert_eq!(burst, 8);
}

#[test]
fn app_jsonl_has_20_entries_one_malformed() {
    let text = sample("app.jsonl");
    let bad: Vec<usize> = text
        .lines()
        .enumerate()
        .filter(|(_, l)| serde_json::from_str::<serde_json::Value>(l).is_err())
        .map(|(i, _)| i + 1)
        .collect();
    assert_eq!(text.lines().count(), 20);
    assert_eq!(bad, vec![16]);
}

#[test]
fn mixed_log_has_one_entry_per_line_in_five_formats() {
    let text = sample("mixed.log");
    let mut kinds = [0usize; 5];
    for l in text.lines() {
        let k = if l.starts_with("ts=") {
            0
        } else if l.starts_with('<') && l.contains(">1 ") {
            2
        } else if l.starts_with('<') {
            1
        } else if starts_with_iso_date(l) {
            4
        } else {
            assert!(l.contains("] \"") && l.contains(" HTTP/1.1\" "), "{l}");
            3
        };
        kinds[k] += 1;
    }
    // logfmt, 3164, 5424, access, plain
    assert_eq!(kinds, [4, 3, 4, 5, 4]);
}
