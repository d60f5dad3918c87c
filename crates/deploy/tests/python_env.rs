//! The managed Python environment, with a fake base interpreter: created once under a lock
//! even when two first uses race, reinstalled when the requirements change, and failures
//! name the command to run by hand.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use deploy::{PythonEnv, PythonEnvOptions, PythonError};

/// A fake `python3` whose `-m venv DIR` makes a fake venv; that venv's python logs each
/// `pip install` (taking a second) and fails it when `fail_pip`.
fn fake_base_python(dir: &Path, fail_pip: bool) -> PathBuf {
    let path = dir.join("python3");
    let pip = if fail_pip {
        "echo 'ERROR: No matching distribution found for ray==9.9' >&2; exit 1"
    } else {
        "sleep 1; exit 0"
    };
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
  mkdir -p "$3/bin"
  cat > "$3/bin/python" <<'EOS'
#!/bin/sh
if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then
  echo install >> "$(dirname "$0")/../pip.log"
  {pip}
fi
if [ "$1" = "-c" ]; then echo 3.11.7; echo 2.60.0; exit 0; fi
exit 1
EOS
  chmod +x "$3/bin/python"
  printf '#!/bin/sh\n' > "$3/bin/ray"; chmod +x "$3/bin/ray"
  exit 0
fi
exit 1
"#
    );
    std::fs::write(&path, script).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn options(dir: &Path, base: &Path) -> PythonEnvOptions {
    let requirements = dir.join("requirements.txt");
    if !requirements.exists() {
        std::fs::write(&requirements, "ray[serve]==2.60.0\n").expect("requirements");
    }
    PythonEnvOptions {
        venv: dir.join("venv"),
        requirements,
        base_python: base.display().to_string(),
        existing: None,
        interpreter: None,
        pythonpath: None,
        install_note: None,
        min_free_bytes: 0,
    }
}

#[test]
fn a_first_install_without_the_disk_space_it_needs_is_refused_before_it_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = fake_base_python(dir.path(), false);
    let mut opts = options(dir.path(), &base);
    opts.min_free_bytes = u64::MAX / 2;
    opts.install_note = Some("about 9.4 GB".to_owned());
    let err = PythonEnv::ensure(&opts, &|_| {}).expect_err("not enough disk").to_string();
    assert!(err.contains("free disk space"), "{err}");
    assert_eq!(installs(dir.path()), 0, "nothing was installed");
}

fn installs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("venv/pip.log")).map(|s| s.lines().count()).unwrap_or(0)
}

#[test]
fn two_first_uses_at_once_install_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = fake_base_python(dir.path(), false);
    let opts = options(dir.path(), &base);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let opts = opts.clone();
            std::thread::spawn(move || PythonEnv::ensure(&opts, &|_m: &str| {}))
        })
        .collect();
    for handle in handles {
        let env = handle.join().expect("thread").expect("ensure");
        assert_eq!(env.ray_version, "2.60.0");
        assert_eq!(env.python_version, "3.11.7");
    }
    assert_eq!(installs(dir.path()), 1);

    let said = std::sync::Mutex::new(Vec::<String>::new());
    let hear = |m: &str| said.lock().expect("said").push(m.to_owned());
    PythonEnv::ensure(&opts, &hear).expect("again");
    assert_eq!(installs(dir.path()), 1, "up to date: no reinstall");
    assert!(said.lock().expect("said").is_empty(), "an environment up to date says nothing: {said:?}");

    std::fs::write(&opts.requirements, "ray[serve]==2.60.0\nextra==1\n").expect("edit");
    PythonEnv::ensure(&opts, &hear).expect("after edit");
    assert_eq!(installs(dir.path()), 2, "changed requirements reinstall");
    let said = said.into_inner().expect("said");
    assert!(
        said.iter().any(|m| m.contains("requirements changed"))
            && !said.iter().any(|m| m.contains("new environment")),
        "{said:?}"
    );
}

#[test]
fn a_failed_install_names_the_manual_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let base = fake_base_python(dir.path(), true);
    let opts = options(dir.path(), &base);
    let err = PythonEnv::ensure(&opts, &|_m: &str| {}).expect_err("pip fails");
    assert!(matches!(err, PythonError::InstallFailed { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("No matching distribution"), "{text}");
    assert!(text.contains("-m venv"), "{text}");
    assert!(text.contains("bin/pip install -r"), "{text}");
    assert!(!dir.path().join("venv/.servebench-requirements").exists());
}

#[test]
fn a_missing_python_names_the_manual_command() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = options(dir.path(), &dir.path().join("no-python3"));
    let err = PythonEnv::ensure(&opts, &|_m: &str| {}).expect_err("no python");
    assert!(matches!(err, PythonError::PythonMissing { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("python3-venv"), "{text}");
    assert!(text.contains("pip install -r"), "{text}");
}

#[test]
fn a_named_environment_is_used_as_is_or_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = options(dir.path(), Path::new("python3"));
    opts.existing = Some(dir.path().join("not-a-venv"));
    let err = PythonEnv::ensure(&opts, &|_m: &str| {}).expect_err("unusable");
    assert!(matches!(err, PythonError::Unusable { .. }), "{err:?}");
    assert!(!dir.path().join("venv").exists(), "nothing installed");
}

/// A fake interpreter that imports "ray" only when PYTHONPATH names `site`.
fn fake_interpreter(dir: &Path) -> PathBuf {
    let path = dir.join("python3.12");
    let script = r#"#!/bin/sh
case "$2" in
  *sys.executable*) echo /opt/real/bin/python3.12; exit 0 ;;
esac
case "$PYTHONPATH" in
  *site*) echo 3.12.3; echo 2.60.0; exit 0 ;;
  *) echo "ModuleNotFoundError: No module named 'ray'" >&2; exit 1 ;;
esac
"#;
    std::fs::write(&path, script).expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

#[test]
fn an_interpreter_is_used_as_is_with_ray_run_through_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let python = fake_interpreter(dir.path());
    let mut opts = options(dir.path(), Path::new("no-python3"));
    opts.interpreter = Some(python.clone());
    opts.existing = Some(dir.path().join("not-a-venv"));
    assert_eq!(opts.key(), python, "the interpreter wins");

    let site = dir.path().join("site").display().to_string();
    // A relative entry is made absolute: the cluster starts in a directory of its own.
    opts.pythonpath = Some(format!("{site}:rel/site"));
    let env = PythonEnv::ensure(&opts, &|_m: &str| {}).expect("interpreter");
    assert_eq!(env.python_version, "3.12.3");
    assert_eq!(env.ray_version, "2.60.0");
    assert_eq!(env.ray_cli, deploy::RayCli::Interpreter);
    let cwd = std::env::current_dir().expect("cwd");
    let expected = format!("{site}:{}", cwd.join("rel/site").display());
    assert_eq!(env.pythonpath.as_deref(), Some(expected.as_str()), "Ray's PYTHONPATH is kept");
    // The interpreter that actually runs (a shim may pick another elsewhere).
    let (program, prefix) = env.ray_command();
    assert_eq!(program, Path::new("/opt/real/bin/python3.12"));
    assert_eq!(prefix[0], "-c");
    assert!(prefix[1].contains("from ray.scripts.scripts import main"), "{prefix:?}");
    assert!(!dir.path().join("venv").exists(), "nothing installed");

    opts.pythonpath = None;
    let err = PythonEnv::ensure(&opts, &|_m: &str| {}).expect_err("no ray");
    assert!(matches!(err, PythonError::Unusable { .. }), "{err:?}");
    assert!(err.to_string().contains("No module named 'ray'"), "{err}");
}
