//! What the API server's schema cannot check in a NodeMaintenance's spec (or an older CRD did not): the window
//! resolved against the object's creation, the pod selector and the drain timeout.
use std::time::Duration;

use jiff::Timestamp;

use crate::{
    pods::{self, BadSelector},
    window::{self, Resolved, WindowError},
};
use drydock_api::v1alpha1::NodeMaintenanceSpec;

/// A spec drydock can act on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Checked {
    pub window: Resolved,
    /// drain.timeout, parsed.
    pub drain_timeout: Option<Duration>,
}

/// What is wrong with a spec the API server accepted, in a user's words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    #[error(transparent)]
    Window(WindowError),
    #[error(transparent)]
    PodSelector(BadSelector),
    #[error(transparent)]
    DrainTimeout(WindowError),
}

/// Checks `spec` of a NodeMaintenance created at `created`.
pub fn check(spec: &NodeMaintenanceSpec, created: Timestamp) -> Result<Checked, SpecError> {
    let window = window::resolve(spec.window.as_ref(), created).map_err(SpecError::Window)?;
    pods::selector(&spec.drain).map_err(SpecError::PodSelector)?;
    let drain_timeout = spec
        .drain
        .timeout
        .as_deref()
        .map(|t| window::parse_duration("drain.timeout", t))
        .transpose()
        .map_err(SpecError::DrainTimeout)?;
    Ok(Checked { window, drain_timeout })
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_api::v1alpha1::{DrainSpec, Window};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, Time};

    fn created() -> Timestamp {
        "2026-01-01T00:00:00Z".parse().expect("timestamp")
    }

    #[test]
    fn a_usable_spec_resolves_its_window_and_timeout() {
        let spec = NodeMaintenanceSpec {
            node_name: "n".into(),
            window: Some(Window {
                duration: Some("2h".into()),
                ..Default::default()
            }),
            drain: DrainSpec {
                timeout: Some("10m".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let c = check(&spec, created()).expect("usable");
        assert_eq!(c.window.end, Some(created() + jiff::SignedDuration::from_hours(2)));
        assert_eq!(c.drain_timeout, Some(Duration::from_secs(600)));
    }

    #[test]
    fn each_unusable_part_is_named_in_the_users_words() {
        let mut spec = NodeMaintenanceSpec {
            node_name: "n".into(),
            ..Default::default()
        };
        spec.window = Some(Window {
            start: Some(Time(created())),
            end: Some(Time(created())),
            duration: None,
        });
        let e = check(&spec, created()).expect_err("end not after start");
        assert!(
            matches!(e, SpecError::Window(WindowError::EndNotAfterStart { .. })),
            "{e}"
        );
        spec.window = None;
        spec.drain.pod_selector = Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "app".into(),
                operator: "In".into(),
                values: None,
            }]),
            ..Default::default()
        });
        let e = check(&spec, created()).expect_err("In without values");
        assert!(
            e.to_string()
                .starts_with("spec.drain.podSelector is not a valid label selector"),
            "{e}"
        );
        spec.drain.pod_selector = None;
        spec.drain.timeout = Some("soon".into());
        let e = check(&spec, created()).expect_err("not a duration");
        assert_eq!(
            e.to_string(),
            "drain.timeout \"soon\" is not a duration: write it like 2h or 90m"
        );
    }
}
