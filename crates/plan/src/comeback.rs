//! The bound on evictions per pod owner in one maintenance. The drain's rules leave in place the pods that would
//! be scheduled straight back (they tolerate the cordon and the maintenance taint), but a pod can come back in
//! ways no rule foresees: a controller that sets `spec.nodeName` itself, a scheduler that ignores the cordon. So
//! an owner gets at most as many evictions as it had pods on the node when its first one was evicted; a pod
//! beyond that came back, and is reported as blocked ("keeps coming back") instead of being evicted again.
use std::collections::BTreeMap;

use super::pods::{DrainPlan, Owner, PodKey};

#[derive(Clone, Debug)]
struct Count {
    owner: Owner,
    /// Pods of the owner on the node when the first was evicted: all must leave, and no new one should arrive.
    limit: usize,
    /// Evictions accepted, plus those sent and not yet answered.
    evicted: usize,
}

/// Evictions per owner, kept for the life of a maintenance's drain.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    owners: BTreeMap<String, Count>,
}

impl Tally {
    /// Splits the pods the plan wants evicted now into those that may be (each counted as sent) and those
    /// that came back, with the reason for status.
    pub fn admit(&mut self, plan: &DrainPlan, want: Vec<PodKey>) -> (Vec<PodKey>, Vec<(PodKey, String)>) {
        let (mut allowed, mut refused) = (Vec::new(), Vec::new());
        for key in want {
            let Some(owner) = plan.owners.get(&key.uid) else {
                allowed.push(key); // nobody makes a bare pod again
                continue;
            };
            let count = self.owners.entry(owner.uid.clone()).or_insert_with(|| Count {
                owner: owner.clone(),
                limit: plan.owners.values().filter(|o| o.uid == owner.uid).count(),
                evicted: 0,
            });
            if count.evicted < count.limit {
                count.evicted += 1;
                allowed.push(key);
            } else {
                let why = format!(
                    "keeps coming back: {} {} of {} {} evicted from this node in this maintenance and this one took \
                     a place here again (it tolerates the cordon, or its controller binds it to the node directly), \
                     so it is not evicted again",
                    count.evicted,
                    if count.evicted == 1 { "pod" } else { "pods" },
                    count.owner,
                    if count.evicted == 1 { "was" } else { "were" },
                );
                refused.push((key, why));
            }
        }
        (allowed, refused)
    }

    /// An admitted eviction that did not happen (refused, failed, or the pod was already gone): it does not count.
    pub fn undo(&mut self, plan: &DrainPlan, key: &PodKey) {
        if let Some(count) = plan.owners.get(&key.uid).and_then(|o| self.owners.get_mut(&o.uid)) {
            count.evicted = count.evicted.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> PodKey {
        PodKey {
            namespace: "ns".into(),
            name: name.into(),
            uid: format!("uid-{name}"),
        }
    }

    fn plan(pods: &[(&str, &str)]) -> DrainPlan {
        let mut plan = DrainPlan::default();
        for (pod, owner) in pods {
            plan.evict.push(key(pod));
            plan.owners.insert(
                key(pod).uid,
                Owner {
                    uid: format!("rs-{owner}"),
                    kind: "ReplicaSet".into(),
                    name: format!("ns/{owner}"),
                },
            );
        }
        plan
    }

    #[test]
    fn an_owner_gets_as_many_evictions_as_it_had_pods_then_replacements_are_refused() {
        let mut tally = Tally::default();
        let first = plan(&[("web-1", "web"), ("web-2", "web"), ("db-1", "db")]);
        let (ok, no) = tally.admit(&first, vec![key("web-1"), key("web-2"), key("db-1")]);
        assert_eq!(ok.len(), 3);
        assert!(no.is_empty());
        // web-1's replacement is bound straight back to the node.
        let again = plan(&[("web-3", "web")]);
        let (ok, no) = tally.admit(&again, vec![key("web-3")]);
        assert!(ok.is_empty());
        assert_eq!(no[0].0, key("web-3"));
        assert!(
            no[0]
                .1
                .starts_with("keeps coming back: 2 pods of ReplicaSet ns/web were evicted"),
            "{}",
            no[0].1
        );
        // And it stays refused however often it is asked.
        assert!(tally.admit(&again, vec![key("web-3")]).0.is_empty());
    }

    #[test]
    fn evictions_that_did_not_happen_do_not_count_and_bare_pods_are_not_counted() {
        let mut tally = Tally::default();
        let p = plan(&[("web-1", "web")]);
        assert_eq!(tally.admit(&p, vec![key("web-1")]).0.len(), 1);
        tally.undo(&p, &key("web-1")); // 429: a PDB said not now
        assert_eq!(
            tally.admit(&p, vec![key("web-1")]).0.len(),
            1,
            "retried later, still its first"
        );
        let bare = DrainPlan {
            evict: vec![key("debug")],
            ..Default::default()
        };
        for _ in 0..3 {
            assert_eq!(tally.admit(&bare, vec![key("debug")]).0.len(), 1);
        }
    }
}
