//! `kubectl drydock <TAB>`: the cluster's own kubectl, asked to complete (its hidden `__complete`, which the shell
//! scripts of `kubectl completion` call), finds drydock linked as `kubectl_complete-drydock` on PATH and offers
//! drydock's subcommands and flags with their help. Needs kubectl only, no cluster objects.
use std::path::PathBuf;

use drydock_e2e::controller::binary;

#[test]
fn kubectl_completes_the_plugins_subcommands_and_flags() {
    let dir = std::env::temp_dir().join(format!("drydock-plugin-completion-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let drydock = std::fs::canonicalize(binary()).expect("the drydock binary");
    for name in ["kubectl-drydock", "kubectl_complete-drydock"] {
        std::os::unix::fs::symlink(&drydock, dir.join(name)).expect("symlink");
    }
    let path = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap_or_default());
    let complete = |words: &[&str]| {
        let out = std::process::Command::new(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.cache/bin/kubectl"))
            .arg("__complete")
            .arg("drydock")
            .args(words)
            .env("PATH", &path)
            .output()
            .expect("run kubectl");
        assert!(out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let answer = complete(&["st"]);
    let offered: Vec<&str> = answer
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default())
        .collect();
    assert_eq!(offered, ["start", "status", ":4"], "{answer}");
    assert!(answer.contains("start\tStart a maintenance of NODE"), "{answer}");
    let answer = complete(&["start", "node-1", "--w"]);
    assert!(answer.starts_with("--wait\t"), "{answer}");
    let _ = std::fs::remove_dir_all(&dir);
}
