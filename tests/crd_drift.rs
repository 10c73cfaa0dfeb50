//! crds/ is generated from the Rust types; this fails when someone changes the types and forgets `make crds`.
#[test]
fn crd_yaml_in_crds_matches_the_rust_types() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/crds/nodemaintenance.yaml"))
        .expect("crds/nodemaintenance.yaml exists");
    assert!(
        committed == drydock::crd_yaml(),
        "crds/nodemaintenance.yaml is out of date with src/api: run `make crds` and commit the result"
    );
}
