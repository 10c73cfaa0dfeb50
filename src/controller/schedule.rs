//! The MaintenanceSchedule controller: while a schedule's window is open it creates one NodeMaintenance per
//! selected node, at most maxUnavailable at once, named after the window so a restart never creates
//! duplicates; the NodeMaintenances carry the window's end, so they restore their nodes when it closes.
use std::{collections::BTreeMap, sync::Arc, time::Duration};

use jiff::Timestamp;
use k8s_openapi::{
    api::core::v1::{Node, Taint},
    apimachinery::pkg::{
        apis::meta::v1::{Condition, Time},
        util::intstr::IntOrString,
    },
};
use kube::{
    Api, Resource, ResourceExt,
    api::{ListParams, Patch, PatchParams, PostParams},
    core::Selector,
    runtime::controller::Action,
};
use tracing::{info, instrument};

use super::Context;
use crate::{
    act,
    api::{
        names::{
            EXCLUDE_ANNOTATION, FIELD_MANAGER, HELD_BY_ANNOTATION, INVALID_SPEC, OVERLAPPING_WINDOWS, SCHEDULE_LABEL,
            UPCOMING_TAINT, VALID, WINDOW_LABEL, WINDOW_OPEN,
        },
        v1alpha1::{
            MaintenanceSchedule, MaintenanceScheduleStatus, NodeMaintenance, NodeMaintenanceSpec, Window, WindowTimes,
        },
    },
    error::{Error, Result},
    plan::{
        conditions,
        fleet::{self, PoolNode},
        names,
        node::is_ready,
        schedule::{self, Occurrence, Schedule},
    },
};

/// How often an open window is looked at even without a change: NotReady nodes and budget changes are not
/// watched (NodeMaintenance changes are).
const OPEN_RESYNC: Duration = Duration::from_secs(15);
const CLOSED_RESYNC: Duration = Duration::from_secs(300);

#[instrument(skip_all, fields(ms = %ms.name_any()))]
pub async fn reconcile(ms: Arc<MaintenanceSchedule>, ctx: Arc<Context>) -> Result<Action> {
    let now = Timestamp::now();
    let name = ms.name_any();
    let spec = &ms.spec;
    let parsed = Schedule::parse(&spec.schedule, &spec.time_zone, &spec.duration);
    let selector = spec
        .node_selector
        .clone()
        .try_into()
        .map_err(|e: kube::core::ParseExpressionError| e.0);
    let (sched, selector) = match (parsed, selector) {
        (Ok(s), Ok(sel)) => (s, sel),
        (Err(e), _) => return invalid(&ctx, &ms, &e.to_string()).await,
        (_, Err(e)) => return invalid(&ctx, &ms, &format!("nodeSelector is invalid: {e}")).await,
    };
    let selector: Selector = selector;
    let nodes_api = Api::<Node>::all(ctx.client.clone());
    let nodes = nodes_api
        .list(&ListParams::default().labels_from(&selector))
        .await
        .map_err(|source| Error::ReadNode {
            node: format!("(nodes of schedule {name})"),
            source,
        })?
        .items;
    let budget = schedule::budget(
        spec.max_unavailable.as_ref().unwrap_or(&IntOrString::Int(1)),
        nodes.len(),
    );
    let budget = match budget {
        Ok(b) => b,
        Err(e) => return invalid(&ctx, &ms, &e.to_string()).await,
    };
    // Overlapping windows would start every node again in each new window. Refused like an invalid spec (no
    // window opens), but the schedule still counts what its earlier windows hold and clears its taints.
    let refused = sched
        .check_overlap(&spec.schedule, &spec.duration, now)
        .err()
        .map(|e| e.to_string());
    let open = sched.open_window(now).filter(|_| !spec.suspend && refused.is_none());
    let window_id = open.map(|w| w.id());
    let owned: Vec<Arc<NodeMaintenance>> = ctx
        .maintenances()
        .into_iter()
        .filter(|nm| nm.owner_references().iter().any(|o| Some(&o.uid) == ms.uid().as_ref()))
        .collect();
    let pool: BTreeMap<String, PoolNode> = nodes
        .iter()
        .map(|n| {
            let node = n.name_any();
            let maintenance = window_id.as_ref().and_then(|id| {
                owned
                    .iter()
                    .find(|nm| nm.spec.node_name == node && nm.labels().get(WINDOW_LABEL) == Some(id))
                    .map(|nm| ctx.status_of(nm).phase)
            });
            let holder = n.annotations().get(HELD_BY_ANNOTATION);
            let pool_node = PoolNode {
                ready: is_ready(n),
                held: holder.is_some(),
                holding: holder.is_some_and(|h| owned.iter().any(|nm| nm.name_any() == *h)),
                excluded: n.annotations().get(EXCLUDE_ANNOTATION).map(String::as_str) == Some("true"),
                upcoming: n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .is_some_and(|ts| ts.iter().any(|t| t.key == UPCOMING_TAINT)),
                maintenance,
            };
            (node, pool_node)
        })
        .collect();
    let plan = fleet::plan(&pool, budget, open.is_some());

    let upcoming = Taint {
        key: UPCOMING_TAINT.into(),
        value: Some(name.clone()),
        effect: "PreferNoSchedule".into(),
        time_added: None,
    };
    for n in nodes.iter() {
        let node = n.name_any();
        if plan.taint.contains(&node) {
            act::node::set_taint(&nodes_api, n, &upcoming, true).await?;
        } else if plan.untaint.contains(&node) {
            act::node::set_taint(&nodes_api, n, &upcoming, false).await?;
        }
    }
    if let Some(window) = open {
        for node in &plan.start {
            create_maintenance(&ctx, &ms, &window, node).await?;
        }
    }
    write_status(&ctx, &ms, &sched, open, plan, refused.as_deref(), now).await?;
    Ok(Action::requeue(match open {
        Some(_) => OPEN_RESYNC,
        None => sched
            .next_window(now)
            .map(|w| {
                w.start
                    .duration_since(now)
                    .unsigned_abs()
                    .clamp(Duration::from_secs(1), CLOSED_RESYNC)
            })
            .unwrap_or(CLOSED_RESYNC),
    }))
}

async fn create_maintenance(ctx: &Context, ms: &MaintenanceSchedule, window: &Occurrence, node: &str) -> Result<()> {
    let t = &ms.spec.template;
    let name = names::scheduled_maintenance(&ms.name_any(), node, &window.id());
    let mut nm = NodeMaintenance::new(
        &name,
        NodeMaintenanceSpec {
            node_name: node.into(),
            reason: t
                .reason
                .clone()
                .or_else(|| Some(format!("MaintenanceSchedule {}", ms.name_any()))),
            window: Some(Window {
                start: Some(Time(window.start)),
                end: Some(Time(window.end)),
                duration: None,
            }),
            taints: t.taints.clone(),
            drain: t.drain.clone(),
            complete_when: t.complete_when.clone(),
            allow_sole_control_plane: false,
        },
    );
    let mut labels = ms.labels().clone();
    // Label values stop at 63 characters; the owner reference is what ties them, the labels are for people.
    if ms.name_any().len() <= 63 {
        labels.insert(SCHEDULE_LABEL.into(), ms.name_any());
    }
    labels.insert(WINDOW_LABEL.into(), window.id());
    nm.metadata.labels = Some(labels);
    nm.metadata.owner_references = ms.controller_owner_ref(&()).map(|o| vec![o]);
    let api = Api::<NodeMaintenance>::all(ctx.client.clone());
    match api.create(&PostParams::default(), &nm).await {
        Ok(_) => {
            info!(nm = %name, node, "schedule started a maintenance");
            Ok(())
        }
        // Created before (a restart, or a stale cache): the deterministic name is what makes this safe.
        Err(kube::Error::Api(s)) if s.code == 409 => Ok(()),
        Err(source) => Err(Error::WriteObject { name, source }),
    }
}

fn times(w: &Occurrence, sched: &Schedule) -> WindowTimes {
    WindowTimes {
        start: Time(w.start),
        end: Time(w.end),
        start_local: w.start_in(sched.time_zone()).to_string(),
    }
}

/// `refused`: why no window may open (the spec is usable, but its windows overlap).
async fn write_status(
    ctx: &Context,
    ms: &MaintenanceSchedule,
    sched: &Schedule,
    open: Option<Occurrence>,
    plan: fleet::FleetPlan,
    refused: Option<&str>,
    now: Timestamp,
) -> Result<()> {
    let old = ms.status.clone().unwrap_or_default();
    let mut new = MaintenanceScheduleStatus {
        last_window: open.map(|w| times(&w, sched)).or(old.last_window.clone()),
        next_window: sched.next_window(now).map(|w| times(&w, sched)),
        nodes: Some(plan.counts.clone()),
        excluded_nodes: plan.excluded.clone(),
        conditions: old.conditions.clone(),
        observed_generation: ms.metadata.generation,
        message: None,
    };
    let message = match (&open, ms.spec.suspend) {
        _ if refused.is_some() => format!(
            "{} ({} in progress)",
            refused.unwrap_or_default(),
            plan.counts.in_progress
        ),
        (_, true) => "suspended: no window starts".to_string(),
        (Some(w), _) => format!(
            "window open until {}: {} done, {} in progress, {} remaining, {} failed",
            w.end_in(sched.time_zone()),
            plan.counts.done,
            plan.counts.in_progress,
            plan.counts.remaining,
            plan.counts.failed
        ),
        (None, _) => match sched.next_window(now) {
            Some(w) => format!("next window opens {}", w.start_in(sched.time_zone())),
            None => "no future window".into(),
        },
    };
    new.message = Some(message.clone());
    let was_refused = is_refused(&old.conditions, ms.metadata.generation);
    match refused {
        Some(why) => conditions::set(
            &mut new.conditions,
            VALID,
            false,
            OVERLAPPING_WINDOWS,
            why,
            now,
            ms.metadata.generation,
        ),
        None => conditions::set(
            &mut new.conditions,
            VALID,
            true,
            "Valid",
            "",
            now,
            ms.metadata.generation,
        ),
    }
    conditions::set(
        &mut new.conditions,
        WINDOW_OPEN,
        open.is_some(),
        if open.is_some() { "Open" } else { "Closed" },
        &message,
        now,
        ms.metadata.generation,
    );
    if new == old {
        return Ok(());
    }
    patch_status(ctx, ms, &new).await?;
    if let Some(why) = refused
        && !was_refused
    {
        warn_event(ctx, ms, OVERLAPPING_WINDOWS, why).await;
    }
    Ok(())
}

/// Whether `conditions` already say this generation's windows overlap (so its Event was sent).
fn is_refused(conditions: &[Condition], generation: Option<i64>) -> bool {
    conditions.iter().any(|c| {
        c.type_ == VALID
            && c.status == "False"
            && c.reason == OVERLAPPING_WINDOWS
            && c.observed_generation == generation
    })
}

async fn warn_event(ctx: &Context, ms: &MaintenanceSchedule, reason: &str, message: &str) {
    let ev = kube::runtime::events::Event {
        type_: kube::runtime::events::EventType::Warning,
        reason: reason.into(),
        note: Some(message.chars().take(1000).collect()),
        action: "Validate".into(),
        secondary: None,
    };
    if let Err(e) = ctx.recorder.publish(&ev, &ms.object_ref(&())).await {
        tracing::warn!(error = %e, "could not publish an Event on the MaintenanceSchedule");
    }
}

async fn patch_status(ctx: &Context, ms: &MaintenanceSchedule, status: &MaintenanceScheduleStatus) -> Result<()> {
    let body =
        serde_json::json!({"apiVersion": "drydock.dev/v1alpha1", "kind": "MaintenanceSchedule", "status": status});
    Api::<MaintenanceSchedule>::all(ctx.client.clone())
        .patch_status(
            &ms.name_any(),
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(body),
        )
        .await
        .map(|_| ())
        .map_err(|source| Error::WriteObject {
            name: ms.name_any(),
            source,
        })
}

/// A schedule the API server accepted but drydock cannot use (e.g. a CRD older than this controller): say so
/// in status and an Event, create nothing, look again later.
async fn invalid(ctx: &Context, ms: &MaintenanceSchedule, message: &str) -> Result<Action> {
    let now = Timestamp::now();
    let mut status = ms.status.clone().unwrap_or_default();
    status.message = Some(message.into());
    conditions::set(
        &mut status.conditions,
        VALID,
        false,
        INVALID_SPEC,
        message,
        now,
        ms.metadata.generation,
    );
    if Some(&status) != ms.status.as_ref() {
        patch_status(ctx, ms, &status).await?;
        warn_event(ctx, ms, INVALID_SPEC, message).await;
    }
    Ok(Action::requeue(CLOSED_RESYNC))
}
