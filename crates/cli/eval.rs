//! `logoscope eval loghub`: template accuracy against Loghub-layout ground truth.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use logoscope_drain::DrainConfig;
use logoscope_eval::{average, evaluate_dir, find_dataset_dirs, render_table, write_predictions};

use crate::args::{EvalFormat, LoghubArgs};

pub(crate) fn loghub(a: LoghubArgs) -> anyhow::Result<ExitCode> {
    let config = DrainConfig {
        extra_masks: a.masks.clone(),
        ..DrainConfig::default()
    };
    // Reject bad masks once, up front, rather than per dataset.
    logoscope_drain::TemplateCatalog::try_new(config.clone()).context("invalid --mask")?;
    if let Some(dir) = &a.predictions {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut reports = Vec::new();
    for root in &a.dirs {
        for dir in
            find_dataset_dirs(root).with_context(|| format!("no dataset in {}", root.display()))?
        {
            let report = evaluate_dir(&dir, &config)
                .with_context(|| format!("evaluating {}", dir.display()))?;
            if let Some(out) = &a.predictions {
                write_predictions(&report, out)?;
            }
            if a.format == EvalFormat::Table {
                eprintln!("{}: {} lines", report.dataset, report.lines);
            }
            reports.push(report);
        }
    }
    let mut out = io::stdout().lock();
    match a.format {
        EvalFormat::Table => write!(out, "{}", render_table(&reports))?,
        EvalFormat::Json => {
            let value = serde_json::json!({ "datasets": reports, "average": average(&reports) });
            serde_json::to_writer_pretty(&mut out, &value)?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
