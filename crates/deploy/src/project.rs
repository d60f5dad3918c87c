//! Where the project's files are: the repository root and the default paths under it.

use std::path::{Path, PathBuf};

/// The servebench checkout: its root and the default locations of the files `deploy` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The repository root (the directory holding `suites/requirements.txt`).
    pub root: PathBuf,
}

impl Project {
    /// The project rooted at `root`.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Finds the root: the nearest ancestor of the current directory that holds
    /// `suites/requirements.txt`, else the checkout this crate was built from.
    pub fn discover() -> Self {
        if let Ok(cwd) = std::env::current_dir()
            && let Some(root) = find_root(&cwd)
        {
            return Self::at(root);
        }
        let built_from = Path::new(env!("CARGO_MANIFEST_DIR"));
        Self::at(find_root(built_from).unwrap_or_else(|| built_from.join("../..")))
    }

    /// `suites/requirements.txt`.
    pub fn requirements(&self) -> PathBuf {
        self.root.join("suites/requirements.txt")
    }

    /// The project's virtual environment, `.venv`.
    pub fn venv(&self) -> PathBuf {
        self.root.join(".venv")
    }

    /// A suite's folder, e.g. `suites/features`.
    pub fn suite(&self, name: &str) -> PathBuf {
        self.root.join("suites").join(name)
    }

    /// `suites/<suite>/configs/variants.toml`.
    pub fn variants_file(&self, suite: &str) -> PathBuf {
        self.suite(suite).join("configs/variants.toml")
    }

    /// `suites/<suite>/configs/apps.toml`.
    pub fn apps_file(&self, suite: &str) -> PathBuf {
        self.suite(suite).join("configs/apps.toml")
    }
}

fn find_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|dir| dir.join("suites/requirements.txt").is_file()).map(Path::to_path_buf)
}
