//! `logoscope sql`: read-only SQL over the archive.

use std::io;
use std::process::ExitCode;

use futures::StreamExt;
use logoscope_engine::{
    EngineOptions, OutputFormat, ResultWriter, run_sql_stream, session_for_archive,
};
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
        let mut stream = run_sql_stream(&ctx, &a.query).await?;
        let format = match a.format {
            SqlFormat::Table => OutputFormat::Table,
            SqlFormat::Csv => OutputFormat::Csv,
            SqlFormat::Json => OutputFormat::Json,
            SqlFormat::Ndjson => OutputFormat::Ndjson,
        };
        // Rows are written as they stream in, so `… | head` sees the first
        // ones early, and a closed pipe stops the query.
        let schema = stream.schema();
        let mut out = io::BufWriter::new(io::stdout().lock());
        let mut writer = ResultWriter::new(format, &schema, &mut out);
        while let Some(batch) = stream.next().await {
            writer.write(&batch?)?;
        }
        writer.finish()?;
        Ok(ExitCode::SUCCESS)
    })
}
