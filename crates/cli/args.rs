//! Command-line flags. Every flag has a test beside it exercising its spellings.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use logoscope_drain::MaskRule;

/// Default archive location when `--to` / `--store` is not given.
pub(crate) const DEFAULT_STORE: &str = "./logoscope-data";

/// Logoscope: parse, template, archive and query logs.
#[derive(Debug, Parser)]
#[command(name = "logoscope", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Read logs, template them and append them to the archive.
    ///
    /// Formats are detected per entry (JSON lines, logfmt, syslog RFC 3164 and
    /// 5424, Apache/nginx access logs, plain text), so mixed files work.
    /// Multi-line entries (stack traces, multi-line JSON) become one entry.
    /// `.gz` and `.zst` inputs are decompressed (detected by content).
    Ingest(IngestArgs),
    /// Run a read-only SQL query over the archive.
    ///
    /// Tables: `logs` (message and raw rebuilt), `templates`, `ingest_errors`,
    /// and `logs_stored` (the columns as stored).
    Sql(SqlArgs),
    /// Write a deterministic synthetic log corpus with a ground-truth file.
    Generate(GenerateArgs),
    /// Measure template accuracy against labelled datasets.
    #[command(subcommand)]
    Eval(EvalCommand),
}

/// Evaluation suites.
#[derive(Debug, Subcommand)]
pub(crate) enum EvalCommand {
    /// Score the default templating against folders in the Loghub layout.
    ///
    /// Each DIR is a dataset folder (`X.log`, `X.log_structured.csv` with LineId and
    /// EventTemplate, `settings.json` with `log_format`) or a folder of such folders.
    /// Prints Grouping Accuracy (GA), Parsing Accuracy (PA), F1 grouping (FGA) and
    /// F1 template accuracy (FTA) per dataset as in the Loghub-2.0 evaluation, lines/s,
    /// and the averages. Typed placeholders (`<NUM>`, `<IP>`, …) count as `<*>`.
    Loghub(LoghubArgs),
    /// Score templating through the whole ingest path on generated logs it has never seen.
    ///
    /// Each LOG is a corpus written by `logoscope generate` with its ground truth beside it
    /// (`X.log` → `X.truth.jsonl`, or `--truth`); with no LOG, a fresh corpus of `--lines`
    /// entries is generated from `--seed` into a temporary folder. Every entry goes through
    /// framing, format detection, parsing and Drain exactly as `ingest` does them, and the
    /// entries' final templates are compared with the generator's template names: Grouping
    /// Accuracy (GA) and F1 grouping accuracy (FGA) per format (plain, JSON, logfmt,
    /// syslog, access log; multi-line entries as their own row) and over all well-formed
    /// entries, where an event written as JSON or logfmt counts apart from the same event
    /// written as text. Malformed entries (broken JSON, invalid UTF-8, …) are scored in a row
    /// of their own; binary lines have no true template.
    Synth(SynthArgs),
}

#[derive(Debug, Args)]
pub(crate) struct SynthArgs {
    /// Generated corpora to score (default: generate one).
    #[arg(value_name = "LOG")]
    pub(crate) logs: Vec<PathBuf>,
    /// Ground-truth file of the one LOG (default: LOG with `.log` replaced by `.truth.jsonl`).
    #[arg(long, value_name = "FILE", requires = "logs")]
    pub(crate) truth: Option<PathBuf>,
    /// Entries to generate when no LOG is given.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 20_000,
        conflicts_with = "logs"
    )]
    pub(crate) lines: u64,
    /// Seed of the generated corpus when no LOG is given.
    #[arg(long, value_name = "S", default_value_t = 1, conflicts_with = "logs")]
    pub(crate) seed: u64,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = EvalFormat::Table)]
    pub(crate) format: EvalFormat,
    /// Extra mask on top of the default configuration: matches of REGEX become `<NAME>` (repeatable).
    #[arg(long = "mask", value_name = "NAME=REGEX", value_parser = crate::config::parse_mask)]
    pub(crate) masks: Vec<MaskRule>,
}

#[derive(Debug, Args)]
pub(crate) struct LoghubArgs {
    /// Dataset folders, or folders holding dataset folders.
    #[arg(required = true, value_name = "DIR")]
    pub(crate) dirs: Vec<PathBuf>,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = EvalFormat::Table)]
    pub(crate) format: EvalFormat,
    /// Write each dataset's per-line templates to DIR/<dataset>_predictions.csv (LineId,EventTemplate).
    #[arg(long, value_name = "DIR")]
    pub(crate) predictions: Option<PathBuf>,
    /// Extra mask on top of the default configuration: matches of REGEX become `<NAME>` (repeatable).
    #[arg(long = "mask", value_name = "NAME=REGEX", value_parser = crate::config::parse_mask)]
    pub(crate) masks: Vec<MaskRule>,
}

/// Output formats of `eval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum EvalFormat {
    /// Text tables: loghub one row per dataset and the average, synth one row per group and
    /// corpus.
    Table,
    /// One JSON document: loghub `datasets` and `average`, synth `corpora` (their groups).
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Files, globs, directories (read recursively, hidden entries skipped), FIFOs, or `-` for stdin.
    #[arg(required = true, value_name = "PATH")]
    pub(crate) paths: Vec<std::ffi::OsString>,
    /// Archive location: a path, file://, s3://bucket/prefix or memory://.
    #[arg(long, short = 't', value_name = "URL", default_value = DEFAULT_STORE, env = "LOGOSCOPE_STORE", value_parser = crate::config::parse_location)]
    pub(crate) to: String,
    /// JSON or logfmt key holding the event time, tried before the built-in keys (repeatable).
    #[arg(long = "time-key", value_name = "KEY")]
    pub(crate) time_keys: Vec<String>,
    /// Service name for every entry; overrides the service an entry names itself.
    #[arg(long, value_name = "NAME", value_parser = crate::config::parse_name)]
    pub(crate) service: Option<String>,
    /// Host name for every entry; overrides the host an entry names itself.
    #[arg(long, value_name = "NAME", value_parser = crate::config::parse_name)]
    pub(crate) host: Option<String>,
    /// Largest entry kept whole, in bytes; longer entries are cut and flagged `truncated`.
    #[arg(long, value_name = "BYTES", value_parser = crate::config::parse_bound, default_value_t = 1 << 20)]
    pub(crate) max_entry_bytes: usize,
    /// Rows the archive writer holds in memory, buffered or being encoded (bounds memory).
    #[arg(long, value_name = "ROWS", value_parser = crate::config::parse_bound, default_value_t = 1_000_000)]
    pub(crate) max_buffered_rows: usize,
    /// Most templates in the archive's catalog (bounds memory); once full, the catalog learns
    /// nothing new and a message that fits no template as it is gets the overflow template of
    /// its token count (`<*> <*> … <*>`).
    #[arg(long, value_name = "N", value_parser = crate::config::parse_bound, default_value_t = 100_000)]
    pub(crate) max_templates: usize,
    /// Most bytes of templates in the catalog (text, plus 160 bytes each and 40 per word; bounds
    /// memory on long messages that never repeat); past it, as past --max-templates.
    #[arg(long, value_name = "BYTES", value_parser = crate::config::parse_bound, default_value_t = 64 << 20)]
    pub(crate) max_catalog_bytes: usize,
    /// Extra mask applied before the built-in ones: matches of REGEX within one word (no
    /// whitespace) become `<NAME>` (repeatable; where matches overlap, the first mask given wins).
    ///
    /// Masks belong to the archive: they are stored with its template catalog
    /// and cannot change once it exists.
    #[arg(long = "mask", value_name = "NAME=REGEX", value_parser = crate::config::parse_mask)]
    pub(crate) masks: Vec<MaskRule>,
    /// Configuration file (TOML): `drop_keys = [..]` and `[[mask]]` tables with `name` and `regex`.
    #[arg(long, value_name = "FILE", env = "LOGOSCOPE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// When to draw a progress bar on stderr.
    #[arg(long, value_enum, default_value_t = When::Auto)]
    pub(crate) progress: When,
    /// Print nothing but errors: no summary line, no warnings, no progress bar.
    #[arg(long, short = 'q')]
    pub(crate) quiet: bool,
}

/// Auto / always / never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum When {
    /// When stderr is a terminal and `--quiet` is not given.
    Auto,
    /// Even with `--quiet` (a bar is only ever drawn on a terminal).
    Always,
    /// Never.
    Never,
}

#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// The query (read-only: SELECT, WITH, EXPLAIN, SHOW, DESCRIBE); it may start with a
    /// `-- comment`.
    #[arg(value_name = "QUERY")]
    pub(crate) query: String,
    /// Archive location: a path, file://, s3://bucket/prefix or memory://.
    #[arg(long, short = 's', value_name = "URL", default_value = DEFAULT_STORE, env = "LOGOSCOPE_STORE", value_parser = crate::config::parse_location)]
    pub(crate) store: String,
    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = SqlFormat::Table)]
    pub(crate) format: SqlFormat,
}

/// Output formats of `sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum SqlFormat {
    /// Aligned text table.
    Table,
    /// CSV with a header row.
    Csv,
    /// One JSON array of row objects.
    Json,
    /// One JSON object per line.
    Ndjson,
}

#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Number of entries to write (a multi-line stack trace is one entry).
    #[arg(long, short = 'n', value_name = "N", default_value_t = 10_000)]
    pub(crate) lines: u64,
    /// Random seed; the same seed always gives the same bytes.
    #[arg(long, short = 's', value_name = "SEED", default_value_t = 42)]
    pub(crate) seed: u64,
    /// Where to write the corpus (`-` for stdout).
    #[arg(long, short = 'o', value_name = "FILE", default_value = "-")]
    pub(crate) out: PathBuf,
    /// Where to write the ground truth (JSON lines; `-` for stdout when the corpus goes to a
    /// file); none when absent.
    #[arg(long, value_name = "FILE")]
    pub(crate) truth: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("logoscope").chain(args.iter().copied())).unwrap()
    }

    fn ingest(args: &[&str]) -> IngestArgs {
        match parse(args).command {
            Command::Ingest(a) => a,
            other => panic!("not ingest: {other:?}"),
        }
    }

    #[test]
    fn ingest_defaults() {
        let a = ingest(&["ingest", "a.log"]);
        assert_eq!(a.paths, vec!["a.log"]);
        assert_eq!(a.max_entry_bytes, 1 << 20);
        assert_eq!(a.progress, When::Auto);
        assert!(!a.quiet);
        assert!(a.time_keys.is_empty());
    }

    #[test]
    fn ingest_requires_a_path() {
        assert!(Cli::try_parse_from(["logoscope", "ingest"]).is_err());
    }

    #[test]
    fn ingest_to_spellings() {
        assert_eq!(ingest(&["ingest", "-", "--to", "s3://b/p"]).to, "s3://b/p");
        assert_eq!(ingest(&["ingest", "-", "--to=memory://"]).to, "memory://");
        assert_eq!(ingest(&["ingest", "-", "-t", "/x"]).to, "/x");
    }

    #[test]
    fn ingest_time_key_repeats() {
        let a = ingest(&["ingest", "x", "--time-key", "when", "--time-key=at"]);
        assert_eq!(a.time_keys, vec!["when", "at"]);
    }

    #[test]
    fn ingest_service_host() {
        let a = ingest(&["ingest", "x", "--service", "api", "--host=h1"]);
        assert_eq!(a.service.as_deref(), Some("api"));
        assert_eq!(a.host.as_deref(), Some("h1"));
    }

    #[test]
    fn ingest_bounds() {
        let a = ingest(&[
            "ingest",
            "x",
            "--max-entry-bytes",
            "4096",
            "--max-buffered-rows=10",
        ]);
        assert_eq!(a.max_entry_bytes, 4096);
        assert_eq!(a.max_buffered_rows, 10);
    }

    #[test]
    fn ingest_masks_and_config() {
        let a = ingest(&[
            "ingest",
            "x",
            "--mask",
            "ORDER=ORD-[0-9]+",
            "--mask=T=t+",
            "--config",
            "c.toml",
        ]);
        let names: Vec<&str> = a.masks.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, vec!["ORDER", "T"]);
        assert_eq!(a.config.as_deref().and_then(|p| p.to_str()), Some("c.toml"));
        assert_eq!(
            ingest(&["ingest", "x", "--config=d.toml"])
                .config
                .unwrap()
                .to_str(),
            Some("d.toml")
        );
        assert!(Cli::try_parse_from(["logoscope", "ingest", "x", "--mask", "nope"]).is_err());
    }

    #[test]
    fn ingest_progress_and_quiet() {
        assert_eq!(
            ingest(&["ingest", "x", "--progress", "never"]).progress,
            When::Never
        );
        assert_eq!(
            ingest(&["ingest", "x", "--progress=always"]).progress,
            When::Always
        );
        assert!(ingest(&["ingest", "x", "-q"]).quiet);
        assert!(ingest(&["ingest", "x", "--quiet"]).quiet);
    }

    #[test]
    fn sql_spellings() {
        let Command::Sql(a) = parse(&["sql", "SELECT 1", "-s", "/a", "-f", "csv"]).command else {
            panic!()
        };
        assert_eq!(
            (a.query.as_str(), a.store.as_str(), a.format),
            ("SELECT 1", "/a", SqlFormat::Csv)
        );
        let Command::Sql(a) = parse(&["sql", "--store=/b", "--format=ndjson", "SELECT 2"]).command
        else {
            panic!()
        };
        assert_eq!((a.store.as_str(), a.format), ("/b", SqlFormat::Ndjson));
        let Command::Sql(a) = parse(&["sql", "SELECT 3", "--format", "json"]).command else {
            panic!()
        };
        assert_eq!(a.format, SqlFormat::Json);
        // A query may open with a comment, which looks like a flag.
        let args = crate::comment_led_query(
            ["logoscope", "sql", "-fcsv", "-- top\nSELECT 4", "-sa"]
                .map(Into::into)
                .to_vec(),
        );
        let Command::Sql(a) = Cli::try_parse_from(args).unwrap().command else {
            panic!()
        };
        assert_eq!(
            (a.query.as_str(), a.format, a.store.as_str()),
            ("-- top\nSELECT 4", SqlFormat::Csv, "a")
        );
        for query in ["--x\nSELECT 6", "--\tSELECT 7"] {
            let args =
                crate::comment_led_query(["logoscope", "sql", query].map(Into::into).to_vec());
            let Command::Sql(a) = Cli::try_parse_from(args).unwrap().command else {
                panic!()
            };
            assert_eq!(a.query, query);
        }
        // A flag whose value holds a space stays a flag.
        let args = crate::comment_led_query(
            ["logoscope", "sql", "--store=my dir", "SELECT 8"]
                .map(Into::into)
                .to_vec(),
        );
        let Command::Sql(a) = Cli::try_parse_from(args).unwrap().command else {
            panic!()
        };
        assert_eq!((a.store.as_str(), a.query.as_str()), ("my dir", "SELECT 8"));
        // Short options with their values attached, before the query.
        let Command::Sql(a) = parse(&["sql", "-sa1", "-fcsv", "SELECT 5"]).command else {
            panic!()
        };
        assert_eq!((a.query.as_str(), a.store.as_str()), ("SELECT 5", "a1"));
        // An empty location is a mistake, not the default.
        assert!(Cli::try_parse_from(["logoscope", "sql", "SELECT 1", "--store", ""]).is_err());
        assert!(Cli::try_parse_from(["logoscope", "ingest", "x", "--to", " "]).is_err());
    }

    #[test]
    fn generate_spellings() {
        let Command::Generate(a) = parse(&["generate"]).command else {
            panic!()
        };
        assert_eq!(
            (a.lines, a.seed, a.out.to_str(), a.truth),
            (10_000, 42, Some("-"), None)
        );
        let Command::Generate(a) = parse(&[
            "generate", "-n", "5", "-s", "7", "-o", "x.log", "--truth", "t.jsonl",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!((a.lines, a.seed, a.out.to_str()), (5, 7, Some("x.log")));
        assert_eq!(a.truth.as_deref().and_then(|p| p.to_str()), Some("t.jsonl"));
        let Command::Generate(a) = parse(&["generate", "--lines=9", "--seed=1", "--out=y"]).command
        else {
            panic!()
        };
        assert_eq!((a.lines, a.seed, a.out.to_str()), (9, 1, Some("y")));
    }

    #[test]
    fn eval_loghub_spellings() {
        let Command::Eval(EvalCommand::Loghub(a)) = parse(&["eval", "loghub", "a", "b"]).command
        else {
            panic!()
        };
        assert_eq!(a.dirs.len(), 2);
        assert_eq!((a.format, a.predictions), (EvalFormat::Table, None));
        let Command::Eval(EvalCommand::Loghub(a)) = parse(&[
            "eval",
            "loghub",
            "d",
            "--format",
            "json",
            "--predictions",
            "out",
        ])
        .command
        else {
            panic!()
        };
        assert_eq!(a.format, EvalFormat::Json);
        assert_eq!(
            a.predictions.as_deref().and_then(|p| p.to_str()),
            Some("out")
        );
        let Command::Eval(EvalCommand::Loghub(a)) =
            parse(&["eval", "loghub", "-f", "json", "--predictions=p", "d"]).command
        else {
            panic!()
        };
        assert_eq!((a.format, a.dirs.len()), (EvalFormat::Json, 1));
        let Command::Eval(EvalCommand::Loghub(a)) =
            parse(&["eval", "loghub", "d", "--mask", "X=x"]).command
        else {
            panic!()
        };
        assert_eq!(a.masks.len(), 1);
        assert!(Cli::try_parse_from(["logoscope", "eval", "loghub"]).is_err());
    }

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
