//! `drydock approve SCHEDULE [--node N]...`: approves a MaintenanceSchedule's window, or nodes of it, for a
//! schedule with rollout.approval. It writes the drydock.dev/approved annotation, the same one a GitOps tool or a
//! change-management system may write itself, so there is one way approvals are kept.
use clap::Args;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube::{
    Api, Client, ResourceExt,
    api::{Patch, PatchParams},
    core::{Selector, SelectorExt},
};

use super::{CliError, error::Result};
use crate::{
    api::{
        names::APPROVED_ANNOTATION,
        v1alpha1::{Approval, MaintenanceSchedule},
    },
    plan::{pacing, schedule::Schedule},
};

#[derive(Args, Debug)]
pub struct ApproveArgs {
    /// The MaintenanceSchedule (`ms/NAME` or `NAME`).
    pub schedule: String,
    /// Approve only these nodes of the window (rollout.approval: Node); without it, the whole window.
    #[arg(long = "node", value_name = "NODE")]
    pub nodes: Vec<String>,
    /// The window to approve, by its id (e.g. 20261206t010000z, as status.waiting says). Default: the window open
    /// now, else the next one.
    #[arg(long, value_parser = window_id)]
    pub window: Option<String>,
}

/// `--window`: a window id as drydock writes them (the window's start in UTC), so a typo is not recorded as an
/// approval of a window that never opens.
fn window_id(text: &str) -> std::result::Result<String, String> {
    let ok = text.len() == 16
        && text.bytes().enumerate().all(|(i, b)| match i {
            8 => b == b't',
            15 => b == b'z',
            _ => b.is_ascii_digit(),
        });
    match ok {
        true => Ok(text.to_string()),
        false => Err(format!(
            "{text:?} is not a window id: write it as status.waiting shows it, e.g. 20261206t010000z (the window's start in UTC)"
        )),
    }
}

/// Tries a write this many times when someone else changed the schedule in between.
const ATTEMPTS: usize = 5;

pub(super) async fn run(client: &Client, a: &ApproveArgs) -> Result<()> {
    let name = a.schedule.strip_prefix("ms/").unwrap_or(&a.schedule).to_string();
    let api = Api::<MaintenanceSchedule>::all(client.clone());
    for _ in 0..ATTEMPTS {
        let ms = api
            .get_opt(&name)
            .await
            .map_err(|e| CliError::api(format!("get maintenanceschedule/{name}"), e))?
            .ok_or_else(|| CliError::NotFound {
                what: format!("maintenanceschedule/{name}"),
                hint: "`kubectl get maintenanceschedules` lists them",
            })?;
        let window = match &a.window {
            Some(w) => w.clone(),
            None => window_now(&ms)?,
        };
        for node in &a.nodes {
            check_node(client, &ms, node).await?;
        }
        let before = ms.annotations().get(APPROVED_ANNOTATION).cloned();
        let mut value = before.clone();
        let tokens: Vec<String> = match a.nodes.is_empty() {
            true => vec![window.clone()],
            false => a.nodes.iter().map(|n| format!("{window}/{n}")).collect(),
        };
        for token in &tokens {
            value = Some(pacing::approve(value.as_deref(), &window, token));
        }
        let patch = serde_json::json!({"metadata": {
            "resourceVersion": ms.resource_version(),
            "annotations": {APPROVED_ANNOTATION: value},
        }});
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
            Ok(_) => {
                let what = match a.nodes.is_empty() {
                    true => format!("window {window}"),
                    false => format!("node(s) {} in window {window}", a.nodes.join(", ")),
                };
                println!("maintenanceschedule/{name}: approved {what}");
                if ms.spec.rollout.as_ref().and_then(|r| r.approval).is_none() {
                    eprintln!(
                        "note: maintenanceschedule/{name} does not ask for approval (spec.rollout.approval is unset)"
                    );
                } else if ms.spec.rollout.as_ref().and_then(|r| r.approval) == Some(Approval::Window)
                    && !a.nodes.is_empty()
                {
                    eprintln!(
                        "note: maintenanceschedule/{name} asks for approval of whole windows: approving nodes does not \
                         start it; run without --node"
                    );
                }
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(CliError::api(format!("patch maintenanceschedule/{name}"), e)),
        }
    }
    Err(CliError::Usage(format!(
        "maintenanceschedule/{name} kept changing while drydock approve wrote it ({ATTEMPTS} tries): run it again"
    )))
}

/// The open window's id, else the next one's.
fn window_now(ms: &MaintenanceSchedule) -> Result<String> {
    let spec = &ms.spec;
    let sched = Schedule::parse(&spec.schedule, &spec.time_zone, &spec.duration)
        .map_err(|e| CliError::Usage(format!("maintenanceschedule/{}: {e}", ms.name_any())))?;
    let now = Timestamp::now();
    sched
        .open_window(now)
        .or_else(|| sched.next_window(now))
        .map(|w| w.id())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "maintenanceschedule/{} has no window to approve",
                ms.name_any()
            ))
        })
}

/// A node that is not in the schedule's pool would be approved for nothing: say so instead.
async fn check_node(client: &Client, ms: &MaintenanceSchedule, node: &str) -> Result<()> {
    let found = Api::<Node>::all(client.clone())
        .get_opt(node)
        .await
        .map_err(|e| CliError::api(format!("get node/{node}"), e))?
        .ok_or_else(|| CliError::NotFound {
            what: format!("node/{node}"),
            hint: "`kubectl get nodes` lists them",
        })?;
    let selector: Selector = ms
        .spec
        .node_selector
        .clone()
        .try_into()
        .map_err(|e: kube::core::ParseExpressionError| CliError::Usage(e.0))?;
    if !selector.matches(found.labels()) {
        return Err(CliError::Usage(format!(
            "node {node} is not in maintenanceschedule/{}'s pool (its nodeSelector does not match the node's labels): \
             nothing to approve",
            ms.name_any()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::window_id;

    #[test]
    fn a_window_id_is_a_utc_start_as_drydock_writes_it() {
        assert!(window_id("20261206t010000z").is_ok());
        for bad in ["2026-12-06", "20261206T010000Z", "20261206t0100z", "next", ""] {
            assert!(window_id(bad).is_err(), "{bad}");
        }
    }
}
