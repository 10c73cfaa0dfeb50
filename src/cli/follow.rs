//! Waiting on a maintenance (`start --wait`, `status --watch`): [`verdict`] decides when the wait is over,
//! [`follow`] reads and prints until then.
use std::io::{IsTerminal, Write};

use clap::ValueEnum;
use kube::Api;

use super::{CliError, POLL, args, error::Result, format, not_found_nm};
use crate::api::v1alpha1::{NodeMaintenance, Phase};

/// API errors in a row a long wait tolerates (an API server restart, a flaky VPN) before giving up.
const TRANSIENT_ERRORS: u32 = 20;

/// When a wait is over.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// The node is drained (and held).
    Drained,
    /// The maintenance is over: Completed, or the object deleted.
    Done,
}

/// Whether a wait is over, from what was read last (None: the object is gone), and how: the line to print
/// on success, or the error. None: keep waiting.
pub fn verdict(name: &str, until: Until, nm: Option<&NodeMaintenance>) -> Option<Result<String>> {
    let Some(nm) = nm else {
        return Some(match until {
            Until::Done => Ok(format!("nodemaintenance/{name} is gone: its node was restored")),
            Until::Drained => Err(CliError::NotDrained {
                name: name.into(),
                node: "its node".into(),
                why: "it was deleted before the drain finished, and the node restored".into(),
            }),
        });
    };
    let s = nm.status.clone().unwrap_or_default();
    let node = &nm.spec.node_name;
    match (s.phase, until) {
        (Phase::Failed, _) => Some(Err(CliError::Failed {
            name: name.into(),
            message: s.message.or(s.last_error).unwrap_or_else(|| "no reason given".into()),
        })),
        (Phase::Drained, Until::Drained) => Some(Ok(format!("{node} is drained and held by nodemaintenance/{name}"))),
        // The window can close before the drain finishes: the node is then restored without ever being drained.
        (Phase::Completed, Until::Drained) if s.drained_at.is_none() => Some(Err(CliError::NotDrained {
            name: name.into(),
            node: node.clone(),
            why: s
                .message
                .unwrap_or_else(|| "it completed before the drain finished".into()),
        })),
        (Phase::Completed, _) => Some(Ok(format!("nodemaintenance/{name} is Completed: {node} was restored"))),
        _ => None,
    }
}

/// Follows a maintenance until [`verdict`] says it is over, printing each change: a frame redrawn in place on
/// a terminal, new lines only otherwise (logs, pipes, CI).
pub(super) async fn follow(api: &Api<NodeMaintenance>, name: &str, until: Until, timeout: Option<&str>) -> Result<()> {
    let limit = match timeout {
        Some(t) => Some(args::duration(t).map_err(CliError::Usage)?),
        None => None,
    };
    let deadline = limit.map(|l| tokio::time::Instant::now() + l);
    let tty = std::io::stdout().is_terminal();
    let width = if tty { terminal_width() } else { usize::MAX };
    let (mut seen, mut errors) = (false, 0u32);
    let mut frame: Vec<String> = Vec::new();
    let mut stdout = std::io::stdout();
    loop {
        let nm = match api.get_opt(name).await {
            Ok(nm) => {
                errors = 0;
                nm
            }
            Err(e) if errors < TRANSIENT_ERRORS && !matches!(&e, kube::Error::Api(s) if s.code == 403) => {
                errors += 1;
                eprintln!(
                    "warning: reading nodemaintenance/{name} failed ({}); retrying",
                    crate::error::words(&e)
                );
                tokio::time::sleep(POLL).await;
                continue;
            }
            Err(e) => return Err(CliError::api(format!("get nodemaintenance/{name}"), e)),
        };
        if nm.is_none() && !seen {
            return Err(not_found_nm(name));
        }
        if let Some(nm) = &nm {
            seen = true;
            let next = format::progress(nm);
            let out = if tty {
                if next != frame {
                    format::redraw(frame.len(), &next, width)
                } else {
                    String::new()
                }
            } else {
                format::plain_update(&frame, &next)
                    .iter()
                    .map(|l| format!("{l}\n"))
                    .collect()
            };
            // A closed stdout (`| head`) must not turn a finished drain into a failure.
            let _ = stdout.write_all(out.as_bytes()).and_then(|()| stdout.flush());
            frame = next;
        }
        if let Some(result) = verdict(name, until, nm.as_ref()) {
            return result.map(|line| println!("{line}"));
        }
        if let (Some(deadline), Some(limit)) = (deadline, timeout)
            && tokio::time::Instant::now() >= deadline
        {
            let s = nm.and_then(|n| n.status).unwrap_or_default();
            let why = s
                .blocked_pods
                .first()
                .map(|p| format!("blocked by {}/{}: {}", p.namespace, p.name, p.reason))
                .or(s.message)
                .unwrap_or_else(|| "no progress reported: is the drydock controller running?".into());
            return Err(CliError::TimedOut {
                what: format!("nodemaintenance/{name} is still {:?}", s.phase),
                after: limit.into(),
                hint: format!("{why} (it carries on; `drydock status {name}` follows it)"),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Columns of the terminal: $COLUMNS, else `stty size` on the terminal, else 80 (std cannot ask the tty).
fn terminal_width() -> usize {
    let from_env = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse().ok());
    let from_stty = || {
        let tty = std::fs::File::open("/dev/tty").ok()?;
        let out = std::process::Command::new("stty")
            .arg("size")
            .stdin(tty)
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    from_env.or_else(from_stty).filter(|w| *w > 10).unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::v1alpha1::{NodeMaintenanceSpec, NodeMaintenanceStatus};
    use crate::cli::exit;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn nm(phase: Phase, drained: bool) -> NodeMaintenance {
        let mut o = NodeMaintenance::new(
            "m1",
            NodeMaintenanceSpec {
                node_name: "node-2".into(),
                ..Default::default()
            },
        );
        o.status = Some(NodeMaintenanceStatus {
            phase,
            message: Some("msg".into()),
            drained_at: drained.then(|| Time("2026-01-01T00:00:00Z".parse().expect("ts"))),
            ..Default::default()
        });
        o
    }

    fn code(v: Option<Result<String>>) -> Option<u8> {
        v.map(|r| r.map_or_else(|e| e.exit_code(), |_| exit::OK))
    }

    #[test]
    fn waits_end_on_the_phase_asked_for() {
        let v = |until, phase, drained| code(verdict("m1", until, Some(&nm(phase, drained))));
        for phase in [Phase::Pending, Phase::Waiting, Phase::Cordoned, Phase::Draining] {
            assert_eq!(v(Until::Drained, phase, false), None, "{phase:?}");
            assert_eq!(v(Until::Done, phase, false), None, "{phase:?}");
        }
        assert_eq!(v(Until::Drained, Phase::Drained, true), Some(exit::OK));
        assert_eq!(v(Until::Done, Phase::Drained, true), None, "held, not done");
        assert_eq!(v(Until::Drained, Phase::Completed, true), Some(exit::OK));
        assert_eq!(
            v(Until::Drained, Phase::Completed, false),
            Some(exit::FAILED),
            "the window closed before the drain finished"
        );
        assert_eq!(v(Until::Done, Phase::Completed, false), Some(exit::OK));
        assert_eq!(v(Until::Drained, Phase::Failed, false), Some(exit::FAILED));
        assert_eq!(v(Until::Done, Phase::Failed, true), Some(exit::FAILED));
        assert_eq!(
            code(verdict("m1", Until::Done, None)),
            Some(exit::OK),
            "deleted: restored"
        );
        assert_eq!(code(verdict("m1", Until::Drained, None)), Some(exit::FAILED));
        let Some(Err(e)) = verdict("m1", Until::Drained, Some(&nm(Phase::Failed, false))) else {
            panic!("failed")
        };
        assert_eq!(
            e.to_string(),
            "nodemaintenance/m1 failed: msg; `drydock status m1` shows the details"
        );
    }
}
