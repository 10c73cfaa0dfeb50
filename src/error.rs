//! drydock's one error type. Each variant names the action that failed and the object it was applied to, and
//! says what to check; `category` is a stable PascalCase word used as Event reason and log field.
use std::net::SocketAddr;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("failed to read node {node}: {}; check that the controller may get nodes", words(.source))]
    ReadNode { node: String, source: kube::Error },
    #[error("failed to list the {which}: {}; check that the controller may list nodes", words(.source))]
    ListNodes { which: String, source: kube::Error },
    #[error("failed to patch node {node}: {}; drydock retries (a 409 means someone edited the node meanwhile)", words(.source))]
    PatchNode { node: String, source: kube::Error },
    #[error(
        "failed to write the lifecycle conditions of node {node}: {}; check that the controller may patch \
         nodes/status, or run it with --node-lifecycle-conditions=false",
        words(.source)
    )]
    WriteNodeConditions { node: String, source: kube::Error },
    #[error("failed to write {kind} {name}: {}", words(.source))]
    WriteObject {
        kind: &'static str,
        name: String,
        source: kube::Error,
    },
    #[error(
        "failed to {action} task pod {pod}: {}; check that the task namespace exists (drydock run \
         --task-namespace) and that the controller may get, create and delete pods there",
        words(.source)
    )]
    Task {
        action: &'static str,
        /// namespace/name
        pod: String,
        source: kube::Error,
    },
    #[error("failed to read NodeMaintenance {name}: {}; check that the controller may get nodemaintenances", words(.source))]
    ReadObject { name: String, source: kube::Error },
    #[error(
        "failed to read where the pods on node {node} could go (their anti-affinity peers, their PersistentVolumes): {}; \
         check that the controller may list pods and get persistentvolumeclaims and persistentvolumes",
        words(.source)
    )]
    ReadSurroundings { node: String, source: kube::Error },
    #[error(
        "failed to list what the drain of node {node} reads: {reason}; check that the controller may list and watch pods and nodes"
    )]
    Watch { node: String, reason: String },
    #[error("failed to load the Kubernetes client configuration: {0}; set KUBECONFIG or run inside a cluster")]
    ClientConfig(String),
    /// A `drydock run` flag that cannot be used as given (the text says which and how to write it).
    #[error("{0}")]
    Flag(String),
    #[error(
        "failed to build the Kubernetes client: {0}; check the server's certificate authority and the credentials in the kubeconfig"
    )]
    Client(#[source] kube::Error),
    #[error("failed to serve /healthz, /readyz and /metrics on {addr}: {source}; {hint}", hint = bind_hint(.source))]
    HttpBind { addr: SocketAddr, source: std::io::Error },
    #[error(
        "failed to reach the API server at {server}: {reason}; check that it is up and reachable from here (the address comes from KUBECONFIG, ~/.kube/config, or the pod's service account)"
    )]
    ApiServerUnreachable { server: String, reason: String },
    #[error("leader election failed: {0}; check the controller may get, create and update Leases in its namespace")]
    LeaderElection(String),
}

impl Error {
    /// Stable category for Events and logs.
    pub fn category(&self) -> &'static str {
        match self {
            Error::ReadNode { .. } | Error::ListNodes { .. } => "ReadNodeFailed",
            Error::PatchNode { .. } => "PatchNodeFailed",
            Error::WriteNodeConditions { .. } => "WriteNodeConditionsFailed",
            Error::WriteObject { .. } => "WriteObjectFailed",
            Error::ReadObject { .. } => "ReadObjectFailed",
            Error::Task { .. } => "TaskRequestFailed",
            Error::ReadSurroundings { .. } => "ReadSurroundingsFailed",
            Error::Watch { .. } => "WatchFailed",
            Error::ClientConfig(_) => "ClientConfigFailed",
            Error::Flag(_) => "BadFlag",
            Error::Client(_) => "ClientFailed",
            Error::HttpBind { .. } => "HttpBindFailed",
            Error::ApiServerUnreachable { .. } => "ApiServerUnreachable",
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

    /// The HTTP status code of the API server's refusal, if it was one.
    pub fn api_code(&self) -> Option<u16> {
        self.api_status().map(|s| s.code)
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
            | Error::ListNodes { source, .. }
            | Error::PatchNode { source, .. }
            | Error::WriteNodeConditions { source, .. }
            | Error::WriteObject { source, .. }
            | Error::ReadObject { source, .. }
            | Error::Task { source, .. }
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

/// What to do when the HTTP endpoint's address cannot be bound.
fn bind_hint(e: &std::io::Error) -> &'static str {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "another process listens there: stop it, or give drydock another address with --http-addr (or DRYDOCK_HTTP_ADDR)"
        }
        std::io::ErrorKind::PermissionDenied => {
            "ports below 1024 need privileges: give drydock another address with --http-addr (or DRYDOCK_HTTP_ADDR)"
        }
        _ => "give drydock an address of this machine with --http-addr (or DRYDOCK_HTTP_ADDR), e.g. 127.0.0.1:8080",
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

    fn bind_error(kind: std::io::ErrorKind) -> String {
        Error::HttpBind {
            addr: "127.0.0.1:8080".parse().unwrap(),
            source: std::io::Error::from(kind),
        }
        .to_string()
    }

    #[test]
    fn each_startup_failure_names_its_own_cause_and_what_to_do() {
        let taken = bind_error(std::io::ErrorKind::AddrInUse);
        assert!(
            taken.starts_with("failed to serve /healthz, /readyz and /metrics on 127.0.0.1:8080: "),
            "{taken}"
        );
        assert!(taken.contains("--http-addr"), "{taken}");
        assert!(
            !taken.contains("KUBECONFIG") && !taken.contains("configuration"),
            "{taken}"
        );
        assert!(bind_error(std::io::ErrorKind::PermissionDenied).contains("below 1024"));
        assert!(bind_error(std::io::ErrorKind::AddrNotAvailable).contains("an address of this machine"));

        let unreachable = Error::ApiServerUnreachable {
            server: "https://10.0.0.1:6443/".into(),
            reason: "connection refused".into(),
        }
        .to_string();
        assert!(
            unreachable.starts_with("failed to reach the API server at https://10.0.0.1:6443/: connection refused; "),
            "{unreachable}"
        );
        assert!(!unreachable.contains("configuration"), "{unreachable}");

        let config = Error::ClientConfig("no kubeconfig found".into()).to_string();
        assert!(config.starts_with("failed to load the Kubernetes client configuration: no kubeconfig found; "));
        assert!(config.contains("KUBECONFIG"));
    }

    #[test]
    fn categories_are_distinct() {
        let errors = [
            Error::ClientConfig(String::new()),
            Error::Client(kube::Error::LinesCodecMaxLineLengthExceeded),
            Error::HttpBind {
                addr: "127.0.0.1:8080".parse().unwrap(),
                source: std::io::Error::from(std::io::ErrorKind::AddrInUse),
            },
            Error::ApiServerUnreachable {
                server: String::new(),
                reason: String::new(),
            },
            Error::LeaderElection(String::new()),
        ];
        let categories: std::collections::BTreeSet<_> = errors.iter().map(Error::category).collect();
        assert_eq!(categories.len(), errors.len());
    }
}
