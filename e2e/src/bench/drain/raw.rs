//! Section 3: the raw eviction limit of this API server, found by a minimal client with no drain logic.
use std::{collections::BTreeMap, time::Duration};

use drydock::plan::pods::PodKey;
use futures::{StreamExt, stream};
use k8s_openapi::api::{core::v1::Pod, policy::v1::PodDisruptionBudget};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, PostParams},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    Ctx, DrainResults, Layout, Limit, RawRun,
    setup::{Where, prepare, wait_settled},
};
use crate::bench::{
    Mark, Result,
    apiserver::AuditMark,
    infra::{self, sa_user},
    progress,
};

/// Section 3 at the size nearest 1000: the raw client in each mode and concurrency on the drain's own workload, and
/// once with the PDBs removed (the API server's eviction path alone).
pub(super) async fn limit(ctx: &Ctx<'_>, layout: &Layout, out: &mut DrainResults) -> Result<()> {
    let cfg = ctx.cfg;
    let top = cfg.raw_concurrency.iter().copied().max().unwrap_or(32);
    let mut runs: Vec<(RawMode, usize)> = cfg.raw_concurrency.iter().map(|&c| (RawMode::AllAtOnce, c)).collect();
    runs.extend(cfg.raw_per_pdb.iter().map(|&k| (RawMode::PerPdb(k), top)));
    for (mode, c) in runs {
        progress(format!(
            "limit: raw evictions of {} pods, {mode:?}, concurrency {c}",
            layout.size
        ));
        let r = raw(ctx, layout, c, mode).await?;
        progress(format!("limit: {:.0} evictions/s ({:.2}s)", r.rate, r.seconds));
        out.raw.push(r);
    }
    let best = out
        .raw
        .iter()
        .max_by(|a, b| a.rate.total_cmp(&b.rate))
        .cloned()
        .ok_or("no raw run")?;
    let env = ctx.env;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(env.client.clone(), env.ns());
    let lp = ListParams::default().labels(&format!("bench-slot={}", layout.dd_slot));
    let saved = pdbs.list(&lp).await?.items;
    pdbs.delete_collection(&DeleteParams::default(), &lp).await?;
    progress(format!("limit: raw evictions without PDBs, concurrency {top}"));
    let r = raw(ctx, layout, top, RawMode::AllAtOnce).await;
    for mut p in saved {
        p.metadata = kube::api::ObjectMeta {
            name: p.metadata.name,
            labels: p.metadata.labels,
            ..Default::default()
        };
        p.status = None;
        pdbs.create(&PostParams::default(), &p).await?;
    }
    let r = r?;
    progress(format!("limit: {:.0} evictions/s without PDBs", r.rate));
    let without = r.rate;
    out.raw.push(r);
    if let Some(s) = out.sizes.last() {
        out.limit = Some(Limit {
            pods: layout.size,
            raw_rate: best.rate,
            raw_concurrency: best.concurrency,
            raw_mode: best.mode,
            raw_rate_without_pdbs: Some(without),
            drydock_eviction_rate: s.drydock_eviction_rate,
            drydock_fraction: s.drydock_eviction_rate.map(|r| r / best.rate),
            drydock_drain_rate: s.drydock_drain_rate,
            drydock_drain_fraction: s.drydock_drain_rate / best.rate,
        });
    }
    Ok(())
}

enum Raw {
    Accepted,
    Gone,
    /// 429: a PDB allows no disruption now (or the server sheds load).
    Refused,
    /// 409 on the PodDisruptionBudget: the server gave up decrementing the budget after 20 conflicting updates.
    /// The pod is still there. (drydock's classify() takes every 409 for "gone", see the report.)
    PdbConflict,
    Failed(String),
}

/// One eviction, read without drydock's classification: a 409 is "gone" only when it is about the pod.
async fn raw_evict(client: &Client, p: &PodKey) -> Raw {
    let eviction: k8s_openapi::api::policy::v1::Eviction = match serde_json::from_value(json!({
        "metadata": {"name": p.name, "namespace": p.namespace},
        "deleteOptions": {"preconditions": {"uid": p.uid}}
    })) {
        Ok(e) => e,
        Err(e) => return Raw::Failed(e.to_string()),
    };
    let api = Api::<Pod>::namespaced(client.clone(), &p.namespace);
    match api
        .create_subresource::<_, serde_json::Value>("eviction", &p.name, &PostParams::default(), &eviction)
        .await
    {
        Ok(_) => Raw::Accepted,
        Err(kube::Error::Api(s)) => match s.code {
            429 => Raw::Refused,
            409 if s.details.as_ref().is_some_and(|d| d.kind == "poddisruptionbudgets") => Raw::PdbConflict,
            404 | 409 => Raw::Gone,
            _ => Raw::Failed(format!("{}: {}", s.code, s.message)),
        },
        Err(e) => Raw::Failed(e.to_string()),
    }
}

/// How the raw client orders its evictions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RawMode {
    /// Every pod in random order (by UID), `concurrency` in flight: what a simple parallel drainer does.
    AllAtOnce,
    /// Each PDB's pods in their own stream with this many in flight, all streams at once (pods without a PDB:
    /// `concurrency` in flight). The API server decrements a PDB's budget with an optimistic update of its
    /// status and, on a conflict (another eviction, or the disruption controller's own status update), retries
    /// after 500 ms, up to 20 times, then answers 409: how many evictions per PDB are in flight matters.
    PerPdb(usize),
}

/// A minimal client: every pod of the node evicted as fast as the server accepts, a refused eviction (429)
/// tried again after 100 ms. The node is cordoned first (outside the window) so replacements go elsewhere, as
/// in a drain.
async fn raw(ctx: &Ctx<'_>, l: &Layout, concurrency: usize, mode: RawMode) -> Result<RawRun> {
    prepare(ctx, l).await?;
    let env = ctx.env;
    infra::set_cordon(&env.client, &l.dd, true).await?;
    let pods = Api::<Pod>::all(env.client.clone())
        .list(&ListParams::default().fields(&format!("spec.nodeName={}", l.dd)))
        .await?
        .items;
    let pdbs = Api::<PodDisruptionBudget>::namespaced(env.client.clone(), env.ns())
        .list(&ListParams::default())
        .await?
        .items;
    // Pods grouped by the PDB that covers them; "" = none.
    let mut groups: BTreeMap<String, Vec<PodKey>> = BTreeMap::new();
    for p in &pods {
        let pdb = pdbs
            .iter()
            .find(|b| {
                let sel: Option<kube::core::Selector> = b
                    .spec
                    .as_ref()
                    .and_then(|s| s.selector.clone())
                    .and_then(|s| s.try_into().ok());
                sel.is_some_and(|sel| kube::core::SelectorExt::matches(&sel, p.labels()))
            })
            .map(|b| b.name_any())
            .unwrap_or_default();
        groups.entry(pdb).or_default().push(PodKey::of(p));
    }
    let with_pdbs = groups.keys().any(|k| !k.is_empty());
    let client = infra::client_for(ctx.ids.path("raw"), false).await?;
    let evict_one = |p: PodKey| {
        let client = client.clone();
        async move {
            let mut refused = 0;
            for _ in 0..3000 {
                match raw_evict(&client, &p).await {
                    Raw::Accepted => return (Some(Mark::now()), refused),
                    Raw::Gone => return (None, refused),
                    Raw::Refused => {
                        refused += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    // The server already waited (20 conflicts, 500 ms apart): try again at once.
                    Raw::PdbConflict => refused += 1,
                    Raw::Failed(e) => {
                        progress(format!("raw eviction of {}/{} failed: {e}", p.namespace, p.name));
                        return (None, refused);
                    }
                }
            }
            (None, refused)
        }
    };
    let audit = AuditMark::now(&ctx.cfg.audit_log);
    let t0 = Mark::now();
    let outcomes: Vec<(Option<Mark>, usize)> = match mode {
        RawMode::AllAtOnce => {
            let mut all: Vec<PodKey> = groups.into_values().flatten().collect();
            all.sort_by(|a, b| a.uid.cmp(&b.uid));
            stream::iter(all)
                .map(evict_one)
                .buffer_unordered(concurrency)
                .collect()
                .await
        }
        RawMode::PerPdb(k) => {
            let free = groups.remove("").unwrap_or_default();
            let per_pdb = groups
                .into_values()
                .map(|g| stream::iter(g).map(evict_one).buffer_unordered(k).collect::<Vec<_>>());
            let (free, per_pdb) = tokio::join!(
                stream::iter(free)
                    .map(evict_one)
                    .buffer_unordered(concurrency)
                    .collect::<Vec<_>>(),
                futures::future::join_all(per_pdb)
            );
            free.into_iter().chain(per_pdb.into_iter().flatten()).collect()
        }
    };
    let t1 = Mark::now();
    let accepted: Vec<Mark> = outcomes.iter().filter_map(|(m, _)| *m).collect();
    let last = accepted.iter().map(|m| t0.secs_to(m)).fold(0.0, f64::max);
    let requests = audit
        .requests(&sa_user("raw"))
        .ok()
        .map(|rs| {
            rs.iter()
                .filter(|r| r.received >= t0.wall && r.received <= t1.wall)
                .count()
        })
        .filter(|n| *n > 0);
    wait_settled(ctx, l, Where::NotOn(&l.dd)).await?;
    infra::set_cordon(&env.client, &l.dd, false).await?;
    Ok(RawRun {
        pods: pods.len(),
        concurrency,
        mode,
        with_pdbs,
        seconds: last,
        rate: accepted.len() as f64 / last.max(1e-9),
        refused: outcomes.iter().map(|(_, r)| r).sum(),
        requests,
    })
}
