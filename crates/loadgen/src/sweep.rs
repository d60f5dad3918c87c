//! A sweep: levels run one after another in one process, each level's result written to disk as
//! soon as it ends, so an interrupted sweep keeps every level it finished and can be resumed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::io_err;
use crate::result::{LevelResult, SCHEMA, csv_header, csv_row};
use crate::runner::{ProgressFn, run_level};
use crate::{CancellationToken, Error, Level, Result, Workload};

/// Where a sweep's files go: `DIR/STEM.csv` and `DIR/STEM/level_<label>.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepOutput {
    /// The directory.
    pub dir: PathBuf,
    /// The file stem (`<comparison>_<variant>_<workload>` in the suites).
    pub stem: String,
    /// Keep the levels already on disk and run only the missing ones. Without it, existing files
    /// of the same stem are an error (nothing is overwritten).
    pub resume: bool,
}

impl SweepOutput {
    /// The CSV table of the sweep.
    pub fn csv_path(&self) -> PathBuf {
        self.dir.join(format!("{}.csv", self.stem))
    }

    /// The JSON file of one level.
    pub fn level_path(&self, label: &str) -> PathBuf {
        self.dir.join(&self.stem).join(format!("level_{label}.json"))
    }

    fn validate(&self) -> Result<()> {
        if self.stem.is_empty()
            || !self.stem.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(Error::config(format!(
                "result name {:?} must be non-empty ASCII letters, digits, '-', '_' or '.'",
                self.stem
            )));
        }
        Ok(())
    }
}

/// Levels to run one after another.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The levels, in order.
    pub levels: Vec<Level>,
    /// Where results are written, if anywhere.
    pub output: Option<SweepOutput>,
}

/// Reads a level result written earlier.
pub fn read_level(path: &Path) -> Result<LevelResult> {
    let text = fs::read_to_string(path).map_err(io_err("reading", path))?;
    let r: LevelResult = serde_json::from_str(&text).map_err(|e| Error::Format {
        action: "parsing",
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    if r.schema != SCHEMA {
        return Err(Error::Format {
            action: "reading",
            path: path.to_owned(),
            source: format!("schema {:?}, expected {SCHEMA:?}", r.schema).into(),
        });
    }
    Ok(r)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = fs::File::create(&tmp).map_err(io_err("creating", &tmp))?;
    f.write_all(bytes).map_err(io_err("writing", &tmp))?;
    f.sync_all().map_err(io_err("syncing", &tmp))?;
    fs::rename(&tmp, path).map_err(io_err("renaming into", path))
}

/// Writes `results` as the sweep's CSV table.
pub fn write_csv(path: &Path, results: &[LevelResult]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let fmt =
        |e: csv::Error| Error::Format { action: "encoding", path: path.to_owned(), source: Box::new(e) };
    w.write_record(csv_header()).map_err(fmt)?;
    for r in results {
        w.write_record(csv_row(r)).map_err(fmt)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Format {
        action: "encoding",
        path: path.to_owned(),
        source: Box::new(e.into_error()),
    })?;
    write_atomic(path, &bytes)
}

/// Writes one level's JSON.
pub fn write_level(path: &Path, r: &LevelResult) -> Result<()> {
    let json = serde_json::to_vec_pretty(r).map_err(|e| Error::Format {
        action: "encoding",
        path: path.to_owned(),
        source: Box::new(e),
    })?;
    write_atomic(path, &json)
}

impl Sweep {
    /// Checks the sweep before anything is sent: every level, labels unique, a valid result name,
    /// and (unless resuming) no results of the same name on disk already.
    pub fn validate(&self) -> Result<()> {
        let mut labels = std::collections::HashSet::new();
        for l in &self.levels {
            l.validate()?;
            if !labels.insert(l.label.as_str()) {
                return Err(Error::config(format!("level {:?} appears twice in the sweep", l.label)));
            }
        }
        if let Some(out) = &self.output {
            out.validate()?;
            if !out.resume && (out.csv_path().exists() || out.dir.join(&out.stem).exists()) {
                return Err(Error::config(format!(
                    "results named {:?} already exist in {}: resume them or choose another name",
                    out.stem,
                    out.dir.display()
                )));
            }
        }
        Ok(())
    }
}

/// Runs every level of `sweep` in order. `on_level` hears of each finished level (and whether it
/// was taken from disk by `resume`). Results so far stay on disk if the sweep is cancelled or a
/// level fails; a cancelled sweep returns [`Error::Stopped`].
pub async fn run_sweep<W: Workload>(
    workload: &Arc<W>,
    sweep: &Sweep,
    progress: Option<&ProgressFn>,
    cancel: &CancellationToken,
    on_level: &mut (dyn FnMut(&LevelResult, bool) + Send),
) -> Result<Vec<LevelResult>> {
    sweep.validate()?;
    if let Some(out) = &sweep.output {
        let folder = out.dir.join(&out.stem);
        fs::create_dir_all(&folder).map_err(io_err("creating", &folder))?;
    }
    let mut results = Vec::with_capacity(sweep.levels.len());
    for level in &sweep.levels {
        if cancel.is_cancelled() {
            return Err(Error::Stopped { level: level.label.clone() });
        }
        if let Some(out) = sweep.output.as_ref().filter(|o| o.resume) {
            let path = out.level_path(&level.label);
            if path.exists() {
                let r = read_level(&path)?;
                on_level(&r, true);
                results.push(r);
                continue;
            }
        }
        let r = run_level(workload, level, progress, cancel).await?;
        if let Some(out) = &sweep.output {
            write_level(&out.level_path(&level.label), &r)?;
            results.push(r);
            write_csv(&out.csv_path(), &results)?;
        } else {
            results.push(r);
        }
        if let Some(r) = results.last() {
            on_level(r, false);
        }
    }
    Ok(results)
}
