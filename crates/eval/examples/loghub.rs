//! Baseline accuracy and speed of Drain (default config) on Loghub-layout datasets.
//!
//! ```text
//! cargo run --release -p logoscope-eval --example loghub -- [--json] [--out DIR] [--lenient] [--similarity S] PATH...
//! ```
//! `--lenient` scores with [`TruthMode::Lenient`] instead of the reference; `--similarity`
//! overrides the Drain similarity threshold (for tuning; the default configuration is what the
//! headline figures use).
//! Each PATH is a dataset folder or a folder of them. `--out DIR` writes
//! `<D>_predictions.csv` files there.

use std::path::PathBuf;
use std::process::ExitCode;

use logoscope_drain::DrainConfig;
use logoscope_eval::{
    TruthMode, average, evaluate_dir_with, find_dataset_dirs, render_table, write_predictions,
};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut json = false;
    let mut out_dir: Option<PathBuf> = None;
    let mut roots = Vec::new();
    let mut similarity: Option<f64> = None;
    let mut mode = TruthMode::Reference;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => json = true,
            "--lenient" => mode = TruthMode::Lenient,
            "--out" => out_dir = Some(args.next().ok_or("--out needs a folder")?.into()),
            "--similarity" => {
                similarity = Some(args.next().ok_or("--similarity needs a number")?.parse()?)
            }
            _ => roots.push(PathBuf::from(arg)),
        }
    }
    if roots.is_empty() {
        return Err("usage: loghub [--json] [--out DIR] PATH...".into());
    }

    let mut config = DrainConfig::default();
    if let Some(s) = similarity {
        config.similarity = s;
    }
    let mut reports = Vec::new();
    for root in &roots {
        for dir in find_dataset_dirs(root)? {
            let report = evaluate_dir_with(&dir, &config, mode)?;
            if let Some(out) = &out_dir {
                write_predictions(&report, out)?;
            }
            reports.push(report);
        }
    }
    if json {
        let value = serde_json::json!({ "datasets": reports, "average": average(&reports) });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", render_table(&reports));
    }
    Ok(())
}
