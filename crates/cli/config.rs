//! The optional configuration file (`--config FILE`, TOML) and `--mask` flags.
//!
//! ```toml
//! # Field keys left out of JSON/logfmt template shapes (they stay in `fields`).
//! drop_keys = ["request_id", "user"]
//!
//! # Extra masks, applied before the built-in ones: matches become <ORDER>.
//! [[mask]]
//! name = "ORDER"
//! regex = "ORD-[0-9]{6}"
//! ```

use std::path::Path;

use anyhow::{Context, bail};
use logoscope_drain::{DrainConfig, MaskRule, TemplateCatalog};
use serde::Deserialize;

/// What the file may hold; unknown keys are an error so typos do not go unnoticed.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigFile {
    /// Field keys left out of template shapes.
    #[serde(default)]
    pub(crate) drop_keys: Vec<String>,
    /// Extra masks.
    #[serde(default)]
    pub(crate) mask: Vec<MaskEntry>,
}

/// One `[[mask]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MaskEntry {
    pub(crate) name: String,
    pub(crate) regex: String,
}

impl ConfigFile {
    /// Reads `path`, or the empty configuration when there is none.
    pub(crate) fn load(path: Option<&Path>) -> anyhow::Result<ConfigFile> {
        let Some(path) = path else {
            return Ok(ConfigFile::default());
        };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let file: ConfigFile = toml::from_str(&text)
            .with_context(|| format!("invalid configuration in {}", path.display()))?;
        // Each mask is checked here, so its error names the file and which
        // `[[mask]]` it is, and a file holds no mask `--mask` would refuse.
        for (i, m) in file.mask.iter().enumerate() {
            let checked = if m.regex.is_empty() {
                Err(anyhow::anyhow!("the regex is empty"))
            } else {
                check_mask(&MaskRule::new(&m.name, &m.regex))
            };
            checked.with_context(|| {
                format!(
                    "invalid configuration in {}: [[mask]] number {} (name = {:?})",
                    path.display(),
                    i + 1,
                    m.name
                )
            })?;
        }
        Ok(file)
    }
}

/// Whether `rule` compiles as a mask on its own (a valid name and regex).
fn check_mask(rule: &MaskRule) -> anyhow::Result<()> {
    TemplateCatalog::try_new(DrainConfig {
        extra_masks: vec![rule.clone()],
        ..DrainConfig::default()
    })
    .map(drop)
    .map_err(anyhow::Error::new)
}

/// Parses `NAME=REGEX` (the `--mask` flag).
pub(crate) fn parse_mask(s: &str) -> Result<MaskRule, String> {
    let (name, regex) = s
        .split_once('=')
        .ok_or_else(|| format!("expected NAME=REGEX, got {s:?}"))?;
    if name.is_empty() || regex.is_empty() {
        return Err(format!("expected NAME=REGEX, got {s:?}"));
    }
    let rule = MaskRule::new(name, regex);
    check_mask(&rule).map_err(|e| e.to_string())?;
    Ok(rule)
}

/// Parses a name given for every entry (`--service`, `--host`): not empty, not only blanks.
pub(crate) fn parse_name(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err("must name something: empty or blank".to_owned());
    }
    Ok(s.to_owned())
}

/// Parses an archive location: anything but empty or blank (the default
/// applies only when none is given).
pub(crate) fn parse_location(s: &str) -> Result<String, String> {
    if s.trim().is_empty() {
        return Err(format!(
            "empty archive location; give a path or URL (the default is {})",
            crate::args::DEFAULT_STORE
        ));
    }
    Ok(s.to_owned())
}

/// Parses a bound (a count or a size in bytes): a whole number of at least 1.
pub(crate) fn parse_bound(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("expected a whole number: {e}")),
    }
}

/// File masks first, then flags, in the order given.
pub(crate) fn masks(file: &ConfigFile, flags: &[MaskRule]) -> Vec<MaskRule> {
    file.mask
        .iter()
        .map(|m| MaskRule::new(&m.name, &m.regex))
        .chain(flags.iter().cloned())
        .collect()
}

/// A fresh catalog with the default configuration plus `masks` and `drop_keys`; bad masks are
/// an error.
pub(crate) fn new_catalog(
    masks: Vec<MaskRule>,
    drop_keys: Vec<String>,
) -> anyhow::Result<TemplateCatalog> {
    let config = DrainConfig {
        extra_masks: masks,
        shape_drop_keys: Some(drop_keys),
        ..DrainConfig::default()
    };
    TemplateCatalog::try_new(config).context("invalid mask (from --mask or the --config file)")
}

/// `drop_keys` are a property of an archive's catalog, as masks are: shapes built without a key
/// would not match those built with it. An existing catalog keeps its keys (the config file may
/// leave them out); asking for a different set is an error. A catalog stored before the keys were
/// kept takes the ones given now, as every ingest did then. Returns the keys to ingest with.
pub(crate) fn settle_drop_keys(
    catalog: &mut TemplateCatalog,
    drop_keys: &[String],
    location: &str,
) -> anyhow::Result<Vec<String>> {
    let sorted = |keys: &[String]| {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        keys
    };
    let Some(have) = catalog.config().shape_drop_keys.clone() else {
        catalog.set_shape_drop_keys(drop_keys.to_vec());
        return Ok(drop_keys.to_vec());
    };
    if !drop_keys.is_empty() && sorted(&have) != sorted(drop_keys) {
        bail!(
            "the archive at {location} builds template shapes with drop_keys [{}]; drop_keys cannot \
             change on an existing archive (ingest into a new location, or give the same keys)",
            sorted(&have).join(", ")
        );
    }
    Ok(have)
}

/// Masks are a property of an archive's catalog: templates learnt with one set
/// would not match messages masked with another. An existing catalog keeps its
/// masks; asking for different ones is an error rather than a silent change.
pub(crate) fn check_masks(
    catalog: &TemplateCatalog,
    masks: &[MaskRule],
    location: &str,
) -> anyhow::Result<()> {
    let have = &catalog.config().extra_masks;
    if !masks.is_empty() && have.as_slice() != masks {
        let show = |m: &[MaskRule]| {
            m.iter()
                .map(|r| format!("{}={}", r.name, r.regex))
                .collect::<Vec<_>>()
                .join(", ")
        };
        bail!(
            "the archive at {location} templates with masks [{}]; masks cannot change on an existing archive \
             (ingest into a new location, or pass the same masks)",
            show(have)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_flag_spellings() {
        let m = parse_mask("ORDER=ORD-[0-9]+").unwrap();
        assert_eq!((m.name.as_str(), m.regex.as_str()), ("ORDER", "ORD-[0-9]+"));
        // Only the first `=` splits: regexes may contain `=`.
        assert_eq!(parse_mask("KV=a=b").unwrap().regex, "a=b");
        for bad in ["ORDER", "=x", "X=", ""] {
            assert!(parse_mask(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn config_file_parses_and_rejects_unknown_keys() {
        let c: ConfigFile =
            toml::from_str("drop_keys = [\"a\"]\n[[mask]]\nname = \"T\"\nregex = \"T-[0-9]+\"\n")
                .unwrap();
        assert_eq!(c.drop_keys, vec!["a"]);
        assert_eq!(masks(&c, &[MaskRule::new("U", "u+")]).len(), 2);
        assert!(toml::from_str::<ConfigFile>("drop_key = [\"a\"]").is_err());
        assert!(toml::from_str::<ConfigFile>("[[mask]]\nname = \"T\"\n").is_err());
    }

    #[test]
    fn a_bad_mask_in_the_file_is_named_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        for (regex, says) in [("", "the regex is empty"), ("(", "regex")] {
            std::fs::write(
                &path,
                format!("[[mask]]\nname = \"A\"\nregex = \"a\"\n[[mask]]\nname = \"E\"\nregex = \"{regex}\"\n"),
            )
            .unwrap();
            let err = format!("{:#}", ConfigFile::load(Some(&path)).unwrap_err());
            assert!(
                err.contains("c.toml")
                    && err.contains("[[mask]] number 2 (name = \"E\")")
                    && err.contains(says),
                "{err}"
            );
        }
        // The flag refuses the same masks when they are parsed.
        assert!(parse_mask("E=(").unwrap_err().contains("E"));
        assert!(parse_mask("bad name=x").is_err());
    }

    #[test]
    fn drop_keys_are_checked_against_an_existing_catalog() {
        let keys = |k: &[&str]| k.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let mut catalog = new_catalog(Vec::new(), keys(&["user", "req"])).unwrap();
        assert_eq!(
            catalog.config().shape_drop_keys,
            Some(keys(&["user", "req"]))
        );
        // None given keeps the archive's; the same set in any order is fine.
        let mut settle = |given: &[&str]| settle_drop_keys(&mut catalog, &keys(given), "x");
        assert_eq!(settle(&[]).unwrap(), keys(&["user", "req"]));
        assert_eq!(settle(&["req", "user"]).unwrap(), keys(&["user", "req"]));
        let err = settle(&["user"]).unwrap_err().to_string();
        assert!(err.contains("drop_keys [req, user]"), "{err}");
        // They survive the catalog's round trip through storage.
        let loaded = TemplateCatalog::from_json(&catalog.to_json()).unwrap();
        assert_eq!(
            loaded.config().shape_drop_keys,
            Some(keys(&["user", "req"]))
        );
        // A catalog stored before the keys were kept takes those given, then keeps them.
        let mut json: serde_json::Value = serde_json::from_str(&loaded.to_json()).unwrap();
        let config = json["config"].as_object_mut().expect("a stored config");
        assert!(config.remove("shape_drop_keys").is_some());
        let mut old = TemplateCatalog::from_json(&json.to_string()).unwrap();
        assert_eq!(old.config().shape_drop_keys, None);
        assert_eq!(
            settle_drop_keys(&mut old, &keys(&["user"]), "x").unwrap(),
            keys(&["user"])
        );
        assert_eq!(old.config().shape_drop_keys, Some(keys(&["user"])));
        assert!(settle_drop_keys(&mut old, &keys(&["req"]), "x").is_err());
    }

    #[test]
    fn masks_are_checked_against_an_existing_catalog() {
        let catalog = new_catalog(vec![MaskRule::new("T", "T-[0-9]+")], Vec::new()).unwrap();
        assert!(check_masks(&catalog, &[], "x").is_ok());
        assert!(check_masks(&catalog, &[MaskRule::new("T", "T-[0-9]+")], "x").is_ok());
        let err = check_masks(&catalog, &[MaskRule::new("U", "u")], "x")
            .unwrap_err()
            .to_string();
        assert!(err.contains("T=T-[0-9]+"), "{err}");
        assert!(new_catalog(vec![MaskRule::new("bad name", "x")], Vec::new()).is_err());
        assert!(new_catalog(vec![MaskRule::new("T", "(")], Vec::new()).is_err());
    }
}
