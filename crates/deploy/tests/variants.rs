use std::collections::BTreeMap;
use std::path::Path;

use deploy::VariantSet;

use crate::support::features_variants;

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

#[test]
fn the_spec_variants_have_exactly_the_spec_flags() {
    let set = features_variants();
    assert_eq!(&set.names()[..5], ["baseline", "all_on", "grpc", "haproxy", "single_loop"]);
    assert!(set.get("baseline").expect("baseline").env.is_empty());
    assert_eq!(
        set.get("all_on").expect("all_on").env,
        env(&[
            ("RAY_SERVE_ENABLE_HA_PROXY", "1"),
            ("RAY_SERVE_HAPROXY_TCP_NODELAY", "1"),
            ("RAY_SERVE_USE_GRPC_BY_DEFAULT", "1"),
            ("RAY_SERVE_THROUGHPUT_OPTIMIZED", "1"),
            ("RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "1"),
            ("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "0"),
        ])
    );
    assert_eq!(set.get("grpc").expect("grpc").env, env(&[("RAY_SERVE_USE_GRPC_BY_DEFAULT", "1")]));
    assert_eq!(
        set.get("haproxy").expect("haproxy").env,
        env(&[("RAY_SERVE_ENABLE_HA_PROXY", "1"), ("RAY_SERVE_HAPROXY_TCP_NODELAY", "1"),])
    );
    assert_eq!(
        set.get("single_loop").expect("single_loop").env,
        env(&[
            ("RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP", "1"),
            ("RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD", "0"),
        ])
    );
}

#[test]
fn a_user_can_add_a_variant_as_data() {
    let text = r#"
        [[variant]]
        name = "baseline"

        [[variant]]
        name = "mine"
        description = "my flags"
        env = { RAY_SERVE_THROUGHPUT_OPTIMIZED = "1", RAY_SERVE_ENABLE_DIRECT_INGRESS = "0" }
    "#;
    let set = VariantSet::parse(text, Path::new("mine.toml")).expect("parses");
    let mine = set.get("mine").expect("mine");
    assert_eq!(mine.description, "my flags");
    assert_eq!(mine.env.len(), 2);
    assert!(set.get("baseline").expect("baseline").env.is_empty());
}

#[test]
fn bad_variant_files_are_rejected_with_the_reason() {
    let cases = [
        ("[[variant]]\nname = \"a b\"\n", "variant name"),
        ("[[variant]]\nname = \"x\"\n[[variant]]\nname = \"x\"\n", "twice"),
        ("[[variant]]\nname = \"x\"\nenv = { \"1BAD\" = \"1\" }\n", "not an environment"),
        ("[[variant]]\nname = \"x\"\nenv = { A = 1 }\n", "invalid"),
        ("", "no [[variant]]"),
        ("[[variant]]\nname = \"x\"\ncolour = \"red\"\n", "unknown field"),
    ];
    for (text, expected) in cases {
        let err = VariantSet::parse(text, Path::new("v.toml")).expect_err(text).to_string();
        assert!(err.contains(expected), "{text:?}: {err}");
        assert!(err.contains("v.toml"), "{err}");
    }
}

#[test]
fn unknown_variant_names_list_the_known_ones() {
    let err = features_variants().get("nope").expect_err("unknown").to_string();
    assert!(err.contains("all_on"), "{err}");
}
