//! The workload of one pod count (nodes, Deployments, PDBs), putting it back before each drain, and when the
//! cluster counts as settled.
use std::{collections::BTreeMap, time::Duration};

use drydock_e2e::workloads::pod_ready;
use k8s_openapi::api::{
    core::v1::{Node, Pod},
    policy::v1::PodDisruptionBudget,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ListParams},
};
use serde_json::json;

use super::{Ctx, Layout, SETTLE_LIMIT};
use crate::bench::{
    Result,
    infra::{self, NodeSpec},
    progress,
};

/// Nodes, Deployments and PDBs for pod count `size`; the pods land on their nodes (the spares are cordoned).
pub(super) async fn setup(ctx: &Ctx<'_>, size: usize) -> Result<Layout> {
    let env = ctx.env;
    progress(format!("drain: N={size}: nodes and {} pods", 2 * size));
    let room = size + 100;
    let dd_slot = format!("dd{size}");
    let kc_slot = format!("kc{size}");
    let nodes = infra::create_nodes(
        env,
        vec![
            NodeSpec::new(env, &format!("n{size}-dd"), room).slot(&dd_slot),
            NodeSpec::new(env, &format!("n{size}-kc"), room).slot(&kc_slot),
        ],
        2,
    )
    .await?;
    let mut deployments = Vec::new();
    for slot in [&dd_slot, &kc_slot] {
        for i in 0..4 {
            let replicas = size / 4 + usize::from(i < size % 4);
            let name = format!("{slot}-d{}", i + 1);
            let labels = json!({"bench-size": size.to_string(), "bench-slot": slot});
            infra::deployment(env, &name, replicas, labels.clone(), infra::slot_placement(env, slot)).await?;
            match i {
                0 => infra::pdb(env, &name, json!({"minAvailable": 1}), labels).await?,
                1 => infra::pdb(env, &name, json!({"maxUnavailable": "50%"}), labels).await?,
                _ => {}
            }
            deployments.push((name, replicas));
        }
    }
    Ok(Layout {
        size,
        dd: nodes[0].clone(),
        dd_slot,
        kc: nodes[1].clone(),
        kc_slot,
        deployments,
    })
}

/// Puts N pods back on each of the two nodes and waits until the cluster is quiet.
pub(super) async fn prepare(ctx: &Ctx<'_>, l: &Layout) -> Result<()> {
    refill(ctx, l, Where::Home).await
}

/// Puts the N pods of the rival node back on it, drydock's left where they are, and waits until the cluster is
/// quiet: before each rival's drain.
pub(super) async fn prepare_rival(ctx: &Ctx<'_>, l: &Layout) -> Result<()> {
    refill(ctx, l, Where::RivalHome).await
}

/// With the spares cordoned, deletes the pods on them that belong home (`Where::Home`: every slot's;
/// `Where::RivalHome`: the rival node's), so their ReplicaSets put them back; then uncordons the spares.
async fn refill(ctx: &Ctx<'_>, l: &Layout, home: Where<'_>) -> Result<()> {
    let client = &ctx.env.client;
    let selector = match home {
        Where::RivalHome => format!("bench-size={},bench-slot={}", l.size, l.kc_slot),
        _ => format!("bench-size={}", l.size),
    };
    for s in &ctx.spares {
        infra::set_cordon(client, s, true).await?;
    }
    for n in [&l.dd, &l.kc] {
        infra::set_cordon(client, n, false).await?;
    }
    let pods = Api::<Pod>::namespaced(client.clone(), ctx.env.ns());
    for s in &ctx.spares {
        let lp = ListParams::default()
            .labels(&selector)
            .fields(&format!("spec.nodeName={s}"));
        infra::delete_pods_now(&pods, lp).await?;
    }
    wait_settled(ctx, l, home).await?;
    for s in &ctx.spares {
        infra::set_cordon(client, s, false).await?;
    }
    // A quiet moment: the last kwok status updates and PDB syncs land before the window opens.
    tokio::time::sleep(Duration::from_secs(2)).await;
    Ok(())
}

/// Where the pods of a size must be for the cluster to count as settled.
#[derive(Clone, Copy)]
pub(super) enum Where<'a> {
    /// Each slot's pods on their own node (before a pair's drains).
    Home,
    /// The rival node's pods on it, drydock's anywhere (before a rival's drain).
    RivalHome,
    /// None on this node (after a drain).
    NotOn(&'a str),
    /// Anywhere (after a drain that did not finish).
    Anywhere,
}

/// Waits until every pod of this size is Running and Ready, none is terminating, they are `place`d, and the
/// PDBs are up to date.
pub(super) async fn wait_settled(ctx: &Ctx<'_>, l: &Layout, place: Where<'_>) -> Result<()> {
    let pods = Api::<Pod>::namespaced(ctx.env.client.clone(), ctx.env.ns());
    let pdbs = Api::<PodDisruptionBudget>::namespaced(ctx.env.client.clone(), ctx.env.ns());
    let lp = ListParams::default().labels(&format!("bench-size={}", l.size));
    infra::wait(
        &format!("the {} pods of N={} settled", 2 * l.size, l.size),
        SETTLE_LIMIT,
        Duration::from_millis(500),
        || async {
            let all = pods.list(&lp).await.ok()?.items;
            if all.len() != 2 * l.size
                || all
                    .iter()
                    .any(|p| p.metadata.deletion_timestamp.is_some() || !pod_ready(p))
            {
                return None;
            }
            let mut per_app: BTreeMap<&str, usize> = BTreeMap::new();
            for p in &all {
                *per_app
                    .entry(p.labels().get("app").map_or("", |s| s.as_str()))
                    .or_default() += 1;
                let node = infra::pod_node(p);
                let slot = p.labels().get("bench-slot").map_or("", |s| s.as_str());
                let misplaced = match place {
                    Where::Home => node != l.home(slot),
                    Where::RivalHome => slot == l.kc_slot && node != l.kc,
                    Where::NotOn(d) => node == d,
                    Where::Anywhere => false,
                };
                if misplaced {
                    return None;
                }
            }
            if l.deployments.iter().any(|(d, r)| per_app.get(d.as_str()) != Some(r)) {
                return None;
            }
            let settled = pdbs.list(&lp).await.ok()?.items.iter().all(|p| {
                p.status.as_ref().is_some_and(|s| {
                    s.observed_generation == p.metadata.generation
                        && s.disrupted_pods.as_ref().is_none_or(|d| d.is_empty())
                        && s.expected_pods > 0
                        && s.current_healthy == s.expected_pods
                })
            });
            settled.then_some(())
        },
    )
    .await
}

pub(super) async fn teardown(ctx: &Ctx<'_>, l: &Layout) -> Result<()> {
    let env = ctx.env;
    let lp = ListParams::default().labels(&format!("bench-size={}", l.size));
    let _ = Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(env.client.clone(), env.ns())
        .delete_collection(&DeleteParams::background(), &lp)
        .await?;
    let _ = Api::<PodDisruptionBudget>::namespaced(env.client.clone(), env.ns())
        .delete_collection(&DeleteParams::default(), &lp)
        .await?;
    let pods = Api::<Pod>::namespaced(env.client.clone(), env.ns());
    infra::wait(
        "the pods of this size gone",
        SETTLE_LIMIT,
        Duration::from_secs(1),
        || async {
            infra::delete_pods_now(&pods, lp.clone()).await.ok()?;
            pods.list_metadata(&lp.clone().limit(1))
                .await
                .ok()?
                .items
                .is_empty()
                .then_some(())
        },
    )
    .await?;
    let nodes = Api::<Node>::all(env.client.clone());
    for n in [&l.dd, &l.kc] {
        nodes.delete(n, &DeleteParams::default()).await?;
    }
    Ok(())
}
