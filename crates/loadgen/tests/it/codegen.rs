//! The gRPC code is generated from `proto/servebench.proto` once and checked in, so a normal build
//! needs no `protoc`. This test regenerates it (with a vendored `protoc`) and fails on any
//! difference; run it with `SERVEBENCH_UPDATE_CODEGEN=1` to rewrite the checked-in file.

use std::path::Path;

#[test]
#[allow(unsafe_code)]
fn generated_grpc_code_matches_the_proto() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let proto = root.join("proto/servebench.proto");
    let checked_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/workload/grpc/servebench.v1.rs");
    let out = tempfile::tempdir().unwrap();
    // SAFETY of set_var: this test is the only code in the process reading PROTOC.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path().unwrap()) };
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .bytes(".")
        .out_dir(out.path())
        .compile_protos(std::slice::from_ref(&proto), &[root.join("proto")])
        .unwrap();
    let fresh = std::fs::read_to_string(out.path().join("servebench.v1.rs")).unwrap();
    if std::env::var_os("SERVEBENCH_UPDATE_CODEGEN").is_some() {
        std::fs::write(&checked_in, &fresh).unwrap();
    }
    let old = std::fs::read_to_string(&checked_in).unwrap_or_default();
    assert!(
        old == fresh,
        "{} is stale: run `SERVEBENCH_UPDATE_CODEGEN=1 cargo test -p loadgen generated_grpc` and commit it",
        checked_in.display()
    );
}
