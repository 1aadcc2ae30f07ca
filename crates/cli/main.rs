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

use std::io::ErrorKind;
use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command, EvalCommand};

fn main() -> ExitCode {
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
            eprintln!("logoscope: {err:#}");
            ExitCode::from(2)
        }
    }
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
