use super::*;

fn taint(key: &str, effect: &str) -> Taint {
    Taint {
        key: key.into(),
        value: None,
        effect: effect.into(),
        time_added: None,
    }
}
fn node(unschedulable: bool, taints: Vec<Taint>) -> NodeView {
    NodeView {
        name: "n1".into(),
        unschedulable,
        taints,
        ..Default::default()
    }
}
fn extra(key: &str, effect: TaintEffect) -> MaintenanceTaint {
    MaintenanceTaint {
        key: key.into(),
        value: Some("v".into()),
        effect,
    }
}
fn apply(n: &NodeView, c: &NodeChange) -> NodeView {
    NodeView {
        name: n.name.clone(),
        unschedulable: c.unschedulable,
        taints: c.taints.clone(),
        held_by: c.held_by.clone(),
        prior: c.prior.clone(),
        labels: c
            .labels
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.clone())
            .chain(n.labels.iter().filter(|l| !c.labels.contains_key(*l)).cloned())
            .collect(),
        annotations: c
            .annotations
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(k, _)| k.clone())
            .chain(
                n.annotations
                    .iter()
                    .filter(|a| !c.annotations.contains_key(*a))
                    .cloned(),
            )
            .collect(),
        ..n.clone()
    }
}

#[test]
fn hold_taints_cordons_and_records_prior_state() {
    let n = node(false, vec![taint("gpu", "NoSchedule")]);
    let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), false).expect("a change");
    assert!(c.unschedulable);
    assert_eq!(c.held_by.as_deref(), Some("nm1"));
    assert_eq!(c.taints.len(), 2);
    assert_eq!(
        c.taints[1].value.as_deref(),
        Some("nm1"),
        "own taint's value is the object's name"
    );
    let p = c.prior.expect("prior");
    assert!(!p.was_unschedulable);
    assert_eq!(p.added_taints, vec!["drydock.dev/maintenance:NoSchedule"]);
}

#[test]
fn hold_is_idempotent() {
    let n = node(false, vec![]);
    let wanted = wanted_taints("nm1", &[], false);
    let held = apply(&n, &hold(&n, "nm1", &wanted, false).expect("change"));
    assert_eq!(hold(&held, "nm1", &wanted, false), None);
}

#[test]
fn a_taint_the_node_already_had_is_not_recorded_as_ours() {
    let n = node(false, vec![taint("example.com/kernel", "NoSchedule")]);
    let c = hold(
        &n,
        "nm1",
        &wanted_taints("nm1", &[extra("example.com/kernel", TaintEffect::NoSchedule)], false),
        false,
    )
    .expect("change");
    let p = c.prior.clone().expect("prior");
    assert_eq!(p.added_taints, vec!["drydock.dev/maintenance:NoSchedule"]);
    let restored = restore(&apply(&n, &c), &p);
    assert_eq!(
        restored.taints,
        vec![taint("example.com/kernel", "NoSchedule")],
        "the user's taint stays"
    );
}

#[test]
fn no_execute_waits_for_the_drain() {
    let spec = [
        extra("example.com/evict", TaintEffect::NoExecute),
        extra("a", TaintEffect::PreferNoSchedule),
    ];
    let before: Vec<_> = wanted_taints("nm1", &spec, false)
        .into_iter()
        .map(|t| t.effect)
        .collect();
    assert_eq!(before, vec!["NoSchedule", "PreferNoSchedule"]);
    let after: Vec<_> = wanted_taints("nm1", &spec, true)
        .into_iter()
        .map(|t| t.effect)
        .collect();
    assert_eq!(after, vec!["NoSchedule", "NoExecute", "PreferNoSchedule"]);
    assert!(has_deferred_taints(&spec));
}

#[test]
fn deferred_taints_extend_the_recorded_prior_state() {
    let spec = [extra("example.com/evict", TaintEffect::NoExecute)];
    let n = node(true, vec![]);
    let held = apply(
        &n,
        &hold(&n, "nm1", &wanted_taints("nm1", &spec, false), false).expect("change"),
    );
    let after = hold(&held, "nm1", &wanted_taints("nm1", &spec, true), false).expect("adds NoExecute");
    let p = after.prior.expect("prior");
    assert!(p.was_unschedulable, "the first observation of the node is kept");
    assert_eq!(
        p.added_taints,
        vec!["drydock.dev/maintenance:NoSchedule", "example.com/evict:NoExecute"]
    );
}

#[test]
fn restore_uncordons_only_a_node_that_was_schedulable() {
    for was in [false, true] {
        let n = node(was, vec![]);
        let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), false).expect("change");
        let r = restore(&apply(&n, &c), c.prior.as_ref().expect("prior"));
        assert_eq!(r.unschedulable, was);
        assert!(r.taints.is_empty());
        assert_eq!((r.held_by, r.prior), (None, None));
    }
}

#[test]
fn restore_leaves_taints_others_added_meanwhile() {
    let n = node(false, vec![]);
    let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), false).expect("change");
    let mut held = apply(&n, &c);
    held.taints
        .push(taint("node.kubernetes.io/unschedulable", "NoSchedule"));
    let r = restore(&held, c.prior.as_ref().expect("prior"));
    assert_eq!(r.taints, vec![taint("node.kubernetes.io/unschedulable", "NoSchedule")]);
}

#[test]
fn a_node_someone_uncordoned_is_cordoned_again_without_losing_prior_state() {
    let n = node(false, vec![]);
    let wanted = wanted_taints("nm1", &[], false);
    let mut held = apply(&n, &hold(&n, "nm1", &wanted, false).expect("change"));
    held.unschedulable = false;
    held.taints.clear();
    let again = hold(&held, "nm1", &wanted, false).expect("re-cordon");
    assert!(again.unschedulable);
    assert!(!again.prior.expect("prior").was_unschedulable);
}

#[test]
fn node_view_reads_drydock_annotations() {
    let n: Node = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "n1", "annotations": {
            HELD_BY_ANNOTATION: "nm1",
            PRIOR_STATE_ANNOTATION: "{\"wasUnschedulable\":true,\"addedTaints\":[\"a:NoSchedule\"]}"
        }},
        "spec": {"unschedulable": true}
    }))
    .expect("node");
    let v = NodeView::of(&n);
    assert_eq!(v.held_by.as_deref(), Some("nm1"));
    assert_eq!(
        v.prior,
        Some(PriorState {
            was_unschedulable: true,
            added_taints: vec!["a:NoSchedule".into()],
            ..Default::default()
        })
    );
}

#[test]
fn patch_carries_the_resource_version_and_removes_annotations_on_restore() {
    let p = merge_patch(
        &NodeChange {
            taints: vec![],
            unschedulable: false,
            held_by: None,
            prior: None,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        },
        "42",
    );
    assert_eq!(p["metadata"]["resourceVersion"], "42");
    assert!(p["metadata"]["annotations"][HELD_BY_ANNOTATION].is_null());
    assert!(p["spec"]["unschedulable"].is_null());
}

#[test]
fn the_remediation_exclusion_label_is_added_and_removed_only_if_ours() {
    let n = node(false, vec![]);
    let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), true).expect("change");
    assert_eq!(c.labels.get(MEDIK8S_EXCLUDE_LABEL), Some(&Some("true".to_string())));
    let held = apply(&n, &c);
    assert_eq!(
        hold(&held, "nm1", &wanted_taints("nm1", &[], false), true),
        None,
        "idempotent"
    );
    let r = restore(&held, c.prior.as_ref().expect("prior"));
    assert_eq!(r.labels.get(MEDIK8S_EXCLUDE_LABEL), Some(&None), "removed on restore");

    let already = NodeView {
        labels: vec![MEDIK8S_EXCLUDE_LABEL.into()],
        ..node(false, vec![])
    };
    let c = hold(&already, "nm1", &wanted_taints("nm1", &[], false), true).expect("change");
    assert!(c.labels.is_empty() && c.prior.as_ref().is_some_and(|p| p.added_labels.is_empty()));
    let r = restore(&apply(&already, &c), c.prior.as_ref().expect("prior"));
    assert!(r.labels.is_empty(), "a label someone else set stays");
}

#[test]
fn the_autoscaler_is_told_not_to_scale_the_held_node_down_and_only_our_annotation_is_removed() {
    let n = node(false, vec![]);
    let c = hold(&n, "nm1", &wanted_taints("nm1", &[], false), false).expect("change");
    assert_eq!(
        c.annotations.get(AUTOSCALER_SCALE_DOWN_DISABLED),
        Some(&Some("true".to_string()))
    );
    let p = merge_patch(&c, "1");
    assert_eq!(p["metadata"]["annotations"][AUTOSCALER_SCALE_DOWN_DISABLED], "true");
    let r = restore(&apply(&n, &c), c.prior.as_ref().expect("prior"));
    assert_eq!(r.annotations.get(AUTOSCALER_SCALE_DOWN_DISABLED), Some(&None));
    assert!(merge_patch(&r, "2")["metadata"]["annotations"][AUTOSCALER_SCALE_DOWN_DISABLED].is_null());

    let already = NodeView {
        annotations: vec![AUTOSCALER_SCALE_DOWN_DISABLED.into()],
        ..node(false, vec![])
    };
    let c = hold(&already, "nm1", &wanted_taints("nm1", &[], false), false).expect("change");
    assert!(c.annotations.is_empty());
    let r = restore(&apply(&already, &c), c.prior.as_ref().expect("prior"));
    assert!(r.annotations.is_empty(), "an annotation someone else set stays");
}

#[test]
fn long_names_make_valid_taint_values() {
    let long = format!("{}-node-20261122t010000z", "a-very-long-schedule-name".repeat(4));
    let v = taint_value(&long);
    assert!(v.len() <= 63, "{v}");
    assert!(v.starts_with("a-very-long") && v.chars().last().is_some_and(|c| c.is_ascii_alphanumeric()));
    assert_ne!(v, taint_value(&format!("{long}x")), "different names, different values");
    assert_eq!(taint_value("short"), "short");
    let wanted = wanted_taints(&long, &[], false);
    assert_eq!(wanted[0].value.as_deref(), Some(v.as_str()));
}

#[test]
fn a_cordon_someone_else_owns_is_left_in_place_on_restore() {
    let before = node(false, vec![]);
    let wanted = wanted_taints("nm", &[], false);
    let held = apply(&before, &hold(&before, "nm", &wanted, false).unwrap());
    let prior = held.prior.clone().unwrap();
    assert!(!restore(&held, &prior).unschedulable, "drydock's own cordon is undone");
    let cordoned_by_oncall = NodeView {
        cordoned_by: Some("oncall".into()),
        ..held
    };
    let back = restore(&cordoned_by_oncall, &prior);
    assert!(back.unschedulable, "oncall's cordon stays");
    assert!(back.taints.is_empty(), "drydock's taint still goes");
}

fn node_with_managers(unschedulable: bool, managers: &[(&str, &str)]) -> Node {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": "n1",
            "managedFields": managers.iter().map(|(m, sub)| serde_json::json!({
                "manager": m, "operation": "Update", "subresource": sub, "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:unschedulable": {}}}
            })).collect::<Vec<_>>()
        },
        "spec": {"unschedulable": unschedulable}
    }))
    .unwrap()
}

#[test]
fn the_cordon_owner_is_read_from_managed_fields() {
    let of = |n: &Node| NodeView::of(n).cordoned_by;
    assert_eq!(of(&node_with_managers(true, &[(FIELD_MANAGER, "")])), None);
    assert_eq!(
        of(&node_with_managers(
            true,
            &[(FIELD_MANAGER, ""), ("kubectl-cordon", "")]
        )),
        Some("kubectl-cordon".into())
    );
    assert_eq!(
        of(&node_with_managers(false, &[("kubectl-cordon", "")])),
        None,
        "not cordoned"
    );
    assert_eq!(
        of(&node_with_managers(true, &[("kwok", "status")])),
        None,
        "status writers don't cordon"
    );
}

#[test]
fn an_orphaned_hold_is_released_from_the_node_annotation() {
    let before = node(true, vec![taint("theirs", "NoSchedule")]);
    let wanted = wanted_taints("gone", &[], false);
    let held = apply(&before, &hold(&before, "gone", &wanted, false).unwrap());
    assert_eq!(
        release_orphan(&held, Some("n1")),
        None,
        "the holder exists: not an orphan"
    );
    assert_eq!(release_orphan(&before, None), None, "not held at all");
    let back = release_orphan(&held, None).expect("holder gone: released");
    assert_eq!(back.held_by, None);
    assert!(back.unschedulable, "it was cordoned before drydock came");
    assert_eq!(back.taints, vec![taint("theirs", "NoSchedule")]);
    assert!(
        release_orphan(&held, Some("other-node")).is_some(),
        "a new object of that name for another node"
    );
    let unrecorded = NodeView { prior: None, ..held };
    let safe = release_orphan(&unrecorded, None).unwrap();
    assert!(safe.unschedulable, "no record of the prior state: stays cordoned");
}
