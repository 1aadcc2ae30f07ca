//! Inputs of every kind through the binary: compressed streams as other tools write them,
//! FIFOs, empty stdin, and directories with unreadable parts.

use std::io::Write;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::util::{bin, count_rows, ingest, lines, run, s, stderr, unprivileged};

/// `pzstd` puts a skippable frame (magic `0x184D2A5?`) before each zstd frame.
#[test]
fn zstd_with_skippable_frames_as_pzstd_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = lines(5000);
    let (first, second) = text.split_at(text.len() / 2);
    let mut bytes = Vec::new();
    for part in [first, second] {
        let frame = zstd::encode_all(part.as_bytes(), 3).unwrap();
        bytes.extend_from_slice(&[0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0]);
        bytes.extend_from_slice(&u32::try_from(frame.len()).unwrap().to_le_bytes());
        bytes.extend(frame);
    }
    let input = dir.path().join("p.zst");
    std::fs::write(&input, bytes).unwrap();
    let store = dir.path().join("a");
    let out = ingest(&input, &store);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("ingested 5000 entries"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(count_rows(s(&store)), 5000);
    assert_eq!(
        crate::util::sql_int(s(&store), "SELECT count(*) AS n FROM ingest_errors"),
        0
    );
}

#[test]
fn multi_member_gzip_is_read_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for part in [lines(300), lines(200)] {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(part.as_bytes()).unwrap();
        bytes.extend(gz.finish().unwrap());
    }
    let input = dir.path().join("rotated.log.gz");
    std::fs::write(&input, bytes).unwrap();
    let store = dir.path().join("a");
    let out = ingest(&input, &store);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count_rows(s(&store)), 500);
}

#[test]
fn truncated_zstd_keeps_what_was_read_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    // Several 128 KiB blocks, so the first half holds whole ones to decode.
    let whole = zstd::encode_all(lines(20_000).as_bytes(), 3).unwrap();
    let input = dir.path().join("cut.zst");
    std::fs::write(&input, &whole[..whole.len() / 2]).unwrap();
    let store = dir.path().join("a");
    let out = ingest(&input, &store);
    // Part of it was read: success, with the file named.
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains(s(&input)), "{}", stderr(&out));
    let n = count_rows(s(&store));
    assert!(n > 0 && n < 20_000, "{n} rows from half a zstd stream");

    // Cut inside the frame header: nothing decodes, so the input could not be read at all.
    let input = dir.path().join("stub.zst");
    std::fs::write(&input, &whole[..6]).unwrap();
    let out = ingest(&input, &dir.path().join("b"));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(s(&input)), "{}", stderr(&out));
}

#[test]
fn zero_length_stdin_is_zero_rows_and_success() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("a");
    let out = bin()
        .args(["ingest", "-", "--to", s(&store), "--progress", "never"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stderr.is_empty(), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("ingested 0 entries (0.0 MB) from 1 input into"),
        "{stdout}"
    );
    assert_eq!(count_rows(s(&store)), 0);
}

/// A named FIFO is opened once, and read while its writer writes.
#[test]
fn a_named_fifo_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("live.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let writer_path = fifo.clone();
    // The writer's open waits for a reader; then it writes and closes.
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(&writer_path)
            .unwrap();
        let _ = f.write_all(lines(1000).as_bytes());
    });
    let store = dir.path().join("a");
    let mut child = bin()
        .args(["ingest", s(&fifo), "--to", s(&store), "--progress", "never"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(60) {
            child.kill().unwrap();
            child.wait().unwrap();
            // Let a writer still waiting for a reader go (read+write never blocks).
            let _ = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&fifo);
            panic!("ingest of a FIFO still waiting after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count_rows(s(&store)), 1000);
}

/// An unreadable subdirectory is named and costs only itself: the rest of the tree is
/// ingested, and the exit status says something could not be read.
#[test]
fn an_unreadable_subdirectory_costs_only_itself() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(dir.path(), 0o755).unwrap();
    let udir = dir.path().join("udir");
    let inner = udir.join("inner");
    std::fs::create_dir_all(&inner).unwrap();
    for (path, n) in [
        (udir.join("a.log"), 3),
        (inner.join("b.log"), 5),
        (udir.join("z.log"), 4),
    ] {
        std::fs::write(&path, lines(n)).unwrap();
        mode(&path, 0o644).unwrap();
    }
    mode(&udir, 0o755).unwrap();
    mode(&inner, 0o000).unwrap();
    let out = unprivileged()
        .args([
            "ingest",
            s(&udir),
            "--to",
            "memory://",
            "--progress",
            "never",
        ])
        .output()
        .expect("setpriv (util-linux) runs");
    mode(&inner, 0o755).unwrap();
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(s(&inner)), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ingested 7 entries (0.0 MB) from 2 inputs"),
        "a.log and z.log are kept: {stdout}"
    );
}

/// Each argument is read as given: naming a file twice, or naming it and a
/// directory holding it, reads it twice.
#[test]
fn a_file_named_twice_is_read_twice() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let input = logs.join("app.log");
    std::fs::write(&input, lines(30)).unwrap();
    let store = dir.path().join("a");
    let out = run(&[
        "ingest",
        s(&input),
        s(&input),
        s(&logs),
        "--to",
        s(&store),
        "--progress",
        "never",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(count_rows(s(&store)), 90);
}
