//! `logoscope ingest`: inputs → pipeline (a blocking thread) → archive writer → one commit.

use std::collections::HashSet;
use std::io::{ErrorKind, IsTerminal, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int8Type, Int32Type, UInt64Type};
use arrow_array::{Array, ArrayAccessor, RecordBatch, StringArray};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use logoscope_drain::TemplateCatalog;
use logoscope_ingest::inputs::expand_except;
use logoscope_ingest::schema::col;
use logoscope_ingest::{IngestOptions, IngestStats, Pipeline};
use logoscope_store::{Archive, ArchiveOptions};

use crate::args::{IngestArgs, When};
use crate::config::{self, ConfigFile};

/// Batches in flight between the pipeline thread and the writer: bounds memory.
const CHANNEL_BATCHES: usize = 4;

pub(crate) fn run(a: IngestArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Like ripgrep: a bad argument, or an unreadable directory below one, is reported and
    // everything else is still read.
    // The archive being written is left out of directory walks (`logoscope ingest .`).
    let found = expand_except(&a.paths, logoscope_store::local_dir(&a.to).as_deref());
    for e in &found.errors {
        crate::stderr_line(format_args!("logoscope: {e}"));
    }
    let bad_args = found.errors.len();
    let inputs = found.inputs;
    if inputs.is_empty() {
        anyhow::bail!("nothing to ingest: no readable input among {:?}", a.paths);
    }

    let file = ConfigFile::load(a.config.as_deref())?;
    let masks = config::masks(&file, &a.masks);
    // Masks are checked before the archive is opened, which creates it.
    let fresh = config::new_catalog(masks.clone(), file.drop_keys.clone())?;
    let mut opts = IngestOptions {
        time_keys: a.time_keys.clone(),
        service: a.service.clone(),
        host: a.host.clone(),
        max_entry_bytes: a.max_entry_bytes,
        ..IngestOptions::default()
    };
    let show_progress = match a.progress {
        When::Always => true,
        When::Never => false,
        When::Auto => !a.quiet && std::io::stderr().is_terminal(),
    };

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let (stats, commit, catalog, new_templates, flagged) = rt.block_on(async {
        let archive = Archive::open(&a.to)
            .await
            .with_context(|| format!("cannot open the archive at {}", a.to))?;
        let mut catalog = match archive
            .load_catalog()
            .await
            .with_context(|| format!("cannot load the template catalog of {}", a.to))?
        {
            Some(catalog) => {
                config::check_masks(&catalog, &masks, &a.to)?;
                catalog
            }
            None => fresh,
        };
        opts.drop_keys = config::settle_drop_keys(&mut catalog, &file.drop_keys, &a.to)?;
        catalog.set_max_templates(a.max_templates);
        catalog.set_max_catalog_bytes(a.max_catalog_bytes);
        let ids_before: HashSet<u64> = catalog.templates().map(|t| t.id).collect();
        let mut writer = archive
            .writer(ArchiveOptions {
                max_buffered_rows: a.max_buffered_rows,
                ..ArchiveOptions::default()
            })
            .await?;

        let bar = progress_bar(show_progress);
        let (tx, mut rx) = tokio::sync::mpsc::channel(CHANNEL_BATCHES);
        let pipeline = Pipeline::new(inputs, opts);
        let progress = bar.clone();
        let worker = std::thread::spawn(move || {
            let mut flagged = FlaggedEntries::default();
            let result = pipeline.run(
                &mut catalog,
                |batch| {
                    flagged.note(&batch);
                    tx.blocking_send(batch)
                        .map_err(|_| PipelineStop::WriterGone)
                },
                |p| {
                    progress.set_position(p.bytes);
                    let rate = p.entries as f64 / progress.elapsed().as_secs_f64().max(1e-3);
                    progress.set_message(format!(
                        "{} entries ({rate:.0}/s), input {}/{}",
                        p.entries, p.inputs_done, p.inputs_total
                    ));
                },
            );
            (result, catalog, flagged)
        });
        let mut write_error = None;
        while let Some(batch) = rx.recv().await {
            if let Err(e) = writer.write(batch).await {
                write_error = Some(e);
                break;
            }
        }
        drop(rx);
        let (result, catalog, flagged) = worker
            .join()
            .map_err(|_| anyhow::anyhow!("the ingest thread panicked"))?;
        bar.finish_and_clear();
        if let Some(e) = write_error {
            // Best effort: the files written so far are invisible; deleting them only tidies.
            let _ = writer.abort().await;
            return Err(anyhow::Error::new(e).context(format!("writing to {}", a.to)));
        }
        let stats = match result {
            Ok(stats) => stats,
            Err(e) => {
                let _ = writer.abort().await;
                return Err(match e {
                    PipelineStop::Ingest(e) => anyhow::Error::new(e),
                    PipelineStop::WriterGone => anyhow::anyhow!("the archive writer stopped"),
                });
            }
        };
        let new_templates = catalog
            .templates()
            .filter(|t| t.parent_id.is_none() && !ids_before.contains(&t.id))
            .count();
        let commit = writer
            .commit(&catalog)
            .await
            .with_context(|| format!("committing to {}", a.to))?;
        anyhow::Ok((stats, commit, catalog, new_templates, flagged))
    })?;

    for failure in &stats.failures {
        crate::stderr_line(format_args!("logoscope: {}", failure.message));
    }
    if !a.quiet {
        flagged.report(stats.errors, &a.to);
        if catalog.overflowed() > 0 {
            crate::stderr_line(format_args!(
                "logoscope: warning: the template catalog is full (--max-templates {}, \
                 --max-catalog-bytes {}): {} entries that fit no template got an overflow template \
                 (<*> <*> …); nothing is lost, their words are its params",
                a.max_templates,
                a.max_catalog_bytes,
                catalog.overflowed()
            ));
        }
        if let Some(reason) = &commit.checkpoint_failure {
            crate::stderr_line(format_args!(
                "logoscope: warning: {reason}; the commit stands, and readers replay more of the \
                 log until the next checkpoint is written"
            ));
        }
        for (name, n) in catalog.masks_with_spaced_matches() {
            crate::stderr_line(format_args!(
                "logoscope: warning: mask {name} matched text holding whitespace {n} time{}; a \
                 mask applies within one word, so those matches were left as they are",
                if n == 1 { "" } else { "s" }
            ));
        }
        let line = summary_line(
            &stats,
            stats.inputs - unread_inputs(&stats),
            &catalog,
            new_templates,
            started.elapsed(),
            &a.to,
            commit.version,
        );
        let mut out = std::io::stdout().lock();
        match writeln!(out, "{line}").and_then(|()| out.flush()) {
            Ok(()) => {}
            // The reader went away (`| head -c0`): the rows are committed, nothing is lost.
            Err(e) if e.kind() == ErrorKind::BrokenPipe => {}
            Err(e) => {
                return Err(anyhow::Error::new(e).context(format!(
                    "the entries are committed to {} (version {}), but the summary could not \
                     be written to stdout",
                    a.to, commit.version
                )));
            }
        }
    }
    let unreadable = bad_args + unread_inputs(&stats);
    Ok(if unreadable > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Flagged entries named one by one on stderr; the rest are only counted.
const NAMED_FLAGGED_ENTRIES: usize = 5;

/// The first flagged entries of a run (rows whose `error` is set), by file and line.
#[derive(Debug, Default)]
struct FlaggedEntries {
    first: Vec<String>,
}

impl FlaggedEntries {
    /// Looks for flagged rows in `batch` until enough are named. A clean batch costs one look
    /// at the `error` column's null count.
    fn note(&mut self, batch: &RecordBatch) {
        if self.first.len() >= NAMED_FLAGGED_ENTRIES {
            return;
        }
        let Some(errors) = batch.column_by_name(col::ERROR) else {
            return;
        };
        let nulls = errors.logical_nulls();
        if nulls.as_ref().is_some_and(|n| n.null_count() == n.len()) {
            return;
        }
        let errors = errors.as_dictionary_opt::<Int8Type>();
        let sources = batch
            .column_by_name(col::SOURCE)
            .and_then(|c| c.as_dictionary_opt::<Int32Type>());
        let lines = batch
            .column_by_name(col::LINE)
            .and_then(|c| c.as_primitive_opt::<UInt64Type>());
        let (Some(errors), Some(sources), Some(lines)) = (
            errors.and_then(|d| d.downcast_dict::<StringArray>()),
            sources.and_then(|d| d.downcast_dict::<StringArray>()),
            lines,
        ) else {
            return;
        };
        let flagged =
            (0..batch.num_rows()).filter(|&row| nulls.as_ref().is_none_or(|n| n.is_valid(row)));
        for row in flagged {
            if self.first.len() >= NAMED_FLAGGED_ENTRIES {
                break;
            }
            let kind = errors.value(row);
            self.first.push(format!(
                "{}:{}: {kind}: {}",
                sources.value(row),
                lines.value(row),
                describe_flag(kind)
            ));
        }
    }

    /// Names the first flagged entries on stderr, then how many more there are and where.
    fn report(&self, total: u64, store: &str) {
        for entry in &self.first {
            crate::stderr_line(format_args!("logoscope: warning: {entry}"));
        }
        let more = total.saturating_sub(self.first.len() as u64);
        if more > 0 && store.starts_with("memory:") {
            // Gone with this process: no later command can read it.
            crate::stderr_line(format_args!(
                "logoscope: warning: … and {more} more flagged entries"
            ));
        } else if more > 0 {
            crate::stderr_line(format_args!(
                "logoscope: warning: … and {more} more flagged entries; see the ingest_errors \
                 table: logoscope sql --store {} \"SELECT source, line, error FROM ingest_errors\"",
                shell_quoted(store)
            ));
        }
    }
}

/// `text` as one shell word: as it is when it holds only characters no shell
/// treats specially, else in single quotes.
fn shell_quoted(text: &str) -> std::borrow::Cow<'_, str> {
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if plain {
        text.into()
    } else {
        format!("'{}'", text.replace('\'', "'\\''")).into()
    }
}

/// What an `error` value means for the entry, in words.
fn describe_flag(kind: &str) -> &'static str {
    logoscope_ingest::EntryError::from_name(kind).map_or("kept, flagged", |e| e.description())
}

enum PipelineStop {
    Ingest(logoscope_ingest::IngestError),
    WriterGone,
}

impl From<logoscope_ingest::IngestError> for PipelineStop {
    fn from(e: logoscope_ingest::IngestError) -> Self {
        PipelineStop::Ingest(e)
    }
}

fn progress_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(10));
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {elapsed_precise} {bytes} read ({bytes_per_sec}) {msg}",
        )
        .expect("valid progress template"),
    );
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Inputs found (in a directory, by a glob) that could not be read at all.
fn unread_inputs(stats: &IngestStats) -> usize {
    stats.failures.iter().filter(|f| f.entries == 0).count()
}

fn summary_line(
    stats: &IngestStats,
    inputs_read: usize,
    catalog: &TemplateCatalog,
    new_templates: usize,
    elapsed: Duration,
    to: &str,
    version: u64,
) -> String {
    let secs = elapsed.as_secs_f64();
    let mb = stats.bytes as f64 / 1e6;
    format!(
        "ingested {} entries ({:.1} MB) from {} input{} into {to} (version {version}): templates {new_templates} new / {} total, {} errors, {secs:.2} s, {:.1} MB/s, {:.0} entries/s",
        stats.entries,
        mb,
        inputs_read,
        if inputs_read == 1 { "" } else { "s" },
        catalog.live_len(),
        stats.errors,
        mb / secs.max(1e-9),
        stats.entries as f64 / secs.max(1e-9),
    )
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;

    #[test]
    fn the_hint_quotes_the_archive_for_a_shell() {
        assert_eq!(shell_quoted("./logoscope-data"), "./logoscope-data");
        assert_eq!(shell_quoted("s3://b/p"), "s3://b/p");
        assert_eq!(shell_quoted("my dir"), "'my dir'");
        assert_eq!(shell_quoted("it's"), "'it'\\''s'");
        assert_eq!(shell_quoted("$HOME/a"), "'$HOME/a'");
    }
}
