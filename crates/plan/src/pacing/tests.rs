use super::*;

const WINDOW: &str = "20261206t010000z";

fn at(text: &str) -> Timestamp {
    text.parse().unwrap_or_default()
}

fn pace<'a>(approved: &'a BTreeSet<String>) -> Pace<'a> {
    Pace {
        schedule: "kernel",
        window: WINDOW,
        approval: None,
        approved,
        soak: None,
        max_nodes_per_window: None,
        started: 0,
        last_finished: None,
        now: at("2026-12-06T01:30:00Z"),
    }
}

fn nodes(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

fn clear(names: &[&str]) -> BTreeMap<String, Verdict> {
    names.iter().map(|n| (n.to_string(), Verdict::Clear)).collect()
}

#[test]
fn an_empty_policy_lets_the_budget_decide() {
    let none = BTreeSet::new();
    let p = pace(&none);
    assert_eq!(free(&p, 2), 2);
    assert_eq!(hold_all(&p, 3), None);
    let (ok, awaiting) = approved(&p, &nodes(&["a", "b", "c"]));
    assert!(awaiting.is_empty());
    let (start, wait) = choose(&p, &ok, &awaiting, &Verdict::Clear, &clear(&["a", "b", "c"]), 2);
    assert_eq!(start, nodes(&["a", "b"]));
    assert_eq!(wait, None);
}

#[test]
fn the_window_limit_caps_the_starts_and_then_holds_the_rest_for_the_next_window() {
    let none = BTreeSet::new();
    let mut p = pace(&none);
    p.max_nodes_per_window = Some(3);
    p.started = 2;
    assert_eq!(free(&p, 5), 1, "one left of the window's three");
    p.started = 3;
    assert_eq!(free(&p, 5), 0);
    let wait = hold_all(&p, 4).expect("the window's limit is reached");
    assert_eq!(wait.reason, WINDOW_LIMIT);
    assert!(wait.message.contains("started its 3 nodes"), "{}", wait.message);
    assert_eq!(hold_all(&p, 0), None, "nothing waits when nothing is left to do");
}

#[test]
fn the_soak_holds_every_node_until_it_has_passed_since_the_last_finish() {
    let none = BTreeSet::new();
    let mut p = pace(&none);
    p.soak = Some(Duration::from_secs(600));
    p.last_finished = Some((at("2026-12-06T01:25:00Z"), "a"));
    let wait = hold_all(&p, 2).expect("soaking");
    assert_eq!(wait.reason, SOAK);
    assert_eq!(wait.until, Some(at("2026-12-06T01:35:00Z")));
    assert!(
        !wait.is_blocker(),
        "soaking is the plan, not something to tell people about"
    );
    p.now = at("2026-12-06T01:35:00Z");
    assert_eq!(hold_all(&p, 2), None, "the soak ends at its end");
}

#[test]
fn a_window_approval_is_for_that_window_only() {
    let none = BTreeSet::new();
    let mut p = pace(&none);
    p.approval = Some(Approval::Window);
    let wait = hold_all(&p, 2).expect("waits for approval");
    assert_eq!((wait.reason, wait.subject.as_str()), (APPROVAL, WINDOW));
    assert!(wait.message.contains("drydock approve ms/kernel"), "{}", wait.message);
    let last_week = approvals(Some("20261129t010000z"));
    p.approved = &last_week;
    assert!(hold_all(&p, 2).is_some(), "last week's approval does not carry over");
    let this_week = approvals(Some(&format!(" 20261129t010000z , {WINDOW} ")));
    p.approved = &this_week;
    assert_eq!(hold_all(&p, 2), None);
}

#[test]
fn node_approval_lets_through_only_the_approved_nodes_and_names_those_waiting() {
    let tokens = approvals(Some(&format!("{WINDOW}/b")));
    let mut p = pace(&tokens);
    p.approval = Some(Approval::Node);
    assert_eq!(hold_all(&p, 3), None, "per-node approval does not hold the window");
    let (ok, awaiting) = approved(&p, &nodes(&["a", "b", "c"]));
    assert_eq!((ok.clone(), awaiting.clone()), (nodes(&["b"]), nodes(&["a", "c"])));
    let (start, wait) = choose(&p, &ok, &awaiting, &Verdict::Clear, &clear(&["b"]), 2);
    assert_eq!(start, nodes(&["b"]));
    let wait = wait.expect("a slot stays free for nodes awaiting approval");
    assert_eq!(wait.reason, APPROVAL);
    assert!(wait.message.contains("--node a"), "{}", wait.message);
    // Approving the window approves all of its nodes.
    let all = approvals(Some(WINDOW));
    p.approved = &all;
    assert_eq!(approved(&p, &nodes(&["a", "c"])).0, nodes(&["a", "c"]));
}

#[test]
fn approving_keeps_this_windows_tokens_and_drops_older_ones() {
    let before = format!("20261129t010000z,20261129t010000z/a,{WINDOW}/b");
    assert_eq!(
        approve(Some(&before), WINDOW, &format!("{WINDOW}/c")),
        format!("{WINDOW}/b,{WINDOW}/c")
    );
    assert_eq!(approve(None, WINDOW, WINDOW), WINDOW);
    assert_eq!(
        approve(Some(WINDOW), WINDOW, WINDOW),
        WINDOW,
        "approving twice changes nothing"
    );
}

#[test]
fn a_firing_fleet_gate_holds_everything_and_says_which() {
    let none = BTreeSet::new();
    let p = pace(&none);
    let fleet = Verdict::Firing {
        gate: "quiet".into(),
        series: 1,
        first: "{alertname=\"KubeAPIErrorsHigh\"}".into(),
    };
    let (start, wait) = choose(&p, &nodes(&["a"]), &[], &fleet, &clear(&["a"]), 1);
    assert!(start.is_empty());
    let wait = wait.expect("blocked");
    assert_eq!((wait.reason, wait.subject.as_str()), (HEALTH_GATE, "quiet"));
    assert!(wait.is_blocker());
    let down = Verdict::CannotCheck {
        gate: "quiet".into(),
        why: "connection refused".into(),
    };
    let (start, wait) = choose(&p, &nodes(&["a"]), &[], &down, &clear(&["a"]), 1);
    assert!(start.is_empty(), "an unreachable Prometheus never counts as healthy");
    assert_eq!(wait.map(|w| w.reason), Some(CANNOT_CHECK));
}

#[test]
fn a_node_gate_holds_back_that_node_only() {
    let none = BTreeSet::new();
    let p = pace(&none);
    let mut verdicts = clear(&["b", "c"]);
    verdicts.insert(
        "a".into(),
        Verdict::Firing {
            gate: "node-ok".into(),
            series: 1,
            first: "{node=\"a\"}".into(),
        },
    );
    let (start, wait) = choose(&p, &nodes(&["a", "b", "c"]), &[], &Verdict::Clear, &verdicts, 1);
    assert_eq!(start, nodes(&["b"]), "the next node goes instead");
    assert_eq!(wait, None, "the budget is used: nothing waits on the gate");
    let (start, wait) = choose(&p, &nodes(&["a", "b", "c"]), &[], &Verdict::Clear, &verdicts, 3);
    assert_eq!(start, nodes(&["b", "c"]));
    let wait = wait.expect("a slot stays free because of node a's gate");
    assert_eq!((wait.reason, wait.subject.as_str()), (HEALTH_GATE, "node-ok/a"));
    assert!(wait.message.contains("holds back node a"), "{}", wait.message);
}

#[test]
fn unchecked_nodes_never_start() {
    let none = BTreeSet::new();
    let p = pace(&none);
    let (start, _) = choose(&p, &nodes(&["a", "b"]), &[], &Verdict::Clear, &clear(&["a"]), 2);
    assert_eq!(start, nodes(&["a"]));
}
