//! Bad input gets a clear error naming the file, never a panic; nothing read is lost.

use std::io::Write;

use crate::util::{count_rows, ingest, lines, no_panic, run, s, sql_int, stderr, unprivileged};

#[test]
fn invalid_utf8_is_kept_lossily_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("latin1.log");
    let mut bytes = lines(3).into_bytes();
    bytes.extend_from_slice(b"2026-03-02T11:00:00Z WARN caf\xe9 au lait \xff\xfe\n");
    std::fs::write(&input, bytes).unwrap();
    let store = dir.path().join("a");
    assert!(ingest(&input, &store).status.success());
    assert_eq!(count_rows(s(&store)), 4);
    assert_eq!(
        sql_int(
            s(&store),
            "SELECT count(*) AS n FROM logs WHERE error = 'invalid_utf8'"
        ),
        1
    );
    assert_eq!(
        sql_int(
            s(&store),
            "SELECT count(*) AS n FROM logs WHERE raw LIKE '%caf\u{fffd} au lait%'"
        ),
        1
    );
}

#[test]
fn nul_and_binary_bytes_are_rows_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("garbage.log");
    let mut bytes = lines(2).into_bytes();
    bytes.extend((0u8..=255).cycle().take(3000).filter(|b| *b != b'\n'));
    bytes.push(b'\n');
    bytes.extend_from_slice(b"before\0after\n");
    bytes.extend_from_slice(lines(2).as_bytes());
    std::fs::write(&input, bytes).unwrap();
    let store = dir.path().join("a");
    assert!(ingest(&input, &store).status.success());
    assert_eq!(count_rows(s(&store)), 6);
    assert_eq!(
        sql_int(
            s(&store),
            "SELECT count(*) AS n FROM logs WHERE error IS NOT NULL"
        ),
        2
    );
    assert_eq!(
        sql_int(s(&store), "SELECT count(*) AS n FROM ingest_errors"),
        2
    );
}

#[test]
fn a_50_mb_line_is_cut_kept_and_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("huge.log");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
    f.write_all(lines(1).as_bytes()).unwrap();
    f.write_all(b"2026-03-02T10:00:01Z ERROR payload ").unwrap();
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..50 {
        f.write_all(&chunk).unwrap();
    }
    f.write_all(b"\n").unwrap();
    f.write_all(lines(1).as_bytes()).unwrap();
    drop(f);
    let store = dir.path().join("a");
    assert!(ingest(&input, &store).status.success());
    assert_eq!(count_rows(s(&store)), 3);
    assert_eq!(
        sql_int(
            s(&store),
            "SELECT count(*) AS n FROM logs WHERE error = 'truncated'"
        ),
        1
    );
    let longest = sql_int(s(&store), "SELECT max(length(raw)) AS n FROM logs");
    assert!(
        longest <= 1 << 20,
        "kept {longest} chars of a 50 MB line with the 1 MiB default bound"
    );
    assert_eq!(
        sql_int(s(&store), "SELECT max(line) AS n FROM logs"),
        3,
        "the line after it is its own entry"
    );
}

#[test]
fn a_truncated_gzip_keeps_what_was_read_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cut.log.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(lines(5000).as_bytes()).unwrap();
    let whole = gz.finish().unwrap();
    std::fs::write(&input, &whole[..whole.len() / 2]).unwrap();
    let store = dir.path().join("a");
    let out = ingest(&input, &store);
    // Part of the input was read, so the run succeeds, with a warning naming the file.
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("cut.log.gz"), "{}", stderr(&out));
    let n = count_rows(s(&store));
    assert!(n > 0 && n < 5000, "{n} rows from half a gzip stream");
    // The last entry read may be cut short, and says so.
    assert_eq!(
        sql_int(
            s(&store),
            "SELECT count(*) AS n FROM logs WHERE error = 'truncated' \
             AND line = (SELECT max(line) FROM logs)"
        ),
        1
    );
}

#[test]
fn an_empty_file_is_zero_rows_and_success() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("empty.log");
    std::fs::write(&input, b"").unwrap();
    let store = dir.path().join("a");
    let out = ingest(&input, &store);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count_rows(s(&store)), 0);
}

#[test]
fn a_missing_file_fails_but_the_others_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, lines(10)).unwrap();
    let missing = dir.path().join("missing.log");
    let store = dir.path().join("a");
    let out = run(&[
        "ingest",
        s(&good),
        s(&missing),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    no_panic(&out);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("missing.log"), "{}", stderr(&out));
    assert_eq!(count_rows(s(&store)), 10);
}

#[test]
fn a_glob_matching_nothing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let pattern = format!("{}/*.nothing", s(dir.path()));
    let out = run(&[
        "ingest",
        &pattern,
        "--to",
        "memory://",
        "--progress",
        "never",
    ]);
    no_panic(&out);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("*.nothing"), "{}", stderr(&out));
}

#[test]
fn a_directory_where_a_file_is_expected() {
    let dir = tempfile::tempdir().unwrap();
    // The corpus output must be a file.
    let out = run(&["generate", "-n", "10", "-o", s(dir.path())]);
    no_panic(&out);
    assert!(!out.status.success());
    assert!(stderr(&out).contains(s(dir.path())), "{}", stderr(&out));
    // An archive location that is a file, not a directory.
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap();
    let input = dir.path().join("in.log");
    std::fs::write(&input, lines(3)).unwrap();
    let out = run(&["ingest", s(&input), "--to", s(&file), "--progress", "never"]);
    no_panic(&out);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("not-a-dir") && err.contains("it exists and is not a directory"),
        "{err}"
    );
}

#[test]
fn an_unreadable_file_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, lines(4)).unwrap();
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o644)).unwrap();
    let secret = dir.path().join("secret.log");
    std::fs::write(&secret, lines(4)).unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads any file; run as an unprivileged user where the tests run as
    // root. Named, or found in a directory, the unreadable file counts the
    // same: named, exit status 1, not among the inputs read; the readable
    // file is kept.
    let named = [s(&good), s(&secret)];
    let found = [s(dir.path())];
    for inputs in [&named[..], &found[..]] {
        let out = unprivileged()
            .arg("ingest")
            .args(inputs)
            .args(["--to", "memory://", "--progress", "never"])
            .output()
            .expect("setpriv (util-linux) runs");
        no_panic(&out);
        assert_eq!(out.status.code(), Some(1), "{inputs:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("secret.log"), "{}", stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("ingested 4 entries (0.0 MB) from 1 input "),
            "{inputs:?}: {stdout}"
        );
    }
}

/// Flagged entries are named on stderr by file and line, a bounded number of them; stdout
/// keeps only the summary line.
#[test]
fn flagged_entries_are_named_by_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("bad.log");
    let mut bytes = lines(3).into_bytes();
    bytes.extend_from_slice(b"2026-03-02T11:00:00Z WARN caf\xe9 au lait\n"); // line 4
    bytes.extend_from_slice(lines(1).as_bytes());
    bytes.extend_from_slice(b"before\0after\x01\x02\x03\n"); // line 6
    bytes.extend_from_slice(lines(1).as_bytes());
    bytes.extend_from_slice(format!("2026-03-02T11:00:01Z ERROR {}\n", "x".repeat(500)).as_bytes()); // line 8
    let store = dir.path().join("a");
    std::fs::write(&input, &bytes).unwrap();
    let args = [
        "ingest",
        s(&input),
        "--to",
        s(&store),
        "--progress",
        "never",
        "--max-entry-bytes",
        "200",
    ];
    let out = run(&args);
    no_panic(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    let path = s(&input);
    for expected in [
        format!("logoscope: warning: {path}:4: invalid_utf8"),
        format!("logoscope: warning: {path}:6: binary"),
        format!("logoscope: warning: {path}:8: truncated"),
    ] {
        assert!(err.contains(&expected), "no {expected:?} in {err}");
    }
    assert_eq!(err.lines().count(), 3, "{err}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(", 3 errors,"), "{stdout}");

    // Many flagged entries: the first few are named, then one line counts the rest.
    let mut many = Vec::new();
    for _ in 0..40 {
        many.extend_from_slice(b"2026-03-02T11:00:00Z WARN caf\xe9\n");
    }
    std::fs::write(&input, &many).unwrap();
    let out = run(&args);
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 6, "{err}");
    assert!(
        lines[0].contains(&format!("{path}:1: invalid_utf8")),
        "{err}"
    );
    assert!(
        lines[4].contains(&format!("{path}:5: invalid_utf8")),
        "{err}"
    );
    assert!(
        lines[5].contains("and 35 more") && lines[5].contains("ingest_errors"),
        "{err}"
    );

    // --quiet keeps stderr for errors only.
    let mut quiet = args.to_vec();
    quiet.push("--quiet");
    let out = run(&quiet);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}
