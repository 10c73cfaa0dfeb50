use super::*;
use serde_json::{Value, json};

use crate::plan::fixtures::node;

fn plain(name: &str) -> Node {
    node(name, json!({}), json!({}))
}

/// A Running, Ready pod of ReplicaSet `rs` in namespace shop, labelled app=web, on node `a`.
fn pod(name: &str, spec: Value) -> Pod {
    let mut s = json!({"nodeName": "a", "containers": [{"name": "c", "image": "i"}]});
    for (k, v) in spec.as_object().expect("spec") {
        s[k] = v.clone();
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "shop", "uid": name, "labels": {"app": "web"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "rs", "controller": true}]},
        "spec": s,
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .expect("pod")
}

fn pdb(name: &str, allowed: i32) -> PodDisruptionBudget {
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": allowed, "currentHealthy": 3, "desiredHealthy": 3, "expectedPods": 3}
    }))
    .expect("pdb")
}

fn now() -> jiff::Timestamp {
    "2026-01-01T00:00:00Z".parse().expect("ts")
}

fn run(pods: &[Pod], pdbs: &[PodDisruptionBudget], others: &[Node], elsewhere: &[Pod]) -> Preview {
    assess(
        &plain("a"),
        pods,
        pdbs,
        others,
        elsewhere,
        &Volumes::new(),
        &DrainSpec::default(),
        now(),
    )
}

#[test]
fn a_pdb_with_no_room_blocks_and_says_so() {
    let p = run(&[pod("web-1", json!({}))], &[pdb("web", 0)], &[plain("b")], &[]);
    assert!(!p.can_finish());
    assert_eq!(p.pods[0].action, Action::Blocked);
    assert_eq!(p.pods[0].why, "PDB shop/web allows 0 disruptions now");

    let p = run(&[pod("web-1", json!({}))], &[pdb("web", 2)], &[plain("b")], &[]);
    assert!(p.can_finish());
    assert_eq!(p.pods[0].action, Action::Evict);
    assert!(
        p.pods[0].why.ends_with("PDB shop/web allows 2 disruptions now"),
        "{}",
        p.pods[0].why
    );

    let p = run(
        &[pod("web-1", json!({}))],
        &[pdb("web", 1), pdb("web-too", 1)],
        &[plain("b")],
        &[],
    );
    assert!(
        p.pods[0]
            .why
            .starts_with("more than one PDB selects it (shop/web, shop/web-too)")
    );

    let mut unready = pod("web-1", json!({}));
    unready.status = Some(serde_json::from_value(json!({"phase": "Running"})).expect("status"));
    let p = run(&[unready], &[pdb("web", 0)], &[plain("b")], &[]);
    assert!(
        p.can_finish(),
        "an unready pod leaves when the budget is met without it"
    );
}

#[test]
fn a_pdb_block_and_nowhere_to_go_are_both_named() {
    let p = run(&[pod("web-1", json!({}))], &[pdb("web", 0)], &[], &[]);
    assert_eq!(
        p.pods[0].why,
        "PDB shop/web allows 0 disruptions now; its replacement has nowhere to go: there is no other node (flag: \
         --evict-unplaceable)"
    );
}

#[test]
fn nowhere_to_go_names_each_node_and_why() {
    let others = [
        node(
            "b",
            json!({}),
            json!({"taints": [{"key": "gpu", "effect": "NoSchedule"}]}),
        ),
        node("c", json!({}), json!({"unschedulable": true})),
        node("d", json!({}), json!({})),
    ];
    let p = run(
        &[pod("web-1", json!({"nodeSelector": {"disk": "ssd"}}))],
        &[],
        &others,
        &[],
    );
    assert!(!p.can_finish());
    assert_eq!(
        p.pods[0].why,
        "its replacement has nowhere to go (b: taint gpu:NoSchedule not tolerated; c: cordoned; d: no label \
         disk=ssd (nodeSelector)) (flag: --evict-unplaceable)"
    );
    let tolerant = pod("web-1", json!({"tolerations": [{"key": "gpu", "operator": "Exists"}]}));
    assert!(
        run(&[tolerant], &[], &others[..1], &[]).can_finish(),
        "a toleration of the gpu taint lets it go to b"
    );
    let many: Vec<Node> = (0..5)
        .map(|i| node(&format!("n{i}"), json!({}), json!({"unschedulable": true})))
        .collect();
    let p = run(&[pod("web-1", json!({}))], &[], &many, &[]);
    assert!(
        p.pods[0]
            .why
            .ends_with("n2: cordoned; and 2 more) (flag: --evict-unplaceable)"),
        "{}",
        p.pods[0].why
    );
}

#[test]
fn required_node_affinity_decides_where_replacements_go() {
    let affine = pod(
        "web-1",
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]}]}}}}),
    );
    let hdd = node("b", json!({"disk": "hdd"}), json!({}));
    let ssd = node("c", json!({"disk": "ssd"}), json!({}));
    assert!(!run(std::slice::from_ref(&affine), &[], std::slice::from_ref(&hdd), &[]).can_finish());
    assert!(run(&[affine], &[], &[hdd, ssd], &[]).can_finish());
}

fn anti() -> Value {
    json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}]}}})
}

fn replica(name: &str, node: &str) -> Pod {
    let mut p = pod(name, anti());
    p.spec.as_mut().expect("spec").node_name = Some(node.into());
    p
}

#[test]
fn hard_anti_affinity_with_as_many_replicas_as_nodes_cannot_move() {
    let moving = replica("web-1", "a");
    let others = [plain("b"), plain("c")];
    let everywhere = [moving.clone(), replica("web-2", "b"), replica("web-3", "c")];
    let p = run(std::slice::from_ref(&moving), &[], &others, &everywhere);
    assert!(!p.can_finish());
    assert_eq!(
        p.pods[0].why,
        "its replacement has nowhere to go: hard anti-affinity on kubernetes.io/hostname allows one pod of \
         app=web per node; its 3 pods need 3 nodes besides a, and only 2 are eligible (b, c) (flag: \
         --evict-unplaceable)"
    );
    let p = run(&[moving], &[], &others, &everywhere[..2]);
    assert!(p.can_finish(), "node c is free");
}

#[test]
fn replacements_of_one_drain_compete_for_the_same_free_nodes() {
    // Two pods of a spread Deployment on the drained node (it was not spread when they started): one free
    // node takes only one of them.
    let on_a = [replica("web-1", "a"), replica("web-2", "a")];
    let p = run(&on_a, &[], &[plain("b")], &on_a);
    assert_eq!(p.pods[0].action, Action::Evict);
    assert_eq!(p.pods[1].action, Action::Blocked);
    assert!(p.pods[1].why.contains("only 1 is eligible (b)"), "{}", p.pods[1].why);
    assert!(run(&on_a, &[], &[plain("b"), plain("c")], &on_a).can_finish());
    // Ineligible nodes do not count as capacity.
    let p = run(
        &on_a[..1],
        &[],
        &[node("b", json!({}), json!({"unschedulable": true}))],
        &on_a[..1],
    );
    assert!(p.pods[0].why.contains("b: cordoned"), "{}", p.pods[0].why);
}

#[test]
fn policy_blockers_and_skips_reuse_the_drain_rules() {
    let mut bare = pod("debug", json!({}));
    bare.metadata.owner_references = None;
    let p = run(std::slice::from_ref(&bare), &[], &[plain("b")], &[]);
    assert!(!p.can_finish());
    assert!(p.pods[0].why.starts_with("Pods that declare no controller"));
    assert!(p.pods[0].why.ends_with("(flag: --evict-unmanaged)"));
    assert!(p.notes.iter().any(|n| n.contains("nothing is evicted")));
    let allowed = DrainSpec {
        evict_unmanaged_pods: true,
        ..Default::default()
    };
    let p = assess(&plain("a"), &[bare], &[], &[], &[], &Volumes::new(), &allowed, now());
    assert!(p.can_finish(), "a bare pod has no replacement to place");

    let scratch = pod("cache", json!({"volumes": [{"name": "s", "emptyDir": {}}]}));
    let p = run(std::slice::from_ref(&scratch), &[], &[plain("b")], &[]);
    assert!(p.pods[0].why.starts_with("Pods with local storage (emptyDir)"));
    let allowed = DrainSpec {
        delete_empty_dir_data: true,
        ..Default::default()
    };
    assert!(
        assess(
            &plain("a"),
            &[scratch],
            &[],
            &[plain("b")],
            &[],
            &Volumes::new(),
            &allowed,
            now()
        )
        .can_finish()
    );

    let mut ds = pod("agent", json!({}));
    ds.metadata.owner_references = Some(vec![
        serde_json::from_value(
            json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "ds", "controller": true}),
        )
        .expect("owner"),
    ]);
    let mut mirror = pod("etcd-a", json!({}));
    mirror.metadata.annotations = Some([("kubernetes.io/config.mirror".to_string(), "x".to_string())].into());
    let p = run(&[ds, mirror], &[pdb("web", 0)], &[], &[]);
    assert!(p.can_finish(), "skipped pods need neither PDB room nor a place: {p:?}");
    assert_eq!(p.pods[0].action, Action::Skip);
    assert!(p.pods[0].why.starts_with("DaemonSet-managed"));
    assert!(p.pods[1].why.starts_with("mirror (static) pod"));
}

#[test]
fn the_pod_selector_leaves_other_pods_alone() {
    let drain = DrainSpec {
        pod_selector: Some(serde_json::from_value(json!({"matchLabels": {"app": "db"}})).expect("sel")),
        ..Default::default()
    };
    let p = assess(
        &plain("a"),
        &[pod("web-1", json!({}))],
        &[pdb("web", 0)],
        &[],
        &[],
        &Volumes::new(),
        &drain,
        now(),
    );
    assert!(p.can_finish());
    assert_eq!(p.pods[0].action, Action::Skip);
}

#[test]
fn notes_about_the_node() {
    let mut n = node("a", json!({}), json!({"unschedulable": true}));
    n.metadata.annotations = Some([(HELD_BY_ANNOTATION.to_string(), "m1".to_string())].into());
    let p = assess(&n, &[], &[], &[], &[], &Volumes::new(), &DrainSpec::default(), now());
    assert!(p.can_finish());
    assert_eq!(p.notes.len(), 1, "drydock's own cordon is not news: {:?}", p.notes);
    assert!(p.notes[0].starts_with("a is held by nodemaintenance/m1"));
    n.metadata.annotations = None;
    let p = assess(&n, &[], &[], &[], &[], &Volumes::new(), &DrainSpec::default(), now());
    assert_eq!(p.notes.len(), 1, "{:?}", p.notes);
    assert!(p.notes[0].starts_with("a is already cordoned"));
}

#[test]
fn preview_applies_the_controllers_rules_for_pods_that_come_back_hints_and_volumes() {
    let cilium = pod("cilium-operator", json!({"tolerations": [{"operator": "Exists"}]}));
    let mut etl = pod("etl", json!({}));
    etl.metadata.annotations = Some([("karpenter.sh/do-not-disrupt".to_string(), "true".to_string())].into());
    let p = run(&[cilium.clone(), etl.clone()], &[], &[plain("b")], &[]);
    assert_eq!(p.pods[0].action, Action::Skip, "{:?}", p.pods[0]);
    assert!(p.pods[0].why.contains("scheduled straight back"), "{}", p.pods[0].why);
    assert_eq!(p.pods[1].action, Action::Blocked);
    assert!(
        p.pods[1].why.ends_with("(flag: --evict-do-not-disrupt)"),
        "{}",
        p.pods[1].why
    );
    let allowed = DrainSpec {
        evict_do_not_disrupt: true,
        ..Default::default()
    };
    let p = assess(
        &plain("a"),
        &[etl],
        &[],
        &[plain("b")],
        &[],
        &Volumes::new(),
        &allowed,
        now(),
    );
    assert!(p.can_finish(), "{p:?}");

    let db = pod(
        "db-0",
        json!({"volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "data-db-0"}}]}),
    );
    let volumes = Volumes::from([(
        ("shop".to_string(), "data-db-0".to_string()),
        crate::plan::place::BoundVolume {
            pv: "local-pv-a".into(),
            node_affinity: Some(
                serde_json::from_value(json!({"nodeSelectorTerms": [{"matchExpressions": [
                    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["a"]}]}]}))
                .expect("selector"),
            ),
        },
    )]);
    let p = assess(
        &plain("a"),
        &[db],
        &[],
        &[plain("b")],
        &[],
        &volumes,
        &DrainSpec::default(),
        now(),
    );
    assert_eq!(p.pods[0].action, Action::Blocked);
    assert!(
        p.pods[0]
            .why
            .starts_with("its replacement cannot run on another node: it uses PersistentVolume local-pv-a"),
        "{}",
        p.pods[0].why
    );
}
