//! The `logoscope` command: parse flags, dispatch, map errors to exit codes.
//!
//! Everything reusable lives in the library crates; this binary holds only
//! clap definitions and the glue between them.

mod args;
mod config;
mod eval;
mod generate;
mod ingest;
mod sql;

use std::fmt;
use std::io::{ErrorKind, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, EvalCommand};

/// glibc's allocator gives threads that allocate at once their own arenas (up to 8 per core)
/// and keeps what is freed in each for reuse there: ingest's encodes run on pool threads, so
/// peak RSS grew with freed memory no thread reused (measured on wide entries: 590–741 MB).
/// Four arenas, and buffers of 1 MiB and more always from `mmap` (returned to the system when
/// freed), keep RSS near the live memory (443–465 MB there; the generated corpus 211–250 MB
/// instead of 254–265 MB) at unchanged speed on time-ordered input. With 4 MiB, inputs of
/// entries near the 1 MiB entry bound left freed entry-sized blocks in the arenas: 395–490 MB
/// where 1 MiB gives 333–369 MB (these inputs take 30% longer: fresh pages for each entry).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 4);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

/// An environment variable set to nothing (`LOGOSCOPE_STORE=`) counts as
/// unset, as for most tools, rather than as an empty value clap refuses.
fn drop_empty_environment() {
    for key in ["LOGOSCOPE_STORE", "LOGOSCOPE_CONFIG"] {
        if std::env::var_os(key).is_some_and(|v| v.to_string_lossy().trim().is_empty()) {
            // SAFETY: called first thing in `main`, before any thread starts.
            unsafe { std::env::remove_var(key) };
        }
    }
}

/// A query that opens with an SQL comment (`-- top levels⏎SELECT …`) looks
/// like a flag to the argument parser; moved behind `--`, it is the query.
fn comment_led_query(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    // A flag holds no whitespace before its `=`; a comment-led query holds
    // some (the line break before the statement at least).
    let is_comment = |a: &std::ffi::OsString| {
        a.to_str()
            .and_then(|a| a.strip_prefix("--"))
            .and_then(|rest| rest.find(char::is_whitespace).map(|ws| &rest[..ws]))
            .is_some_and(|word| !word.contains('='))
    };
    if args.get(1).is_some_and(|a| a == "sql")
        && !args.iter().any(|a| a == "--")
        && let Some(i) = args.iter().skip(2).position(is_comment)
    {
        let query = args.remove(i + 2);
        args.push("--".into());
        args.push(query);
    }
    args
}

fn main() -> ExitCode {
    drop_empty_environment();
    tune_allocator();
    let cli = Cli::parse_from(comment_led_query(std::env::args_os().collect()));
    match run(cli) {
        Ok(code) => code,
        Err(err) => {
            // A closed pipe (`logoscope sql … | head`) is the reader's choice, not a failure.
            if err
                .chain()
                .filter_map(|e| e.downcast_ref::<std::io::Error>())
                .any(|e| e.kind() == ErrorKind::BrokenPipe)
            {
                return ExitCode::SUCCESS;
            }
            stderr_line(format_args!("logoscope: {}", readable(&error_chain(&err))));
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each text once. Library errors (ours, deltalake's,
/// object_store's) put their cause's text in their own message *and* return the cause as
/// `source()`, so a plain walk of the chain prints the same text two or three times over.
fn error_chain(err: &anyhow::Error) -> String {
    let mut line = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if text.is_empty() || line.contains(&text) {
            continue;
        }
        if !line.is_empty() {
            line.push_str(": ");
        }
        line.push_str(&text);
    }
    line
}

/// An error line made readable: backtraces some libraries put inside their messages (when
/// `RUST_BACKTRACE` is set) are dropped, an S3 error document becomes `Code: Message`, the
/// rest of the text goes on one line, and a hint follows what an S3 failure usually means.
fn readable(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let t = line.trim_start();
        let digits = t.bytes().take_while(u8::is_ascii_digit).count();
        let frame = (digits > 0 && t[digits..].starts_with(": ")) || t.starts_with("at ");
        if (frame && line.starts_with(' ')) || t.is_empty() || t == "Stack backtrace:" {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(t);
    }
    // `<?xml …?><Error><Code>NoSuchBucket</Code><Message>…</Message>…</Error>`, in what an
    // S3 request answered (other text that looks like one is left as it is).
    let s3 = out.contains("S3 error") || out.contains("Error performing");
    let mut from = 0;
    while s3 && let Some(start) = out[from..].find("<Error>").map(|i| from + i) {
        let Some(end) = out[start..]
            .find("</Error>")
            .map(|e| start + e + "</Error>".len())
        else {
            break;
        };
        let element = |name: &str| {
            let doc = &out[start..end];
            let open = format!("<{name}>");
            let from = doc.find(&open)? + open.len();
            let to = from + doc[from..].find("</")?;
            Some(doc[from..to].to_owned())
        };
        let summary = match (element("Code"), element("Message")) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code,
            _ => "an S3 error document".to_owned(),
        };
        let start = out[..start].rfind("<?xml").unwrap_or(start);
        out.replace_range(start..end, &summary);
        from = start + summary.len();
    }
    let hint = if out.contains("169.254.169.254") {
        Some(
            "no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
             (profiles and ~/.aws files are not read)",
        )
    } else if !out.contains("http://") && !out.contains("https://") {
        None
    } else if out.contains("timed out") {
        Some("a request took longer than AWS_TIMEOUT (default 30s); raise it on a slow link")
    } else if out.contains("error sending request") {
        Some("the endpoint could not be reached: check AWS_ENDPOINT_URL and the network")
    } else {
        None
    };
    if let Some(hint) = hint {
        out.push_str(" (");
        out.push_str(hint);
        out.push(')');
    }
    out
}

/// Writes one line to stderr. A stderr that cannot be written to (closed, a full disk) has
/// no one reading it, so the line is dropped rather than the process panicking as
/// `eprintln!` would.
pub(crate) fn stderr_line(line: fmt::Arguments<'_>) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Ingest(a) => ingest::run(a),
        Command::Sql(a) => sql::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Eval(EvalCommand::Loghub(a)) => eval::loghub(a),
        Command::Eval(EvalCommand::Synth(a)) => eval::synth(a),
    }
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[test]
    fn errors_read_on_one_line_with_a_hint() {
        let backtrace = "delta table: Kernel error: Json error: bad\n   0: kernel::Error::with_backtrace\n  10: tokio::run\n             at src/x.rs:1";
        assert_eq!(
            readable(backtrace),
            "delta table: Kernel error: Json error: bad"
        );
        let xml = "Generic S3 error: Error performing PUT http://h/b/x:\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message><BucketName>b</BucketName><RequestId>r</RequestId></Error>";
        assert_eq!(
            readable(xml),
            "Generic S3 error: Error performing PUT http://h/b/x: NoSuchBucket: The specified bucket does not exist"
        );
        let refused = "Generic S3 error: Error performing GET http://127.0.0.1:1/x after 10 retries - HTTP error: error sending request";
        assert!(readable(refused).ends_with("check AWS_ENDPOINT_URL and the network)"));
        let metadata = "Error performing PUT http://169.254.169.254/latest/api/token";
        assert!(readable(metadata).contains("no AWS credentials found"));
        let slow = "Error performing PUT http://h/b/p.parquet in 181s, after 5 retries - operation timed out";
        assert!(readable(slow).contains("raise it on a slow link"));
        assert_eq!(readable("sql parser error: x"), "sql parser error: x");
        // Not from S3: as it is.
        let quoted = "table 'x<Error><Code>A</Code>' not found";
        assert_eq!(readable(quoted), quoted);
        let unclosed = "Error performing GET http://h/x: <Error><Code>A</Code>";
        assert_eq!(readable(unclosed), unclosed);
    }
}
