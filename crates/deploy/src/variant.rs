//! Variants: named sets of environment variables (Ray Serve's flags), loaded from a TOML
//! file so that a user can add one without recompiling.
//!
//! ```toml
//! [[variant]]
//! name = "grpc"
//! description = "gRPC between deployments"
//! env = { RAY_SERVE_USE_GRPC_BY_DEFAULT = "1" }
//! ```
//!
//! A variant's `env` is the complete set of flags it sets; every other `RAY_*` variable of
//! the caller's environment is removed before a local cluster starts, so `env = {}` means
//! "all flags unset" (Ray's defaults).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::DeployError;

/// One variant: a name and the environment variables it exports before Ray starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variant {
    /// Short identifier, `[A-Za-z0-9_-]+`; used in service names and file names.
    pub name: String,
    /// One line for people.
    #[serde(default)]
    pub description: String,
    /// Environment variables, exactly as Ray reads them (booleans are true only for "1").
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

impl Variant {
    /// A variant with no flags set.
    pub fn baseline() -> Self {
        Self {
            name: "baseline".to_owned(),
            description: "all optimization flags unset".to_owned(),
            env: BTreeMap::new(),
        }
    }
}

/// The variants of a file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantSet {
    /// The variants, in the order the file lists them.
    #[serde(rename = "variant", default)]
    pub variants: Vec<Variant>,
}

impl VariantSet {
    /// Reads and validates a variants file.
    pub fn load(path: &Path) -> Result<Self, DeployError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| DeployError::ReadFile { path: path.to_path_buf(), source })?;
        Self::parse(&text, path)
    }

    /// Parses and validates variants from TOML text; `path` only names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, DeployError> {
        let invalid =
            |message: String| DeployError::Config { what: "variants", path: PathBuf::from(path), message };
        let set: VariantSet = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut seen = std::collections::BTreeSet::new();
        for v in &set.variants {
            if !is_identifier(&v.name) {
                return Err(invalid(format!(
                    "variant name `{}` must be non-empty and use only A-Z a-z 0-9 _ -",
                    v.name
                )));
            }
            if !seen.insert(v.name.as_str()) {
                return Err(invalid(format!("variant `{}` is listed twice", v.name)));
            }
            for (key, value) in &v.env {
                if !is_env_name(key) {
                    return Err(invalid(format!(
                        "variant `{}`: `{key}` is not an environment variable name",
                        v.name
                    )));
                }
                if value.contains('\0') {
                    return Err(invalid(format!("variant `{}`: value of {key} contains a NUL byte", v.name)));
                }
            }
        }
        if set.variants.is_empty() {
            return Err(invalid("no [[variant]] tables".to_owned()));
        }
        Ok(set)
    }

    /// The variant named `name`.
    pub fn get(&self, name: &str) -> Result<&Variant, DeployError> {
        self.variants.iter().find(|v| v.name == name).ok_or_else(|| {
            DeployError::NotFound(format!("no variant `{name}`; known: {}", self.names().join(", ")))
        })
    }

    /// The names, in file order.
    pub fn names(&self) -> Vec<&str> {
        self.variants.iter().map(|v| v.name.as_str()).collect()
    }
}

pub(crate) fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
