//! Completion of `kubectl drydock ...`. kubectl (1.26 and later) completes a plugin's words by running the
//! executable `kubectl_complete-<plugin>` found on PATH with the words typed after the plugin's name, the last
//! one being the word being completed, and reads the answer in cobra's `__complete` format: one candidate a line
//! (`word<TAB>description`), then `:<directive>`. Linked under that name, the drydock binary answers (main.rs
//! looks at `argv[0]`), from the same clap definition that parses the command line.
//!
//! `drydock completion bash|zsh|fish` is clap_complete's script for the `drydock` (or `kubectl-drydock`)
//! command itself; this is only for the `kubectl drydock` form, whose completion belongs to kubectl.

/// The executable name kubectl looks for to complete `kubectl drydock ...`.
pub const PLUGIN_COMPLETER: &str = "kubectl_complete-drydock";

/// cobra's ShellCompDirectiveNoFileComp: offer no file names when no candidate fits (drydock's arguments are
/// never files, but for `crd --write`).
const NO_FILE_COMPLETION: u8 = 4;

/// The name the program was called by: `argv0` without its directory.
pub fn called_as(argv0: &str) -> &str {
    argv0.rsplit(['/', '\\']).next().unwrap_or(argv0)
}

/// Whether the program was called as [`PLUGIN_COMPLETER`] (by kubectl, to complete `kubectl drydock ...`).
pub fn called_as_plugin_completer(argv0: &str) -> bool {
    called_as(argv0) == PLUGIN_COMPLETER
}

/// kubectl's answer for `words` (what follows `kubectl drydock`, the last being completed): the subcommands, or
/// with a leading `-` the long flags, of the command the earlier words name, each with its one-line help.
pub fn plugin_answer(command: &clap::Command, words: &[String]) -> String {
    let (partial, before) = words.split_last().map_or(("", &[][..]), |(p, b)| (p.as_str(), b));
    let mut at = command;
    for word in before {
        if let Some(sub) = at.find_subcommand(word) {
            at = sub;
        }
    }
    let takes_value = |word: &str| {
        word.strip_prefix("--").is_some_and(|long| {
            at.get_arguments()
                .any(|a| a.get_long() == Some(long) && a.get_action().takes_values())
        })
    };
    let mut lines: Vec<String> = Vec::new();
    // The word after a flag such as `--reason` is its value: nothing to offer.
    if !before.last().is_some_and(|w| takes_value(w)) {
        let about = |a: Option<&clap::builder::StyledStr>| {
            a.map(|s| s.to_string().lines().next().unwrap_or_default().to_string())
                .unwrap_or_default()
        };
        if partial.starts_with('-') {
            for arg in at.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    lines.push(format!("--{long}\t{}", about(arg.get_help())));
                }
            }
        } else {
            for sub in at.get_subcommands().filter(|s| !s.is_hide_set()) {
                lines.push(format!("{}\t{}", sub.get_name(), about(sub.get_about())));
            }
        }
        lines.retain(|l| l.starts_with(partial));
    }
    lines.push(format!(":{NO_FILE_COMPLETION}"));
    lines.join("\n") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        command: crate::cli::Command,
    }

    fn answer(line: &str) -> Vec<String> {
        let mut words: Vec<String> = line.split(' ').map(String::from).collect();
        if line.is_empty() {
            words.clear();
        }
        plugin_answer(&Cli::command(), &words)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn the_plugin_completer_is_recognised_by_its_name_only() {
        assert!(called_as_plugin_completer(
            "/home/me/.local/bin/kubectl_complete-drydock"
        ));
        assert!(called_as_plugin_completer("kubectl_complete-drydock"));
        assert!(!called_as_plugin_completer("kubectl-drydock"));
        assert!(!called_as_plugin_completer("drydock"));
    }

    #[test]
    fn subcommands_then_flags_then_nothing_for_a_flag_value() {
        // kubectl passes "" for a word not started yet.
        assert_eq!(
            answer(""),
            ["preview", "start", "status", "end", "list", "approve", ":4"]
        );
        assert_eq!(answer("st"), ["start", "status", ":4"]);
        let flags = answer("start node-1 --re");
        assert_eq!(flags, ["--reason", ":4"]);
        assert!(answer("start node-1 --").contains(&"--wait".to_string()));
        assert_eq!(
            answer("start node-1 --reason "),
            [":4"],
            "the reason is the user's to type"
        );
        assert_eq!(answer("nosuch"), [":4"]);
    }

    #[test]
    fn each_candidate_carries_its_help_line() {
        #[derive(Subcommand)]
        enum Only {
            /// Does one thing.
            ///
            /// At length.
            One,
        }
        let command = Only::augment_subcommands(clap::Command::new("x"));
        assert_eq!(plugin_answer(&command, &[]), "one\tDoes one thing\n:4\n");
    }
}
