//! Reading result directories: every sweep a directory holds, in any format the report knows,
//! what the sweeps are for (comparisons, scaling studies), and a [`Warning`] naming each file that
//! was skipped.
//!
//! A run folder with an `index.json` is read from its index ([`index`]): the suite says what it
//! measured and what for. Any other directory is read by names, as the original suite wrote
//! them: sweeps `<comparison>_<variant>_<workload>` (a CSV of that stem and/or a folder of
//! per-level JSON of the same stem), recsys folder pairs `<name>-optimized` /
//! `<name>-unoptimized` of Locust stats, and the LLM suite's `results_<engine>/` (a bare engine
//! sweep) beside `replica_sweep_<variant>/` folders (a scaling study). Sub-directories that are
//! none of these are read as nested suites. Unknown or malformed files never stop the report:
//! they are skipped and named in a warning.

mod index;
mod original;
mod servebench;
mod vllm;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

pub use index::{
    INDEX_FILE, INDEX_SCHEMA, IndexComparison, IndexScaling, IndexStudy, IndexSweep, IndexWorkload, RunIndex,
};

use crate::error::{Error, Result};
use crate::model::{
    MeasuredLevel, MeasuredSweep, SourceFormat, Stem, WorkloadFamily, baseline_rank, parse_dashed_variant,
    parse_stem,
};
use crate::study::{ComparisonStudy, ScalingStudy, WorkloadInfo};

/// How deep nested suites are looked for below an input directory.
const MAX_DEPTH: usize = 6;

/// The name of the scaling study made from `replica_sweep_*` folders.
pub const REPLICA_SWEEP_STUDY: &str = "replica_sweep";

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
    /// Every sweep that was read, sorted by suite, workload, variant and replica count.
    pub sweeps: Vec<MeasuredSweep>,
    /// Every comparison of a baseline with treatments (sweeps by index into `sweeps`).
    pub comparisons: Vec<ComparisonStudy>,
    /// Every scaling study (sweeps by index into `sweeps`).
    pub scalings: Vec<ScalingStudy>,
    /// What run indexes say about their workloads.
    pub workloads: Vec<WorkloadInfo>,
    /// Every file that was skipped, with the reason.
    pub warnings: Vec<Warning>,
    /// What the runs' manifests say that changes how the figures read, one sentence each.
    pub notes: Vec<String>,
}

impl Loaded {
    /// What the run says about `workload` of `suite`, if it says anything.
    pub fn workload_info(&self, suite: &str, workload: &str) -> Option<&WorkloadInfo> {
        self.workloads.iter().find(|w| w.suite == suite && w.name == workload)
    }

    /// Appends `other`, shifting its sweep indices.
    fn extend(&mut self, other: Loaded) {
        let offset = self.sweeps.len();
        let shift = |i: usize| i + offset;
        self.sweeps.extend(other.sweeps);
        self.comparisons.extend(other.comparisons.into_iter().map(|mut c| {
            c.baseline = c.baseline.map(shift);
            c.treatments.iter_mut().for_each(|i| *i = shift(*i));
            c
        }));
        self.scalings.extend(other.scalings.into_iter().map(|mut s| {
            s.sweeps.iter_mut().chain(&mut s.baseline).for_each(|i| *i = shift(*i));
            s
        }));
        self.workloads.extend(other.workloads);
        self.warnings.extend(other.warnings);
        for note in other.notes {
            if !self.notes.contains(&note) {
                self.notes.push(note);
            }
        }
    }

    /// Renames every suite (of sweeps, studies and workloads) by `rename`.
    fn rename_suites(&mut self, rename: impl Fn(&str) -> Option<String>) {
        let apply = |s: &mut String| {
            if let Some(new) = rename(s) {
                *s = new;
            }
        };
        self.sweeps.iter_mut().for_each(|x| apply(&mut x.suite));
        self.comparisons.iter_mut().for_each(|x| apply(&mut x.suite));
        self.scalings.iter_mut().for_each(|x| apply(&mut x.suite));
        self.workloads.iter_mut().for_each(|x| apply(&mut x.suite));
    }

    /// Sorts sweeps (keeping the studies' indices right) and studies.
    fn sort(&mut self) {
        let key = |s: &MeasuredSweep| {
            (
                s.suite.clone(),
                WorkloadFamily::of(&s.workload),
                s.workload.clone(),
                s.variant.clone(),
                s.replicas,
                s.layout.clone(),
                s.study.clone(),
            )
        };
        let mut order: Vec<usize> = (0..self.sweeps.len()).collect();
        order.sort_by_key(|&i| key(&self.sweeps[i]));
        let mut new_index = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_index[old] = new;
        }
        let mut old: Vec<Option<MeasuredSweep>> =
            std::mem::take(&mut self.sweeps).into_iter().map(Some).collect();
        self.sweeps = order.iter().filter_map(|&i| old[i].take()).collect();
        for c in &mut self.comparisons {
            c.baseline = c.baseline.map(|i| new_index[i]);
            c.treatments.iter_mut().for_each(|i| *i = new_index[*i]);
        }
        for s in &mut self.scalings {
            s.sweeps.iter_mut().chain(&mut s.baseline).for_each(|i| *i = new_index[*i]);
        }
        self.comparisons.sort_by(|a, b| {
            (&a.suite, &a.name, WorkloadFamily::of(&a.workload), &a.workload).cmp(&(
                &b.suite,
                &b.name,
                WorkloadFamily::of(&b.workload),
                &b.workload,
            ))
        });
        self.scalings.sort_by(|a, b| (&a.suite, &a.name, &a.workload).cmp(&(&b.suite, &b.name, &b.workload)));
    }
}

/// Reads every sweep in `dir`. The suite of its sweeps is the run index's suite, or the
/// directory's name; sweeps in sub-directories belong to the suite `<sub-directory>` (or
/// `<a>/<b>` deeper down) unless an index there names it.
///
/// Fails only when `dir` itself cannot be read; bad files become warnings.
pub fn load_dir(dir: impl AsRef<Path>) -> Result<Loaded> {
    let dir = dir.as_ref();
    load(dir, &suite_name_of(dir), false)
}

/// Reads several result directories (see [`load_dir`]). When a suite name turns up in more than
/// one of them (`old/features` and `new/features`, or two inputs that both hold `features/`), those
/// suites are named by the input's path as given (`old/features`, `runs/a/features`) instead.
pub fn load_dirs<P: AsRef<Path>>(dirs: &[P]) -> Result<Loaded> {
    let mut inputs = Vec::new();
    for dir in dirs {
        let dir = dir.as_ref();
        let own = suite_name_of(dir);
        let loaded = load(dir, &own, false)?;
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
        loaded.rename_suites(|suite| {
            owners
                .get(suite)
                .is_some_and(|o| o.len() > 1)
                .then(|| if suite == own { display.clone() } else { format!("{display}/{suite}") })
        });
        all.extend(loaded);
    }
    all.sort();
    Ok(all)
}

/// Reads every sweep in `dir`, naming its suite `suite` (even where a run index names another).
pub fn load_dir_as(dir: impl AsRef<Path>, suite: &str) -> Result<Loaded> {
    load(dir.as_ref(), suite, true)
}

fn load(dir: &Path, suite: &str, explicit: bool) -> Result<Loaded> {
    if !dir.is_dir() {
        return match fs::metadata(dir) {
            Err(e) => Err(Error::read(dir, e)),
            Ok(_) => Err(Error::NotADirectory(dir.to_path_buf())),
        };
    }
    let mut loaded = Loaded::default();
    read_suite(dir, suite, explicit, 0, &mut loaded)?;
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
pub(crate) fn is_ignored(name: &str) -> bool {
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
    for entry in fs::read_dir(dir).map_err(|e| Error::read(dir, e))? {
        let entry = entry.map_err(|e| Error::read(dir, e))?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        out.push((name, path.clone(), path.is_dir()));
    }
    out.sort();
    Ok(out)
}

/// Sweeps found in one directory by their names, before they are put into studies.
#[derive(Debug, Default)]
struct Found {
    /// Sweeps named `<comparison>_<variant>_<workload>` (or `<comparison>-<variant>`), with their
    /// comparison.
    named: Vec<(String, MeasuredSweep)>,
    /// `replica_sweep_<variant>` folders: one sweep per N.
    replica_sweeps: Vec<MeasuredSweep>,
    /// `results_<engine>` folders: bare engine sweeps.
    engines: Vec<MeasuredSweep>,
}

fn read_suite(dir: &Path, suite: &str, explicit: bool, depth: usize, loaded: &mut Loaded) -> Result<()> {
    let index_path = dir.join(INDEX_FILE);
    if index_path.is_file() {
        match index::read_run(dir, explicit.then_some(suite)) {
            Ok(run) => {
                loaded.extend(run);
                return Ok(());
            }
            Err(message) => loaded.warnings.push(Warning::new(
                &index_path,
                format!("{message}; the folder is read by file names instead"),
            )),
        }
    }
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
    let mut found = Found::default();

    for (name, path, is_dir) in &entries {
        if is_ignored(name) || (run_folder && is_run_bookkeeping(name, *is_dir)) || path == &index_path {
            continue;
        }
        if *is_dir {
            if csv_stems.contains(name.as_str()) {
                continue; // the level folder of a CSV: read with the CSV
            }
            if let Some(variant) = name.strip_prefix(vllm::REPLICA_SWEEP_PREFIX).filter(|v| !v.is_empty()) {
                read_replica_folder(path, suite, variant, &mut found, loaded);
            } else if let Some(engine) =
                name.strip_prefix(vllm::ENGINE_PREFIX).filter(|e| !e.is_empty() && has_json(path))
            {
                read_engine_folder(path, suite, engine, &mut found, loaded);
            } else if let (Some(stem), true) = (parse_stem(name), has_json(path)) {
                read_level_folder(path, stem, suite, &mut found, loaded);
            } else if let (Some((comparison, variant)), true) = (parse_dashed_variant(name), has_json(path)) {
                let workload = WorkloadFamily::of(&comparison).name().unwrap_or(&comparison).to_string();
                read_level_folder(path, Stem { comparison, variant, workload }, suite, &mut found, loaded);
            } else if depth < MAX_DEPTH {
                let nested = if depth == 0 { name.clone() } else { format!("{suite}/{name}") };
                read_suite(path, &nested, false, depth + 1, loaded)?;
            }
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".csv") {
            let stem = &name[..name.len() - 4];
            match read_csv_sweep(path, stem, suite) {
                Ok((comparison, sweep, warnings)) => {
                    found.named.push((comparison, sweep));
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
        if let Some(parts) = parse_stem(&stem) {
            read_level_files(dir, false, &files, parts, suite, &mut found, loaded);
        }
    }
    add_found(found, suite, loaded);
    Ok(())
}

/// Puts the sweeps found by name into `loaded` with their studies: named sweeps of the same
/// comparison and workload are compared (the baseline is the preferred baseline name among
/// them); replica sweeps make one scaling study, with the engines beside them as its baseline.
fn add_found(found: Found, suite: &str, loaded: &mut Loaded) {
    let mut groups: BTreeMap<(String, String), Vec<MeasuredSweep>> = BTreeMap::new();
    for (comparison, sweep) in found.named {
        groups.entry((comparison, sweep.workload.clone())).or_default().push(sweep);
    }
    for ((name, workload), mut sweeps) in groups {
        sweeps.sort_by(|a, b| {
            let rank = |s: &MeasuredSweep| baseline_rank(&s.variant).unwrap_or(usize::MAX);
            rank(a).cmp(&rank(b)).then(a.variant.cmp(&b.variant))
        });
        let has_baseline = sweeps.first().is_some_and(MeasuredSweep::is_baseline);
        let first = loaded.sweeps.len();
        let n = sweeps.len();
        loaded.sweeps.extend(sweeps);
        let (baseline, treatments) = if has_baseline {
            (Some(first), (first + 1..first + n).collect())
        } else {
            (None, (first..first + n).collect())
        };
        loaded.comparisons.push(ComparisonStudy {
            suite: suite.to_string(),
            name,
            description: None,
            workload,
            baseline,
            treatments,
            at_users: None,
        });
    }

    let engines: Vec<usize> = found
        .engines
        .into_iter()
        .map(|s| {
            loaded.sweeps.push(s);
            loaded.sweeps.len() - 1
        })
        .collect();
    if found.replica_sweeps.is_empty() {
        return;
    }
    let mut variants: Vec<String> = found.replica_sweeps.iter().map(|s| s.variant.clone()).collect();
    variants.sort_by_key(|v| (v != "optimized", v != "unoptimized", v.clone()));
    variants.dedup();
    let workload = found.replica_sweeps[0].workload.clone();
    let sweeps = found
        .replica_sweeps
        .into_iter()
        .map(|s| {
            loaded.sweeps.push(s);
            loaded.sweeps.len() - 1
        })
        .collect();
    loaded.scalings.push(ScalingStudy {
        suite: suite.to_string(),
        name: REPLICA_SWEEP_STUDY.to_string(),
        description: None,
        workload,
        variants,
        sweeps,
        baseline: engines,
    });
}

/// A `replica_sweep_<variant>` folder: `<N>_replicas.json` files, one sweep per N (of one level,
/// 256 x N users in the original).
fn read_replica_folder(folder: &Path, suite: &str, variant: &str, found: &mut Found, loaded: &mut Loaded) {
    let (levels, warnings) = vllm::read_folder(folder);
    loaded.warnings.extend(warnings);
    let mut any = false;
    for (kind, path, level) in levels {
        let vllm::FileKind::Replicas(n) = kind else {
            loaded
                .warnings
                .push(Warning::new(&path, "a concurrency_<c>.json file in a replica sweep folder"));
            continue;
        };
        any = true;
        found.replica_sweeps.push(MeasuredSweep {
            layout: Some(format!("n{n}")),
            replicas: Some(n),
            levels: vec![level],
            ..MeasuredSweep::new(suite, variant, "llm", SourceFormat::VllmJson, path)
        });
    }
    if !any {
        loaded.warnings.push(Warning::new(folder, "no readable <N>_replicas.json levels"));
    }
}

/// A `results_<engine>` folder: `concurrency_<c>.json` files, one sweep of the bare engine.
fn read_engine_folder(folder: &Path, suite: &str, engine: &str, found: &mut Found, loaded: &mut Loaded) {
    let (levels, warnings) = vllm::read_folder(folder);
    loaded.warnings.extend(warnings);
    let mut sweep = MeasuredSweep {
        layout: Some("bare".to_string()),
        replicas: Some(1),
        external: true,
        ..MeasuredSweep::new(suite, engine, "llm", SourceFormat::VllmJson, folder)
    };
    for (kind, path, level) in levels {
        match kind {
            vllm::FileKind::Concurrency(_) => sweep.levels.push(level),
            vllm::FileKind::Replicas(_) => {
                loaded.warnings.push(Warning::new(&path, "an <N>_replicas.json file in a bare engine folder"))
            }
        }
    }
    if sweep.levels.is_empty() {
        loaded.warnings.push(Warning::new(folder, "no readable concurrency_<c>.json levels"));
        return;
    }
    sort_levels(&mut sweep.levels);
    found.engines.push(sweep);
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

/// Reads the levels of a CSV of any known format (by its header); `Err` is the reason the whole
/// file is skipped. The warnings are about the sibling level folder (the file itself is used):
/// the original unary CSV learns its error rates from the Locust files there, this project's CSV
/// takes each level that has a JSON file from it (`docs/results-schema.md`).
pub(crate) fn csv_levels(
    path: &Path,
) -> std::result::Result<(SourceFormat, Vec<MeasuredLevel>, Vec<Warning>), String> {
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
    let folder = path.with_extension("");
    let (format, mut levels) = if header.first().map(String::as_str) == Some("schema") {
        let levels = servebench::read_csv(&bytes)?;
        (SourceFormat::ServebenchCsv, levels)
    } else if has("concurrency") && has("rps") && has("p99_ms") {
        let mut levels = original::read_unary_csv(&bytes)?;
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
    if format == SourceFormat::ServebenchCsv && folder.is_dir() {
        let (json, w) = servebench::read_level_folder(&folder);
        warnings.extend(w);
        levels = servebench::merge_levels(levels, json.into_iter().map(|(_, l)| l).collect());
    }
    sort_levels(&mut levels);
    Ok((format, levels, warnings))
}

/// Reads one sweep CSV named `<comparison>_<variant>_<workload>.csv`; returns its comparison.
fn read_csv_sweep(
    path: &Path,
    stem: &str,
    suite: &str,
) -> std::result::Result<(String, MeasuredSweep, Vec<Warning>), String> {
    let Some(parts) = parse_stem(stem) else {
        return Err("unknown CSV file: its name is not <comparison>_<variant>_<workload>.csv".into());
    };
    let (format, levels, warnings) = csv_levels(path)?;
    let sweep =
        MeasuredSweep { levels, ..MeasuredSweep::new(suite, parts.variant, parts.workload, format, path) };
    Ok((parts.comparison, sweep, warnings))
}

pub(crate) fn sort_levels(levels: &mut [MeasuredLevel]) {
    levels.sort_by(|a, b| {
        a.concurrency
            .cmp(&b.concurrency)
            .then(a.rate_rps.unwrap_or(0.0).total_cmp(&b.rate_rps.unwrap_or(0.0)))
            .then(a.repeat.cmp(&b.repeat))
    });
}

/// A folder of per-level JSON without a CSV: the sweep is read from the folder.
fn read_level_folder(folder: &Path, stem: Stem, suite: &str, found: &mut Found, loaded: &mut Loaded) {
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
    read_level_files(folder, true, &files, stem, suite, found, loaded);
}

/// Builds one sweep from per-level JSON files (ours, Locust's or vLLM's); `origin` is where they
/// are: their level folder (`is_folder`) or the directory they lie loose in.
fn read_level_files(
    origin: &Path,
    is_folder: bool,
    files: &[PathBuf],
    stem: Stem,
    suite: &str,
    found: &mut Found,
    loaded: &mut Loaded,
) {
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
    let display = format!("{}_{}_{}", stem.comparison, stem.variant, stem.workload);
    if levels.is_empty() {
        loaded.warnings.push(Warning::new(origin, format!("no readable levels for {display}")));
        return;
    }
    if formats.len() > 1 {
        loaded
            .warnings
            .push(Warning::new(origin, format!("{display}: mixes servebench and Locust level files")));
    }
    let format = levels[0].0;
    let mut levels: Vec<MeasuredLevel> = levels.into_iter().map(|(_, l)| l).collect();
    sort_levels(&mut levels);
    let path = match files {
        _ if is_folder => origin.to_path_buf(),
        [one] => one.clone(),
        _ => origin.join(format!("{display}_*.json")),
    };
    found.named.push((
        stem.comparison,
        MeasuredSweep { levels, ..MeasuredSweep::new(suite, stem.variant, stem.workload, format, path) },
    ));
}

fn read_level_json(path: &Path, name: &str) -> std::result::Result<(SourceFormat, MeasuredLevel), String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("malformed JSON: {e}"))?;
    let concurrency_from_name = || {
        name[..name.len() - 5]
            .rsplit_once('_')
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .ok_or("a per-level stats file name must end in _<concurrency>.json")
    };
    if value.get("schema").is_some() {
        servebench::level_from_json(&text).map(|l| (SourceFormat::ServebenchJson, l))
    } else if value.is_array() {
        original::level_from_locust(&text, concurrency_from_name()?).map(|l| (SourceFormat::LocustJson, l))
    } else if vllm::looks_like_bench_result(&value) {
        vllm::level_from_bench(&text, concurrency_from_name().unwrap_or(0))
            .map(|l| (SourceFormat::VllmJson, l))
    } else {
        Err("unknown JSON format: neither a servebench level, Locust stats nor a vLLM bench result".into())
    }
}
