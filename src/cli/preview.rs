//! `drydock preview NODE`: what a drain of the node would do, before touching anything. The command (`run`)
//! gathers the node, its pods, the PDBs, the other nodes and their pods; [`assess`] decides, pure.
//!
//! Each pod's fate comes from the drain's own rules ([`crate::plan::pods::classify`]); on top of those a pod to
//! evict is blocked when a PDB allows no disruption now, or when its replacement has no other node to go to
//! (the scheduler's hard rules, [`crate::plan::place`]).
use clap::Args;
use jiff::Timestamp;
use k8s_openapi::api::{
    core::v1::{Node, Pod},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, Client, ResourceExt,
    api::ListParams,
    core::{Selector, SelectorExt},
};

use super::{CliError, DrainFlags, error::Result, format, not_found_node};
use crate::{
    api::{names::HELD_BY_ANNOTATION, v1alpha1::DrainSpec},
    plan::{
        node::is_ready,
        place::{Room, Volumes},
        pods::{Disposition, DrainInputs, Hint, Refusal, classify, holding_taints, overdue},
    },
};

#[derive(Args, Debug)]
pub struct PreviewArgs {
    pub node: String,
    #[command(flatten)]
    pub drain: DrainFlags,
}

/// Reads what [`assess`] needs, prints its verdict, and fails when the drain would not finish.
pub(super) async fn run(client: &Client, node_name: &str, drain: &DrainSpec) -> Result<()> {
    let nodes = Api::<Node>::all(client.clone());
    let node = nodes
        .get_opt(node_name)
        .await
        .map_err(|e| CliError::api(format!("get node {node_name}"), e))?
        .ok_or_else(|| not_found_node(node_name))?;
    let on_node = Api::<Pod>::all(client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={node_name}")))
        .await
        .map_err(|e| CliError::api(format!("list the pods on {node_name}"), e))?
        .items;
    let others = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| CliError::api("list nodes", e))?
        .items;
    // PDBs are those of the namespaces with pods on the node; the pods anti-affinity looks at and the volumes
    // claims are bound to are read as the controller reads them.
    let mut namespaces: Vec<String> = on_node.iter().filter_map(|p| p.namespace()).collect();
    namespaces.sort();
    namespaces.dedup();
    let mut pdbs = Vec::new();
    for ns in &namespaces {
        pdbs.extend(
            Api::<PodDisruptionBudget>::namespaced(client.clone(), ns)
                .list(&ListParams::default())
                .await
                .map_err(|e| CliError::api(format!("list the PodDisruptionBudgets of {ns}"), e))?
                .items,
        );
    }
    let mut room = crate::gather::Cache::default();
    let refs: Vec<&Pod> = on_node.iter().collect();
    crate::gather::room(client, &mut room, &refs)
        .await
        .map_err(|e| CliError::api("read the pods' anti-affinity peers and PersistentVolumes", e))?;
    let p = assess(
        &node,
        &on_node,
        &pdbs,
        &others,
        room.pods(),
        room.volumes(),
        drain,
        Timestamp::now(),
    );
    print!("{}", format::preview(&p));
    if p.can_finish() {
        println!("the drain of {node_name} can finish");
        Ok(())
    } else {
        Err(CliError::WouldNotFinish {
            node: node_name.into(),
            blocking: p.blocking(),
        })
    }
}

/// What the drain would do with a pod.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Evict,
    /// Finished pods are deleted, not evicted.
    Delete,
    Skip,
    /// The drain cannot finish while this pod stays.
    Blocked,
    /// Waited for until it completes (drain.waitForPods).
    Wait,
    Terminating,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Evict => "evict",
            Action::Delete => "delete",
            Action::Skip => "skip",
            Action::Blocked => "blocked",
            Action::Wait => "wait",
            Action::Terminating => "terminating",
        }
    }
}

/// One pod's line in the preview.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLine {
    pub namespace: String,
    pub name: String,
    pub action: Action,
    pub why: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Preview {
    pub node: String,
    /// About the node itself (already cordoned, held, NotReady) and the drain as a whole.
    pub notes: Vec<String>,
    /// Sorted by namespace, then name.
    pub pods: Vec<PodLine>,
}

impl Preview {
    /// Pods that keep the drain from finishing.
    pub fn blocking(&self) -> usize {
        self.pods.iter().filter(|l| l.action == Action::Blocked).count()
    }

    pub fn can_finish(&self) -> bool {
        self.blocking() == 0
    }
}

/// The flag that lifts a policy blocker.
fn flag(r: Refusal) -> &'static str {
    match r {
        Refusal::LocalStorage => "--delete-emptydir-data",
        Refusal::Unmanaged => "--evict-unmanaged",
        Refusal::DoNotDisrupt(Hint::KarpenterDoNotDisrupt | Hint::AutoscalerNotSafeToEvict) => "--evict-do-not-disrupt",
    }
}

/// What would happen to each pod on `node`, and whether the drain can finish, by the controller's own rules
/// ([`classify`], [`Room`]): every policy blocker, every PDB that allows no disruption now, every evicted pod
/// whose replacement has no other node to go to, every pod stuck terminating. `peers`: the pods the node's pods'
/// anti-affinity selects, on any node; `volumes`: what their claims are bound to.
#[allow(clippy::too_many_arguments)]
pub fn assess(
    node: &Node,
    pods: &[Pod],
    pdbs: &[PodDisruptionBudget],
    other_nodes: &[Node],
    peers: &[Pod],
    volumes: &Volumes,
    drain: &DrainSpec,
    now: jiff::Timestamp,
) -> Preview {
    let node_name = node.name_any();
    // The taint's value is the holder's name; a toleration of it tolerates any value, or none matters.
    let holder = node
        .annotations()
        .get(HELD_BY_ANNOTATION)
        .map_or("preview", String::as_str);
    let taints = holding_taints(holder, &[]);
    let inputs = DrainInputs {
        holding_taints: &taints,
        node_ready: is_ready(node),
        ..DrainInputs::new(drain, now)
    };
    let everyone: Vec<Pod> = pods.iter().chain(peers).cloned().collect();
    let mut room = (!drain.evict_unplaceable).then(|| Room::new(&node_name, other_nodes, &everyone, volumes));

    let mut sorted: Vec<&Pod> = pods.iter().collect();
    sorted.sort_by_key(|p| (p.namespace(), p.name_any(), p.uid()));
    let mut lines = Vec::new();
    let mut refused = false;
    for pod in sorted {
        let (action, why) = match classify(pod, &inputs) {
            Disposition::Skip(r) => (Action::Skip, r.reason().to_string()),
            Disposition::Refuse(r) => {
                refused = true;
                (Action::Blocked, format!("{} (flag: {})", r.reason(), flag(r)))
            }
            Disposition::Delete => (
                Action::Delete,
                "finished (Succeeded/Failed): deleted, not evicted".into(),
            ),
            Disposition::Terminating => match overdue(pod, now, inputs.node_ready) {
                Some(why) => (Action::Blocked, why),
                None => (Action::Terminating, "already terminating: waited for".into()),
            },
            Disposition::Abandoned => (
                Action::Terminating,
                "terminating past spec.drain.skipWaitForDeleteSeconds: no longer waited for".into(),
            ),
            Disposition::WaitFor => (
                Action::Wait,
                "waited for until it completes (drain.waitForPods or drydock.dev/drain: wait-completed)".into(),
            ),
            Disposition::Evict => {
                let (mut blockers, note) = pdb_room(pod, pdbs);
                if has_controller(pod)
                    && let Some(Err(why)) = room.as_mut().map(|r| r.place(pod))
                {
                    blockers.push(format!("{why} (flag: --evict-unplaceable)"));
                }
                if blockers.is_empty() {
                    let base = "evicted through the Eviction API";
                    (
                        Action::Evict,
                        note.map_or_else(|| base.into(), |n| format!("{base}; {n}")),
                    )
                } else {
                    (Action::Blocked, blockers.join("; "))
                }
            }
        };
        lines.push(PodLine {
            namespace: pod.namespace().unwrap_or_default(),
            name: pod.name_any(),
            action,
            why,
        });
    }
    Preview {
        notes: node_notes(node, refused),
        node: node_name,
        pods: lines,
    }
}

fn node_notes(node: &Node, refused: bool) -> Vec<String> {
    let name = node.name_any();
    let mut notes = Vec::new();
    if let Some(holder) = node.annotations().get(HELD_BY_ANNOTATION) {
        notes.push(format!(
            "{name} is held by nodemaintenance/{holder}: a new maintenance of it waits (Pending) until that one ends"
        ));
    }
    let held = node.annotations().contains_key(HELD_BY_ANNOTATION);
    // A held node is cordoned by drydock itself; only a cordon from before stays after a maintenance.
    if !held && node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
        notes.push(format!(
            "{name} is already cordoned: it stays cordoned after a maintenance"
        ));
    }
    if !is_ready(node) {
        notes.push(format!("{name} is NotReady: evicted pods may be slow to terminate"));
    }
    if refused {
        notes.push("like kubectl drain, nothing is evicted while a pod is blocked by policy".into());
    }
    notes
}

fn has_controller(pod: &Pod) -> bool {
    pod.owner_references().iter().any(|o| o.controller == Some(true))
}

/// The PDBs over `pod`: blockers (no room now, or several PDBs, which the Eviction API refuses), or a note on
/// how much room there is.
fn pdb_room(pod: &Pod, pdbs: &[PodDisruptionBudget]) -> (Vec<String>, Option<String>) {
    let name = |p: &PodDisruptionBudget| format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any());
    // policy/v1: a missing selector selects nothing, an empty one every pod of the namespace.
    let matching: Vec<&PodDisruptionBudget> = pdbs
        .iter()
        .filter(|p| p.namespace() == pod.namespace())
        .filter(|p| {
            p.spec
                .as_ref()
                .and_then(|s| s.selector.clone())
                .and_then(|s| Selector::try_from(s).ok())
                .is_some_and(|s| s.matches(pod.labels()))
        })
        .collect();
    match matching.as_slice() {
        [] => (Vec::new(), None),
        [pdb] => {
            let status = pdb.status.clone().unwrap_or_default();
            let allowed = status.disruptions_allowed;
            if allowed > 0 {
                return (
                    Vec::new(),
                    Some(format!("PDB {} allows {allowed} disruptions now", name(pdb))),
                );
            }
            // An unready pod does not count as healthy, so the API lets it go when the budget is already met
            // without it (IfHealthyBudget, the default) or always (AlwaysAllow).
            let always = pdb
                .spec
                .as_ref()
                .and_then(|s| s.unhealthy_pod_eviction_policy.as_deref())
                == Some("AlwaysAllow");
            if !pod_ready(pod) && (always || status.current_healthy >= status.desired_healthy) {
                return (
                    Vec::new(),
                    Some(format!(
                        "not Ready: PDB {} lets it go although it allows 0 disruptions",
                        name(pdb)
                    )),
                );
            }
            (
                vec![format!("PDB {} allows {allowed} disruptions now", name(pdb))],
                None,
            )
        }
        several => (
            vec![format!(
                "more than one PDB selects it ({}): the Eviction API refuses to evict such a pod",
                several.iter().map(|p| name(p)).collect::<Vec<_>>().join(", ")
            )],
            None,
        ),
    }
}

fn pod_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

#[cfg(test)]
#[path = "preview_tests.rs"]
mod tests;
