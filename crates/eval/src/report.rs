//! Per-dataset reports, the summary table and the predictions file.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::EvalError;

/// The predicted template of one line, as scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prediction {
    /// LineId in the ground truth.
    pub line_id: u64,
    /// The normalised template (see [`crate::normalize_template`]).
    pub template: String,
}

/// Accuracy and speed of Drain on one dataset.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetReport {
    /// Dataset name (`settings.json` `dataset`, else the folder name).
    pub dataset: String,
    /// The dataset folder.
    pub dir: PathBuf,
    /// Lines templated and scored.
    pub lines: usize,
    /// Raw lines skipped because they do not match the log format.
    pub skipped_lines: usize,
    /// Lines whose split-off Content differs from the ground truth's Content column.
    pub content_mismatches: usize,
    /// Grouping Accuracy.
    pub ga: f64,
    /// Parsing Accuracy.
    pub pa: f64,
    /// F1 of grouping accuracy.
    pub fga: f64,
    /// F1 of template accuracy.
    pub fta: f64,
    /// Precision of grouping.
    pub pga: f64,
    /// Recall of grouping.
    pub rga: f64,
    /// Precision of templates.
    pub pta: f64,
    /// Recall of templates.
    pub rta: f64,
    /// Distinct normalised predicted templates.
    pub templates_predicted: usize,
    /// Distinct ground-truth templates.
    pub templates_truth: usize,
    /// Live templates in the catalog after the run (before normalisation merges equal texts).
    pub catalog_templates: usize,
    /// Seconds one learning pass (`TemplateCatalog::add` over all lines) takes: the median of
    /// `timing_runs` passes.
    pub templating_secs: f64,
    /// Learning passes timed.
    pub timing_runs: usize,
    /// `lines / templating_secs`.
    pub lines_per_sec: f64,
    /// Each line's final template, in LineId order; left out of JSON reports (see
    /// [`write_predictions`]).
    #[serde(skip)]
    pub predictions: Vec<Prediction>,
}

/// Mean of the per-dataset metrics (as Loghub-2.0's `post_average`), plus overall throughput.
#[derive(Debug, Clone, Serialize)]
pub struct Average {
    /// Datasets averaged.
    pub datasets: usize,
    /// Total lines over all datasets.
    pub lines: usize,
    /// Mean GA.
    pub ga: f64,
    /// Mean PA.
    pub pa: f64,
    /// Mean FGA.
    pub fga: f64,
    /// Mean FTA.
    pub fta: f64,
    /// Total lines over total templating seconds.
    pub lines_per_sec: f64,
}

/// The mean row over `reports`; `None` when there are none.
pub fn average(reports: &[DatasetReport]) -> Option<Average> {
    if reports.is_empty() {
        return None;
    }
    let n = reports.len() as f64;
    let mean = |f: fn(&DatasetReport) -> f64| reports.iter().map(f).sum::<f64>() / n;
    let lines: usize = reports.iter().map(|r| r.lines).sum();
    let secs: f64 = reports.iter().map(|r| r.templating_secs).sum();
    Some(Average {
        datasets: reports.len(),
        lines,
        ga: mean(|r| r.ga),
        pa: mean(|r| r.pa),
        fga: mean(|r| r.fga),
        fta: mean(|r| r.fta),
        lines_per_sec: throughput(lines, secs),
    })
}

pub(crate) fn throughput(lines: usize, secs: f64) -> f64 {
    if secs > 0.0 { lines as f64 / secs } else { 0.0 }
}

/// A plain-text table: one row per dataset and an `Average` row (mean metrics, overall lines/s).
pub fn render_table(reports: &[DatasetReport]) -> String {
    let name_width = reports
        .iter()
        .map(|r| r.dataset.chars().count())
        .chain([7])
        .max()
        .unwrap_or(7);
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = writeln!(
        out,
        "{:<name_width$}  {:>7}  {:>7}  {:>9}  {:>6}  {:>6}  {:>6}  {:>6}  {:>12}",
        "Dataset", "Lines", "Skipped", "Templates", "GA", "PA", "FGA", "FTA", "lines/s"
    );
    for r in reports {
        let templates = format!("{}/{}", r.templates_predicted, r.templates_truth);
        let _ = writeln!(
            out,
            "{:<name_width$}  {:>7}  {:>7}  {:>9}  {:>6.3}  {:>6.3}  {:>6.3}  {:>6.3}  {:>12.0}",
            r.dataset,
            r.lines,
            r.skipped_lines,
            templates,
            r.ga,
            r.pa,
            r.fga,
            r.fta,
            r.lines_per_sec
        );
    }
    if let Some(avg) = average(reports) {
        let skipped: usize = reports.iter().map(|r| r.skipped_lines).sum();
        let _ = writeln!(
            out,
            "{:<name_width$}  {:>7}  {:>7}  {:>9}  {:>6.3}  {:>6.3}  {:>6.3}  {:>6.3}  {:>12.0}",
            "Average", avg.lines, skipped, "", avg.ga, avg.pa, avg.fga, avg.fta, avg.lines_per_sec
        );
    }
    out
}

/// Writes `<dataset>_predictions.csv` (columns `LineId,EventTemplate`, RFC 4180 quoting) into
/// `out_dir`, creating it if needed, and returns the file's path.
pub fn write_predictions(report: &DatasetReport, out_dir: &Path) -> Result<PathBuf, EvalError> {
    fs::create_dir_all(out_dir).map_err(|source| EvalError::Io {
        path: out_dir.to_owned(),
        source,
    })?;
    let plain = !report.dataset.is_empty()
        && report.dataset != "."
        && report.dataset != ".."
        && !report.dataset.contains(['/', '\\', '\0']);
    if !plain {
        return Err(EvalError::DatasetName {
            name: report.dataset.clone(),
        });
    }
    let path = out_dir.join(format!("{}_predictions.csv", report.dataset));
    let csv_error = |source| EvalError::Csv {
        path: path.clone(),
        source,
    };
    let mut writer = csv::Writer::from_path(&path).map_err(csv_error)?;
    writer
        .write_record(["LineId", "EventTemplate"])
        .map_err(csv_error)?;
    for p in &report.predictions {
        writer
            .write_record([p.line_id.to_string().as_str(), p.template.as_str()])
            .map_err(csv_error)?;
    }
    writer.flush().map_err(|source| EvalError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(name: &str, ga: f64, lines: usize, secs: f64) -> DatasetReport {
        DatasetReport {
            dataset: name.to_owned(),
            dir: PathBuf::from(name),
            lines,
            skipped_lines: 1,
            content_mismatches: 0,
            ga,
            pa: ga / 2.0,
            fga: ga,
            fta: ga / 4.0,
            pga: ga,
            rga: ga,
            pta: ga,
            rta: ga,
            templates_predicted: 3,
            templates_truth: 4,
            catalog_templates: 3,
            templating_secs: secs,
            timing_runs: 1,
            lines_per_sec: throughput(lines, secs),
            predictions: vec![
                Prediction {
                    line_id: 1,
                    template: "a, \"<*>\" b".to_owned(),
                },
                Prediction {
                    line_id: 2,
                    template: "plain <*>".to_owned(),
                },
            ],
        }
    }

    #[test]
    fn average_means_metrics_and_pools_throughput() {
        let avg = average(&[report("A", 1.0, 100, 1.0), report("B", 0.5, 300, 1.0)]).unwrap();
        assert!((avg.ga - 0.75).abs() < 1e-12);
        assert!((avg.pa - 0.375).abs() < 1e-12);
        assert!((avg.lines_per_sec - 200.0).abs() < 1e-9);
        assert_eq!(avg.lines, 400);
        assert!(average(&[]).is_none());
    }

    #[test]
    fn table_has_a_row_per_dataset_and_an_average() {
        let table = render_table(&[report("HDFS", 1.0, 100, 0.5), report("Zoo", 0.5, 50, 0.5)]);
        let rows: Vec<&str> = table.lines().collect();
        assert_eq!(rows.len(), 4, "{table}");
        assert!(rows[0].starts_with("Dataset"));
        assert!(
            rows[1].starts_with("HDFS") && rows[1].contains("1.000") && rows[1].contains("3/4")
        );
        assert!(rows[2].starts_with("Zoo") && rows[2].contains("0.500"));
        assert!(
            rows[3].starts_with("Average") && rows[3].contains("0.750") && rows[3].contains("150")
        );
    }

    #[test]
    fn predictions_file_is_quoted_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path =
            write_predictions(&report("Tiny", 1.0, 2, 1.0), &dir.path().join("out")).unwrap();
        assert_eq!(path.file_name().unwrap(), "Tiny_predictions.csv");
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "LineId,EventTemplate\n1,\"a, \"\"<*>\"\" b\"\n2,plain <*>\n"
        );
    }

    #[test]
    fn json_report_leaves_out_predictions() {
        let json = serde_json::to_value(report("A", 1.0, 2, 1.0)).unwrap();
        assert_eq!(json["dataset"], "A");
        assert_eq!(json["lines"], 2);
        assert!(json.get("predictions").is_none());
    }
}
