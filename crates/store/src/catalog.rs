//! Where the template catalog lives in the archive, and how a reader finds the committed one.
//!
//! Layout: `_logoscope/catalog/<version:020>-<uuid>.json`, written just before the Delta commit
//! that is meant to become `version`, and named in that commit's `commitInfo` under
//! [`COMMIT_INFO_KEY`]. A catalog counts only once a commit names it, so catalogs of writers
//! that crashed or lost a race are never read (losers delete theirs; crashes leave orphans).

use bytes::Bytes;
use deltalake::logstore::{LogStore, commit_uri_from_version};
use futures::{Stream, TryStreamExt};
use logoscope_drain::TemplateCatalog;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::StoreError;

/// `commitInfo` key naming the catalog file a commit saved.
pub(crate) const COMMIT_INFO_KEY: &str = "logoscope.catalog";
/// Directory (relative to the table root) holding catalog files.
pub(crate) const DIRECTORY: &str = "_logoscope/catalog";
/// Commits read backwards before falling back to listing [`DIRECTORY`].
const MAX_LOG_WALK: u64 = 256;

pub(crate) fn new_path(version: u64) -> Path {
    Path::from(format!(
        "{DIRECTORY}/{version:020}-{}.json",
        uuid::Uuid::new_v4().simple()
    ))
}

fn version_of(path: &Path) -> Option<u64> {
    let name = path.filename()?;
    let (version, rest) = name.split_once('-')?;
    rest.ends_with(".json").then_some(())?;
    version.parse().ok()
}

/// The catalog path named by commit `version`'s `commitInfo`: None when there is no such
/// commit, Some(None) when it names none.
///
/// Reads the entry line by line as it arrives and stops at `commitInfo`, which writers put
/// first: a commit of many files (hundreds of MB of `add` lines) is not read whole.
pub(crate) async fn commit_reference(
    log_store: &dyn LogStore,
    version: u64,
) -> Result<Option<Option<String>>, StoreError> {
    let store = log_store.object_store(None);
    let path = commit_uri_from_version(Some(version));
    match store.get(&path).await {
        Ok(got) => Ok(Some(commit_info_in(got.into_stream()).await?)),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// The catalog path named by the `commitInfo` line of a commit arriving in `chunks` (None when
/// there is no such line or it names none), read up to that line.
async fn commit_info_in(
    mut chunks: impl Stream<Item = object_store::Result<Bytes>> + Unpin,
) -> Result<Option<String>, StoreError> {
    let mut line = Vec::new();
    let mut ended = false;
    while !ended {
        let chunk = chunks.try_next().await?;
        ended = chunk.is_none();
        let mut rest = chunk.as_deref().unwrap_or_default();
        loop {
            let (part, complete) = match rest.iter().position(|b| *b == b'\n') {
                Some(at) => (&rest[..at], true),
                None => (rest, ended),
            };
            line.extend_from_slice(part);
            if !complete {
                break;
            }
            if let Some(info) = commit_info_line(&line) {
                return Ok(info);
            }
            line.clear();
            if part.len() == rest.len() {
                break;
            }
            rest = &rest[part.len() + 1..];
        }
    }
    Ok(None)
}

/// For a `commitInfo` line, the catalog path it names (if any); None for other lines.
fn commit_info_line(line: &[u8]) -> Option<Option<String>> {
    #[derive(serde::Deserialize)]
    struct Line {
        #[serde(rename = "commitInfo")]
        commit_info: Option<serde_json::Map<String, serde_json::Value>>,
    }
    let info = serde_json::from_slice::<Line>(line).ok()?.commit_info?;
    Some(
        info.get(COMMIT_INFO_KEY)
            .and_then(|v| v.as_str())
            .map(str::to_owned),
    )
}

/// The catalog saved by the newest commit in `(after, upto]` (`after = None`: from version 0).
///
/// Reads commits backwards. When the log no longer holds a commit (log clean-up after a
/// checkpoint) or the walk gets long, falls back to the newest catalog file whose name carries
/// a version in range; that can only be wrong if a writer crashed between saving its catalog
/// and committing, and then only by offering a catalog with extra templates.
pub(crate) async fn newest_reference(
    log_store: &dyn LogStore,
    store: &dyn ObjectStore,
    after: Option<u64>,
    upto: u64,
) -> Result<Option<Path>, StoreError> {
    let lower = after.map_or(0, |a| a.saturating_add(1));
    let mut version = upto;
    let mut walked = 0;
    while version >= lower {
        if walked == MAX_LOG_WALK {
            return newest_listed(store, lower, version).await;
        }
        match commit_reference(log_store, version).await? {
            Some(reference) => {
                if let Some(path) = reference {
                    return Ok(Some(Path::from(path)));
                }
            }
            None => return newest_listed(store, lower, version).await,
        }
        walked += 1;
        match version.checked_sub(1) {
            Some(previous) => version = previous,
            None => break,
        }
    }
    Ok(None)
}

async fn newest_listed(
    store: &dyn ObjectStore,
    lower: u64,
    upto: u64,
) -> Result<Option<Path>, StoreError> {
    let listed: Vec<_> = store
        .list(Some(&Path::from(DIRECTORY)))
        .try_collect()
        .await?;
    Ok(listed
        .into_iter()
        .filter_map(|meta| {
            let version = version_of(&meta.location)?;
            (lower..=upto).contains(&version).then_some((
                version,
                meta.last_modified,
                meta.location,
            ))
        })
        .max()
        .map(|(_, _, location)| location))
}

/// Reads and parses the catalog at `path`.
pub(crate) async fn read(
    store: &dyn ObjectStore,
    path: &Path,
) -> Result<TemplateCatalog, StoreError> {
    let bytes = store.get(path).await?.bytes().await?;
    let text = std::str::from_utf8(&bytes).map_err(|err| StoreError::Catalog {
        path: path.to_string(),
        reason: err.to_string(),
    })?;
    TemplateCatalog::from_json(text).map_err(|err| StoreError::Catalog {
        path: path.to_string(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_carry_their_version() {
        let path = new_path(42);
        assert!(
            path.as_ref()
                .starts_with("_logoscope/catalog/00000000000000000042-")
        );
        assert_eq!(version_of(&path), Some(42));
        assert_eq!(
            version_of(&Path::from("_logoscope/catalog/notes.txt")),
            None
        );
    }

    fn read(commit: &str, chunk: usize) -> Option<String> {
        let chunks: Vec<object_store::Result<Bytes>> = commit
            .as_bytes()
            .chunks(chunk)
            .map(|c| Ok(Bytes::copy_from_slice(c)))
            .collect();
        futures::executor::block_on(commit_info_in(futures::stream::iter(chunks))).unwrap()
    }

    #[test]
    fn finds_the_reference_in_a_commit_in_any_chunking() {
        let info = r#"{"commitInfo":{"operation":"WRITE","logoscope.catalog":"_logoscope/catalog/x.json"}}"#;
        let add = r#"{"add":{"path":"dt=unknown/hour=unknown/part-1.zstd.parquet"}}"#;
        let protocol = r#"{"protocol":{"minReaderVersion":1,"minWriterVersion":2}}"#;
        let x = Some("_logoscope/catalog/x.json".to_owned());
        for chunk in [1, 2, 7, 64, 4096] {
            assert_eq!(read(&format!("{info}\n{add}\n{add}"), chunk), x, "{chunk}");
            // Not first, and last without a newline.
            assert_eq!(
                read(&format!("{protocol}\n{add}\n{info}"), chunk),
                x,
                "{chunk}"
            );
            assert_eq!(
                read(&format!("{protocol}\n\n{info}\n"), chunk),
                x,
                "{chunk}"
            );
            assert_eq!(read(&format!("{add}\n{add}\n"), chunk), None, "{chunk}");
            assert_eq!(
                read(r#"{"commitInfo":{"operation":"OPTIMIZE"}}"#, chunk),
                None,
                "{chunk}"
            );
            assert_eq!(read("not json\n", chunk), None, "{chunk}");
        }
        assert_eq!(read("", 1), None);
    }
}
