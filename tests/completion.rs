//! `drydock completion SHELL` prints a script the shell accepts and that completes drydock's subcommands; an
//! unknown shell is a usage error (exit 2) naming the shells there are. Linked as `kubectl_complete-drydock`, the
//! binary answers kubectl's completion requests for `kubectl drydock ...`. Runs the real binary; no cluster.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

const SUBCOMMANDS: [&str; 9] = [
    "run",
    "crd",
    "completion",
    "preview",
    "start",
    "status",
    "end",
    "list",
    "approve",
];

fn drydock(program: &Path, args: &[&str]) -> Output {
    Command::new(program).args(args).output().expect("run drydock")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh directory under the system's temp dir, for scripts and links.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("drydock-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn link(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_drydock"), &path).expect("symlink");
    path
}

#[test]
fn bash_completion_is_valid_bash_and_completes_the_subcommands() {
    let out = drydock(Path::new(env!("CARGO_BIN_EXE_drydock")), &["completion", "bash"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let script = stdout(&out);
    assert!(!script.trim().is_empty());
    for sub in SUBCOMMANDS {
        assert!(script.contains(sub), "the script names `{sub}`");
    }
    let dir = scratch("completion-bash");
    let file = dir.join("drydock.bash");
    std::fs::write(&file, &script).expect("write the script");
    let check = Command::new("bash").arg("-n").arg(&file).output().expect("run bash -n");
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );

    // What a person sees: `drydock st<TAB>` offers start and status, `drydock start n --w<TAB>` offers --wait.
    let complete = |line: &str| {
        let out = Command::new("bash")
            .arg("-c")
            .arg(
                r#"source "$1"; read -ra COMP_WORDS <<< "$2"; [[ $2 == *' ' ]] && COMP_WORDS+=("");
                COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMP_LINE=$2; COMP_POINT=${#2};
                _drydock drydock "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}";
                printf '%s\n' "${COMPREPLY[@]}""#,
            )
            .arg("complete")
            .arg(&file)
            .arg(line)
            .output()
            .expect("run bash");
        let mut words: Vec<String> = stdout(&out).split_whitespace().map(String::from).collect();
        words.sort();
        words
    };
    assert_eq!(complete("drydock st"), ["start", "status"]);
    assert!(complete("drydock start node-1 --w").contains(&"--wait".to_string()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn zsh_and_fish_scripts_name_the_subcommands() {
    for shell in ["zsh", "fish"] {
        let out = drydock(Path::new(env!("CARGO_BIN_EXE_drydock")), &["completion", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}: {out:?}");
        let script = stdout(&out);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "the {shell} script names `{sub}`");
        }
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_that_lists_the_shells() {
    let out = drydock(Path::new(env!("CARGO_BIN_EXE_drydock")), &["completion", "tcsh"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'tcsh'") && err.contains("bash") && err.contains("zsh") && err.contains("fish"),
        "{err}"
    );
}

/// Linked as the kubectl plugin, the script completes `kubectl-drydock`; linked as kubectl's completer for the
/// plugin, the binary answers in cobra's format (kubectl reads it for `kubectl drydock <TAB>`).
#[test]
fn the_plugin_names_complete_too() {
    let dir = scratch("completion-plugin");
    let plugin = link(&dir, "kubectl-drydock");
    let script = stdout(&drydock(&plugin, &["completion", "bash"]));
    assert!(
        script
            .lines()
            .any(|l| l.trim().starts_with("complete -F") && l.ends_with(" kubectl-drydock")),
        "{script}"
    );

    let completer = link(&dir, "kubectl_complete-drydock");
    let out = drydock(&completer, &["st"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let answer = stdout(&out);
    let words: Vec<&str> = answer
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default())
        .collect();
    assert_eq!(words, ["start", "status", ":4"]);
    let out = drydock(&completer, &["end", "--"]);
    assert!(stdout(&out).contains("--wait\t"), "{}", stdout(&out));
    let _ = std::fs::remove_dir_all(&dir);
}
