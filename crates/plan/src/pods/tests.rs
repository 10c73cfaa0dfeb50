use super::*;
use drydock_api::names::{AUTOSCALER_SAFE_TO_EVICT, DRAIN_ANNOTATION, KARPENTER_DO_NOT_DISRUPT, MIRROR_ANNOTATION};
use k8s_openapi::api::core::v1::{EmptyDirVolumeSource, PodSpec, PodStatus, Volume};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, Time};

const NOW: &str = "2025-06-01T12:00:00Z";

/// The drain's rules alone (the rules that need the node's surroundings have tests of their own below).
fn classify(p: &Pod, drain: &DrainSpec, now: Timestamp) -> Disposition {
    super::classify(p, &DrainInputs::new(drain, now))
}

fn plan_drain<'a>(
    pods: impl IntoIterator<Item = &'a Pod>,
    drain: &'a DrainSpec,
    now: Timestamp,
    own_pod: Option<(&'a str, &'a str)>,
) -> DrainPlan {
    super::plan_drain(
        pods,
        DrainInputs {
            own_pod,
            ..DrainInputs::new(drain, now)
        },
    )
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn now() -> Timestamp {
    ts(NOW)
}

/// A running pod in namespace `app`, owned by a ReplicaSet: evicted under the default spec.
fn pod(name: &str) -> Pod {
    let mut p = Pod::default();
    p.metadata.namespace = Some("app".into());
    p.metadata.name = Some(name.into());
    p.metadata.uid = Some(format!("uid-{name}"));
    p.status = Some(PodStatus {
        phase: Some("Running".into()),
        ..Default::default()
    });
    owned(p, "apps/v1", "ReplicaSet", true)
}

fn in_ns(mut p: Pod, namespace: &str) -> Pod {
    p.metadata.namespace = Some(namespace.into());
    p
}

/// Replaces the owner references with one owner.
fn owned(mut p: Pod, api_version: &str, kind: &str, controller: bool) -> Pod {
    p.metadata.owner_references = Some(vec![OwnerReference {
        api_version: api_version.into(),
        kind: kind.into(),
        name: "owner".into(),
        uid: "owner-uid".into(),
        controller: Some(controller),
        ..Default::default()
    }]);
    p
}

fn bare(mut p: Pod) -> Pod {
    p.metadata.owner_references = None;
    p
}

fn mirror(mut p: Pod) -> Pod {
    p.metadata.annotations = Some([(MIRROR_ANNOTATION.to_string(), "abc123".to_string())].into());
    p
}

fn empty_dir(mut p: Pod) -> Pod {
    p.spec = Some(PodSpec {
        volumes: Some(vec![Volume {
            name: "scratch".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Default::default()
        }]),
        ..Default::default()
    });
    p
}

fn phase(mut p: Pod, phase: &str) -> Pod {
    p.status = Some(PodStatus {
        phase: Some(phase.into()),
        ..Default::default()
    });
    p
}

fn labels(mut p: Pod, labels: &[(&str, &str)]) -> Pod {
    p.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
    p
}

fn deleted_at(mut p: Pod, at: &str) -> Pod {
    p.metadata.deletion_timestamp = Some(Time(ts(at)));
    p
}

fn key(name: &str) -> PodKey {
    PodKey {
        namespace: "app".into(),
        name: name.into(),
        uid: format!("uid-{name}"),
    }
}

fn keys(names: &[&str]) -> Vec<PodKey> {
    names.iter().map(|n| key(n)).collect()
}

fn classify_default(p: &Pod) -> Disposition {
    classify(p, &DrainSpec::default(), now())
}

fn permissive() -> DrainSpec {
    DrainSpec {
        delete_empty_dir_data: true,
        evict_unmanaged_pods: true,
        ..Default::default()
    }
}

fn select(match_labels: &[(&str, &str)], exprs: Vec<LabelSelectorRequirement>) -> DrainSpec {
    DrainSpec {
        pod_selector: Some(LabelSelector {
            match_labels: Some(
                match_labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            match_expressions: Some(exprs),
        }),
        ..Default::default()
    }
}

fn requirement(key: &str, operator: &str, values: Option<&[&str]>) -> LabelSelectorRequirement {
    LabelSelectorRequirement {
        key: key.into(),
        operator: operator.into(),
        values: values.map(|vs| vs.iter().map(|v| v.to_string()).collect()),
    }
}

// ---- classify, rule by rule ----

#[test]
fn replicaset_pod_is_evicted() {
    assert_eq!(classify_default(&pod("web")), Disposition::Evict);
}

#[test]
fn job_pod_is_managed_and_evicted() {
    let p = owned(pod("batch"), "batch/v1", "Job", true);
    assert_eq!(classify_default(&p), Disposition::Evict);
}

#[test]
fn mirror_pod_is_skipped_even_when_terminating_finished_or_bare() {
    let p = mirror(deleted_at(
        phase(bare(empty_dir(pod("etcd"))), "Failed"),
        "2025-01-01T00:00:00Z",
    ));
    let drain = DrainSpec {
        skip_wait_for_delete_seconds: Some(1),
        ..Default::default()
    };
    assert_eq!(classify(&p, &drain, now()), Disposition::Skip(SkipReason::Mirror));
}

#[test]
fn a_maintenances_task_pod_is_never_evicted_nor_deleted_when_finished() {
    let task = owned(pod("kernel-task"), "drydock.dev/v1alpha1", "NodeMaintenance", true);
    assert_eq!(classify_default(&task), Disposition::Skip(SkipReason::Task));
    assert_eq!(
        classify_default(&phase(task.clone(), "Succeeded")),
        Disposition::Skip(SkipReason::Task),
        "its log is the record"
    );
    // Only drydock's group: another project's NodeMaintenance kind owns an ordinary pod.
    let other = owned(pod("x"), "example.com/v1", "NodeMaintenance", true);
    assert_eq!(classify_default(&other), Disposition::Evict);
}

#[test]
fn daemonset_pod_is_skipped() {
    let p = owned(pod("fluentd"), "apps/v1", "DaemonSet", true);
    assert_eq!(classify_default(&p), Disposition::Skip(SkipReason::DaemonSet));
}

#[test]
fn daemonset_pod_is_skipped_even_with_local_storage_or_outside_selector() {
    let p = empty_dir(owned(pod("fluentd"), "apps/v1", "DaemonSet", true));
    assert_eq!(
        classify(&p, &select(&[("tier", "web")], vec![]), now()),
        Disposition::Skip(SkipReason::DaemonSet)
    );
}

#[test]
fn daemonset_owner_that_is_not_the_controller_does_not_count() {
    let p = owned(pod("x"), "apps/v1", "DaemonSet", false);
    assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::Unmanaged));
}

#[test]
fn daemonset_kind_from_another_group_is_an_ordinary_controller() {
    let p = owned(pod("x"), "apps.kruise.io/v1alpha1", "DaemonSet", true);
    assert_eq!(classify_default(&p), Disposition::Evict);
}

#[test]
fn pod_outside_selector_is_skipped() {
    let drain = select(&[("tier", "web")], vec![]);
    assert_eq!(
        classify(&labels(pod("db"), &[("tier", "db")]), &drain, now()),
        Disposition::Skip(SkipReason::NotSelected)
    );
    assert_eq!(
        classify(&pod("nolabels"), &drain, now()),
        Disposition::Skip(SkipReason::NotSelected)
    );
    assert_eq!(
        classify(&labels(pod("web"), &[("tier", "web")]), &drain, now()),
        Disposition::Evict
    );
}

#[test]
fn selector_with_match_expressions() {
    let drain = select(
        &[("team", "shop")],
        vec![
            requirement("tier", "In", Some(&["web", "api"])),
            requirement("canary", "DoesNotExist", None),
            requirement("env", "NotIn", Some(&["prod"])),
        ],
    );
    let c = |l: &[(&str, &str)]| classify(&labels(pod("p"), l), &drain, now());
    assert_eq!(c(&[("team", "shop"), ("tier", "api")]), Disposition::Evict);
    assert_eq!(
        c(&[("team", "shop"), ("tier", "web"), ("env", "dev")]),
        Disposition::Evict
    );
    assert_eq!(
        c(&[("team", "shop"), ("tier", "db")]),
        Disposition::Skip(SkipReason::NotSelected)
    );
    assert_eq!(
        c(&[("team", "shop"), ("tier", "web"), ("canary", "")]),
        Disposition::Skip(SkipReason::NotSelected)
    );
    assert_eq!(
        c(&[("team", "shop"), ("tier", "web"), ("env", "prod")]),
        Disposition::Skip(SkipReason::NotSelected)
    );
    assert_eq!(c(&[("tier", "web")]), Disposition::Skip(SkipReason::NotSelected));
}

#[test]
fn empty_selector_selects_everything() {
    let drain = DrainSpec {
        pod_selector: Some(LabelSelector::default()),
        ..Default::default()
    };
    assert_eq!(selector(&drain).map(|s| s.map(|s| s.selects_all())), Ok(Some(true)));
    assert_eq!(classify(&pod("web"), &drain, now()), Disposition::Evict);
}

#[test]
fn invalid_selector_is_reported_and_matches_nothing() {
    let drain = select(&[], vec![requirement("tier", "Equals", Some(&["web"]))]);
    let err = selector(&drain).unwrap_err().to_string();
    assert!(
        err.starts_with("spec.drain.podSelector is not a valid label selector"),
        "{err}"
    );
    assert_eq!(
        classify(&labels(pod("web"), &[("tier", "web")]), &drain, now()),
        Disposition::Skip(SkipReason::NotSelected)
    );
    let in_without_values = select(&[], vec![requirement("tier", "In", None)]);
    assert!(selector(&in_without_values).is_err());
}

#[test]
fn no_selector_is_none() {
    assert_eq!(selector(&DrainSpec::default()), Ok(None));
}

#[test]
fn terminating_pod_is_waited_for_even_with_local_storage_or_finished() {
    let p = bare(empty_dir(phase(
        deleted_at(pod("web"), "2025-06-01T11:59:00Z"),
        "Succeeded",
    )));
    assert_eq!(classify_default(&p), Disposition::Terminating);
}

#[test]
fn terminating_pod_is_never_abandoned_without_skip_wait() {
    let p = deleted_at(pod("web"), "2000-01-01T00:00:00Z");
    assert_eq!(classify_default(&p), Disposition::Terminating);
}

#[test]
fn skip_wait_boundary_is_exclusive() {
    let drain = DrainSpec {
        skip_wait_for_delete_seconds: Some(60),
        ..Default::default()
    };
    let at = |t: &str| classify(&deleted_at(pod("web"), t), &drain, now());
    assert_eq!(at("2025-06-01T11:59:00Z"), Disposition::Terminating, "exactly 60s past");
    assert_eq!(
        at("2025-06-01T11:58:59.999999999Z"),
        Disposition::Abandoned,
        "just over 60s past"
    );
    assert_eq!(
        at("2025-06-01T12:00:30Z"),
        Disposition::Terminating,
        "deletionTimestamp still ahead (grace period)"
    );
}

#[test]
fn skip_wait_of_zero_or_less_means_wait_forever() {
    for n in [0, -5] {
        let drain = DrainSpec {
            skip_wait_for_delete_seconds: Some(n),
            ..Default::default()
        };
        assert_eq!(
            classify(&deleted_at(pod("web"), "2000-01-01T00:00:00Z"), &drain, now()),
            Disposition::Terminating
        );
    }
}

#[test]
fn skip_wait_huge_does_not_overflow() {
    let drain = DrainSpec {
        skip_wait_for_delete_seconds: Some(i64::MAX),
        ..Default::default()
    };
    assert_eq!(
        classify(&deleted_at(pod("web"), "2000-01-01T00:00:00Z"), &drain, now()),
        Disposition::Terminating
    );
}

#[test]
fn finished_pods_are_deleted() {
    assert_eq!(classify_default(&phase(pod("a"), "Succeeded")), Disposition::Delete);
    assert_eq!(classify_default(&phase(pod("b"), "Failed")), Disposition::Delete);
}

#[test]
fn finished_bare_pod_with_empty_dir_is_deleted_not_refused() {
    assert_eq!(
        classify_default(&phase(bare(empty_dir(pod("x"))), "Failed")),
        Disposition::Delete
    );
}

#[test]
fn pending_and_unknown_phases_are_evicted() {
    assert_eq!(classify_default(&phase(pod("a"), "Pending")), Disposition::Evict);
    assert_eq!(classify_default(&phase(pod("b"), "Unknown")), Disposition::Evict);
    let mut no_status = pod("c");
    no_status.status = None;
    assert_eq!(classify_default(&no_status), Disposition::Evict);
}

#[test]
fn empty_dir_is_refused_unless_allowed() {
    let p = empty_dir(pod("cache"));
    assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::LocalStorage));
    let drain = DrainSpec {
        delete_empty_dir_data: true,
        ..Default::default()
    };
    assert_eq!(classify(&p, &drain, now()), Disposition::Evict);
}

#[test]
fn other_volumes_are_not_local_storage() {
    let mut p = pod("web");
    p.spec = Some(PodSpec {
        volumes: Some(vec![Volume {
            name: "cfg".into(),
            ..Default::default()
        }]),
        ..Default::default()
    });
    assert_eq!(classify_default(&p), Disposition::Evict);
}

#[test]
fn bare_pod_is_refused_unless_allowed() {
    let p = bare(pod("debug"));
    assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::Unmanaged));
    let drain = DrainSpec {
        evict_unmanaged_pods: true,
        ..Default::default()
    };
    assert_eq!(classify(&p, &drain, now()), Disposition::Evict);
}

#[test]
fn orphaned_pod_without_controller_ref_is_unmanaged() {
    let p = owned(pod("orphan"), "apps/v1", "ReplicaSet", false);
    assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::Unmanaged));
}

#[test]
fn bare_pod_with_empty_dir_reports_local_storage_first() {
    let p = bare(empty_dir(pod("x")));
    assert_eq!(classify_default(&p), Disposition::Refuse(Refusal::LocalStorage));
    let drain = DrainSpec {
        delete_empty_dir_data: true,
        ..Default::default()
    };
    assert_eq!(classify(&p, &drain, now()), Disposition::Refuse(Refusal::Unmanaged));
    assert_eq!(classify(&p, &permissive(), now()), Disposition::Evict);
}

#[test]
fn reasons_use_kubectl_wording() {
    assert!(Refusal::LocalStorage.reason().starts_with("Pods with local storage"));
    assert!(
        Refusal::Unmanaged
            .reason()
            .starts_with("Pods that declare no controller")
    );
    assert!(SkipReason::DaemonSet.reason().starts_with("DaemonSet-managed"));
    assert!(SkipReason::Mirror.reason().contains("mirror"));
    assert!(SkipReason::NotSelected.reason().contains("podSelector"));
}

#[test]
fn pod_key_displays_namespace_and_name() {
    assert_eq!(PodKey::of(&pod("web")), key("web"));
    assert_eq!(key("web").to_string(), "app/web");
    assert_eq!(
        PodKey::of(&Pod::default()),
        PodKey {
            namespace: String::new(),
            name: String::new(),
            uid: String::new()
        }
    );
}

// ---- plan_drain ----

#[test]
fn empty_node_is_drained() {
    let plan = plan_drain(&[], &DrainSpec::default(), now(), None);
    assert_eq!(plan, DrainPlan::default());
    assert!(plan.is_drained());
    assert_eq!(plan.remaining(), 0);
}

#[test]
fn sorts_every_pod_into_its_place() {
    let pods = [
        pod("web"),
        phase(pod("done"), "Succeeded"),
        owned(pod("ds"), "apps/v1", "DaemonSet", true),
        mirror(pod("static")),
        deleted_at(pod("going"), "2025-06-01T11:59:59Z"),
        deleted_at(pod("stuck"), "2025-06-01T00:00:00Z"),
    ];
    let drain = DrainSpec {
        skip_wait_for_delete_seconds: Some(600),
        ..Default::default()
    };
    let plan = plan_drain(&pods, &drain, now(), None);
    assert_eq!(
        plan,
        DrainPlan {
            evict: keys(&["web"]),
            delete: keys(&["done"]),
            refused: vec![],
            skipped: vec![(key("ds"), SkipReason::DaemonSet), (key("static"), SkipReason::Mirror)],
            terminating: keys(&["going"]),
            abandoned: keys(&["stuck"]),
            held_back: vec![],
            waiting: vec![],
            overdue: vec![],
            nowhere: vec![],
            owners: [(
                "uid-web".to_string(),
                Owner {
                    uid: "owner-uid".into(),
                    kind: "ReplicaSet".into(),
                    name: "app/owner".into(),
                }
            )]
            .into(),
        }
    );
    assert_eq!(plan.remaining(), 3);
    assert!(!plan.is_drained());
}

#[test]
fn only_skipped_and_abandoned_left_is_drained() {
    let pods = [
        owned(pod("ds"), "apps/v1", "DaemonSet", true),
        mirror(pod("static")),
        deleted_at(pod("stuck"), "2025-06-01T00:00:00Z"),
    ];
    let drain = DrainSpec {
        skip_wait_for_delete_seconds: Some(1),
        ..Default::default()
    };
    let plan = plan_drain(&pods, &drain, now(), None);
    assert!(plan.is_drained());
    assert_eq!(plan.abandoned, keys(&["stuck"]));
}

#[test]
fn outputs_are_sorted_by_namespace_then_name() {
    let pods = [in_ns(pod("a"), "zz"), pod("c"), pod("b"), in_ns(pod("z"), "aa")];
    let plan = plan_drain(&pods, &DrainSpec::default(), now(), None);
    let names: Vec<String> = plan.evict.iter().map(ToString::to_string).collect();
    assert_eq!(names, ["aa/z", "app/b", "app/c", "zz/a"]);
}

#[test]
fn a_refusal_holds_back_everything() {
    let pods = [
        pod("web"),
        phase(pod("done"), "Failed"),
        bare(pod("debug")),
        empty_dir(pod("cache")),
    ];
    let plan = plan_drain(&pods, &DrainSpec::default(), now(), None);
    assert!(plan.evict.is_empty());
    assert!(plan.delete.is_empty());
    assert_eq!(plan.held_back, keys(&["done", "web"]));
    assert_eq!(
        plan.refused,
        vec![
            (key("cache"), Refusal::LocalStorage),
            (key("debug"), Refusal::Unmanaged)
        ]
    );
    assert_eq!(plan.remaining(), 4);
    assert!(!plan.is_drained());
}

#[test]
fn a_refusal_does_not_hide_terminating_or_skipped_pods() {
    let pods = [bare(pod("debug")), deleted_at(pod("going"), NOW), mirror(pod("static"))];
    let plan = plan_drain(&pods, &DrainSpec::default(), now(), None);
    assert_eq!(plan.terminating, keys(&["going"]));
    assert_eq!(plan.skipped, vec![(key("static"), SkipReason::Mirror)]);
}

#[test]
fn refusal_lifted_by_spec_evicts_all() {
    let pods = [pod("web"), bare(pod("debug")), empty_dir(pod("cache"))];
    let plan = plan_drain(&pods, &permissive(), now(), None);
    assert_eq!(plan.evict, keys(&["cache", "debug", "web"]));
    assert!(plan.held_back.is_empty());
}

#[test]
fn own_pod_waits_while_others_must_leave() {
    let own = Some(("app", "drydock"));
    let plan = plan_drain(&[pod("drydock"), pod("web")], &DrainSpec::default(), now(), own);
    assert_eq!(plan.evict, keys(&["web"]));
    assert_eq!(plan.held_back, keys(&["drydock"]));
    assert_eq!(plan.remaining(), 2);

    let plan = plan_drain(
        &[pod("drydock"), phase(pod("done"), "Succeeded")],
        &DrainSpec::default(),
        now(),
        own,
    );
    assert_eq!(plan.held_back, keys(&["drydock"]));

    let plan = plan_drain(
        &[pod("drydock"), deleted_at(pod("web"), NOW)],
        &DrainSpec::default(),
        now(),
        own,
    );
    assert!(plan.evict.is_empty());
    assert_eq!(plan.held_back, keys(&["drydock"]));
    assert_eq!(plan.terminating, keys(&["web"]));
}

#[test]
fn own_pod_goes_when_it_is_the_last() {
    let own = Some(("app", "drydock"));
    let pods = [
        pod("drydock"),
        owned(pod("ds"), "apps/v1", "DaemonSet", true),
        deleted_at(pod("stuck"), "2025-06-01T00:00:00Z"),
    ];
    let drain = DrainSpec {
        skip_wait_for_delete_seconds: Some(1),
        ..Default::default()
    };
    let plan = plan_drain(&pods, &drain, now(), own);
    assert_eq!(plan.evict, keys(&["drydock"]));
    assert!(plan.held_back.is_empty());
    assert_eq!(plan.remaining(), 1);
}

#[test]
fn own_pod_is_matched_by_namespace_and_name() {
    let pods = [in_ns(pod("drydock"), "other"), pod("drydock"), pod("web")];
    let plan = plan_drain(&pods, &DrainSpec::default(), now(), Some(("app", "drydock")));
    let evict: Vec<String> = plan.evict.iter().map(ToString::to_string).collect();
    assert_eq!(evict, ["app/web", "other/drydock"]);
    assert_eq!(plan.held_back, keys(&["drydock"]));
}

#[test]
fn own_pod_is_held_back_by_a_refusal_too() {
    let plan = plan_drain(
        &[pod("drydock"), bare(pod("debug"))],
        &DrainSpec::default(),
        now(),
        Some(("app", "drydock")),
    );
    assert_eq!(plan.held_back, keys(&["drydock"]));
    assert!(plan.evict.is_empty());
}

#[test]
fn own_pod_alone_and_refused_is_refused() {
    let plan = plan_drain(
        &[empty_dir(pod("drydock"))],
        &DrainSpec::default(),
        now(),
        Some(("app", "drydock")),
    );
    assert_eq!(plan.refused, vec![(key("drydock"), Refusal::LocalStorage)]);
    assert!(plan.held_back.is_empty());
}

#[test]
fn own_pod_terminating_is_waited_for_like_any_other() {
    let plan = plan_drain(
        &[deleted_at(pod("drydock"), NOW)],
        &DrainSpec::default(),
        now(),
        Some(("app", "drydock")),
    );
    assert_eq!(plan.terminating, keys(&["drydock"]));
}

#[test]
fn selector_skips_pods_across_the_plan() {
    let pods = [
        labels(pod("web"), &[("tier", "web")]),
        labels(pod("db"), &[("tier", "db")]),
    ];
    let plan = plan_drain(&pods, &select(&[("tier", "web")], vec![]), now(), None);
    assert_eq!(plan.evict, keys(&["web"]));
    assert_eq!(plan.skipped, vec![(key("db"), SkipReason::NotSelected)]);
}

fn with_priority(mut p: Pod, priority: i32) -> Pod {
    p.spec.get_or_insert_with(Default::default).priority = Some(priority);
    p
}

fn annotated(mut p: Pod, key: &str, value: &str) -> Pod {
    p.metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(key.into(), value.into());
    p
}

fn managed(name: &str) -> Pod {
    let mut p = pod(name);
    p.metadata.owner_references = Some(vec![k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: "rs".into(),
        uid: "rs-uid".into(),
        controller: Some(true),
        ..Default::default()
    }]);
    p
}

#[test]
fn lower_priority_groups_leave_first_and_each_group_finishes_before_the_next() {
    let drain = DrainSpec::default();
    let pods = vec![
        with_priority(managed("critical"), 2_000_000_000),
        with_priority(managed("web"), 0),
        with_priority(managed("batch"), -10),
        annotated(with_priority(managed("cache"), 1000), DRAIN_ORDER_ANNOTATION, "-10"),
    ];
    let plan = plan_drain(&pods, &drain, ts(NOW), None);
    let names = |v: &Vec<PodKey>| v.iter().map(|k| k.name.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&plan.evict),
        vec!["batch", "cache"],
        "lowest group first; the annotation overrides priority"
    );
    assert_eq!(names(&plan.held_back), vec!["critical", "web"]);
    // The first group is terminating: the next waits until it is gone.
    let terminating: Vec<Pod> = pods
        .iter()
        .cloned()
        .map(|p| if drain_order(&p) == -10 { terminating_pod(p) } else { p })
        .collect();
    let plan = plan_drain(&terminating, &drain, ts(NOW), None);
    assert!(plan.evict.is_empty(), "web waits for the -10 group to be gone");
    let rest: Vec<Pod> = pods.iter().filter(|p| drain_order(p) > -10).cloned().collect();
    assert_eq!(names(&plan_drain(&rest, &drain, ts(NOW), None).evict), vec!["web"]);
}

fn terminating_pod(mut p: Pod) -> Pod {
    p.metadata.deletion_timestamp = Some(Time(ts(NOW)));
    p
}

#[test]
fn wait_for_pods_are_waited_for_not_evicted() {
    let drain = DrainSpec {
        wait_for_pods: Some(LabelSelector {
            match_labels: Some([("kind".to_string(), "batch".to_string())].into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut job = managed("job-1");
    job.metadata.labels = Some([("kind".to_string(), "batch".to_string())].into());
    let annotated_pod = annotated(managed("etl"), DRAIN_ANNOTATION, "wait-completed");
    assert_eq!(classify(&job, &drain, ts(NOW)), Disposition::WaitFor);
    assert_eq!(
        classify(&annotated_pod, &DrainSpec::default(), ts(NOW)),
        Disposition::WaitFor
    );
    let plan = plan_drain(&[job.clone(), annotated_pod, managed("web")], &drain, ts(NOW), None);
    assert_eq!(plan.waiting.len(), 2);
    assert!(!plan.is_drained());
    job.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Succeeded".into()),
        ..Default::default()
    });
    assert_eq!(
        classify(&job, &drain, ts(NOW)),
        Disposition::Delete,
        "once finished, it is cleaned up"
    );
}

// ---- rules that need the node's surroundings ----

fn tolerating(mut p: Pod, tolerations: serde_json::Value) -> Pod {
    let mut spec = p.spec.take().unwrap_or_default();
    spec.tolerations = Some(serde_json::from_value(tolerations).expect("tolerations"));
    p.spec = Some(spec);
    p
}

#[test]
fn a_pod_that_tolerates_the_cordon_and_the_maintenance_taint_stays() {
    let taints = holding_taints("nm-1", &[]);
    let default = DrainSpec::default();
    let inputs = DrainInputs {
        holding_taints: &taints,
        ..DrainInputs::new(&default, now())
    };
    let everything = tolerating(pod("cilium-operator"), serde_json::json!([{"operator": "Exists"}]));
    assert_eq!(
        super::classify(&everything, &inputs),
        Disposition::Skip(SkipReason::ComesBack)
    );
    let both = tolerating(
        pod("agent"),
        serde_json::json!([
            {"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "drydock.dev/maintenance", "operator": "Exists"}
        ]),
    );
    assert_eq!(
        super::classify(&both, &inputs),
        Disposition::Skip(SkipReason::ComesBack)
    );
    let cordon_only = tolerating(
        pod("web"),
        serde_json::json!([{"key": "node.kubernetes.io/unschedulable", "operator": "Exists"}]),
    );
    assert_eq!(
        super::classify(&cordon_only, &inputs),
        Disposition::Evict,
        "drydock's own taint keeps it away"
    );
    let no_execute_only = tolerating(
        pod("x"),
        serde_json::json!([{"operator": "Exists", "effect": "NoExecute"}]),
    );
    assert_eq!(super::classify(&no_execute_only, &inputs), Disposition::Evict);
    // A spec taint it does not tolerate keeps it away too.
    let extra = [MaintenanceTaint {
        key: "example.com/kernel".into(),
        value: None,
        effect: drydock_api::v1alpha1::TaintEffect::NoSchedule,
    }];
    let taints = holding_taints("nm-1", &extra);
    let inputs = DrainInputs {
        holding_taints: &taints,
        ..DrainInputs::new(&default, now())
    };
    assert_eq!(super::classify(&both, &inputs), Disposition::Evict);
    assert_eq!(
        super::classify(&everything, &inputs),
        Disposition::Skip(SkipReason::ComesBack)
    );
    // A bare pod comes back only if someone makes it again: the unmanaged rule applies.
    assert_eq!(
        super::classify(&bare(everything.clone()), &inputs),
        Disposition::Refuse(Refusal::Unmanaged)
    );
}

#[test]
fn autoscaler_hints_block_until_the_spec_allows_them() {
    let karpenter = annotated(pod("etl"), KARPENTER_DO_NOT_DISRUPT, "true");
    let ca = annotated(pod("db"), AUTOSCALER_SAFE_TO_EVICT, "false");
    assert_eq!(
        classify_default(&karpenter),
        Disposition::Refuse(Refusal::DoNotDisrupt(Hint::KarpenterDoNotDisrupt))
    );
    assert_eq!(
        classify_default(&ca),
        Disposition::Refuse(Refusal::DoNotDisrupt(Hint::AutoscalerNotSafeToEvict))
    );
    assert_eq!(
        classify_default(&annotated(pod("a"), KARPENTER_DO_NOT_DISRUPT, "false")),
        Disposition::Evict
    );
    assert_eq!(
        classify_default(&annotated(pod("b"), AUTOSCALER_SAFE_TO_EVICT, "true")),
        Disposition::Evict
    );
    let allowed = DrainSpec {
        evict_do_not_disrupt: true,
        ..Default::default()
    };
    assert_eq!(classify(&karpenter, &allowed, now()), Disposition::Evict);
    assert_eq!(classify(&ca, &allowed, now()), Disposition::Evict);
    assert!(
        Refusal::DoNotDisrupt(Hint::KarpenterDoNotDisrupt)
            .reason()
            .contains("evictDoNotDisrupt")
    );
    // Like every refusal, it holds back the rest of the node.
    let plan = plan_drain(&[karpenter, pod("web")], &DrainSpec::default(), now(), None);
    assert_eq!(plan.held_back, keys(&["web"]));
}

fn node_named(name: &str) -> k8s_openapi::api::core::v1::Node {
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .expect("node")
}

fn pinned(name: &str, host: &str) -> Pod {
    let mut p = pod(name);
    p.spec = Some(PodSpec {
        node_selector: Some([("kubernetes.io/hostname".to_string(), host.to_string())].into()),
        ..Default::default()
    });
    p
}

#[test]
fn a_pod_whose_replacement_has_nowhere_to_go_waits_while_the_others_leave() {
    let nodes = [node_named("a"), node_named("b")];
    let volumes = super::super::place::Volumes::new();
    let pods = [pinned("db", "a"), pod("web")];
    let room = || Some(Room::new("a", &nodes, &[], &volumes));
    let plan = super::plan_drain(
        &pods,
        DrainInputs {
            room: room(),
            ..DrainInputs::new(&DrainSpec::default(), now())
        },
    );
    assert_eq!(plan.evict, keys(&["web"]));
    assert_eq!(plan.nowhere.len(), 1);
    assert_eq!(plan.nowhere[0].0, key("db"));
    assert!(
        plan.nowhere[0]
            .1
            .starts_with("its replacement has nowhere to go (b: no label kubernetes.io/hostname=a"),
        "{:?}",
        plan.nowhere
    );
    assert!(!plan.is_drained());
    assert_eq!(plan.stuck(), 1);

    let allowed = DrainSpec {
        evict_unplaceable: true,
        ..Default::default()
    };
    let plan = super::plan_drain(
        &pods,
        DrainInputs {
            room: room(),
            ..DrainInputs::new(&allowed, now())
        },
    );
    assert_eq!(plan.evict, keys(&["db", "web"]), "evictUnplaceable lets it go");
    assert!(plan.nowhere.is_empty());
    assert_eq!(plan.owners.len(), 2, "each pod to evict is known by its owner");
}

#[test]
fn pods_stuck_terminating_are_named_with_what_holds_them() {
    let mut held = deleted_at(pod("web"), "2025-06-01T11:59:00Z");
    held.metadata.finalizers = Some(vec!["example.com/backup".into()]);
    let fresh = deleted_at(pod("api"), "2025-06-01T11:59:55Z");
    let plan = plan_drain(&[held.clone(), fresh.clone()], &DrainSpec::default(), now(), None);
    assert_eq!(plan.terminating, keys(&["api", "web"]));
    assert_eq!(plan.overdue.len(), 1, "{:?}", plan.overdue);
    let (k, why) = &plan.overdue[0];
    assert_eq!(k, &key("web"));
    assert!(
        why.starts_with("terminating 60s past its grace period, held by finalizer example.com/backup"),
        "{why}"
    );
    assert!(why.contains("skipWaitForDeleteSeconds"), "{why}");

    let lost = deleted_at(pod("cache"), "2025-06-01T11:58:00Z");
    let plan = super::plan_drain(
        &[lost],
        DrainInputs {
            node_ready: false,
            ..DrainInputs::new(&DrainSpec::default(), now())
        },
    );
    assert!(plan.overdue[0].1.contains("NotReady node"), "{:?}", plan.overdue);
    assert!(
        plan.overdue[0].1.contains("whenNodeNotReady: OutOfService"),
        "{:?}",
        plan.overdue
    );
}
