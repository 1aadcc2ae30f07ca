//! `logoscope generate`: the deterministic synthetic corpus.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use logoscope_synth::{SynthConfig, generate};

use crate::args::GenerateArgs;

pub(crate) fn run(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    let cfg = SynthConfig::new(a.lines, a.seed);
    let mut out: Box<dyn Write> = if a.out.as_os_str() == "-" {
        Box::new(BufWriter::with_capacity(1 << 16, io::stdout().lock()))
    } else {
        let f =
            File::create(&a.out).with_context(|| format!("cannot create {}", a.out.display()))?;
        Box::new(BufWriter::with_capacity(1 << 16, f))
    };
    let mut truth: Box<dyn Write> = match &a.truth {
        Some(p) => {
            let f = File::create(p).with_context(|| format!("cannot create {}", p.display()))?;
            Box::new(BufWriter::with_capacity(1 << 16, f))
        }
        None => Box::new(io::sink()),
    };
    let summary = generate(&cfg, &mut out, &mut truth).context("generating the corpus")?;
    out.flush()?;
    truth.flush()?;
    crate::stderr_line(format_args!(
        "generated {} entries ({} lines, {} bytes, {} templates), seed {}",
        summary.entries,
        summary.physical_lines,
        summary.bytes,
        summary.templates.len(),
        a.seed
    ));
    Ok(ExitCode::SUCCESS)
}
