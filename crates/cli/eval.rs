//! `logoscope eval loghub`: template accuracy against Loghub-layout ground truth.
//! `logoscope eval synth`: the same through the whole ingest path, on generated logs.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, bail};
use arrow_array::{Array, UInt64Array};
use logoscope_drain::{DrainConfig, TemplateCatalog};
use logoscope_eval::{
    TruthMode, average, evaluate_dir, find_dataset_dirs, render_table, score_with,
    write_predictions,
};
use logoscope_ingest::schema::col;
use logoscope_ingest::{IngestOptions, InputSpec, Pipeline};
use logoscope_synth::{SynthConfig, generate};
use serde::{Deserialize, Serialize};

use crate::args::{EvalFormat, LoghubArgs, SynthArgs};

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
    // Prediction files by dataset name, and the folder that wrote each.
    let mut written: BTreeMap<String, PathBuf> = BTreeMap::new();
    for root in &a.dirs {
        for dir in
            find_dataset_dirs(root).with_context(|| format!("no dataset in {}", root.display()))?
        {
            let report = evaluate_dir(&dir, &config)
                .with_context(|| format!("evaluating {}", dir.display()))?;
            if let Some(out) = &a.predictions {
                if let Some(first) = written.get(&report.dataset) {
                    bail!(
                        "{} and {} are both the dataset {:?}: their predictions would share \
                         {}_predictions.csv (rename one in its settings.json, or score them \
                         apart)",
                        first.display(),
                        dir.display(),
                        report.dataset,
                        report.dataset
                    );
                }
                write_predictions(&report, out)?;
                written.insert(report.dataset.clone(), dir.clone());
            }
            if a.format == EvalFormat::Table {
                crate::stderr_line(format_args!("{}: {} lines", report.dataset, report.lines));
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

/// One entry of a ground-truth file (`"type": "entry"` lines; the others are skipped).
#[derive(Debug, Deserialize)]
struct TruthLine {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    line: u64,
    #[serde(default)]
    lines: u64,
    #[serde(default)]
    format: String,
    #[serde(default)]
    template: Option<String>,
    #[serde(default)]
    malformed: Option<String>,
    /// Summary: the log's size and hash.
    #[serde(default)]
    bytes: Option<u64>,
    #[serde(default)]
    xxh3: Option<String>,
}

/// What a truth file's summary says of its log.
#[derive(Default)]
struct LogIdentity {
    bytes: Option<u64>,
    xxh3: Option<String>,
}

/// An entry's true template and the group it is reported in.
struct Truth {
    line: u64,
    group: String,
    template: Option<String>,
    /// The label over all entries: the template name, apart for JSON and logfmt.
    overall: Option<String>,
}

/// Scores of one group of entries (a format, multi-line entries, or all).
#[derive(Debug, Serialize)]
struct SynthRow {
    group: String,
    entries: usize,
    /// Entries with a true template.
    labelled: usize,
    templates_truth: usize,
    templates_found: usize,
    /// `None` when no entry of the group has a true template (malformed input).
    ga: Option<f64>,
    fga: Option<f64>,
}

/// The scores of one corpus.
#[derive(Debug, Serialize)]
struct SynthReport {
    corpus: String,
    entries: usize,
    seconds: f64,
    entries_per_sec: f64,
    rows: Vec<SynthRow>,
}

pub(crate) fn synth(a: SynthArgs) -> anyhow::Result<ExitCode> {
    // Reject bad masks once, up front.
    crate::config::new_catalog(a.masks.clone(), Vec::new())?;
    let mut reports = Vec::new();
    if a.logs.is_empty() {
        let dir = tempfile::Builder::new()
            .prefix("logoscope-eval-")
            .tempdir()
            .context("cannot create a temporary folder for the corpus")?;
        let log = dir.path().join(format!("synth-{}-{}.log", a.lines, a.seed));
        let truth = log.with_extension("truth.jsonl");
        let cfg = SynthConfig::new(a.lines, a.seed);
        let mut out = BufWriter::new(File::create(&log)?);
        let mut tw = BufWriter::new(File::create(&truth)?);
        generate(&cfg, &mut out, &mut tw).context("generating the corpus")?;
        out.flush()?;
        tw.flush()?;
        drop((out, tw));
        let mut report = score_corpus(&log, &truth, &a)?;
        report.corpus = format!("generated: {} entries, seed {}", a.lines, a.seed);
        reports.push(report);
    } else {
        if a.truth.is_some() && a.logs.len() > 1 {
            bail!("--truth names the ground truth of one LOG; give one LOG or none");
        }
        for log in &a.logs {
            let truth = match &a.truth {
                Some(t) => t.clone(),
                None => truth_path(log),
            };
            reports.push(score_corpus(log, &truth, &a)?);
        }
    }
    let mut out = io::stdout().lock();
    match a.format {
        EvalFormat::Table => {
            for r in &reports {
                write!(out, "{}", render_synth(r))?;
            }
        }
        EvalFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &serde_json::json!({ "corpora": reports }))?;
            writeln!(out)?;
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `X.log` → `X.truth.jsonl` (any other name gets `.truth.jsonl` appended).
fn truth_path(log: &Path) -> PathBuf {
    let name = log
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = name.strip_suffix(".log").unwrap_or(&name);
    log.with_file_name(format!("{stem}.truth.jsonl"))
}

fn read_truth(path: &Path) -> anyhow::Result<(Vec<Truth>, LogIdentity)> {
    let file = File::open(path).with_context(|| {
        format!(
            "cannot open the ground truth {} (write it with `logoscope generate --truth`)",
            path.display()
        )
    })?;
    let mut out = Vec::new();
    let mut identity = LogIdentity::default();
    for (i, line) in BufReader::new(file).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let t: TruthLine = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a ground-truth line", path.display(), i + 1))?;
        if t.kind == "summary" {
            identity = LogIdentity {
                bytes: t.bytes,
                xxh3: t.xxh3,
            };
        }
        if t.kind != "entry" {
            continue;
        }
        // A JSON or logfmt entry's template carries its key set, so one event
        // written as text and as key-value data is two templates by design.
        // Malformed entries are scored in their own row only.
        let overall = t
            .template
            .as_ref()
            .filter(|_| t.malformed.is_none())
            .map(|name| match t.format.as_str() {
                "json" | "logfmt" => format!("{name} (keys)"),
                _ => name.clone(),
            });
        let group = match (&t.malformed, t.lines > 1) {
            (Some(_), _) => "malformed".to_owned(),
            (None, true) => "multi-line".to_owned(),
            (None, false) => t.format,
        };
        out.push(Truth {
            line: t.line,
            group,
            template: t.template,
            overall,
        });
    }
    Ok((out, identity))
}

/// Refuses a log that is not the one its truth describes (another seed can
/// give the same line layout): its size, and its hash where the truth has one.
fn check_identity(log: &Path, truth_file: &Path, identity: &LogIdentity) -> anyhow::Result<()> {
    let not_same = |what: String| {
        anyhow::anyhow!(
            "{}: not the same corpus as its ground truth {}: {what}",
            log.display(),
            truth_file.display()
        )
    };
    let size = std::fs::metadata(log)
        .with_context(|| format!("cannot read {}", log.display()))?
        .len();
    if let Some(bytes) = identity.bytes
        && bytes != size
    {
        return Err(not_same(format!("{size} bytes, the truth says {bytes}")));
    }
    if let Some(want) = &identity.xxh3 {
        let mut file = File::open(log).with_context(|| format!("cannot open {}", log.display()))?;
        let mut hash = xxhash_rust::xxh3::Xxh3::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = std::io::Read::read(&mut file, &mut buf)
                .with_context(|| format!("reading {}", log.display()))?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
        }
        let got = format!("{:016x}", hash.digest());
        if &got != want {
            return Err(not_same(format!(
                "its content hash (XXH3) is {got}, the truth says {want}"
            )));
        }
    }
    Ok(())
}

fn score_corpus(log: &Path, truth_file: &Path, a: &SynthArgs) -> anyhow::Result<SynthReport> {
    let (truth, identity) = read_truth(truth_file)?;
    if !log.is_file() {
        bail!("{} is not a file", log.display());
    }
    check_identity(log, truth_file, &identity)?;
    let mut catalog: TemplateCatalog = crate::config::new_catalog(a.masks.clone(), Vec::new())?;
    let mut pipeline = Pipeline::new(
        vec![InputSpec::File(log.to_owned())],
        IngestOptions::default(),
    );
    let started = Instant::now();
    let (mut lines, mut ids) = (
        Vec::with_capacity(truth.len()),
        Vec::with_capacity(truth.len()),
    );
    while let Some(batch) = pipeline
        .next_batch(&mut catalog)
        .with_context(|| format!("reading {}", log.display()))?
    {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<UInt64Array>())
                .map(|c| c.values().to_vec())
                .with_context(|| format!("the pipeline's batches have no {name} column"))
        };
        lines.extend(column(col::LINE)?);
        ids.extend(column(col::TEMPLATE_ID)?);
    }
    let seconds = started.elapsed().as_secs_f64();
    if lines.len() != truth.len() {
        bail!(
            "{} has {} entries but its ground truth {} lists {}: not the same corpus",
            log.display(),
            lines.len(),
            truth_file.display(),
            truth.len()
        );
    }
    if let Some((t, l)) = truth.iter().zip(&lines).find(|(t, l)| t.line != **l) {
        bail!(
            "{}: the entry at line {l} is at line {} in {}: not the same corpus",
            log.display(),
            t.line,
            truth_file.display()
        );
    }
    let predicted: Vec<String> = ids
        .iter()
        .map(|&id| catalog.resolve(id).to_string())
        .collect();

    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, t) in truth.iter().enumerate() {
        groups.entry(t.group.as_str()).or_default().push(i);
    }
    let mut rows = Vec::new();
    for (group, members) in &groups {
        rows.push(score_rows(
            group,
            members,
            &truth,
            |t| t.template.as_deref(),
            &predicted,
        )?);
    }
    let all: Vec<usize> = (0..truth.len()).collect();
    rows.push(score_rows(
        "all",
        &all,
        &truth,
        |t| t.overall.as_deref(),
        &predicted,
    )?);
    Ok(SynthReport {
        corpus: log.display().to_string(),
        entries: truth.len(),
        seconds,
        entries_per_sec: truth.len() as f64 / seconds.max(1e-9),
        rows,
    })
}

fn score_rows<'t>(
    group: &str,
    members: &[usize],
    truth: &'t [Truth],
    label: impl Fn(&'t Truth) -> Option<&'t str>,
    predicted: &[String],
) -> anyhow::Result<SynthRow> {
    let t: Vec<Option<&str>> = members.iter().map(|&i| label(&truth[i])).collect();
    let p: Vec<&str> = members.iter().map(|&i| predicted[i].as_str()).collect();
    // Distinct true labels, and distinct predictions among labelled entries.
    let mut true_set = HashSet::new();
    let mut found_set = HashSet::new();
    for (t, p) in t.iter().zip(&p) {
        if let Some(t) = t {
            true_set.insert(*t);
            found_set.insert(*p);
        }
    }
    let labelled = t.iter().flatten().count();
    // Names, not template texts: group by the labels as written.
    let s = if labelled == 0 {
        None
    } else {
        Some(score_with(&t, &p, TruthMode::Lenient)?)
    };
    Ok(SynthRow {
        group: group.to_owned(),
        entries: members.len(),
        labelled,
        templates_truth: true_set.len(),
        templates_found: found_set.len(),
        ga: s.as_ref().map(|s| s.ga),
        fga: s.as_ref().map(|s| s.fga),
    })
}

fn render_synth(r: &SynthReport) -> String {
    let mut s = format!(
        "{}: {} entries, {:.2} s ({:.0} entries/s)\n{:<12} {:>8} {:>8}  {:>15}  {:>6} {:>6}\n",
        r.corpus,
        r.entries,
        r.seconds,
        r.entries_per_sec,
        "Group",
        "Entries",
        "Labelled",
        "Templates (t/f)",
        "GA",
        "FGA"
    );
    let cell = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.3}"));
    for row in &r.rows {
        s.push_str(&format!(
            "{:<12} {:>8} {:>8}  {:>15}  {:>6} {:>6}\n",
            row.group,
            row.entries,
            row.labelled,
            format!("{}/{}", row.templates_truth, row.templates_found),
            cell(row.ga),
            cell(row.fga)
        ));
    }
    s
}
