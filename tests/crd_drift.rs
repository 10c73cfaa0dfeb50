//! crds/ is generated from the Rust types; this fails when someone changes the types and forgets `make crds`.
#[test]
fn crd_yaml_in_crds_matches_the_rust_types() {
    for (file, yaml) in drydock::crds() {
        let path = format!("{}/crds/{file}", env!("CARGO_MANIFEST_DIR"));
        let committed = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}: run `make crds`"));
        assert!(
            committed == yaml,
            "crds/{file} is out of date with crates/api: run `make crds` and commit the result"
        );
    }
}
