//! What one drain did, drydock's or kubectl's alike: watches of the node and its pods, the drainer's own
//! requests in the audit log, and the run they add up to.
use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex},
};

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::{Api, Client, ResourceExt, runtime::watcher};
use tokio::sync::Notify;

use super::{DrainRun, Timeline};
use crate::bench::{
    Config, Mark, Result,
    apiserver::{self, AuditMark},
    infra::{self, sa_user},
    progress,
};

/// What the watches of one drain saw.
#[derive(Default)]
pub(super) struct Seen {
    /// The last change seen on the node's pods or in the NodeMaintenance.
    pub(super) last_change: Option<Mark>,
    pub(super) cordoned: Option<Mark>,
    pub(super) pods: HashSet<String>,
    pub(super) listed: bool,
    pub(super) last_gone: Option<Mark>,
    pub(super) drained: Option<Mark>,
}

/// Watches the node (cordon) and its pods (last one gone), opened before the window.
pub(super) async fn watch_node(
    client: &Client,
    node: &str,
    seen: Arc<Mutex<Seen>>,
    notify: Arc<Notify>,
) -> Result<Vec<infra::Watch>> {
    let s = seen.clone();
    let n = notify.clone();
    let node_watch = infra::watch(
        Api::<Node>::all(client.clone()),
        watcher::Config::default().fields(&format!("metadata.name={node}")),
        move |at, e| {
            if let watcher::Event::Apply(n) | watcher::Event::InitApply(n) = e
                && n.spec.as_ref().and_then(|s| s.unschedulable) == Some(true)
            {
                s.lock().unwrap_or_else(|p| p.into_inner()).cordoned.get_or_insert(at);
            }
        },
    )
    .await?;
    let s = seen;
    let pod_watch = infra::watch(
        Api::<Pod>::all(client.clone()),
        watcher::Config::default().fields(&format!("spec.nodeName={node}")),
        move |at, e| {
            let mut s = s.lock().unwrap_or_else(|p| p.into_inner());
            s.last_change = Some(at);
            match e {
                watcher::Event::Init => s.pods.clear(),
                watcher::Event::InitDone => s.listed = true,
                watcher::Event::InitApply(p) | watcher::Event::Apply(p) => {
                    s.pods.insert(p.uid().unwrap_or_default());
                }
                watcher::Event::Delete(p) => {
                    s.pods.remove(&p.uid().unwrap_or_default());
                    if s.listed && s.pods.is_empty() {
                        s.last_gone = Some(at);
                        n.notify_one();
                    }
                }
            }
        },
    )
    .await?;
    Ok(vec![node_watch, pod_watch])
}

/// The drainer's own requests in [t0, t1], and the timeline and counts they give.
pub(super) struct Own {
    requests: Option<Vec<apiserver::Request>>,
}

impl Own {
    pub(super) fn read(cfg: &Config, mark: &AuditMark, who: &str, t0: &Mark, t1: &Mark) -> Self {
        let requests = mark.requests(&sa_user(who)).ok().map(|rs| {
            rs.into_iter()
                .filter(|r| r.received >= t0.wall && r.received <= t1.wall)
                .collect::<Vec<_>>()
        });
        if requests.as_ref().is_some_and(|r| r.is_empty()) {
            progress(format!(
                "warning: no requests of {} in {}: is the drydock-bench audit rule in e2e/cluster/up.sh?",
                sa_user(who),
                cfg.audit_log.display()
            ));
            return Self { requests: None };
        }
        Self { requests }
    }

    fn evictions(&self) -> Option<Vec<&apiserver::Request>> {
        self.requests
            .as_ref()
            .map(|rs| rs.iter().filter(|r| r.resource == "pods/eviction").collect())
    }

    pub(super) fn fill(&self, t0: &Mark, run: &mut DrainRun) {
        let Some(rs) = &self.requests else { return };
        run.own_requests = Some(apiserver::by_verb(rs));
        run.own_requests_detail = Some(apiserver::by_verb_resource(rs));
        let ev = self.evictions().unwrap_or_default();
        let ok: Vec<_> = ev.iter().filter(|r| r.code == 201).collect();
        run.evictions_accepted = Some(ok.len());
        run.evictions_refused = Some(ev.iter().filter(|r| r.code == 429).count());
        run.timeline.first_eviction = ev.first().map(|r| t0.secs_to_wall(r.received));
        run.timeline.last_eviction = ok.iter().map(|r| t0.secs_to_wall(r.done)).reduce(f64::max);
    }
}

pub(super) fn new_run(
    drainer: &str,
    pods: usize,
    pair: usize,
    t0: &Mark,
    t1: &Mark,
    seen: &Mutex<Seen>,
    cluster_requests: BTreeMap<String, f64>,
) -> DrainRun {
    let s = seen.lock().unwrap_or_else(|p| p.into_inner());
    DrainRun {
        drainer: drainer.into(),
        pods,
        pair,
        completed: true,
        note: None,
        seconds: t0.secs_to(t1),
        evictions_accepted: None,
        evictions_refused: None,
        own_requests: None,
        own_requests_detail: None,
        cluster_requests,
        timeline: Timeline {
            cordoned: s.cordoned.map(|m| t0.secs_to(&m)),
            first_eviction: None,
            last_eviction: None,
            last_pod_gone: s.last_gone.map(|m| t0.secs_to(&m)),
            done: t0.secs_to(t1),
        },
        footprint: None,
    }
}
