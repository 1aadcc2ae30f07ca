//! Parser-accuracy evaluation: runs Logoscope's Drain ([`logoscope_drain::TemplateCatalog`])
//! over datasets in the Loghub layout and scores its templates against ground truth with the
//! metrics of the Loghub-2.0 benchmark (Jiang et al. 2024). It backs `logoscope eval loghub`.
//!
//! This crate owns dataset loading ([`Dataset`]: `settings.json`'s `log_format`, the raw
//! `*.log`, its `*.log_structured.csv`), the metrics ([`score`], [`normalize_template`]) and
//! the reports ([`DatasetReport`], [`render_table`], [`write_predictions`]). It depends on
//! `logoscope-drain` only; it must not depend on ingest, storage or the query engine, so the
//! numbers measure the template miner alone.
//!
//! # Metrics
//!
//! Over N lines, each with a true template (its *true group* is every line with the same true
//! text) and a predicted template (its *predicted group* is every line with the same normalised
//! predicted text). Lines without a true template count only in PA's denominator.
//!
//! - **GA** (grouping accuracy): lines in true groups that are predicted exactly, i.e. all their
//!   lines share one prediction that labels no other line, over labelled lines.
//! - **FGA**: F1 of PGA = exactly-predicted true groups / predicted groups and
//!   RGA = exactly-predicted true groups / true groups.
//! - **PA** (parsing accuracy): lines whose predicted template equals the true one, over all
//!   lines.
//! - **FTA**: F1 of PTA = correct templates / predicted groups and RTA = correct templates /
//!   true groups, where a predicted group is correct when all its lines have the same true
//!   template and that template's text equals the prediction.
//!
//! Template texts go through Loghub-2.0's post-processing (`correct_single_template`, see
//! [`normalize_template`]): typed placeholders (`<NUM>`, `<IP>`, …) count as `<*>`, then
//! whitespace runs, digit tokens, `blk_<*>`-style tokens, and `<*>` runs such as `<*><*>`,
//! `<*>.<*>`, `<*>:<*>` collapse to one `<*>`.
//!
//! **Which side is corrected.** The reference evaluator (`evaluation/utils/evaluator_main.py`)
//! replaces the ground truth's `EventTemplate` column by `correct_single_template` of itself
//! before computing GA, PA, FGA and FTA, and leaves the parser's output as written: each
//! Loghub-2.0 parser post-processes its own templates with the same function. The files here
//! are *not* pre-corrected (they keep `<*>:<*>`). So [`TruthMode::Reference`], the default,
//! corrects the truth — true groups are the corrected texts, so two labels that correct to the
//! same text form one group — and Logoscope's predictions are its catalog templates passed
//! through [`normalize_template`], its Loghub export. [`TruthMode::Lenient`] (opt-in, for
//! comparison with older reports) groups the truth by the labels as written and compares
//! corrected texts.
//!
//! # Example
//!
//! ```
//! use logoscope_drain::DrainConfig;
//! use logoscope_eval::{evaluate_dir, render_table, score};
//!
//! // Hand-checkable: A is split over two predictions, B is exact.
//! let s = score(&[Some("A"), Some("A"), Some("B")], &["p", "q", "B"])?;
//! assert_eq!((s.ga, s.pa), (1.0 / 3.0, 1.0 / 3.0));
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("settings.json"), r#"{"log_format": "<Level> <Content>"}"#)?;
//! std::fs::write(dir.path().join("Tiny.log"), "INFO open file a\nINFO open file b\nWARN disk full\n")?;
//! std::fs::write(
//!     dir.path().join("Tiny.log_structured.csv"),
//!     "LineId,Level,Content,EventTemplate\n\
//!      1,INFO,open file a,open file <*>\n\
//!      2,INFO,open file b,open file <*>\n\
//!      3,WARN,disk full,disk full\n",
//! )?;
//! let report = evaluate_dir(dir.path(), &DrainConfig::default())?;
//! assert_eq!((report.lines, report.templates_truth), (3, 2));
//! println!("{}", render_table(&[report]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod dataset;
mod evaluate;
mod metrics;
mod report;

use std::path::PathBuf;

pub use dataset::{Dataset, LabelledLine, LogFormat, find_dataset_dirs};
pub use evaluate::{evaluate_dataset, evaluate_dataset_with, evaluate_dir, evaluate_dir_with};
pub use metrics::{Scores, TruthMode, normalize_template, score, score_with};
pub use report::{Average, DatasetReport, Prediction, average, render_table, write_predictions};

/// Why an evaluation could not run.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// Reading or writing a file or folder failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A folder holds no `*.log_structured.csv` (nor, when searched, do its subfolders).
    #[error("{}: no Loghub dataset (no *.log_structured.csv file)", dir.display())]
    NoDataset {
        /// The folder.
        dir: PathBuf,
    },
    /// A folder holds more than one `*.log_structured.csv`.
    #[error("{}: more than one *.log_structured.csv: {candidates:?}", dir.display())]
    AmbiguousDataset {
        /// The folder.
        dir: PathBuf,
        /// The candidates found.
        candidates: Vec<PathBuf>,
    },
    /// A file the layout requires is missing.
    #[error("{}: missing ({what})", path.display())]
    MissingFile {
        /// The expected path.
        path: PathBuf,
        /// What the file is for.
        what: &'static str,
    },
    /// `settings.json` is unreadable or lacks a usable `log_format`.
    #[error("{}: {message}", path.display())]
    Settings {
        /// The settings file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A `log_format` that cannot be compiled.
    #[error("log_format {format:?}: {message}")]
    LogFormat {
        /// The format text.
        format: String,
        /// What is wrong.
        message: String,
    },
    /// A CSV file could not be read or written.
    #[error("{}: {source}", path.display())]
    Csv {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: csv::Error,
    },
    /// The structured CSV lacks a required column.
    #[error("{}: no {column:?} column", path.display())]
    MissingColumn {
        /// The file.
        path: PathBuf,
        /// The column.
        column: &'static str,
    },
    /// A LineId that is not a positive integer.
    #[error("{}: line {row}: LineId {value:?} is not an integer", path.display())]
    BadLineId {
        /// The file.
        path: PathBuf,
        /// The CSV line number.
        row: u64,
        /// The cell.
        value: String,
    },
    /// The same LineId twice.
    #[error("{}: LineId {line_id} occurs twice", path.display())]
    DuplicateLineId {
        /// The file.
        path: PathBuf,
        /// The LineId.
        line_id: u64,
    },
    /// The log's matched lines and the ground truth's rows do not line up.
    #[error("{}: {message}", dir.display())]
    LineMismatch {
        /// The dataset folder.
        dir: PathBuf,
        /// How they differ.
        message: String,
    },
    /// [`score`] got different numbers of true and predicted templates.
    #[error("{truth} true templates but {predicted} predictions")]
    LengthMismatch {
        /// Ground-truth entries.
        truth: usize,
        /// Predictions.
        predicted: usize,
    },
    /// [`score`] got no line with a true template.
    #[error("no line has a ground-truth template")]
    NoLabelledLines,
    /// A dataset has no line with a true template.
    #[error("{}: no line has a ground-truth template", dir.display())]
    NoLabelledLinesIn {
        /// The dataset folder.
        dir: PathBuf,
    },
    /// A dataset name that cannot name a file of its own in a folder.
    #[error(
        "the dataset name {name:?} cannot name a predictions file: it must be one plain file \
         name (no `/`, not `.` or `..`)"
    )]
    DatasetName {
        /// The name.
        name: String,
    },
    /// The catalog returned an id it cannot look up (a Drain bug).
    #[error("template catalog has no template {id}")]
    UnknownTemplate {
        /// The id.
        id: u64,
    },
}
