//! Reading result directories: every sweep a directory holds, in any format the report knows, and
//! a [`Warning`] naming each file that was skipped.
//!
//! A directory holds sweeps named `<comparison>_<variant>_<workload>`: a CSV of that stem and/or a
//! folder of per-level JSON of the same stem. The CSV is the sweep; the folder is read only when
//! there is no CSV (or, for the original unary CSV, to learn the failure counts the CSV lacks).
//! Sub-directories that are not level folders are read as nested suites. Unknown or malformed
//! files never stop the report: they are skipped and named in a warning.

mod original;
mod servebench;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::model::{Level, SourceFormat, Sweep, parse_stem};

/// How deep nested suites are looked for below an input directory.
const MAX_DEPTH: usize = 6;

/// A file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The file (or folder) that was skipped or only partly used.
    pub path: PathBuf,
    /// Why.
    pub message: String,
}

impl Warning {
    pub(crate) fn new(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.message)
    }
}

/// What was read from one or more result directories.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// Every sweep that was read, sorted by suite, comparison, workload and variant.
    pub sweeps: Vec<Sweep>,
    /// Every file that was skipped, with the reason.
    pub warnings: Vec<Warning>,
}

impl Loaded {
    fn extend(&mut self, other: Loaded) {
        self.sweeps.extend(other.sweeps);
        self.warnings.extend(other.warnings);
    }

    fn sort(&mut self) {
        self.sweeps.sort_by(|a, b| {
            (&a.suite, &a.comparison, &a.workload, &a.variant).cmp(&(
                &b.suite,
                &b.comparison,
                &b.workload,
                &b.variant,
            ))
        });
    }
}

/// Reads every sweep in `dir`. The suite of its sweeps is the directory's name; sweeps in
/// sub-directories belong to the suite `<sub-directory>` (or `<a>/<b>` deeper down).
///
/// Fails only when `dir` itself cannot be read; bad files become warnings.
pub fn load_dir(dir: impl AsRef<Path>) -> Result<Loaded> {
    let dir = dir.as_ref();
    load_dir_as(dir, &suite_name_of(dir))
}

/// Reads several result directories (see [`load_dir`]). When a suite name turns up in more than
/// one of them (`old/features` and `new/features`, or two inputs that both hold `features/`), those
/// suites are named by the input's path as given (`old/features`, `runs/a/features`) instead.
pub fn load_dirs<P: AsRef<Path>>(dirs: &[P]) -> Result<Loaded> {
    let mut inputs = Vec::new();
    for dir in dirs {
        let dir = dir.as_ref();
        let own = suite_name_of(dir);
        let loaded = load_dir_as(dir, &own)?;
        inputs.push((dir.display().to_string(), own, loaded));
    }
    let mut owners: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (i, (_, _, loaded)) in inputs.iter().enumerate() {
        for s in &loaded.sweeps {
            owners.entry(s.suite.clone()).or_default().insert(i);
        }
    }
    let mut all = Loaded::default();
    for (display, own, mut loaded) in inputs {
        for s in &mut loaded.sweeps {
            if owners.get(&s.suite).is_some_and(|o| o.len() > 1) {
                s.suite = if s.suite == own { display.clone() } else { format!("{display}/{}", s.suite) };
            }
        }
        all.extend(loaded);
    }
    all.sort();
    Ok(all)
}

/// Reads every sweep in `dir`, naming its suite `suite`.
pub fn load_dir_as(dir: impl AsRef<Path>, suite: &str) -> Result<Loaded> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return match fs::metadata(dir) {
            Err(e) => Err(Error::io(dir, e)),
            Ok(_) => Err(Error::NotADirectory(dir.to_path_buf())),
        };
    }
    let mut loaded = Loaded::default();
    read_suite(dir, suite, 0, &mut loaded)?;
    loaded.sort();
    Ok(loaded)
}

fn suite_name_of(dir: &Path) -> String {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    canonical
        .file_name()
        .or_else(|| dir.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// Files a report writes or that document results: never sweeps, never worth a warning.
fn is_ignored(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    name.starts_with('.') || [".png", ".svg", ".md"].iter().any(|ext| lower.ends_with(ext))
}

/// What a suite's run folder holds besides its comparison sweeps (see the README's layout).
fn is_run_bookkeeping(name: &str, is_dir: bool) -> bool {
    if is_dir {
        matches!(name, "deployments" | "sweeps" | "report" | "anyscale")
    } else {
        name.starts_with("manifest") && name.ends_with(".json")
    }
}

fn sorted_entries(dir: &Path) -> Result<Vec<(String, PathBuf, bool)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, path.clone(), path.is_dir()));
    }
    out.sort();
    Ok(out)
}

fn read_suite(dir: &Path, suite: &str, depth: usize, loaded: &mut Loaded) -> Result<()> {
    let entries = sorted_entries(dir)?;
    let csv_stems: BTreeSet<String> = entries
        .iter()
        .filter(|(name, _, is_dir)| !is_dir && name.to_ascii_lowercase().ends_with(".csv"))
        .filter_map(|(name, _, _)| name.get(..name.len() - 4).map(str::to_string))
        .collect();
    // Loose per-level JSON files (`<stem>_<n>.json`) next to the CSVs, grouped by stem.
    let mut loose_json: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    // A suite's run folder (it has a manifest.json): its manifests, its deployment records, the
    // measured sweeps it pairs into comparison files, and earlier reports are not sweeps.
    let run_folder = entries.iter().any(|(name, _, is_dir)| !is_dir && name == "manifest.json");

    for (name, path, is_dir) in &entries {
        if is_ignored(name) || (run_folder && is_run_bookkeeping(name, *is_dir)) {
            continue;
        }
        if *is_dir {
            if csv_stems.contains(name.as_str()) {
                continue; // the level folder of a CSV: read with the CSV when needed
            }
            if parse_stem(name).is_some() && has_json(path) {
                read_level_folder(path, name, suite, loaded);
            } else if depth < MAX_DEPTH {
                let nested = if depth == 0 { name.clone() } else { format!("{suite}/{name}") };
                read_suite(path, &nested, depth + 1, loaded)?;
            }
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            let stem = &name[..name.len() - 4];
            match read_csv_sweep(path, stem, suite) {
                Ok((sweep, warnings)) => {
                    loaded.sweeps.push(sweep);
                    loaded.warnings.extend(warnings);
                }
                Err(message) => loaded.warnings.push(Warning::new(path, message)),
            }
        } else if lower.ends_with(".json") {
            match loose_level_stem(&name[..name.len() - 5]) {
                Some(stem) if !csv_stems.contains(&stem) => {
                    loose_json.entry(stem).or_default().push(path.clone());
                }
                Some(_) => {} // a level of a sweep whose CSV is here
                None => loaded.warnings.push(Warning::new(
                    path,
                    "unknown JSON file: not a per-level result named <comparison>_<variant>_<workload>_<concurrency>.json",
                )),
            }
        } else {
            loaded.warnings.push(Warning::new(path, "unknown file: not a sweep CSV or per-level JSON"));
        }
    }
    for (stem, files) in loose_json {
        read_level_files(dir, &files, &stem, suite, loaded);
    }
    Ok(())
}

fn has_json(dir: &Path) -> bool {
    fs::read_dir(dir)
        .map(|rd| {
            rd.flatten().any(|e| e.file_name().to_string_lossy().to_ascii_lowercase().ends_with(".json"))
        })
        .unwrap_or(false)
}

/// `allon8_off_unary_128` -> `allon8_off_unary`: the stem of a loose per-level JSON file.
fn loose_level_stem(name: &str) -> Option<String> {
    let (stem, n) = name.rsplit_once('_')?;
    n.parse::<u64>().ok()?;
    parse_stem(stem)?;
    Some(stem.to_string())
}

/// Reads one sweep CSV; `Err` is the reason the whole file is skipped. The warnings are about
/// the sibling level folder (the file itself is used).
fn read_csv_sweep(
    path: &Path,
    stem: &str,
    suite: &str,
) -> std::result::Result<(Sweep, Vec<Warning>), String> {
    let Some(parts) = parse_stem(stem) else {
        return Err("unknown CSV file: its name is not <comparison>_<variant>_<workload>.csv".into());
    };
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    let header = {
        let mut rdr = csv::ReaderBuilder::new().from_reader(bytes.as_slice());
        rdr.headers()
            .map_err(|e| format!("malformed CSV header: {e}"))?
            .iter()
            .map(|h| h.trim().to_string())
            .collect::<Vec<_>>()
    };
    let has = |c: &str| header.iter().any(|h| h == c);
    let mut warnings = Vec::new();
    let (format, mut levels) = if header.first().map(String::as_str) == Some("schema") {
        (SourceFormat::ServebenchCsv, servebench::read_csv(&bytes)?)
    } else if has("concurrency") && has("rps") && has("p99_ms") {
        let mut levels = original::read_unary_csv(&bytes)?;
        let folder = path.with_extension("");
        if folder.is_dir() {
            warnings.extend(original::add_locust_error_rates(&folder, &mut levels));
        }
        (SourceFormat::OriginalUnaryCsv, levels)
    } else if has("concurrency") && has("system_tokens_per_sec") && has("e2e_p99") {
        (SourceFormat::OriginalStreamingCsv, original::read_streaming_csv(&bytes)?)
    } else {
        let shown: Vec<&str> = header.iter().take(4).map(String::as_str).collect();
        return Err(format!("unknown CSV format (header starts with `{}`)", shown.join(",")));
    };
    if levels.is_empty() {
        return Err("no levels (header only)".into());
    }
    sort_levels(&mut levels);
    Ok((
        Sweep {
            suite: suite.to_string(),
            comparison: parts.comparison,
            variant: parts.variant,
            workload: parts.workload,
            format,
            path: path.to_path_buf(),
            levels,
        },
        warnings,
    ))
}

fn sort_levels(levels: &mut [Level]) {
    levels.sort_by(|a, b| {
        a.concurrency
            .cmp(&b.concurrency)
            .then(a.rate_rps.unwrap_or(0.0).total_cmp(&b.rate_rps.unwrap_or(0.0)))
    });
}

/// A folder `<stem>/` of per-level JSON without a CSV: the sweep is read from the folder.
fn read_level_folder(folder: &Path, stem: &str, suite: &str, loaded: &mut Loaded) {
    let files: Vec<PathBuf> = match sorted_entries(folder) {
        Ok(entries) => entries
            .into_iter()
            .filter(|(name, _, is_dir)| !is_dir && !is_ignored(name))
            .map(|(_, path, _)| path)
            .collect(),
        Err(e) => {
            loaded.warnings.push(Warning::new(folder, e.to_string()));
            return;
        }
    };
    read_level_files(folder, &files, stem, suite, loaded);
}

/// Builds one sweep from per-level JSON files (ours or Locust's); `origin` names the sweep.
fn read_level_files(origin: &Path, files: &[PathBuf], stem: &str, suite: &str, loaded: &mut Loaded) {
    let Some(parts) = parse_stem(stem) else {
        return;
    };
    let mut levels = Vec::new();
    let mut formats = BTreeSet::new();
    for file in files {
        let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        if !name.to_ascii_lowercase().ends_with(".json") {
            loaded.warnings.push(Warning::new(file, "unknown file in a level folder"));
            continue;
        }
        match read_level_json(file, &name) {
            Ok((format, level)) => {
                formats.insert(format as u8);
                levels.push((format, level));
            }
            Err(message) => loaded.warnings.push(Warning::new(file, message)),
        }
    }
    if levels.is_empty() {
        loaded.warnings.push(Warning::new(origin, format!("no readable levels for {stem}")));
        return;
    }
    if formats.len() > 1 {
        loaded
            .warnings
            .push(Warning::new(origin, format!("{stem}: mixes servebench and Locust level files")));
    }
    let format = levels[0].0;
    let mut levels: Vec<Level> = levels.into_iter().map(|(_, l)| l).collect();
    sort_levels(&mut levels);
    let path = if files.len() == 1 || origin.file_name().map(|n| n.to_string_lossy() == stem) == Some(true) {
        origin.to_path_buf()
    } else {
        origin.join(format!("{stem}_*.json"))
    };
    loaded.sweeps.push(Sweep {
        suite: suite.to_string(),
        comparison: parts.comparison,
        variant: parts.variant,
        workload: parts.workload,
        format,
        path,
        levels,
    });
}

fn read_level_json(path: &Path, name: &str) -> std::result::Result<(SourceFormat, Level), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("malformed JSON: {e}"))?;
    if value.get("schema").is_some() {
        servebench::level_from_json(&value).map(|l| (SourceFormat::ServebenchJson, l))
    } else if value.is_array() {
        let stem = &name[..name.len() - 5];
        let concurrency = stem
            .rsplit_once('_')
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .ok_or("Locust stats file name does not end in _<concurrency>.json")?;
        original::level_from_locust(&value, concurrency).map(|l| (SourceFormat::LocustJson, l))
    } else {
        Err("unknown JSON format: neither a servebench level nor Locust stats".into())
    }
}
