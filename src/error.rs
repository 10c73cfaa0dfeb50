//! drydock's one error type. Each variant names the action that failed and the object it was applied to, and
//! says what to check; `category` is a stable PascalCase word used as Event reason and log field.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to read node {node}: {}; check that the controller may get nodes", words(.source))]
    ReadNode { node: String, source: kube::Error },
    #[error("failed to patch node {node}: {}; drydock retries (a 409 means someone edited the node meanwhile)", words(.source))]
    PatchNode { node: String, source: kube::Error },
    #[error("failed to delete finished pod {pod}: {}", words(.source))]
    DeletePod { pod: String, source: kube::Error },
    #[error("failed to update NodeMaintenance {name}: {}", words(.source))]
    WriteObject { name: String, source: kube::Error },
    #[error("failed to read NodeMaintenance {name}: {}; check that the controller may get nodemaintenances", words(.source))]
    ReadObject { name: String, source: kube::Error },
    #[error(
        "failed to read where the pods on node {node} could go (their anti-affinity peers, their PersistentVolumes): {}; \
         check that the controller may list pods and get persistentvolumeclaims and persistentvolumes",
        words(.source)
    )]
    ReadSurroundings { node: String, source: kube::Error },
    #[error("the pods on node {node} could not be listed: {reason}; check that the controller may list and watch pods")]
    PodWatch { node: String, reason: String },
    #[error("failed to load the Kubernetes client configuration: {0}; set KUBECONFIG or run inside a cluster")]
    Config(String),
    #[error("leader election failed: {0}; check the controller may get, create and update Leases in its namespace")]
    LeaderElection(String),
    #[error("failed to serialize: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    /// Stable category for Events and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Error::ReadNode { .. } => "ReadNodeFailed",
            Error::PatchNode { .. } => "PatchNodeFailed",
            Error::DeletePod { .. } => "DeletePodFailed",
            Error::WriteObject { .. } => "WriteObjectFailed",
            Error::ReadObject { .. } => "ReadObjectFailed",
            Error::ReadSurroundings { .. } => "ReadSurroundingsFailed",
            Error::PodWatch { .. } => "PodWatchFailed",
            Error::Config(_) => "ConfigFailed",
            Error::Serialize(_) => "SerializeFailed",
            Error::LeaderElection(_) => "LeaderElectionFailed",
        }
    }

    /// A conflict (409) is news, not a failure: someone changed the object; read again and retry soon.
    pub fn is_conflict(&self) -> bool {
        matches!(self,
            Error::PatchNode { source: kube::Error::Api(s), .. } | Error::WriteObject { source: kube::Error::Api(s), .. }
            if s.code == 409)
    }

    /// A refusal that retrying the same request cannot heal: the request itself is wrong (400, 422 Invalid), or
    /// the server will never take it (405, 406, 413, 415). 403 is not among them: a missing permission is
    /// granted, a policy changed.
    pub fn is_permanent(&self) -> bool {
        matches!(self.api_status(), Some(s) if matches!(s.code, 400 | 405 | 406 | 413 | 415 | 422))
    }

    /// The API server's own words for a refusal, or the error as a whole.
    pub fn api_message(&self) -> String {
        match self.api_status() {
            Some(s) => status_words(s),
            None => self.to_string(),
        }
    }

    fn api_status(&self) -> Option<&kube::core::Status> {
        match self {
            Error::ReadNode { source, .. }
            | Error::PatchNode { source, .. }
            | Error::DeletePod { source, .. }
            | Error::WriteObject { source, .. }
            | Error::ReadObject { source, .. }
            | Error::ReadSurroundings { source, .. } => match source {
                kube::Error::Api(s) => Some(s),
                _ => None,
            },
            _ => None,
        }
    }
}

/// A client error in plain words: the API server's message and code for a refusal (kube's own text adds a debug
/// dump of the whole status), the client's text otherwise.
pub fn words(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => status_words(s),
        other => other.to_string(),
    }
}

fn status_words(s: &kube::core::Status) -> String {
    match s.reason.as_str() {
        "" => format!("{} ({})", s.message, s.code),
        reason => format!("{} ({} {reason})", s.message, s.code),
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(
            serde_json::from_value(serde_json::json!({
                "status": "Failure", "code": code, "reason": reason, "message": message
            }))
            .expect("status"),
        )
    }

    #[test]
    fn a_refusal_reads_as_the_servers_words_without_a_debug_dump() {
        let e = Error::PatchNode {
            node: "n1".into(),
            source: refused(
                422,
                "Invalid",
                "Node \"n1\" is invalid: spec.taints[1]: Duplicate value: \"k:NoSchedule\": taints must be unique by key and effect pair",
            ),
        };
        let text = e.to_string();
        assert_eq!(
            text,
            "failed to patch node n1: Node \"n1\" is invalid: spec.taints[1]: Duplicate value: \"k:NoSchedule\": taints \
             must be unique by key and effect pair (422 Invalid); drydock retries (a 409 means someone edited the node meanwhile)"
        );
        assert!(!text.contains("Status {"), "{text}");
        assert!(e.is_permanent());
        assert!(e.api_message().starts_with("Node \"n1\" is invalid"));
    }

    #[test]
    fn only_refusals_that_cannot_heal_are_permanent() {
        for (code, permanent) in [
            (400, true),
            (422, true),
            (403, false),
            (404, false),
            (409, false),
            (429, false),
            (500, false),
        ] {
            let e = Error::PatchNode {
                node: "n1".into(),
                source: refused(code, "", "x"),
            };
            assert_eq!(e.is_permanent(), permanent, "{code}");
        }
    }
}
