//! Where the template catalog lives in the archive, and how a reader finds the committed one.
//!
//! Layout: `_logoscope/catalog/<version:020>-<uuid>.json`, written just before the Delta commit
//! that is meant to become `version`, and named in that commit's `commitInfo` under
//! [`COMMIT_INFO_KEY`]. A catalog counts only once a commit names it, so catalogs of writers
//! that crashed or lost a race are never read (losers delete theirs; crashes leave orphans).

use deltalake::logstore::LogStore;
use futures::TryStreamExt;
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

/// The catalog path named by a commit's `commitInfo`, if any.
pub(crate) fn reference_in(commit: &[u8]) -> Option<String> {
    commit
        .split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
        .find_map(|action| {
            action
                .get("commitInfo")?
                .get(COMMIT_INFO_KEY)?
                .as_str()
                .map(str::to_owned)
        })
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
        match log_store.read_commit_entry(version).await? {
            Some(commit) => {
                if let Some(path) = reference_in(&commit) {
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

    #[test]
    fn finds_the_reference_in_a_commit() {
        let commit = concat!(
            r#"{"commitInfo":{"operation":"WRITE","logoscope.catalog":"_logoscope/catalog/x.json"}}"#,
            "\n",
            r#"{"add":{"path":"dt=unknown/hour=unknown/part-1.zstd.parquet"}}"#
        );
        assert_eq!(
            reference_in(commit.as_bytes()).as_deref(),
            Some("_logoscope/catalog/x.json")
        );
        assert_eq!(
            reference_in(br#"{"commitInfo":{"operation":"OPTIMIZE"}}"#),
            None
        );
        assert_eq!(reference_in(b"not json"), None);
    }
}
