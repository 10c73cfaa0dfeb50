//! The layers hold by construction: the planner and the API types cannot reach the API server, sleep, or spawn,
//! because nothing that could is among their dependencies, direct or transitive. Read from Cargo.lock, which
//! lists every package's resolved dependencies, so a new dependency that pulls I/O in fails here.
use std::collections::{BTreeMap, BTreeSet};

/// Crates that talk to the network or run tasks: none may be under the pure crates.
const IO: [&str; 7] = [
    "tokio",
    "kube",
    "kube-client",
    "kube-runtime",
    "hyper",
    "tower",
    "reqwest",
];

/// package name -> the names of its dependencies, from Cargo.lock.
fn lock() -> BTreeMap<String, Vec<String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).expect("Cargo.lock");
    let mut graph = BTreeMap::new();
    for package in text.split("[[package]]").skip(1) {
        let field = |key: &str| {
            package
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{key} = \"")))
                .map(|v| v.trim_end_matches('"').to_string())
        };
        let Some(name) = field("name") else { continue };
        let deps = package
            .split_once("dependencies = [")
            .map(|(_, rest)| rest.split(']').next().unwrap_or_default())
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().trim_end_matches(',').strip_prefix('"'))
            .filter_map(|d| d.split([' ', '"']).next())
            .map(String::from)
            .collect();
        graph.insert(name, deps);
    }
    graph
}

fn closure(graph: &BTreeMap<String, Vec<String>>, root: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![root.to_string()];
    while let Some(name) = todo.pop() {
        for dep in graph.get(&name).into_iter().flatten() {
            if seen.insert(dep.clone()) {
                todo.push(dep.clone());
            }
        }
    }
    seen
}

#[test]
fn the_planner_and_the_api_types_cannot_do_io() {
    let graph = lock();
    for pure in ["drydock-plan", "drydock-api"] {
        let deps = closure(&graph, pure);
        assert!(
            deps.contains("k8s-openapi"),
            "{pure} was not found in Cargo.lock: {deps:?}"
        );
        let io: Vec<&str> = IO.into_iter().filter(|c| deps.contains(*c)).collect();
        assert!(
            io.is_empty(),
            "{pure} depends on {io:?}: keep I/O in the operator (src/), decisions in crates/plan"
        );
    }
}

#[test]
fn the_operator_is_where_io_lives() {
    // The check above is only meaningful if it can see I/O where it is.
    let deps = closure(&lock(), "drydock");
    assert!(
        ["tokio", "kube-client", "kube-runtime"]
            .iter()
            .all(|c| deps.contains(*c))
    );
    assert!(deps.contains("drydock-plan") && deps.contains("drydock-api"));
}
