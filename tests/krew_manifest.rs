//! plugins/drydock.yaml is a krew plugin manifest krew would accept for this version: the schema's required
//! fields, Cargo.toml's version, and a linux/amd64 platform whose archive holds `kubectl-drydock`. When
//! `make krew-archive` has built the archive, the manifest's sha256 must be that archive's.
use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

const ARCHIVE: &str = "kubectl-drydock_linux_amd64.tar.gz";

fn manifest() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("plugins/drydock.yaml");
    serde_yaml_ng::from_str(&std::fs::read_to_string(&path).expect("read plugins/drydock.yaml")).expect("YAML")
}

fn text<'a>(v: &'a Value, what: &str) -> &'a str {
    v.as_str().unwrap_or_else(|| panic!("{what} is a string: {v:?}"))
}

fn platform(manifest: &Value, os: &str, arch: &str) -> Value {
    let platforms = manifest["spec"]["platforms"]
        .as_sequence()
        .expect("spec.platforms is a list");
    platforms
        .iter()
        .find(|p| {
            let labels = &p["selector"]["matchLabels"];
            labels["os"].as_str() == Some(os) && labels["arch"].as_str() == Some(arch)
        })
        .unwrap_or_else(|| panic!("a platform for {os}/{arch}"))
        .clone()
}

#[test]
fn the_manifest_is_a_krew_plugin_for_this_version() {
    let m = manifest();
    assert_eq!(
        text(&m["apiVersion"], "apiVersion"),
        "krew.googlecontainertools.github.com/v1alpha2"
    );
    assert_eq!(text(&m["kind"], "kind"), "Plugin");
    // krew requires the name to match the file name, and it is what follows `kubectl`.
    assert_eq!(text(&m["metadata"]["name"], "metadata.name"), "drydock");
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        text(&m["spec"]["version"], "spec.version"),
        version,
        "spec.version follows Cargo.toml: run `make krew-archive`"
    );
    assert!(!text(&m["spec"]["shortDescription"], "spec.shortDescription").is_empty());

    for p in m["spec"]["platforms"].as_sequence().expect("spec.platforms") {
        let uri = text(&p["uri"], "uri");
        assert!(uri.starts_with("https://") && uri.ends_with(".tar.gz"), "{uri}");
        assert!(
            uri.contains(&format!("/{version}/")),
            "{uri} is the archive of {version}"
        );
        let sum = text(&p["sha256"], "sha256");
        assert!(
            sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "sha256 is 64 lowercase hex digits: {sum}"
        );
        assert_eq!(text(&p["bin"], "bin"), "kubectl-drydock");
        assert!(p["selector"]["matchLabels"]["os"].is_string());
    }
    let linux = platform(&m, "linux", "amd64");
    assert!(text(&linux["uri"], "uri").ends_with(&format!("/{ARCHIVE}")));
    let files = linux["files"].as_sequence().expect("files");
    assert!(files.iter().any(|f| f["from"].as_str() == Some("kubectl-drydock")));
}

/// `make krew-archive` writes the sha256 of the archive it built; a later build of another binary must not
/// leave the old one behind.
#[test]
fn the_manifests_sha256_is_the_built_archives() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), |t| root.join(t));
    let archive = target.join("krew").join(ARCHIVE);
    if !archive.exists() {
        eprintln!(
            "no {} (`make krew-archive` builds it): only the manifest's shape is checked",
            archive.display()
        );
        return;
    }
    let out = std::process::Command::new("sha256sum")
        .arg(&archive)
        .output()
        .expect("run sha256sum");
    let sum = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let linux = platform(&manifest(), "linux", "amd64");
    assert_eq!(
        text(&linux["sha256"], "sha256"),
        sum,
        "plugins/drydock.yaml names another archive than {}: run `make krew-archive`",
        archive.display()
    );
    let list = std::process::Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .expect("run tar");
    assert_eq!(String::from_utf8_lossy(&list.stdout), "kubectl-drydock\n");
}
