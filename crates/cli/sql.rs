//! `logoscope sql`: read-only SQL over the archive.

use std::io::{self, Write};
use std::process::ExitCode;

use logoscope_engine::{EngineOptions, OutputFormat, run_sql, session_for_archive, write_batches};
use logoscope_store::{Archive, StoreError};

use crate::args::{SqlArgs, SqlFormat};

pub(crate) fn run(a: SqlArgs) -> anyhow::Result<ExitCode> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Read-only: a mistyped location is an error, not a new empty archive.
        // `NoArchive` names the location itself.
        let archive = Archive::open_existing(&a.store)
            .await
            .map_err(|err| match err {
                StoreError::NoArchive { .. } => anyhow::Error::new(err),
                other => anyhow::Error::new(other)
                    .context(format!("cannot open the archive at {}", a.store)),
            })?;
        let ctx = session_for_archive(&archive, EngineOptions::default()).await?;
        let batches = run_sql(&ctx, &a.query).await?;
        let format = match a.format {
            SqlFormat::Table => OutputFormat::Table,
            SqlFormat::Csv => OutputFormat::Csv,
            SqlFormat::Json => OutputFormat::Json,
            SqlFormat::Ndjson => OutputFormat::Ndjson,
        };
        let mut out = io::BufWriter::new(io::stdout().lock());
        write_batches(&batches, format, &mut out)?;
        out.flush()?;
        Ok(ExitCode::SUCCESS)
    })
}
