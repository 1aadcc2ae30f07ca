//! Loading a dataset folder in the Loghub layout: `settings.json` (with `log_format`), one raw
//! `*.log` file and its `*.log_structured.csv` ground truth.
//!
//! Raw lines are split into header fields and Content the way logpai's logparser does
//! (`generate_logformat_regex` and `log_to_dataframe` in `logparser/Drain/Drain.py`): lines are
//! read with universal newlines, stripped, matched against the anchored format regex, and lines
//! that do not match are skipped; LineIds number the matched lines from 1.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::EvalError;

const STRUCTURED_SUFFIX: &str = "_structured.csv";
const SETTINGS_FILE: &str = "settings.json";

/// Strings pandas' `read_csv` turns into NA by default (`STR_NA_VALUES`); Loghub-2.0 reads the
/// ground truth with pandas and drops lines whose EventTemplate is NA.
const PANDAS_NA: &[&str] = &[
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
];

static FIELD: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"<[^<>]+>").expect("static regex"));
static SPACE_RUN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r" +").expect("static regex"));

/// A Loghub `log_format` such as `<Date> <Time> <Level> <Component>: <Content>`, compiled the
/// way logparser compiles it: each `<Field>` becomes a lazy `(.*?)` group, the text between
/// fields is kept as regex source (so `\[` and `\|` stay escapes) with every run of spaces
/// turned into `\s+`, and the whole pattern is anchored at both ends.
#[derive(Debug, Clone)]
pub struct LogFormat {
    format: String,
    regex: Regex,
    headers: Vec<String>,
    content: usize,
}

impl LogFormat {
    /// Compiles `format`; it must name a `<Content>` field.
    pub fn new(format: &str) -> Result<Self, EvalError> {
        let invalid = |message: String| EvalError::LogFormat {
            format: format.to_owned(),
            message,
        };
        let mut pattern = String::from("^");
        let mut headers = Vec::new();
        let mut literal_start = 0;
        for field in FIELD.find_iter(format) {
            pattern.push_str(&SPACE_RUN.replace_all(&format[literal_start..field.start()], r"\s+"));
            pattern.push_str("(.*?)");
            headers.push(field.as_str()[1..field.len() - 1].to_owned());
            literal_start = field.end();
        }
        pattern.push_str(&SPACE_RUN.replace_all(&format[literal_start..], r"\s+"));
        pattern.push('$');
        let content = headers
            .iter()
            .position(|h| h == "Content")
            .ok_or_else(|| invalid("no <Content> field".to_owned()))?;
        let regex = Regex::new(&pattern).map_err(|e| invalid(e.to_string()))?;
        Ok(Self {
            format: format.to_owned(),
            regex,
            headers,
            content,
        })
    }

    /// The format text this was compiled from.
    pub fn as_str(&self) -> &str {
        &self.format
    }

    /// Field names in order of appearance.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The header fields of `line` in [`Self::headers`] order, or `None` when it does not match.
    pub fn fields<'a>(&self, line: &'a str) -> Option<Vec<&'a str>> {
        let caps = self.regex.captures(line)?;
        Some(
            (1..=self.headers.len())
                .map(|i| caps.get(i).map_or("", |m| m.as_str()))
                .collect(),
        )
    }

    /// The Content of `line`, or `None` when it does not match.
    pub fn content<'a>(&self, line: &'a str) -> Option<&'a str> {
        let caps = self.regex.captures(line)?;
        Some(caps.get(self.content + 1).map_or("", |m| m.as_str()))
    }
}

/// One matched log line with its ground truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelledLine {
    /// 1-based index among the lines that matched the log format.
    pub line_id: u64,
    /// The message the templates describe.
    pub content: String,
    /// Ground-truth template; `None` where the cell is empty or pandas-NA.
    pub truth: Option<String>,
}

/// A dataset folder, loaded.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// `dataset` from `settings.json`, else the folder name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// The raw log file.
    pub log_file: PathBuf,
    /// The ground-truth structured CSV.
    pub structured_file: PathBuf,
    /// The header splitter from `settings.json`.
    pub log_format: LogFormat,
    /// Matched lines in file order.
    pub lines: Vec<LabelledLine>,
    /// Raw lines that did not match the log format (skipped, as logparser does).
    pub skipped_lines: usize,
    /// Lines whose Content differs from the CSV's `Content` column (0 when there is none): a
    /// check that the header splitter agrees with the one that produced the ground truth.
    pub content_mismatches: usize,
}

impl Dataset {
    /// Loads the dataset in `dir`.
    pub fn load(dir: &Path) -> Result<Self, EvalError> {
        let (log_file, structured_file) = find_files(dir)?;
        let settings_path = dir.join(SETTINGS_FILE);
        let settings = read_settings(&settings_path)?;
        let log_format = LogFormat::new(&settings.log_format).map_err(|e| match e {
            EvalError::LogFormat { format, message } => EvalError::Settings {
                path: settings_path.clone(),
                message: format!("log_format {format:?}: {message}"),
            },
            other => other,
        })?;
        let name = settings.dataset.unwrap_or_else(|| folder_name(dir));

        let raw = fs::read(&log_file).map_err(|source| EvalError::Io {
            path: log_file.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&raw);
        let mut contents = Vec::new();
        let mut skipped_lines = 0;
        for line in universal_lines(&text) {
            match log_format.content(line.trim()) {
                Some(content) => contents.push(content.to_owned()),
                None => skipped_lines += 1,
            }
        }

        let truth = read_structured(&structured_file)?;
        if truth.len() != contents.len() {
            return Err(EvalError::LineMismatch {
                dir: dir.to_owned(),
                message: format!(
                    "{} lines of {} match the log format but {} has {} rows",
                    contents.len(),
                    log_file.display(),
                    structured_file.display(),
                    truth.len()
                ),
            });
        }
        let mut content_mismatches = 0;
        let mut lines = Vec::with_capacity(contents.len());
        for (index, content) in contents.into_iter().enumerate() {
            let line_id = index as u64 + 1;
            let row = truth.get(&line_id).ok_or_else(|| EvalError::LineMismatch {
                dir: dir.to_owned(),
                message: format!(
                    "{} has no row for LineId {line_id}",
                    structured_file.display()
                ),
            })?;
            if row.content.as_deref().is_some_and(|c| c != content) {
                content_mismatches += 1;
            }
            lines.push(LabelledLine {
                line_id,
                content,
                truth: row.template.clone(),
            });
        }

        Ok(Self {
            name,
            dir: dir.to_owned(),
            log_file,
            structured_file,
            log_format,
            lines,
            skipped_lines,
            content_mismatches,
        })
    }
}

/// The dataset folders under `root`: `root` itself when it holds a `*.log_structured.csv`,
/// else its immediate subfolders that do, sorted by name.
pub fn find_dataset_dirs(root: &Path) -> Result<Vec<PathBuf>, EvalError> {
    if has_structured_csv(root)? {
        return Ok(vec![root.to_owned()]);
    }
    let mut dirs = Vec::new();
    for entry in read_dir(root)? {
        if entry.is_dir() && has_structured_csv(&entry)? {
            dirs.push(entry);
        }
    }
    if dirs.is_empty() {
        return Err(EvalError::NoDataset {
            dir: root.to_owned(),
        });
    }
    dirs.sort();
    Ok(dirs)
}

fn read_dir(dir: &Path) -> Result<Vec<PathBuf>, EvalError> {
    let io = |source| EvalError::Io {
        path: dir.to_owned(),
        source,
    };
    let mut paths = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        paths.push(entry.map_err(io)?.path());
    }
    Ok(paths)
}

fn has_structured_csv(dir: &Path) -> Result<bool, EvalError> {
    Ok(read_dir(dir)?.iter().any(|p| is_structured_csv(p)))
}

fn is_structured_csv(path: &Path) -> bool {
    path.is_file()
        && path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(&format!(".log{STRUCTURED_SUFFIX}")))
}

/// The single `X.log_structured.csv` in `dir` and its `X.log`.
fn find_files(dir: &Path) -> Result<(PathBuf, PathBuf), EvalError> {
    let mut structured: Vec<PathBuf> = read_dir(dir)?
        .into_iter()
        .filter(|p| is_structured_csv(p))
        .collect();
    structured.sort();
    let structured_file = match structured.len() {
        0 => {
            return Err(EvalError::NoDataset {
                dir: dir.to_owned(),
            });
        }
        1 => structured.remove(0),
        _ => {
            return Err(EvalError::AmbiguousDataset {
                dir: dir.to_owned(),
                candidates: structured,
            });
        }
    };
    let name = structured_file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let log_file = dir.join(&name[..name.len() - STRUCTURED_SUFFIX.len()]);
    if !log_file.is_file() {
        return Err(EvalError::MissingFile {
            path: log_file,
            what: "raw log paired with the structured CSV",
        });
    }
    Ok((log_file, structured_file))
}

struct Settings {
    log_format: String,
    dataset: Option<String>,
}

fn read_settings(path: &Path) -> Result<Settings, EvalError> {
    if !path.is_file() {
        return Err(EvalError::MissingFile {
            path: path.to_owned(),
            what: "settings with the log_format",
        });
    }
    let text = fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |message: String| EvalError::Settings {
        path: path.to_owned(),
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let log_format = value
        .get("log_format")
        .and_then(|v| v.as_str())
        .ok_or_else(|| invalid("no string field \"log_format\"".to_owned()))?
        .to_owned();
    let dataset = value
        .get("dataset")
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    Ok(Settings {
        log_format,
        dataset,
    })
}

fn folder_name(dir: &Path) -> String {
    dir.canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(dir)
        .file_name()
        .map_or_else(
            || "dataset".to_owned(),
            |n| n.to_string_lossy().into_owned(),
        )
}

/// Lines as Python's text-mode `readlines()` sees them: `\n`, `\r\n` and `\r` all end a line,
/// and a final terminator does not start another line.
fn universal_lines(text: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let bytes = text.as_bytes();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                lines.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&text[start..i]);
                if bytes.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        lines.push(&text[start..]);
    }
    lines
}

#[derive(Debug)]
struct TruthRow {
    template: Option<String>,
    content: Option<String>,
}

fn read_structured(path: &Path) -> Result<HashMap<u64, TruthRow>, EvalError> {
    let csv_error = |source| EvalError::Csv {
        path: path.to_owned(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(csv_error)?;
    let headers = reader.headers().map_err(csv_error)?.clone();
    let column = |name: &'static str| headers.iter().position(|h| h == name);
    let missing = |name: &'static str| EvalError::MissingColumn {
        path: path.to_owned(),
        column: name,
    };
    let line_id_col = column("LineId").ok_or_else(|| missing("LineId"))?;
    let template_col = column("EventTemplate").ok_or_else(|| missing("EventTemplate"))?;
    let content_col = column("Content");

    let mut rows = HashMap::new();
    for record in reader.records() {
        let record = record.map_err(csv_error)?;
        let row_number = record.position().map_or(0, |p| p.line());
        let raw_id = record.get(line_id_col).unwrap_or_default();
        let line_id: u64 = raw_id.trim().parse().map_err(|_| EvalError::BadLineId {
            path: path.to_owned(),
            row: row_number,
            value: raw_id.to_owned(),
        })?;
        let template = record
            .get(template_col)
            .filter(|t| !PANDAS_NA.contains(t))
            .map(str::to_owned);
        let content = content_col.and_then(|c| record.get(c)).map(str::to_owned);
        if rows
            .insert(line_id, TruthRow { template, content })
            .is_some()
        {
            return Err(EvalError::DuplicateLineId {
                path: path.to_owned(),
                line_id,
            });
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_format_follows_logparser() {
        let f = LogFormat::new("<Date> <Time>  <Pid> <Level> <Component>: <Content>").unwrap();
        assert_eq!(
            f.headers(),
            ["Date", "Time", "Pid", "Level", "Component", "Content"]
        );
        let line = "03-17 16:13:38.811  1702 D WindowManager: a: b  c";
        assert_eq!(
            f.fields(line).unwrap(),
            [
                "03-17",
                "16:13:38.811",
                "1702",
                "D",
                "WindowManager",
                "a: b  c"
            ]
        );
        // The lazy groups make the first ": " after Component end it.
        assert_eq!(f.content("d t 1 I C: x: y").unwrap(), "x: y");
        assert_eq!(f.content("too short"), None);
    }

    #[test]
    fn log_format_keeps_regex_escapes() {
        let f = LogFormat::new(r"<Time>\|<Component>\|<Pid>\|<Content>").unwrap();
        assert_eq!(
            f.content("20171223|Step_LSC|3|onExtend:1 2|3").unwrap(),
            "onExtend:1 2|3"
        );
        let f = LogFormat::new(r"\[<Time>\] <Program> - <Content>").unwrap();
        assert_eq!(
            f.content("[10.30 16:49:06] chrome.exe - open").unwrap(),
            "open"
        );
        assert_eq!(f.content("10.30 16:49:06 chrome.exe - open"), None);
    }

    #[test]
    fn log_format_errors() {
        assert!(matches!(
            LogFormat::new("<Date> <Level>"),
            Err(EvalError::LogFormat { .. })
        ));
        assert!(matches!(
            LogFormat::new("<Date> ( <Content>"),
            Err(EvalError::LogFormat { .. })
        ));
    }

    #[test]
    fn universal_newlines() {
        assert_eq!(universal_lines("a\nb\r\nc\rd"), ["a", "b", "c", "d"]);
        assert_eq!(universal_lines("a\n\nb\n"), ["a", "", "b"]);
        assert!(universal_lines("").is_empty());
    }

    #[test]
    fn structured_csv_quoting_and_na() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("X.log_structured.csv");
        fs::write(
            &path,
            "LineId,Content,EventId,EventTemplate\n\
             1,\"a, \"\"quoted\"\" b\",E1,\"a, \"\"<*>\"\" b\"\n\
             2,plain,E2,\n\
             3,\"multi\nline\",E3,NaN\n",
        )
        .unwrap();
        let rows = read_structured(&path).unwrap();
        assert_eq!(rows[&1].template.as_deref(), Some("a, \"<*>\" b"));
        assert_eq!(rows[&1].content.as_deref(), Some("a, \"quoted\" b"));
        assert_eq!(rows[&2].template, None);
        assert_eq!(rows[&3].template, None);
        assert_eq!(rows[&3].content.as_deref(), Some("multi\nline"));
    }

    #[test]
    fn structured_csv_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("X.log_structured.csv");
        fs::write(&path, "LineId,Content\n1,a\n").unwrap();
        let err = read_structured(&path).unwrap_err();
        assert!(matches!(
            err,
            EvalError::MissingColumn {
                column: "EventTemplate",
                ..
            }
        ));
        assert!(err.to_string().contains("X.log_structured.csv"), "{err}");

        fs::write(&path, "LineId,EventTemplate\n1,a\n1,b\n").unwrap();
        assert!(matches!(
            read_structured(&path),
            Err(EvalError::DuplicateLineId { line_id: 1, .. })
        ));
        fs::write(&path, "LineId,EventTemplate\none,a\n").unwrap();
        assert!(matches!(
            read_structured(&path),
            Err(EvalError::BadLineId { .. })
        ));
    }
}
