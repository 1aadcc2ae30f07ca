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
/// Four arenas, and buffers of 4 MiB and more always from `mmap` (returned to the system when
/// freed), keep RSS near the live memory (443–465 MB there; the generated corpus 211–250 MB
/// instead of 254–265 MB) at unchanged speed on time-ordered input.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn tune_allocator() {
    // SAFETY: `mallopt` only sets allocator parameters; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 4);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 4 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn tune_allocator() {}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
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
            stderr_line(format_args!("logoscope: {}", error_chain(&err)));
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
