//! metav1.Condition bookkeeping: a condition's lastTransitionTime changes only when its status flips.
use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// Sets condition `type_` in `conds`, keeping its transition time unless its status changes.
pub fn set(
    conds: &mut Vec<Condition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
    generation: Option<i64>,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let new = |last: Time| Condition {
        type_: type_.into(),
        status: status.clone(),
        reason: reason.into(),
        message: message.chars().take(32 * 1024).collect(),
        last_transition_time: last,
        observed_generation: generation,
    };
    match conds.iter_mut().find(|c| c.type_ == type_) {
        Some(c) if c.status == status => *c = new(c.last_transition_time.clone()),
        Some(c) => *c = new(Time(now)),
        None => conds.push(new(Time(now))),
    }
}

pub fn is_true(conds: &[Condition], type_: &str) -> bool {
    conds.iter().any(|c| c.type_ == type_ && c.status == "True")
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_api::names::BLOCKED;

    #[test]
    fn transition_time_moves_only_on_a_flip() {
        let t1: Timestamp = "2026-01-01T00:00:00Z".parse().expect("ts");
        let t2: Timestamp = "2026-01-01T01:00:00Z".parse().expect("ts");
        let mut c = Vec::new();
        set(&mut c, BLOCKED, true, "PodDisruptionBudget", "a", t1, Some(1));
        set(&mut c, BLOCKED, true, "PodDisruptionBudget", "b", t2, Some(1));
        assert_eq!((c[0].last_transition_time.0, c[0].message.as_str()), (t1, "b"));
        set(&mut c, BLOCKED, false, "NotBlocked", "", t2, Some(1));
        assert_eq!(c[0].last_transition_time.0, t2);
        assert!(!is_true(&c, BLOCKED));
        assert_eq!(c.len(), 1);
    }
}
