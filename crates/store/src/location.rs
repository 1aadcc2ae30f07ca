//! Turning what the user typed (`./logs`, `file:///…`, `s3://bucket/prefix`, `memory://name`)
//! into a table URL plus the storage options deltalake and object_store understand.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use object_store::memory::InMemory;
use url::Url;

use crate::StoreError;

/// The archive location used when the user names none.
pub const DEFAULT_LOCATION: &str = "./logoscope-data";

/// Whether opening may create the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Create the local directory and an empty table when missing (ingest).
    Create,
    /// Create nothing; a missing archive is an error (read-only commands).
    Existing,
}

/// Where an archive lives, resolved.
#[derive(Debug, Clone)]
pub(crate) struct Location {
    /// The location as the user should see it in messages: the path for local directories,
    /// the URL otherwise.
    pub(crate) display: String,
    /// The table root as deltalake sees it.
    pub(crate) url: Url,
    /// Options handed to deltalake's object store factory (S3 keys, …).
    pub(crate) options: HashMap<String, String>,
    /// Set for `memory://`: the process-wide store backing every in-memory archive.
    pub(crate) memory: Option<Arc<InMemory>>,
    /// Whether the store's copy-if-absent can be trusted to put a large commit in place (see
    /// [`s3_copy_commits`]); where not, every commit is one conditional `PUT`.
    pub(crate) copy_commits: bool,
}

/// The local directory `location` names (a plain path or `file://`), or `None` for a remote
/// or in-memory archive: absolute, with symbolic links and `..` resolved as creating it would
/// resolve them (`nosuch/../arc` is `arc`). Nothing is created or checked.
pub fn local_dir(location: &str) -> Option<std::path::PathBuf> {
    let location = location.trim();
    let location = if location.is_empty() {
        DEFAULT_LOCATION
    } else {
        location
    };
    let dir = match Url::parse(location) {
        Ok(url) if url.scheme() == "file" => url.to_file_path().ok()?,
        Ok(url) if url.scheme().len() > 1 => return None,
        _ => Path::new(location).to_path_buf(),
    };
    Some(resolved(&dir).unwrap_or(dir))
}

/// Resolves `location` (empty means [`DEFAULT_LOCATION`]) with `overrides` taking precedence
/// over anything derived from the environment.
pub(crate) fn resolve(
    location: &str,
    overrides: &HashMap<String, String>,
    mode: Mode,
) -> Result<Location, StoreError> {
    let location = location.trim();
    let location = if location.is_empty() {
        DEFAULT_LOCATION
    } else {
        location
    };
    let invalid = |reason: String| StoreError::InvalidLocation {
        location: location.to_owned(),
        reason,
    };

    let parsed = match Url::parse(location) {
        Ok(url) if url.scheme().len() > 1 => Some(url),
        // A one-letter scheme is a Windows drive letter; no scheme at all is a plain path.
        Ok(_) | Err(url::ParseError::RelativeUrlWithoutBase) => None,
        Err(err) => return Err(invalid(err.to_string())),
    };

    let Some(url) = parsed else {
        return local_location(Path::new(location), overrides, mode);
    };
    match url.scheme() {
        "file" => {
            let path = url
                .to_file_path()
                .map_err(|()| invalid("not a local file path".into()))?;
            local_location(&path, overrides, mode)
        }
        "memory" => {
            // Every `memory://` archive shares one process-wide store, keyed by its path, so that
            // opening the same name twice (writer, then reader) sees the same table — deltalake
            // would otherwise hand out a fresh, empty store each time.
            let name = format!(
                "{}{}",
                url.host_str().unwrap_or_default(),
                url.path().trim_end_matches('/')
            );
            let name = name.trim_start_matches('/');
            let name = if name.is_empty() { "default" } else { name };
            let url =
                Url::parse(&format!("memory:///{name}")).map_err(|err| invalid(err.to_string()))?;
            Ok(Location {
                display: url.to_string(),
                url,
                options: overrides.clone(),
                memory: Some(shared_memory_store()),
                copy_commits: true,
            })
        }
        "s3" | "s3a" => {
            if url.host_str().is_none_or(str::is_empty) {
                return Err(invalid("an s3:// location needs a bucket".into()));
            }
            // Parts a bucket and prefix cannot have would be dropped or rewritten silently.
            let extra = [
                (!url.username().is_empty() || url.password().is_some())
                    .then_some("credentials (use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"),
                // An empty port (`s3://b:/x`) is no port to the URL parser either.
                location
                    .split("://")
                    .nth(1)
                    .and_then(|rest| rest.split('/').next())
                    .filter(|authority| authority.contains(':'))
                    .map(|_| "a port (an endpoint goes in AWS_ENDPOINT_URL)"),
                url.query().map(|_| "a query (`?…`)"),
                url.fragment().map(|_| "a fragment (`#…`)"),
                location
                    .split(['?', '#'])
                    .next()
                    .unwrap_or_default()
                    .split('/')
                    .skip(3)
                    .map(|segment| segment.to_ascii_lowercase().replace("%2e", "."))
                    .any(|segment| segment == "." || segment == "..")
                    .then_some("a `.` or `..` segment"),
            ];
            if let Some(part) = extra.into_iter().flatten().next() {
                return Err(invalid(format!(
                    "an s3:// location is s3://bucket/prefix, without {part}"
                )));
            }
            let mut url = url;
            let path = url.path().trim_end_matches('/').to_owned();
            url.set_path(&path);
            let env = |key: &str| std::env::var(key).ok();
            let options = s3_options(overrides, env);
            check_plain_http(&options, env).map_err(invalid)?;
            Ok(Location {
                display: url.to_string(),
                url,
                copy_commits: s3_copy_commits(&options, env),
                options,
                memory: None,
            })
        }
        other => Err(invalid(format!(
            "unsupported scheme `{other}` (use a path, file://, s3:// or memory://)"
        ))),
    }
}

fn local_location(
    path: &Path,
    overrides: &HashMap<String, String>,
    mode: Mode,
) -> Result<Location, StoreError> {
    match mode {
        // Something other than a directory is there: say so, not "File exists".
        Mode::Create if std::fs::metadata(path).is_ok_and(|m| !m.is_dir()) => {
            return Err(StoreError::InvalidLocation {
                location: path.display().to_string(),
                reason: "it exists and is not a directory".into(),
            });
        }
        // A new archive inside an existing one would write into its folders
        // (its `_delta_log`, its partitions), which its readers then trip on.
        Mode::Create if let Some(outer) = enclosing_archive(path) => {
            return Err(StoreError::InvalidLocation {
                location: path.display().to_string(),
                reason: format!("it lies inside the archive at {}", outer.display()),
            });
        }
        // Created as resolved, so `nosuch/../arc` leaves no `nosuch` behind.
        Mode::Create => std::fs::create_dir_all(resolved(path).as_deref().unwrap_or(path))
            .map_err(|source| StoreError::Io {
                path: path.display().to_string(),
                source,
            })?,
        Mode::Existing => match std::fs::metadata(resolved(path).as_deref().unwrap_or(path)) {
            Ok(meta) if meta.is_dir() => {}
            Ok(_) => {
                return Err(StoreError::NoArchive {
                    location: path.display().to_string(),
                    reason: "not a directory".into(),
                });
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoArchive {
                    location: path.display().to_string(),
                    reason: "the directory does not exist".into(),
                });
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: path.display().to_string(),
                    source,
                });
            }
        },
    }
    let canonical =
        std::fs::canonicalize(resolved(path).as_deref().unwrap_or(path)).map_err(|source| {
            StoreError::Io {
                path: path.display().to_string(),
                source,
            }
        })?;
    let url = Url::from_directory_path(&canonical).map_err(|()| StoreError::InvalidLocation {
        location: path.display().to_string(),
        reason: "cannot express the directory as a file:// URL".into(),
    })?;
    Ok(Location {
        display: path.display().to_string(),
        url,
        options: overrides.clone(),
        memory: None,
        copy_commits: true,
    })
}

/// The archive (a directory holding `_delta_log`) that `path` lies strictly
/// inside, if any. The path is resolved as creating it would: symbolic links
/// and `..` of the folders that exist as the system resolves them, and `..`
/// after a folder that does not exist yet (`nosuch/../arc/x`) by the text.
fn enclosing_archive(path: &Path) -> Option<std::path::PathBuf> {
    let mut at = resolved(path)?;
    while at.pop() {
        if at.join("_delta_log").is_dir() {
            return Some(at);
        }
    }
    None
}

/// `path` made absolute with its existing part resolved (see
/// [`enclosing_archive`]).
fn resolved(path: &Path) -> Option<std::path::PathBuf> {
    use std::path::Component;
    let mut out = std::path::PathBuf::new();
    for part in std::path::absolute(path).ok()?.components() {
        match part {
            Component::Prefix(_) | Component::RootDir => out.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(name) => {
                out.push(name);
                if out.exists() {
                    out = std::fs::canonicalize(&out).ok()?;
                }
            }
        }
    }
    Some(out)
}

fn shared_memory_store() -> Arc<InMemory> {
    static STORE: OnceLock<Arc<InMemory>> = OnceLock::new();
    Arc::clone(STORE.get_or_init(|| Arc::new(InMemory::new())))
}

/// True for `1`, `true`, `yes`, `on` (any case).
fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Whether commits too large to hold in memory may be put in place with S3's copy-if-absent
/// (`aws_copy_if_not_exists`; deltalake-aws sets `multipart` when it is not given): on AWS
/// itself (no custom endpoint), whose multipart completion honours `If-None-Match: *`, and
/// wherever the option is given explicitly. An S3-compatible store that honoured the condition
/// on a `PUT` but not on a multipart completion would let two writers both take a version, so
/// on custom endpoints without the option every commit is one conditional `PUT`, held whole.
pub(crate) fn s3_copy_commits(
    options: &HashMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> bool {
    let given = |key: &str| {
        options
            .get(&key.to_ascii_lowercase())
            .cloned()
            .or_else(|| env(key))
            .is_some_and(|v| !v.trim().is_empty())
    };
    !options.contains_key("aws_endpoint")
        || ["AWS_COPY_IF_NOT_EXISTS", "copy_if_not_exists"]
            .into_iter()
            .any(given)
}

/// S3 options for deltalake-aws, which also merges every `AWS_*` variable object_store knows
/// (credentials, region, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …) with the explicit options
/// winning. What is decided here is only what the environment cannot say directly:
///
/// * addressing: path-style when an endpoint is configured (MinIO, moto, Ceph and most
///   S3-compatible stores need it) or `AWS_S3_FORCE_PATH_STYLE` is truthy, virtual-hosted
///   otherwise (what AWS recommends), unless `aws_virtual_hosted_style_request` is given;
/// * commits: `aws_conditional_put=etag`, so a Delta commit is a `PUT` with
///   `If-None-Match: *` and two writers can never both create the same log version.
///   deltalake-aws adds `copy_if_not_exists=multipart` unless it is given: a commit whose
///   `add` lines went to a temporary file is uploaded in parts, then copied into place by a
///   multipart copy completed with `If-None-Match: *`, the same guarantee. Set
///   `AWS_S3_ALLOW_UNSAFE_RENAME=true` only for stores without conditional writes; then two
///   concurrent writers can overwrite each other's commit, so run one writer at a time.
pub(crate) fn s3_options(
    overrides: &HashMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> HashMap<String, String> {
    let mut options: HashMap<String, String> = overrides
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    let option_or_env = |options: &HashMap<String, String>, keys: &[&str]| {
        keys.iter().find_map(|key| {
            options
                .get(&key.to_ascii_lowercase())
                .cloned()
                .or_else(|| env(key))
                .filter(|v| !v.trim().is_empty())
        })
    };

    let endpoint = option_or_env(
        &options,
        &[
            "AWS_ENDPOINT_URL_S3",
            "AWS_ENDPOINT_URL",
            "AWS_ENDPOINT",
            "endpoint",
            "endpoint_url",
        ],
    );
    if let Some(endpoint) = &endpoint {
        options
            .entry("aws_endpoint".into())
            .or_insert_with(|| endpoint.clone());
    }

    let addressing_given = option_or_env(
        &options,
        &[
            "AWS_VIRTUAL_HOSTED_STYLE_REQUEST",
            "virtual_hosted_style_request",
        ],
    )
    .is_some();
    if !addressing_given {
        let force_path =
            option_or_env(&options, &["AWS_S3_FORCE_PATH_STYLE"]).is_some_and(|v| truthy(&v));
        let virtual_hosted = endpoint.is_none() && !force_path;
        options.insert(
            "aws_virtual_hosted_style_request".into(),
            virtual_hosted.to_string(),
        );
    }

    if option_or_env(&options, &["AWS_REGION", "AWS_DEFAULT_REGION", "region"]).is_none()
        && endpoint.is_some()
    {
        // S3-compatible stores ignore the region but request signing needs one.
        options.insert("aws_region".into(), "us-east-1".into());
    }

    if option_or_env(&options, &["AWS_CONDITIONAL_PUT", "conditional_put"]).is_none() {
        options.insert("aws_conditional_put".into(), "etag".into());
    }

    if let Some(endpoint) = &endpoint
        && is_loopback_http(endpoint)
        && option_or_env(&options, ALLOW_HTTP_KEYS).is_none()
    {
        // Plain HTTP to this machine (MinIO, moto) never crosses a network.
        options.insert("aws_allow_http".into(), "true".into());
    }
    options
}

/// Where plain HTTP is allowed from (`AWS_ALLOW_HTTP`, or the option of that name).
const ALLOW_HTTP_KEYS: &[&str] = &["AWS_ALLOW_HTTP", "allow_http"];

/// Whether `endpoint` is an `http://` URL whose host is this machine.
fn is_loopback_http(endpoint: &str) -> bool {
    let Ok(url) = Url::parse(endpoint.trim()) else {
        return false;
    };
    url.scheme() == "http"
        && match url.host() {
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        }
}

/// Refuses a plain-HTTP endpoint that is not allowed, with the setting that allows it:
/// object_store's own refusal is a bare "builder error" from deep inside the first request.
fn check_plain_http(
    options: &HashMap<String, String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    let Some(endpoint) = options.get("aws_endpoint") else {
        return Ok(());
    };
    let plain = Url::parse(endpoint.trim()).is_ok_and(|url| url.scheme() == "http");
    let allowed = ALLOW_HTTP_KEYS
        .iter()
        .find_map(|key| {
            options
                .get(&key.to_ascii_lowercase())
                .cloned()
                .or_else(|| env(key))
        })
        .is_some_and(|v| truthy(&v));
    if plain && !allowed {
        return Err(format!(
            "the S3 endpoint {endpoint} is plain HTTP; set AWS_ALLOW_HTTP=true to allow it \
             (HTTP to localhost or 127.0.0.1 is allowed without it)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |key| {
            pairs
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn aws_defaults_to_virtual_hosted_and_conditional_put() {
        let options = s3_options(&HashMap::new(), env_of(&[("AWS_REGION", "eu-west-1")]));
        assert_eq!(options["aws_virtual_hosted_style_request"], "true");
        assert_eq!(options["aws_conditional_put"], "etag");
        assert!(
            !options.contains_key("aws_region"),
            "env region is left to object_store"
        );
        assert!(!options.contains_key("aws_endpoint"));
    }

    #[test]
    fn large_commits_are_copied_on_aws_and_where_the_copy_is_configured() {
        let aws = s3_options(&HashMap::new(), env_of(&[]));
        assert!(s3_copy_commits(&aws, env_of(&[])));
        let env = env_of(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")]);
        let compatible = s3_options(&HashMap::new(), &env);
        assert!(!s3_copy_commits(&compatible, &env));
        let env = env_of(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_COPY_IF_NOT_EXISTS", "multipart"),
        ]);
        let configured = s3_options(&HashMap::new(), &env);
        assert!(s3_copy_commits(&configured, &env));
        let overrides = HashMap::from([
            (
                "aws_endpoint".to_owned(),
                "http://127.0.0.1:9000".to_owned(),
            ),
            ("aws_copy_if_not_exists".to_owned(), "multipart".to_owned()),
        ]);
        let configured = s3_options(&overrides, env_of(&[]));
        assert!(s3_copy_commits(&configured, env_of(&[])));
    }

    #[test]
    fn endpoint_means_path_style_and_a_region() {
        let options = s3_options(
            &HashMap::new(),
            env_of(&[("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")]),
        );
        assert_eq!(options["aws_virtual_hosted_style_request"], "false");
        assert_eq!(options["aws_endpoint"], "http://127.0.0.1:9000");
        assert_eq!(options["aws_region"], "us-east-1");
    }

    #[test]
    fn force_path_style_without_endpoint() {
        let options = s3_options(
            &HashMap::new(),
            env_of(&[("AWS_S3_FORCE_PATH_STYLE", "TRUE")]),
        );
        assert_eq!(options["aws_virtual_hosted_style_request"], "false");
    }

    #[test]
    fn explicit_options_win_over_derived_ones() {
        let overrides = HashMap::from([
            (
                "AWS_VIRTUAL_HOSTED_STYLE_REQUEST".to_owned(),
                "true".to_owned(),
            ),
            ("aws_conditional_put".to_owned(), "disabled".to_owned()),
            ("aws_endpoint".to_owned(), "http://minio:9000".to_owned()),
        ]);
        let options = s3_options(&overrides, env_of(&[]));
        assert_eq!(options["aws_virtual_hosted_style_request"], "true");
        assert_eq!(options["aws_conditional_put"], "disabled");
        assert_eq!(options["aws_endpoint"], "http://minio:9000");
    }

    #[test]
    fn plain_http_is_allowed_on_loopback_only() {
        for endpoint in [
            "http://127.0.0.1:9000",
            "http://localhost:9000",
            "http://[::1]:9000",
        ] {
            let env = move |key: &str| (key == "AWS_ENDPOINT_URL").then(|| endpoint.to_owned());
            let options = s3_options(&HashMap::new(), env);
            assert_eq!(options["aws_allow_http"], "true", "{endpoint}");
            assert_eq!(check_plain_http(&options, env), Ok(()), "{endpoint}");
        }

        let remote = env_of(&[("AWS_ENDPOINT_URL", "http://minio.internal:9000")]);
        let options = s3_options(&HashMap::new(), &remote);
        assert!(!options.contains_key("aws_allow_http"));
        let refusal = check_plain_http(&options, &remote).unwrap_err();
        assert!(refusal.contains("AWS_ALLOW_HTTP=true"), "{refusal}");
        assert!(refusal.contains("http://minio.internal:9000"), "{refusal}");

        let allowed = env_of(&[
            ("AWS_ENDPOINT_URL", "http://minio.internal:9000"),
            ("AWS_ALLOW_HTTP", "true"),
        ]);
        assert_eq!(
            check_plain_http(&s3_options(&HashMap::new(), &allowed), &allowed),
            Ok(())
        );
        let by_option = HashMap::from([("aws_allow_http".to_owned(), "true".to_owned())]);
        let options = s3_options(&by_option, &remote);
        assert_eq!(check_plain_http(&options, &remote), Ok(()));

        // An explicit "no" wins, on loopback too; HTTPS needs nothing.
        let refused = env_of(&[
            ("AWS_ENDPOINT_URL", "http://127.0.0.1:9000"),
            ("AWS_ALLOW_HTTP", "false"),
        ]);
        assert!(check_plain_http(&s3_options(&HashMap::new(), &refused), &refused).is_err());
        let https = env_of(&[("AWS_ENDPOINT_URL", "https://minio.internal:9000")]);
        assert_eq!(
            check_plain_http(&s3_options(&HashMap::new(), &https), &https),
            Ok(())
        );
    }

    #[test]
    fn read_only_resolution_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let typo = dir.path().join("typo");
        let err = resolve(typo.to_str().unwrap(), &HashMap::new(), Mode::Existing).unwrap_err();
        assert!(matches!(err, StoreError::NoArchive { .. }), "{err}");
        assert!(err.to_string().contains(typo.to_str().unwrap()), "{err}");
        assert!(!typo.exists());
        let url = Url::from_directory_path(&typo).unwrap();
        assert!(resolve(url.as_str(), &HashMap::new(), Mode::Existing).is_err());
        assert!(!typo.exists());
        resolve(typo.to_str().unwrap(), &HashMap::new(), Mode::Create).unwrap();
        assert!(typo.is_dir());
        resolve(typo.to_str().unwrap(), &HashMap::new(), Mode::Existing).unwrap();
    }

    #[test]
    fn memory_names_are_normalised() {
        let a = resolve("memory://logs", &HashMap::new(), Mode::Create).unwrap();
        let b = resolve("memory:///logs/", &HashMap::new(), Mode::Create).unwrap();
        assert_eq!(a.url, b.url);
        assert_eq!(a.url.as_str(), "memory:///logs");
        let c = resolve("memory://", &HashMap::new(), Mode::Create).unwrap();
        assert_eq!(c.url.as_str(), "memory:///default");
    }

    #[test]
    fn rejects_unknown_schemes_and_bucketless_s3() {
        assert!(matches!(
            resolve("ftp://host/x", &HashMap::new(), Mode::Create),
            Err(StoreError::InvalidLocation { .. })
        ));
        assert!(matches!(
            resolve("s3:///prefix", &HashMap::new(), Mode::Create),
            Err(StoreError::InvalidLocation { .. })
        ));
        // Nothing of what was typed is dropped or rewritten silently.
        for (location, part) in [
            ("s3://logs/../x", "`..`"),
            ("s3://logs/a/./b", "`.`"),
            ("s3://logs/x?versionId=1", "a query"),
            ("s3://logs/q#frag", "a fragment"),
            ("s3://user:pw@logs/x", "credentials"),
            ("s3://logs:9000/x", "a port"),
            ("s3://logs:/x", "a port"),
            ("s3://logs/team-a/%2e%2e/team-b", "`..`"),
            ("s3://logs/a/.%2E/x", "`..`"),
            ("s3://logs/a/%2E/b", "`.`"),
        ] {
            match resolve(location, &HashMap::new(), Mode::Create) {
                Err(StoreError::InvalidLocation { reason, .. }) => {
                    assert!(reason.contains(part), "{location}: {reason}");
                }
                other => panic!("{location}: {other:?}"),
            }
        }
        let ok = resolve("s3://logs/a.b/..c/x", &HashMap::new(), Mode::Create).unwrap();
        assert_eq!(ok.url.as_str(), "s3://logs/a.b/..c/x");
    }

    #[test]
    fn plain_paths_and_file_urls_become_directories() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        let plain = resolve(nested.to_str().unwrap(), &HashMap::new(), Mode::Create).unwrap();
        assert!(nested.is_dir());
        assert_eq!(plain.url.scheme(), "file");
        let as_url = Url::from_directory_path(&nested).unwrap();
        let via_url = resolve(as_url.as_str(), &HashMap::new(), Mode::Create).unwrap();
        assert_eq!(plain.url, via_url.url);
    }

    #[test]
    fn no_new_archive_inside_an_existing_one() {
        let dir = tempfile::tempdir().unwrap();
        let outer = dir.path().join("arc");
        std::fs::create_dir_all(outer.join("_delta_log")).unwrap();
        std::fs::create_dir_all(outer.join("dt=2024-03-01")).unwrap();
        // The archive itself opens; its folders, existing or new, do not.
        resolve(outer.to_str().unwrap(), &HashMap::new(), Mode::Create).unwrap();
        for inner in [
            "_delta_log",
            "dt=2024-03-01",
            "new/deeper",
            "dt=2024-03-01/../x",
        ] {
            let path = outer.join(inner);
            let err = resolve(path.to_str().unwrap(), &HashMap::new(), Mode::Create).unwrap_err();
            assert!(
                err.to_string().contains("inside the archive at")
                    && err.to_string().contains("arc"),
                "{inner}: {err}"
            );
        }
        assert!(!outer.join("new").exists() && !outer.join("x").exists());
        assert!(!outer.join("v").exists() && !dir.path().join("nosuch").exists());
        assert!(!outer.join("_delta_log/_delta_log").exists());
        // `..` after a folder that does not exist leaves no such folder.
        let fresh = dir.path().join("nosuch2/../fresh");
        resolve(fresh.to_str().unwrap(), &HashMap::new(), Mode::Create).unwrap();
        assert!(dir.path().join("fresh").is_dir() && !dir.path().join("nosuch2").exists());
        // A sibling is fine.
        resolve(
            dir.path().join("other").to_str().unwrap(),
            &HashMap::new(),
            Mode::Create,
        )
        .unwrap();
    }
}
