//! drydock's one error type. Each variant names the action that failed and the object it was applied to, and
//! says what to check; `category` is a stable PascalCase word used as Event reason and log field.
use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to read node {node}: {source}; check that the controller may get nodes")]
    ReadNode { node: String, source: kube::Error },
    #[error("failed to patch node {node}: {source}; drydock retries (a 409 means someone edited the node meanwhile)")]
    PatchNode { node: String, source: kube::Error },
    #[error("failed to delete finished pod {pod}: {source}")]
    DeletePod { pod: String, source: kube::Error },
    #[error("failed to update NodeMaintenance {name}: {source}")]
    WriteObject { name: String, source: kube::Error },
    #[error("failed to read NodeMaintenance {name}: {source}; check that the controller may get nodemaintenances")]
    ReadObject { name: String, source: kube::Error },
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
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
