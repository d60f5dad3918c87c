use serde_json::json;

#[test]
fn yaml_is_block_style_with_quoted_strings() {
    let value = json!({
        "name": "svc",
        "env_vars": {"RAY_SERVE_ENABLE_HA_PROXY": "1", "odd key": "a\"b\nc"},
        "empty": {},
        "none": [],
        "flag": true,
        "applications": [
            {"name": "unary", "deployments": [{"name": "Echo", "num_replicas": 8}]},
        ],
        "list": ["a", 1, null],
    });
    let yaml = deploy::to_yaml(&value);
    let expected = r#"name: "svc"
applications:
- name: "unary"
  deployments:
  - name: "Echo"
    num_replicas: 8
empty: {}
env_vars:
  RAY_SERVE_ENABLE_HA_PROXY: "1"
  "odd key": "a\"b\nc"
flag: true
list:
- "a"
- 1
- null
none: []
"#;
    assert_eq!(yaml, expected);
}

/// PyYAML (what the anyscale CLI uses) must read the YAML back as the same value.
#[test]
#[cfg_attr(not(servebench_e2e), ignore = "needs the project's .venv (PyYAML): scripts/test.sh creates it")]
fn pyyaml_reads_it_back() {
    let python = crate::support::repo_root().join(".venv/bin/python");
    assert!(python.is_file(), "{} is missing: run scripts/setup-python.sh", python.display());
    let value = json!({
        "name": "svc",
        "env_vars": {"A": "1", "B": "0", "C": "yes", "D": "null"},
        "applications": [{"name": "u", "route_prefix": "/", "deployments": [{"name": "E", "num_replicas": 1, "ray_actor_options": {"num_cpus": 0.5}}]}],
        "x": "a: b # c",
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("s.yaml");
    std::fs::write(&path, deploy::to_yaml(&value)).expect("write");
    let out = std::process::Command::new(python)
        .args(["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))"])
        .arg(&path)
        .output()
        .expect("python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let back: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(back, value);
}
