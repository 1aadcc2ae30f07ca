//! Running Drain over a dataset and scoring it.

use std::path::Path;
use std::time::Instant;

use logoscope_drain::{DrainConfig, TemplateCatalog, TemplateId};

use crate::report::{DatasetReport, Prediction, throughput};
use crate::{Dataset, EvalError, TruthMode, normalize_template, score_with};

/// Timed learning passes continue until this much time was measured…
const MIN_TIMED_SECS: f64 = 0.2;
/// …or this many passes ran.
const MAX_TIMED_RUNS: usize = 1000;

/// Loads the dataset in `dir` and evaluates Drain on it (see [`evaluate_dataset`]).
pub fn evaluate_dir(dir: &Path, config: &DrainConfig) -> Result<DatasetReport, EvalError> {
    evaluate_dataset(&Dataset::load(dir)?, config)
}

/// [`evaluate_dir`] with an explicit [`TruthMode`].
pub fn evaluate_dir_with(
    dir: &Path,
    config: &DrainConfig,
    mode: TruthMode,
) -> Result<DatasetReport, EvalError> {
    evaluate_dataset_with(&Dataset::load(dir)?, config, mode)
}

/// Templates every line's Content with a fresh [`TemplateCatalog`], then scores each line by the
/// template its cluster has at the end of the run (as Drain evaluations do: a line learnt early
/// is credited with its cluster's final, more general template).
///
/// Only the learning pass (`TemplateCatalog::add` over all lines) is timed for `lines_per_sec`:
/// the median of repeated passes on fresh catalogs, repeated until at least 0.2 s was timed.
///
/// Scores as the Loghub-2.0 evaluator does ([`TruthMode::Reference`]).
pub fn evaluate_dataset(
    dataset: &Dataset,
    config: &DrainConfig,
) -> Result<DatasetReport, EvalError> {
    evaluate_dataset_with(dataset, config, TruthMode::Reference)
}

/// [`evaluate_dataset`] with an explicit [`TruthMode`].
pub fn evaluate_dataset_with(
    dataset: &Dataset,
    config: &DrainConfig,
    mode: TruthMode,
) -> Result<DatasetReport, EvalError> {
    let (catalog, ids, first_secs) = learn(dataset, config);
    // One pass over a small dataset takes about a millisecond, too short to time reliably:
    // repeat it on fresh catalogs until enough time has been measured and take the median.
    let mut run_secs = vec![first_secs];
    let mut total = first_secs;
    while total < MIN_TIMED_SECS && run_secs.len() < MAX_TIMED_RUNS {
        let (_, _, secs) = learn(dataset, config);
        run_secs.push(secs);
        total += secs;
    }
    run_secs.sort_by(f64::total_cmp);
    let templating_secs = run_secs[run_secs.len() / 2];

    let mut predictions = Vec::with_capacity(ids.len());
    for (line, id) in dataset.lines.iter().zip(ids) {
        let live = catalog.resolve(id);
        let info = catalog
            .get(live)
            .ok_or(EvalError::UnknownTemplate { id: live })?;
        predictions.push(Prediction {
            line_id: line.line_id,
            template: normalize_template(&info.template),
        });
    }

    let truth: Vec<Option<&str>> = dataset.lines.iter().map(|l| l.truth.as_deref()).collect();
    let predicted: Vec<&str> = predictions.iter().map(|p| p.template.as_str()).collect();
    let scores = score_with(&truth, &predicted, mode).map_err(|e| match e {
        EvalError::NoLabelledLines => EvalError::NoLabelledLinesIn {
            dir: dataset.dir.clone(),
        },
        other => other,
    })?;

    Ok(DatasetReport {
        dataset: dataset.name.clone(),
        dir: dataset.dir.clone(),
        lines: dataset.lines.len(),
        skipped_lines: dataset.skipped_lines,
        content_mismatches: dataset.content_mismatches,
        ga: scores.ga,
        pa: scores.pa,
        fga: scores.fga,
        fta: scores.fta,
        pga: scores.pga,
        rga: scores.rga,
        pta: scores.pta,
        rta: scores.rta,
        templates_predicted: scores.templates_predicted,
        templates_truth: scores.templates_truth,
        catalog_templates: catalog.live_len(),
        templating_secs,
        timing_runs: run_secs.len(),
        lines_per_sec: throughput(dataset.lines.len(), templating_secs),
        predictions,
    })
}

/// One learning pass over every line with a fresh catalog: the catalog, each line's template id
/// as `add` returned it, and the seconds spent in `add`.
fn learn(dataset: &Dataset, config: &DrainConfig) -> (TemplateCatalog, Vec<TemplateId>, f64) {
    let mut catalog = TemplateCatalog::new(config.clone());
    let mut params = Vec::new();
    let mut ids = Vec::with_capacity(dataset.lines.len());
    let started = Instant::now();
    for line in &dataset.lines {
        ids.push(catalog.add(&line.content, None, &mut params).id);
    }
    let secs = started.elapsed().as_secs_f64();
    (catalog, ids, secs)
}
